"""How much of each closed period's net has been paid out to members, kept as it changes.

The rule (the reconciliation's `paid_cents`): a payout batch pays a member's whole balance, so
payments settle a member's earnings oldest first. Of a closed period's net, a member has been
paid min(max(paid - earned before, 0), earned in the period), where `paid` is their payments
the bank did not return and `earned before` their net in closed periods that started earlier.

Summing that over every member is three grouped scans of the whole history, too slow for a
page at a union's size, so each write that moves one of its inputs records how much it moved
each closed period's figure, in a `PaidOfPeriod` row per period, in its own transaction:

- a payout batch raises its members' `paid` (`record_payout_batch`);
- a payment the bank returned lowers its member's `paid` (`record_payment_returned`);
- a period's close adds its earnings: the payments already made settle them (a member paid
  ahead of their earnings), and a period that started later but closed first now has them
  `before` it (`record_period_closed`).

Nothing else moves the rule's inputs: earnings are written only while a period closes, payout
items only by a batch, and corrections (adjustments priced in a later close), unclaimed moves,
claims and releases change balances, so what the next batch pays (which it records), not
earnings or payments. A period not closed has no rows: its net is not distributed yet. A
period's figure is one SUM of its rows.

Each record is one INSERT ... SELECT over the members the write touched (every member of a
batch or of a close, put in a temporary table first so that PostgreSQL knows how many: a fixed
number of statements whatever their number), computing each member's part before and after the
write and keeping the difference. Each takes the audit head's lock before it computes and holds
it to commit (`audit.serialise_with_audited_writes`), so recordings run one after another and
each sees every write recorded before it: the differences add up to the rule over everything
committed."""

from django.db import connection
from django.utils import timezone

from trust import audit

from .models import MemberEarning, PaidOfPeriod, PayoutBatch, PayoutItem, Period

EARNINGS = MemberEarning._meta.db_table
PERIODS = Period._meta.db_table
ITEMS = PayoutItem._meta.db_table
PAID = PaidOfPeriod._meta.db_table
# The members a write moved (member_id, paid_now, paid_then): a temporary table of the write's
# transaction, dropped once recorded.
MOVED = "paid_of_periods_moved"


def _clamped(paid: str, before: str, earned: str) -> str:
    """SQL for min(max(paid - before, 0), earned), spelt with CASE (SQLite has no GREATEST)."""
    beyond = f"({paid} - {before})"
    return f"CASE WHEN {beyond} <= 0 THEN 0 WHEN {beyond} >= {earned} THEN {earned} ELSE {beyond} END"


# MOVED is every member whose part the write changed, with their payments after it and before
# it. Their earnings in closed periods are placed in start order, one row per period: `before`
# is the sum of the rows before it (periods never overlap, so no two start together).
# `earned_then` is 0 for the period whose close this is (before it, it was not closed),
# otherwise the earning itself.
_RECORD = f"""
    INSERT INTO {PAID} (period_id, paid_cents, batch_id, returned_payment_id, close_id, recorded_at)
    SELECT period_id, SUM(part_now - part_then), CAST(%(batch)s AS BIGINT), CAST(%(returned)s AS BIGINT),
           CAST(%(close)s AS BIGINT), %(at)s
    FROM (
        SELECT period_id,
               {_clamped("paid_now", "before_now", "earned_now")} AS part_now,
               {_clamped("paid_then", "before_then", "earned_then")} AS part_then
        FROM (
            SELECT e.period_id, e.earned_now, e.earned_then, m.paid_now, m.paid_then,
                   COALESCE(SUM(e.earned_now) OVER earlier, 0) AS before_now,
                   COALESCE(SUM(e.earned_then) OVER earlier, 0) AS before_then
            FROM (
                SELECT e.member_id, e.period_id, p.start, SUM(e.net_cents) AS earned_now,
                       CASE WHEN e.period_id = %(close)s THEN 0 ELSE SUM(e.net_cents) END AS earned_then
                FROM {EARNINGS} e JOIN {PERIODS} p ON p.id = e.period_id
                WHERE p.status = %(closed)s AND e.member_id IN (SELECT member_id FROM {MOVED})
                GROUP BY e.member_id, e.period_id, p.start
            ) e
            JOIN {MOVED} m ON m.member_id = e.member_id
            WINDOW earlier AS (PARTITION BY e.member_id ORDER BY e.start
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ) placed
    ) parts
    GROUP BY period_id
    HAVING SUM(part_now - part_then) <> 0
"""


def _record(moved: str, *, batch=None, returned=None, close=None, **params) -> int:
    """Record what the write moved of each closed period (rows only where it moved something),
    after waiting for every other recording write to commit. `moved` is the query of the members
    it moved. Returns the rows written."""
    audit.serialise_with_audited_writes()
    values = {
        "batch": batch,
        "returned": returned,
        "close": close,
        "at": timezone.now(),
        "closed": Period.Status.CLOSED,
        **params,
    }
    with connection.cursor() as cursor:
        # The moved members in a table with statistics of their own. As a CTE, PostgreSQL
        # guessed their number from the earnings' statistics, which know nothing yet of a period
        # closing now: one row for 7,800 members, so the join with them became a nested loop
        # comparing every pair (121M comparisons, 3.6-9 s at 10k members, quadratic in them),
        # holding the close's transaction and the audit head's lock.
        cursor.execute(f"CREATE TEMPORARY TABLE {MOVED} AS {moved}", values)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {MOVED}")
            # For the rest of the write's transaction: no JIT (compiling this plan costs more
            # than the scans it speeds up) and memory enough for its sort not to spill to disk.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_RECORD, values)
        written = cursor.rowcount
        cursor.execute(f"DROP TABLE {MOVED}")
        return written


def record_payout_batch(batch: PayoutBatch) -> int:
    """In the batch's transaction, after its items: what it paid of each closed period."""
    return _record(
        f"""SELECT i.member_id, SUM(o.amount_cents) AS paid_now,
                   SUM(o.amount_cents) - i.amount_cents AS paid_then
            FROM {ITEMS} i JOIN {ITEMS} o ON o.member_id = i.member_id AND o.returned_on IS NULL
            WHERE i.batch_id = %(batch)s GROUP BY i.member_id, i.amount_cents""",
        batch=batch.pk,
    )


def record_payment_returned(item: PayoutItem) -> int:
    """In the return's transaction, after the item is marked returned: what it takes back."""
    return _record(
        f"""SELECT r.member_id,
                   COALESCE((SELECT SUM(o.amount_cents) FROM {ITEMS} o
                             WHERE o.member_id = r.member_id AND o.returned_on IS NULL), 0) AS paid_now,
                   COALESCE((SELECT SUM(o.amount_cents) FROM {ITEMS} o
                             WHERE o.member_id = r.member_id AND o.returned_on IS NULL), 0)
                   + r.amount_cents AS paid_then
            FROM {ITEMS} r WHERE r.id = %(returned)s""",
        returned=item.pk,
    )


def record_period_closed(period: Period) -> int:
    """In the close's transaction, once the period is saved closed: what its earnings moved."""
    return _record(
        f"""SELECT earner.member_id, COALESCE(SUM(o.amount_cents), 0) AS paid_now,
                   COALESCE(SUM(o.amount_cents), 0) AS paid_then
            FROM (SELECT DISTINCT member_id FROM {EARNINGS} WHERE period_id = %(close)s) earner
            LEFT JOIN {ITEMS} o ON o.member_id = earner.member_id AND o.returned_on IS NULL
            GROUP BY earner.member_id""",
        close=period.pk,
    )
