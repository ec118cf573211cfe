"""Writes of the payouts app: rates, periods, and closing a period (metering, distribution,
ledger) safely enough to run twice or resume after a crash."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from licensing.models import Lease
from trust import audit
from trust.errors import Conflict, Invalid
from trust.queue import enqueue_on_commit
from trust.selectors import contributor_rows
from trust.services import require_trust_admin

from . import bulk, ledger, metering
from .attribution import itemise_lease
from .distribution import Contributor, distribute_lease
from .metering import BillingLimitExceeded
from .models import (
    Account,
    CloseBatch,
    LeaseRevenue,
    LedgerEntry,
    LedgerTransaction,
    MemberEarning,
    MemberEarningLine,
    PayoutBatch,
    PayoutItem,
    Period,
    PeriodCharge,
    RateSetting,
)
from .selectors import payable_members, period_books_check

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
    """New rates from now on; earlier rows stay as history."""
    require_trust_admin(actor)
    for name, value in (("admin_fee_bps", admin_fee_bps), ("pension_bps", pension_bps)):
        if not 0 <= value <= 10000:
            raise Invalid(f"{name} must be between 0 and 10000 basis points", code="bad_rate")
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


# The same rule for one moment as a query, for the gateway's one statement (licensing.hooks):
# the covering period, locked FOR SHARE as below, and whether it refuses usage.
USAGE_IN_CLOSED_PERIOD_SQL = (
    "SELECT status <> 'open' FROM payouts_period WHERE start <= %(at)s AND \"end\" > %(at)s FOR SHARE"
)


def refuse_usage_in_closed_period(occurred: Sequence[datetime]) -> None:
    """Usage guard registered with licensing: a closed period's revenue never changes.

    On PostgreSQL the periods are read FOR SHARE: downloads and reports run side by side, while
    a close (which takes the row FOR UPDATE) waits for those in flight, and those after it see
    it closing. So no usage is recorded into a period after its metering began."""
    if connection.vendor == "postgresql":
        # One statement, written out, on the hot path (every gateway download): the covering
        # periods, FOR SHARE.
        with connection.cursor() as cursor:
            # Written out whole (no table name formatted in) so no query here is built from strings.
            cursor.execute(
                'SELECT start, "end", status FROM payouts_period WHERE start <= %s AND "end" > %s FOR SHARE',
                [max(occurred), min(occurred)],
            )
            rows = cursor.fetchall()
    else:
        periods = Period.objects.filter(start__lte=max(occurred), end__gt=min(occurred))
        rows = list(periods.values_list("start", "end", "status"))
    for start, end, status in rows:
        if status != Period.Status.OPEN and any(start <= t < end for t in occurred):
            period = Period(start=start, end=end, status=status)
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
    enqueue_on_commit(close_period, period.pk)
    return period, True


def _begin_closing(period: Period) -> None:
    """Move an open period to closing with the rates in force now, or a failed close back to
    closing with the rates it started with (under the row lock). Either way its usage is
    metered afresh (for the leases not yet posted) by the next step of the close."""
    if period.status == Period.Status.FAILED:
        period.status, period.failed_at, period.failure_reason = Period.Status.CLOSING, None, ""
        period.metered_at = None
        period.save(update_fields=["status", "failed_at", "failure_reason", "metered_at"])
        return
    if period.status != Period.Status.OPEN:
        return
    now = timezone.now()
    period.admin_fee_bps, period.pension_bps = rates_in_force(at=now)
    period.status = Period.Status.CLOSING
    period.closing_started_at = now
    period.metered_at = None
    period.save(update_fields=["admin_fee_bps", "pension_bps", "status", "closing_started_at", "metered_at"])


def _meter_and_plan(period: Period) -> None:
    """Meter the period's usage into PeriodCharge (set-based), create every account the
    postings need, and cut the leases not yet posted into batches. Under the period's lock."""
    CloseBatch.objects.filter(period=period, done_at__isnull=True).delete()
    metering.meter_period(period)
    posted = LeaseRevenue.objects.filter(period=period).values("lease_id")
    unposted = (
        PeriodCharge.objects.filter(period=period)
        .exclude(lease_id__in=posted)
        .values("lease_id")
        .annotate(rows=Count("pk"))
        .order_by("lease_id")
        .values_list("lease_id", "rows")
    )
    shared = Lease.approval_assets.through.objects.filter(
        lease_id__in=PeriodCharge.objects.filter(period=period)
        .exclude(lease_id__in=posted)
        .values("lease_id")
    ).values("asset_id")
    named = PeriodCharge.objects.filter(period=period, asset_id__isnull=False).values("asset_id")
    ledger.ensure_member_accounts_of_assets(named, shared)
    ledger.ensure_studio_accounts(
        Lease.objects.filter(pk__in=PeriodCharge.objects.filter(period=period).values("lease_id"))
        .values_list("studio_id", flat=True)
        .distinct()
    )
    ledger.trust_fee_revenue()
    batches, current, charges = [], [], 0
    number = (CloseBatch.objects.filter(period=period).aggregate(last=Max("number"))["last"] or 0) + 1
    for lease_id, rows in unposted:
        current.append(lease_id)
        charges += rows
        if (
            len(current) >= settings.PERIOD_CLOSE_BATCH_LEASES
            or charges >= settings.PERIOD_CLOSE_BATCH_CHARGES
        ):
            batches.append(
                CloseBatch(
                    period=period,
                    number=number + len(batches),
                    first_lease_id=current[0],
                    last_lease_id=current[-1],
                    leases=len(current),
                )
            )
            current, charges = [], 0
    if current:
        batches.append(
            CloseBatch(
                period=period,
                number=number + len(batches),
                first_lease_id=current[0],
                last_lease_id=current[-1],
                leases=len(current),
            )
        )
    CloseBatch.objects.bulk_create(batches)
    period.leases_done = LeaseRevenue.objects.filter(period=period).count()
    period.leases_total = period.leases_done + sum(batch.leases for batch in batches)
    period.metered_at = timezone.now()
    period.save(update_fields=["leases_done", "leases_total", "metered_at"])


def period_close_plan(*, period_id: int) -> list[int]:
    """The first step of a close, and of every retry or rerun: move the period to closing,
    meter it and plan its batches if that is not done yet. Returns the numbers of the batches
    still to post (none for a closed or failed period). Safe to run any number of times."""
    try:
        with transaction.atomic():
            period = Period.objects.select_for_update().get(pk=period_id)
            if period.status == Period.Status.CLOSED:
                return []
            if period.end > timezone.now():
                raise Conflict("a period can only be closed once it has ended", code="period_not_ended")
            _begin_closing(period)
            if period.metered_at is None:
                _meter_and_plan(period)
            return list(
                CloseBatch.objects.filter(period=period, done_at__isnull=True)
                .order_by("number")
                .values_list("number", flat=True)
            )
    except (OperationalError, Conflict):
        raise
    except Exception as error:
        logger.exception("metering period %s failed", period_id)
        _record_close_failure(period_id, error)
        return []


def _lock_period_for_batch(period_id: int) -> Period | None:
    """The period, held so a retry or the final step (FOR UPDATE) waits for batches in flight,
    while batches run side by side (FOR KEY SHARE does not conflict with their UPDATEs)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {Period._meta.db_table} WHERE id = %s FOR KEY SHARE", [period_id])
    return Period.objects.filter(pk=period_id).first()


def period_close_batch(*, period_id: int, number: int) -> bool:
    """Distribute and post one batch of a closing period's leases in one transaction. A batch
    already posted (or of a period no longer closing) is left alone, so a redelivered task
    never pays twice. A batch that cannot be posted (over the billing limit, or any error but
    a lost database connection, which the task retries) stops the close in `failed` with the
    reason. Returns whether every batch of the period is now posted (time for the last step)."""
    try:
        with transaction.atomic():
            period = _lock_period_for_batch(period_id)
            if period is None or period.status != Period.Status.CLOSING:
                return False
            batch = CloseBatch.objects.select_for_update().filter(period=period, number=number).first()
            if batch is not None and batch.done_at is None:
                _post_batch(period, batch)
    except OperationalError:
        raise
    except BillingLimitExceeded as error:
        logger.warning("closing period %s stopped: %s", period_id, error)
        _record_close_failure(period_id, error)
        return False
    except Exception as error:
        logger.exception("closing period %s failed", period_id)
        _record_close_failure(period_id, error)
        return False
    return not CloseBatch.objects.filter(period_id=period_id, done_at__isnull=True).exists()


def _post_batch(period: Period, batch: CloseBatch) -> None:
    """The money of one batch: charges, shared assets and contributors loaded in bulk, the exact
    rule applied per lease in Python, everything posted with a handful of bulk inserts."""
    owed = metering.metered_charges(
        period, first_lease_id=batch.first_lease_id, last_lease_id=batch.last_lease_id
    )
    for lease_id in LeaseRevenue.objects.filter(period=period, lease_id__in=list(owed)).values_list(
        "lease_id", flat=True
    ):
        del owed[lease_id]
    lease_ids = sorted(owed)
    studios = dict(Lease.objects.filter(pk__in=lease_ids).values_list("pk", "studio_id"))
    shared: dict[int, list[str]] = {lease_id: [] for lease_id in lease_ids}
    for lease_id, asset_id in Lease.approval_assets.through.objects.filter(
        lease_id__in=lease_ids
    ).values_list("lease_id", "asset_id"):
        shared[lease_id].append(str(asset_id))
    # Contributors of the batch's shared assets through a subquery (no list of thousands of
    # ids to bind), then of any charged asset outside them.
    contributors = contributor_shares(
        Lease.approval_assets.through.objects.filter(lease_id__in=lease_ids).values("asset_id")
    )
    named = {c.asset_id for o in owed.values() for c in o.charges if c.asset_id} - set(contributors)
    if named:
        contributors.update(contributor_shares(named))
    members = {key[1] for rows in contributors.values() for key in (c.member_key for c in rows)}
    accounts = ledger.member_account_ids(members)
    receivables = ledger.studio_account_ids(set(studios.values()))
    fee_account = ledger.trust_fee_revenue().pk
    now = timezone.now()

    results = {}
    transactions, entries = [], []
    for lease_id in lease_ids:
        lease_owed = owed[lease_id]
        result = distribute_lease(
            flat_fee_cents=lease_owed.flat_fee_cents,
            charges=lease_owed.charges,
            shared_assets=shared[lease_id],
            contributors=contributors,
            admin_fee_bps=period.admin_fee_bps,
            pension_bps=period.pension_bps,
        )
        results[lease_id] = result
        transactions.append(
            (
                f"period:{period.pk}:lease:{lease_id}",
                f"Royalties of lease {lease_id} for {period}",
                period.pk,
                lease_id,
                now,
            )
        )
        lines = [
            (receivables[studios[lease_id]], result.revenue_cents),
            (fee_account, -result.admin_fee_cents),
        ]
        for share in result.members:
            payable, pension = accounts[share.member_key[1]]
            lines += [(payable, -share.net_cents), (pension, -share.pension_cents)]
        if sum(amount for _, amount in lines):
            raise ledger.Unbalanced(f"the royalties of lease {lease_id} do not balance")
        entries.append([line for line in lines if line[1]])
    txn_ids = bulk.insert_rows(
        LedgerTransaction, ("key", "memo", "period_id", "lease_id", "created_at"), transactions
    )
    bulk.insert_rows(
        LedgerEntry,
        ("transaction_id", "account_id", "amount_cents"),
        [
            (txn, account, amount)
            for txn, lines in zip(txn_ids, entries, strict=True)
            for account, amount in lines
        ],
    )
    bulk.insert_rows(
        LeaseRevenue,
        (
            "period_id",
            "lease_id",
            "flat_fee_cents",
            "usage_cents",
            "revenue_cents",
            "admin_fee_cents",
            "pension_cents",
            "net_cents",
            "transaction_id",
        ),
        [
            (
                period.pk,
                lease_id,
                owed[lease_id].flat_fee_cents,
                owed[lease_id].usage_cents,
                result.revenue_cents,
                result.admin_fee_cents,
                result.pension_cents,
                result.net_cents,
                txn,
            )
            for (lease_id, result), txn in zip(results.items(), txn_ids, strict=True)
        ],
    )
    earnings, itemised_by_earning = [], []
    for lease_id, result in results.items():
        itemised = itemise_lease(
            result=result,
            flat_fee_cents=owed[lease_id].flat_fee_cents,
            charges=owed[lease_id].uses,
            shared_assets=shared[lease_id],
            contributors=contributors,
            use_order=MemberEarningLine.Use.values,
        )
        for share in result.members:
            if share.gross_cents:
                earnings.append(
                    (
                        period.pk,
                        lease_id,
                        share.member_key[1],
                        share.gross_cents,
                        share.pension_cents,
                        share.net_cents,
                    )
                )
                itemised_by_earning.append(itemised[share.member_key])
    earning_ids = bulk.insert_rows(
        MemberEarning,
        ("period_id", "lease_id", "member_id", "gross_cents", "pension_cents", "net_cents"),
        earnings,
    )
    bulk.insert_rows(
        MemberEarningLine,
        ("earning_id", "use", "revenue_cents", "admin_fee_cents", "pension_cents", "net_cents"),
        [
            (earning, line.use, line.revenue_cents, line.admin_fee_cents, line.pension_cents, line.net_cents)
            for earning, lines in zip(earning_ids, itemised_by_earning, strict=True)
            for line in lines
        ],
    )
    batch.done_at = now
    batch.save(update_fields=["done_at"])
    # Last, so the row lock that serialises batches on the period is held only until commit.
    Period.objects.filter(pk=period.pk).update(leases_done=F("leases_done") + len(lease_ids))
    audit.record(
        actor=None,
        action="distribution.posted",
        subject=period,
        data={
            "batch": batch.number,
            "leases": lease_ids,
            "revenue_cents": sum(r.revenue_cents for r in results.values()),
            "admin_fee_cents": sum(r.admin_fee_cents for r in results.values()),
            "pension_cents": sum(r.pension_cents for r in results.values()),
            "net_cents": sum(r.net_cents for r in results.values()),
            "members": len(earnings),
        },
    )


def contributor_shares(asset_ids) -> dict[str, list[Contributor]]:
    """asset id (str) -> its contributors with their exact shares, for many assets (ids or a
    subquery of them) in one query."""
    fractions: dict = {}
    found: dict[str, list[Contributor]] = {}
    for asset_id, member_id, number, share in contributor_rows(asset_ids):
        exact = fractions.get(share)
        if exact is None:
            exact = fractions[share] = Fraction(share)
        found.setdefault(str(asset_id), []).append(Contributor(member_key=(number, member_id), share=exact))
    return found


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


def period_close_finish(*, period_id: int) -> Period:
    """The one final reduction of a close: once every batch is posted, total the period, check
    its books (revenue = fee + pension + net, ledger balanced) and mark it closed. Does nothing
    while a batch is still to post, or for a period that is not closing; a period whose books
    do not add up stops in `failed`."""
    with transaction.atomic():
        period = Period.objects.select_for_update().get(pk=period_id)
        if period.status != Period.Status.CLOSING or period.metered_at is None:
            return period
        if CloseBatch.objects.filter(period=period, done_at__isnull=True).exists():
            return period
        totals = period.lease_revenues.aggregate(
            revenue=Sum("revenue_cents"),
            fee=Sum("admin_fee_cents"),
            pension=Sum("pension_cents"),
            net=Sum("net_cents"),
            leases=Count("pk"),
        )
        period.revenue_cents = int(totals["revenue"] or 0)
        period.admin_fee_cents = int(totals["fee"] or 0)
        period.pension_cents = int(totals["pension"] or 0)
        period.net_cents = int(totals["net"] or 0)
        books = period_books_check(period)
        if not all(books.values()):
            failed = ", ".join(name.replace("_", " ") for name, ok in books.items() if not ok)
            period.status, period.failed_at = Period.Status.FAILED, timezone.now()
            period.failure_reason = f"the books do not check: not {failed}"
            period.save()
            audit.record(
                actor=None,
                action="period.close_failed",
                subject=period,
                data={"reason": period.failure_reason},
            )
            return period
        period.status, period.closed_at = Period.Status.CLOSED, timezone.now()
        period.leases_done = period.leases_total = totals["leases"]
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


def period_close(*, period_id: int, progress=None) -> Period:
    """Close a period in this process: plan, post every batch, then the final reduction (the
    Celery tasks run the same three steps, the batches on many workers). Safe to run twice,
    concurrently, or after a crash half-way: each lease is posted at most once. A batch that
    cannot be posted stops the close in `failed` with the reason; the batches posted before it
    stay posted, and a retry resumes after them. `progress(done, total)` is told the leases
    posted so far."""
    numbers = period_close_plan(period_id=period_id)
    if progress:
        period = Period.objects.get(pk=period_id)
        progress(period.leases_done, period.leases_total)
    for number in numbers:
        period_close_batch(period_id=period_id, number=number)
        if progress:
            period = Period.objects.get(pk=period_id)
            progress(period.leases_done, period.leases_total)
    return period_close_finish(period_id=period_id)


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
