"""Writes of the payouts app: rates, periods, and closing a period (metering, distribution,
ledger) safely enough to run twice or resume after a crash."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from licensing import partitions
from licensing.models import Lease, LeasePart
from trust import audit
from trust.collector import collector_paused
from trust.errors import Conflict, Invalid
from trust.queue import enqueue_on_commit
from trust.selectors import contributor_rows
from trust.services import require_trust_admin

from . import bulk, checkpoints, corrections, federated, invoices, ledger, metering, paid_of_periods, split
from .distribution import rates_problem
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
        period.metered_at, period.close_progress_at = None, timezone.now()
        period.save(
            update_fields=["status", "failed_at", "failure_reason", "metered_at", "close_progress_at"]
        )
        return
    if period.status != Period.Status.OPEN:
        return
    now = timezone.now()
    period.admin_fee_bps, period.pension_bps = rates_in_force(at=now)
    period.status = Period.Status.CLOSING
    period.closing_started_at = period.close_progress_at = now
    period.metered_at = None
    period.save(
        update_fields=[
            "admin_fee_bps",
            "pension_bps",
            "status",
            "closing_started_at",
            "metered_at",
            "close_progress_at",
        ]
    )


def _plan_batches(period: Period) -> None:
    """Cut the leases not yet posted that can owe for the period into batches of consecutive
    lease ids, and create the accounts every batch shares (the studios' and the trust's fee).
    Under the period's lock. Nothing is metered here: each batch meters its own range
    (`metering.meter_lease_range`), so the plan reads leases, not the period's usage. The ranges
    meet, so a lease between two that can owe is metered too."""
    CloseBatch.objects.filter(period=period, done_at__isnull=True).delete()
    candidates = metering.leases_that_can_owe(period)
    ledger.ensure_studio_accounts(sorted({studio_id for _, studio_id, _ in candidates}))
    ledger.trust_fee_revenue()
    number = (CloseBatch.objects.filter(period=period).aggregate(last=Max("number"))["last"] or 0) + 1
    batches: list[CloseBatch] = []
    current: list[int] = []
    charges = 0

    def cut() -> None:
        first = batches[-1].last_lease_id + 1 if batches else current[0]
        batches.append(
            CloseBatch(
                period=period,
                number=number + len(batches),
                first_lease_id=first,
                last_lease_id=current[-1],
                leases=len(current),
            )
        )

    for lease_id, _, estimated_charges in candidates:
        current.append(lease_id)
        charges += estimated_charges
        if (
            len(current) >= settings.PERIOD_CLOSE_BATCH_LEASES
            or charges >= settings.PERIOD_CLOSE_BATCH_CHARGES
        ):
            cut()
            current, charges = [], 0
    if current:
        cut()
    CloseBatch.objects.bulk_create(batches)
    period.leases_done = LeaseRevenue.objects.filter(period=period).count()
    period.leases_total = period.leases_done + sum(batch.leases for batch in batches)
    period.metered_at = period.close_progress_at = timezone.now()
    period.save(update_fields=["leases_done", "leases_total", "metered_at", "close_progress_at"])


def period_close_plan(*, period_id: int) -> list[int]:
    """The first step of a close, and of every retry or rerun: move the period to closing and
    plan its batches if that is not done yet. Returns the numbers of the batches still to post
    (none for a closed or failed period). Safe to run any number of times."""
    try:
        _vacuum_usage_before_planning(period_id)
        with transaction.atomic():
            period = Period.objects.select_for_update().get(pk=period_id)
            if period.status == Period.Status.CLOSED:
                return []
            if period.end > timezone.now():
                raise Conflict("a period can only be closed once it has ended", code="period_not_ended")
            _begin_closing(period)
            if period.metered_at is None:
                _plan_batches(period)
            return list(
                CloseBatch.objects.filter(period=period, done_at__isnull=True)
                .order_by("number")
                .values_list("number", flat=True)
            )
    except (OperationalError, Conflict):
        raise
    except Exception as error:
        logger.exception("planning the close of period %s failed", period_id)
        _record_close_failure(period_id, error)
        return []


def _vacuum_usage_before_planning(period_id: int) -> None:
    """Before a close's batches read their lease ranges of the period's usage by index alone:
    the period's partitions vacuumed (`licensing.partitions.vacuum_usage_of`), once per plan."""
    period = Period.objects.filter(pk=period_id).values("start", "end", "status", "metered_at").first()
    if (
        period
        and period["status"] != Period.Status.CLOSED
        and period["metered_at"] is None
        and period["end"] <= timezone.now()
    ):
        partitions.vacuum_usage_of(period["start"], period["end"])


def _lock_period_for_batch(period_id: int) -> Period | None:
    """The period, held so a retry or the final step (FOR UPDATE) waits for batches in flight,
    while batches run side by side: FOR KEY SHARE, and no batch updates the period row inside
    its transaction (progress is recorded after commit), so no batch ever upgrades this lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM payouts_period WHERE id = %s FOR KEY SHARE", [period_id])
    return Period.objects.filter(pk=period_id).first()


def _record_progress(period_id: int) -> None:
    """The period's leases posted so far, and to post, after a batch commits, in a moment's
    transaction of its own. Inside the batch's transaction this update of the one row every
    batch shares made batches on two workers deadlock: each one's foreign-key checks on the
    period row waited for the other's uncommitted update of it. Counted, not incremented, so it
    is exact even after a worker died between a batch's commit and this; posted never lowered
    by a late writer. The total is the leases posted plus the plan's count of the leases that
    can owe in the batches still to post (a posted batch records the leases it posted)."""
    # Read before the posted count: a batch committing between the two is counted twice (the
    # total a moment too high), never in neither.
    to_post = CloseBatch.objects.filter(period_id=period_id, done_at__isnull=True).aggregate(
        leases=Sum("leases")
    )["leases"]
    posted = LeaseRevenue.objects.filter(period_id=period_id).count()
    Period.objects.filter(pk=period_id, status=Period.Status.CLOSING).update(
        leases_done=Greatest(F("leases_done"), Value(posted)),
        leases_total=Value(posted + (to_post or 0)),
        close_progress_at=timezone.now(),
    )


def period_close_batch(*, period_id: int, number: int) -> bool:
    """Meter, distribute and post one batch of a closing period's leases: its lease range's
    usage metered in one short transaction (with the accounts its members lack), then posted
    in another. A batch already posted (or of a period no longer closing) is left alone, so a
    redelivered task never pays twice; one redelivered before it posted meters its range again,
    replacing the charges of its leases not yet posted. A batch that cannot be posted (over the
    billing limit, or any error but a lost database connection, which the task retries) stops
    the close in `failed` with the reason. Returns whether every batch of the period is now
    posted (time for the last step)."""
    try:
        # A batch builds hundreds of thousands of small tuples freed by reference counting; the
        # cyclic collector ran hundreds of times a batch for nothing (a fifth of it, profiled).
        with collector_paused():
            with transaction.atomic():
                claimed = _batch_to_run(period_id, number)
                if claimed:
                    _meter_batch(*claimed)
            if claimed:
                with transaction.atomic():
                    claimed = _batch_to_run(period_id, number)
                    if claimed:
                        _post_batch(*claimed)
        if claimed:
            _record_progress(period_id)
        elif claimed is None:
            return False
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


def _batch_to_run(period_id: int, number: int) -> tuple[Period, CloseBatch] | bool | None:
    """In a batch's transaction: (the period, held FOR KEY SHARE, and the batch, FOR UPDATE)
    when the batch is still to post; False when it was posted (or replanned away); None when
    the period is no longer closing."""
    period = _lock_period_for_batch(period_id)
    if period is None or period.status != Period.Status.CLOSING:
        return None
    # FOR UPDATE of the batch's row alone: CloseBatch's default ordering joins the period,
    # and locking that row FOR UPDATE too made every batch wait for (or deadlock with) the
    # others, which hold it FOR KEY SHARE.
    batch = (
        CloseBatch.objects.select_for_update(of=("self",))
        .filter(period_id=period_id, number=number)
        .order_by("pk")
        .first()
    )
    if batch is None or batch.done_at is not None:
        return False
    return period, batch


def _meter_batch(period: Period, batch: CloseBatch) -> None:
    """The batch's lease range metered into PeriodCharge, and the payable and pension accounts
    of its members created where missing. Its own transaction, committed before the posting:
    batches that share new members wait on each other's account rows only for this moment, not
    for a whole posting (the insert goes in code order, so two never wait on each other in a
    cycle)."""
    if connection.vendor == "postgresql":
        # The range's events and charges are a few thousand index entries of tables of
        # millions, all in cache: priced for spinning disks (the default 4), the index lost to
        # a scan of the whole month's table.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL random_page_cost = 1.1")
    leases = (batch.first_lease_id, batch.last_lease_id)
    metering.meter_lease_range(period, first_lease_id=leases[0], last_lease_id=leases[1])
    charged = PeriodCharge.objects.filter(period=period, lease_id__gte=leases[0], lease_id__lte=leases[1])
    ledger.ensure_member_accounts_of_assets(
        charged.filter(asset_id__isnull=False).values("asset_id"),
        Lease.approval_assets.through.objects.filter(lease_id__in=charged.values("lease_id")).values(
            "asset_id"
        ),
    )


def _post_batch(period: Period, batch: CloseBatch) -> None:
    """The money of one batch: charges, shared assets and contributors loaded in bulk, the exact
    rule applied per lease in integers (`split.split_lease`, which gives the cents of
    `distribution` and `attribution`), everything posted with a handful of COPYs."""
    if connection.vendor == "postgresql":
        # A batch reads a few thousand rows of tables of hundreds of thousands, all in cache:
        # priced for spinning disks (the default 4), index lookups lost to whole-table scans
        # of the contributors, once per batch.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            # The foreign-key checks' plans are cached for the worker's connection. Planned while
            # the tables this close fills were empty (a new trust's first close, statistics from
            # autovacuum), each check scanned the growing table: planned again each batch, they
            # find the rows by index (the first close at 100k members: 50 -> 21 s, one worker).
            cursor.execute("DISCARD PLANS")
    owed = metering.metered_charges(
        period, first_lease_id=batch.first_lease_id, last_lease_id=batch.last_lease_id
    )
    for lease_id in LeaseRevenue.objects.filter(period=period, lease_id__in=list(owed)).values_list(
        "lease_id", flat=True
    ):
        del owed[lease_id]
    lease_ids = sorted(owed)
    # A federated lease's flat fee and training runs are split across its parts: home members
    # are paid the home part's share (the others are owed to their trusts: settlements).
    for lease_id, licensable in federated_parts_of(lease_ids).items():
        owed[lease_id] = federated.home_part_charges(owed[lease_id], licensable, home=settings.TRUST_SLUG)
    studios = dict(Lease.objects.filter(pk__in=lease_ids).values_list("pk", "studio_id"))
    shared: dict[int, list[str]] = {lease_id: [] for lease_id in lease_ids}
    for lease_id, asset_id in Lease.approval_assets.through.objects.filter(
        lease_id__in=lease_ids
    ).values_list("lease_id", "asset_id"):
        shared[lease_id].append(str(asset_id))
    # Contributors of the batch's shared assets through a subquery (no list of thousands of
    # ids to bind), then of any charged asset outside them.
    # Asset ids printed once per row, here, in the form the charges name them.
    rows = [
        (str(asset_id), *rest)
        for asset_id, *rest in contributor_rows(
            Lease.approval_assets.through.objects.filter(lease_id__in=lease_ids).values("asset_id")
        )
    ]
    found = {asset_id for asset_id, *_ in rows}
    named = {asset for o in owed.values() for _, asset, _ in o.charges if asset} - found
    if named:
        rows += [(str(asset_id), *rest) for asset_id, *rest in contributor_rows(named)]
    # The money rule counts only accepted shares, scaled to sum to 1 (distribution.counted_shares).
    counted = split.counted_rows(rows)
    holders = split.holders_from_rows(
        (asset_id, (number, member_id), share) for asset_id, member_id, number, share in counted
    )
    accounts = ledger.member_account_ids({member_id for _, member_id, _, _ in counted})
    receivables = ledger.studio_account_ids(set(studios.values()))
    fee_account = ledger.trust_fee_revenue().pk
    now = timezone.now()

    held = split.checker(holders)
    use_order = MemberEarningLine.Use.values
    results = {}
    transactions, entries, earnings, lines = [], [], [], []
    for lease_id in lease_ids:
        lease_owed = owed[lease_id]
        result = split.split_lease(
            flat_fee_cents=lease_owed.flat_fee_cents,
            charges=lease_owed.charges,
            shared_assets=shared[lease_id],
            held=held,
            admin_fee_bps=period.admin_fee_bps,
            pension_bps=period.pension_bps,
            use_order=use_order,
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
        lease_entries = [
            (receivables[studios[lease_id]], result.revenue_cents),
            (fee_account, -result.admin_fee_cents),
        ]
        for member in result.members:
            payable, pension = accounts[member.key[1]]
            lease_entries += [(payable, -member.net_cents), (pension, -member.pension_cents)]
            earnings.append(
                (
                    period.pk,
                    lease_id,
                    member.key[1],
                    member.gross_cents,
                    member.pension_cents,
                    member.net_cents,
                )
            )
            lines.append(member.lines)
        if sum(amount for _, amount in lease_entries):
            raise ledger.Unbalanced(f"the royalties of lease {lease_id} do not balance")
        entries.append([entry for entry in lease_entries if entry[1]])
    txn_ids = bulk.insert_rows(
        LedgerTransaction, ("key", "memo", "period_id", "lease_id", "created_at"), transactions
    )
    bulk.insert_rows(
        LedgerEntry,
        ("transaction_id", "account_id", "amount_cents"),
        [
            (txn, account, amount)
            for txn, lease_entries in zip(txn_ids, entries, strict=True)
            for account, amount in lease_entries
        ],
        ids=False,
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
        ids=False,
    )
    earning_ids = bulk.insert_rows(
        MemberEarning,
        ("period_id", "lease_id", "member_id", "gross_cents", "pension_cents", "net_cents"),
        earnings,
    )
    bulk.insert_rows(
        MemberEarningLine,
        ("earning_id", "use", "revenue_cents", "admin_fee_cents", "pension_cents", "net_cents"),
        [
            (earning, *line)
            for earning, member_lines in zip(earning_ids, lines, strict=True)
            for line in member_lines
        ],
        ids=False,
    )
    if connection.vendor == "postgresql":
        # Django's foreign keys are checked at commit: check them now, so the row every batch
        # updates (the audit chain's head, last) is held only for a moment.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # The accounts' kept balances move in the same transaction (in account id order), late, so
    # the hot rows (the trust's fee and pension accounts) are held only until commit.
    ledger.add_to_balances(line for lines in entries for line in lines)
    batch.done_at, batch.leases = now, len(lease_ids)
    batch.save(update_fields=["done_at", "leases"])
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


def federated_parts_of(lease_ids) -> dict[int, dict[str, int | None]]:
    """lease id -> {trust slug: assets licensable at approval} for the federated leases among
    `lease_ids` (those with a part at another trust), in one query."""
    parts: dict[int, dict[str, int | None]] = {}
    rows = LeasePart.objects.filter(lease_id__in=list(lease_ids)).values_list(
        "lease_id", "peer__slug", "licensable_at_approval"
    )
    for lease_id, slug, licensable in rows:
        parts.setdefault(lease_id, {})[slug or settings.TRUST_SLUG] = licensable
    return {lease_id: found for lease_id, found in parts.items() if len(found) > 1}


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
        # In this transaction, under the period's lock: a close that fails after this line
        # rolls the invoices and their numbers back with it. Corrections of closed periods are
        # priced first: their credit notes, and their charges as lines of these invoices.
        corrections.price_adjustments(period, at=period.closed_at)
        invoices.issue_for_period(period, at=period.closed_at)
        period.leases_done = period.leases_total = totals["leases"]
        period.save()
        paid_of_periods.record_period_closed(period)
        _settle_after_commit(period.pk)
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
    # After the close commits, in a transaction of its own: the checkpoint locks the ledger
    # against postings while it sums, and must hold no other lock while it waits for that.
    checkpoints.ledger_checkpoint_after_close(period=period)
    return period


def _settle_after_commit(period_id: int) -> None:
    """Once a period is closed, settle its federated leases with their parts' trusts
    (payouts.settlements). A broker that is down refuses nothing here: settlements not yet
    made are found again by the beat job (`resend_settlements`)."""
    from .tasks import settle_period

    def send():
        try:
            settle_period.delay(period_id)
        except Exception as error:
            logger.warning("settling period %s not queued, the beat job will: %s", period_id, error)

    transaction.on_commit(send)


def period_close_resend_stalled() -> dict[int, list]:
    """Re-send the next step of every close that has not moved for CLOSE_STALL_SECONDS.

    A step's Celery message can be lost (kombu's Redis transport drops a message when a worker
    dies between taking it and recording it as unacknowledged), and then nothing else would
    ever move that close. A period with a step running holds its row (the plan FOR UPDATE, a
    batch FOR KEY SHARE) and is skipped; every step is idempotent, so re-sending one that was
    only slow posts nothing twice. Returns period id -> the steps re-sent (["plan"], batch
    numbers, or ["finish"])."""
    from .tasks import close_period, close_period_batch, close_period_finish

    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CLOSE_STALL_SECONDS)
    resent: dict[int, list] = {}
    with transaction.atomic():
        stalled = (
            Period.objects.select_for_update(skip_locked=True)
            .filter(status=Period.Status.CLOSING)
            .filter(Q(close_progress_at__lt=cutoff) | Q(close_progress_at__isnull=True))
            .order_by("pk")
        )
        for period in stalled:
            if period.metered_at is None:
                steps: list = ["plan"]
                enqueue_on_commit(close_period, period.pk)
            else:
                steps = list(
                    CloseBatch.objects.filter(period=period, done_at__isnull=True)
                    .order_by("number")
                    .values_list("number", flat=True)
                )
                for number in steps:
                    enqueue_on_commit(close_period_batch, period.pk, number)
                if not steps:
                    steps = ["finish"]
                    enqueue_on_commit(close_period_finish, period.pk)
            period.close_progress_at = now
            period.save(update_fields=["close_progress_at"])
            logger.warning("closing period %s had not moved since %s: re-sent %s", period.pk, cutoff, steps)
            audit.record(actor=None, action="period.close_resent", subject=period, data={"steps": steps})
            resent[period.pk] = steps
    return resent


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
                account_number=row["account_number"],
                transaction=txn,
            )
            for row, txn in zip(payable, transactions, strict=True)
        ]
    )
    batch.total_cents = sum(row["owed_cents"] for row in payable)
    batch.item_count = len(payable)
    batch.save(update_fields=["total_cents", "item_count"])
    if payable:
        paid_of_periods.record_payout_batch(batch)
    audit.record(
        actor=actor,
        action="payouts.batch_created",
        subject=batch,
        data={"minimum_cents": minimum, "total_cents": batch.total_cents, "payments": batch.item_count},
    )
    return batch
