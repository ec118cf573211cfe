"""Writes of the payouts app: rates, periods, and closing a period (metering, distribution,
ledger) safely enough to run twice or resume after a crash."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from licensing.models import Lease
from trust import audit
from trust.errors import Conflict, Invalid
from trust.selectors import contributor_members
from trust.services import require_trust_admin

from . import ledger
from .attribution import itemise_lease
from .distribution import Contributor, distribute_lease, rates_problem
from .metering import BillingLimitExceeded, lease_charges, leases_with_revenue
from .models import (
    Account,
    LeaseRevenue,
    MemberEarning,
    MemberEarningLine,
    PayoutBatch,
    PayoutItem,
    Period,
    RateSetting,
)
from .selectors import payable_members

logger = logging.getLogger(__name__)
# Enough for any reason this code writes; an unexpected error's text is cut to it.
FAILURE_REASON_CHARS = 2000


def rates_in_force(*, at: datetime | None = None) -> tuple[int, int]:
    """(admin_fee_bps, pension_bps) in force at `at`; the settings' defaults before any change."""
    at = at or timezone.now()
    row = RateSetting.objects.filter(effective_at__lte=at).order_by("-effective_at", "-pk").first()
    if row is None:
        return settings.TRUST_DEFAULT_ADMIN_FEE_BPS, settings.TRUST_DEFAULT_PENSION_BPS
    return row.admin_fee_bps, row.pension_bps


@transaction.atomic
def rates_set(*, actor, admin_fee_bps: int, pension_bps: int) -> RateSetting:
    """New rates from now on; earlier rows stay as history. Each rate is 0 to 100% and the two
    together at most 100% (`rates_problem`); anything else is refused and nothing is written."""
    require_trust_admin(actor)
    problem = rates_problem(admin_fee_bps, pension_bps)
    if problem:
        raise Invalid(problem, code="bad_rate")
    row = RateSetting.objects.create(
        admin_fee_bps=admin_fee_bps, pension_bps=pension_bps, effective_at=timezone.now(), set_by=actor
    )
    audit.record(
        actor=actor,
        action="rates.set",
        subject=row,
        data={"admin_fee_bps": admin_fee_bps, "pension_bps": pension_bps},
    )
    return row


@transaction.atomic
def period_create(*, actor, start: datetime, end: datetime) -> Period:
    """A new accounting period; periods never overlap."""
    require_trust_admin(actor)
    if end <= start:
        raise Invalid("a period must end after it starts", code="bad_period")
    # Lock the existing periods so two overlapping creations cannot both pass the check.
    list(Period.objects.select_for_update().values_list("pk", flat=True))
    clash = Period.objects.filter(start__lt=end, end__gt=start).first()
    if clash is not None:
        raise Conflict(
            f"overlaps the period {clash.start.isoformat()} – {clash.end.isoformat()}", code="period_overlaps"
        )
    period = Period.objects.create(start=start, end=end)
    audit.record(
        actor=actor,
        action="period.created",
        subject=period,
        data={"start": start.isoformat(), "end": end.isoformat()},
    )
    return period


def refuse_usage_in_closed_period(occurred: Sequence[datetime]) -> None:
    """Usage guard registered with licensing: a closed period's revenue never changes.

    On PostgreSQL the periods are read FOR SHARE: downloads and reports run side by side, while
    a close (which takes the row FOR UPDATE) waits for those in flight, and those after it see
    it closing. So no usage is recorded into a period after its metering began."""
    periods = Period.objects.filter(start__lte=max(occurred), end__gt=min(occurred))
    if connection.vendor == "postgresql":
        ids = list(periods.values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {Period._meta.db_table} WHERE id = ANY(%s) FOR SHARE", [ids])
    for period in periods:
        if period.status != Period.Status.OPEN and any(period.start <= t < period.end for t in occurred):
            raise Conflict(
                f"usage dated in the closed period {period} cannot be recorded", code="period_closed"
            )


@transaction.atomic
def period_request_close(*, actor, period: Period) -> tuple[Period, bool]:
    """Start closing an ended period, or retry a close that failed. Returns (period, whether a
    close job should run): a closed period is left as it is. A retry resumes: leases already
    posted are skipped, and the rates snapshotted when the close first started still apply."""
    require_trust_admin(actor)
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.status == Period.Status.CLOSED:
        return period, False
    if period.end > timezone.now():
        raise Conflict("a period can only be closed once it has ended", code="period_not_ended")
    from .tasks import close_period

    retried = period.status == Period.Status.FAILED
    _begin_closing(period)
    audit.record(
        actor=actor, action="period.close_retried" if retried else "period.close_requested", subject=period
    )
    transaction.on_commit(lambda: close_period.delay(period.pk))
    return period, True


def _begin_closing(period: Period) -> None:
    """Move an open period to closing with the rates in force now, or a failed close back to
    closing with the rates it started with (under the row lock)."""
    if period.status == Period.Status.FAILED:
        period.status, period.failed_at, period.failure_reason = Period.Status.CLOSING, None, ""
        period.save(update_fields=["status", "failed_at", "failure_reason"])
        return
    if period.status != Period.Status.OPEN:
        return
    now = timezone.now()
    period.admin_fee_bps, period.pension_bps = rates_in_force(at=now)
    period.status = Period.Status.CLOSING
    period.closing_started_at = now
    period.leases_total = leases_with_revenue(period).count()
    period.save(
        update_fields=["admin_fee_bps", "pension_bps", "status", "closing_started_at", "leases_total"]
    )


def _distribute_one(period: Period, lease: Lease) -> None:
    """Meter, split and post one lease's revenue for the period, in one transaction. A lease
    already distributed is skipped, so a rerun never pays twice."""
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period.pk)
        if LeaseRevenue.objects.filter(period=period, lease=lease).exists():
            return
        owed = lease_charges(lease, period)
        shared = [str(pk) for pk in lease.approval_assets.values_list("pk", flat=True)]
        named = {c.asset_id for c in owed.charges if c.asset_id}
        members = {}
        contributors = {}
        for asset_id, rows in contributor_members(set(shared) | named).items():
            contributors[str(asset_id)] = [
                Contributor(member_key=(m.member_number, m.pk), share=Fraction(share), accepted=accepted)
                for m, share, accepted in rows
            ]
            members.update({m.pk: m for m, _, _ in rows})
        result = distribute_lease(
            flat_fee_cents=owed.flat_fee_cents,
            charges=owed.charges,
            shared_assets=shared,
            contributors=contributors,
            admin_fee_bps=period.admin_fee_bps,
            pension_bps=period.pension_bps,
        )
        lines = [
            (ledger.studio_receivable(lease.studio), result.revenue_cents),
            (ledger.trust_fee_revenue(), -result.admin_fee_cents),
        ]
        for share in result.members:
            member = members[share.member_key[1]]
            lines.append((ledger.member_payable(member), -share.net_cents))
            lines.append((ledger.pension_payable(member), -share.pension_cents))
        txn = ledger.post(
            key=f"period:{period.pk}:lease:{lease.pk}",
            memo=f"Royalties of lease {lease.pk} for {period}",
            lines=lines,
            period=period,
            lease=lease,
        )
        LeaseRevenue.objects.create(
            period=period,
            lease=lease,
            flat_fee_cents=owed.flat_fee_cents,
            usage_cents=owed.usage_cents,
            revenue_cents=result.revenue_cents,
            admin_fee_cents=result.admin_fee_cents,
            pension_cents=result.pension_cents,
            net_cents=result.net_cents,
            transaction=txn,
        )
        earnings = MemberEarning.objects.bulk_create(
            [
                MemberEarning(
                    period=period,
                    lease=lease,
                    member=members[s.member_key[1]],
                    gross_cents=s.gross_cents,
                    pension_cents=s.pension_cents,
                    net_cents=s.net_cents,
                )
                for s in result.members
                if s.gross_cents
            ]
        )
        itemised = itemise_lease(
            result=result,
            flat_fee_cents=owed.flat_fee_cents,
            charges=owed.uses,
            shared_assets=shared,
            contributors=contributors,
            use_order=MemberEarningLine.Use.values,
        )
        MemberEarningLine.objects.bulk_create(
            [
                MemberEarningLine(
                    earning=earning,
                    use=line.use,
                    revenue_cents=line.revenue_cents,
                    admin_fee_cents=line.admin_fee_cents,
                    pension_cents=line.pension_cents,
                    net_cents=line.net_cents,
                )
                for earning in earnings
                for line in itemised[(earning.member.member_number, earning.member_id)]
            ]
        )
        period.leases_done = LeaseRevenue.objects.filter(period=period).count()
        period.save(update_fields=["leases_done"])
        audit.record(
            actor=None,
            action="distribution.posted",
            subject=period,
            data={
                "lease": lease.pk,
                "revenue_cents": result.revenue_cents,
                "admin_fee_cents": result.admin_fee_cents,
                "pension_cents": result.pension_cents,
                "net_cents": result.net_cents,
                "members": len(result.members),
            },
        )


def _record_close_failure(period_id: int, error: Exception) -> Period:
    """Leave a close that stopped on an error where an administrator sees it and can retry."""
    reason = str(error) if isinstance(error, BillingLimitExceeded) else f"{type(error).__name__}: {error}"
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period_id)
        if period.status != Period.Status.CLOSING:
            return period
        period.status, period.failed_at = Period.Status.FAILED, timezone.now()
        period.failure_reason = reason[:FAILURE_REASON_CHARS]
        period.save(update_fields=["status", "failed_at", "failure_reason"])
        audit.record(actor=None, action="period.close_failed", subject=period, data={"reason": reason})
    return period


def period_close(*, period_id: int, progress=None) -> Period:
    """Close a period: distribute every lease's revenue, then total it. Safe to run twice,
    concurrently, or after a crash half-way: each lease is posted at most once. A lease that
    cannot be distributed (over the billing limit, or any other error but a lost database
    connection, which the task retries) stops the close in `failed` with the reason; the
    leases posted before it stay posted, and a retry resumes after them."""
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period_id)
        if period.status == Period.Status.CLOSED:
            return period
        if period.end > timezone.now():
            raise Conflict("a period can only be closed once it has ended", code="period_not_ended")
        _begin_closing(period)
    try:
        for lease in leases_with_revenue(period).select_related("studio"):
            _distribute_one(period, lease)
            if progress:
                progress(lease)
    except OperationalError:
        raise
    except BillingLimitExceeded as error:
        logger.warning("closing period %s stopped: %s", period_id, error)
        return _record_close_failure(period_id, error)
    except Exception as error:
        logger.exception("closing period %s failed", period_id)
        return _record_close_failure(period_id, error)
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period_id)
        if period.status == Period.Status.CLOSED:
            return period
        totals = [0, 0, 0, 0]
        for row in period.lease_revenues.values_list(
            "revenue_cents", "admin_fee_cents", "pension_cents", "net_cents"
        ):
            totals = [a + b for a, b in zip(totals, row, strict=True)]
        period.revenue_cents, period.admin_fee_cents, period.pension_cents, period.net_cents = totals
        period.status, period.closed_at = Period.Status.CLOSED, timezone.now()
        period.leases_done = period.leases_total = period.lease_revenues.count()
        period.save()
        audit.record(
            actor=None,
            action="period.closed",
            subject=period,
            data={
                "revenue_cents": period.revenue_cents,
                "admin_fee_cents": period.admin_fee_cents,
                "pension_cents": period.pension_cents,
                "net_cents": period.net_cents,
                "admin_fee_bps": period.admin_fee_bps,
                "pension_bps": period.pension_bps,
            },
        )
    return period


@transaction.atomic
def payout_batch_create(*, actor, minimum_cents: int | None = None, execution_date=None) -> PayoutBatch:
    """Pay exactly `payable_members()`: every member whose balance is at or above the minimum
    and who has bank details. Each payment moves the whole balance out of their payable account
    in a balanced ledger transaction. Smaller balances, and members without bank details, carry
    forward. A fixed number of statements however many members are paid."""
    require_trust_admin(actor)
    minimum = settings.TRUST_MINIMUM_PAYOUT_CENTS if minimum_cents is None else minimum_cents
    if minimum < 1:
        raise Invalid("the minimum payout must be at least one cent", code="bad_minimum")
    # One batch at a time: the balances read below cannot be paid twice.
    list(
        Account.objects.select_for_update()
        .filter(kind=Account.Kind.MEMBER_PAYABLE)
        .order_by("pk")
        .values("pk")
    )
    batch = PayoutBatch.objects.create(
        created_by=actor,
        minimum_cents=minimum,
        currency=settings.TRUST_CURRENCY,
        execution_date=execution_date or timezone.localdate() + timedelta(days=1),
    )
    payable = list(payable_members(minimum_cents=minimum))
    transit = ledger.payouts_in_transit()
    transactions = ledger.post_new_many(
        [
            (
                f"payout:{batch.pk}:member:{row['member_id']}",
                f"Payout batch {batch.pk} to {row['member_number']}",
                [(row["account_id"], row["owed_cents"]), (transit.pk, -row["owed_cents"])],
            )
            for row in payable
        ]
    )
    PayoutItem.objects.bulk_create(
        [
            PayoutItem(
                batch=batch,
                member_id=row["member_id"],
                amount_cents=row["owed_cents"],
                account_name=(row["account_name"] or row["display_name"])[:140],
                iban=row["iban"],
                bic=row["bic"],
                transaction=txn,
            )
            for row, txn in zip(payable, transactions, strict=True)
        ]
    )
    batch.total_cents = sum(row["owed_cents"] for row in payable)
    batch.item_count = len(payable)
    batch.save(update_fields=["total_cents", "item_count"])
    audit.record(
        actor=actor,
        action="payouts.batch_created",
        subject=batch,
        data={"minimum_cents": minimum, "total_cents": batch.total_cents, "payments": batch.item_count},
    )
    return batch
