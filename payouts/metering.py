"""What each lease owes for a period: its flat fee if approved in the period, plus metered
usage at the lease's unit prices."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from licensing.models import Lease, UsageCorrection, UsageEvent

from . import premiums
from .attribution import FLAT_FEE
from .models import LeaseRevenue, PartShare, Period, PeriodCharge

# The most one lease can be billed in one period, in cents (100 billion in currency units).
# Checked before anything is posted: with it, a lease's figures and a period's totals over
# 90,000 such leases stay inside PostgreSQL's BIGINT (about 9.2 x 10^18), so a close never
# overflows half-way.
MAX_BILLABLE_CENTS_PER_LEASE_PERIOD = 10**13


class BillingLimitExceeded(ValueError):
    """A lease's charges for a period pass MAX_BILLABLE_CENTS_PER_LEASE_PERIOD."""


# A federated lease the home trust approved (its part starts) but another trust rejected, or
# the studio cancelled while the other parts were undecided, was never active: no flat fee.
NEVER_ACTIVE = (Lease.Status.REJECTED, Lease.Status.CANCELLED)

# Charged to the asset the event names; everything else is shared across the lease's assets.
PER_ASSET_KINDS = {UsageEvent.Kind.DOWNLOAD, UsageEvent.Kind.GENERATED_SECOND}


@dataclass(frozen=True)
class LeaseCharges:
    """What one lease owes for a period: its flat fee, and (use, charged asset id or None for
    shared, cents) per metered use, the shape `split.split_lease` takes."""

    flat_fee_cents: int
    charges: tuple[tuple[str, str | None, int], ...]

    @property
    def usage_cents(self) -> int:
        return sum(amount for _, _, amount in self.charges)


def usage_in(period: Period) -> QuerySet[UsageEvent]:
    return UsageEvent.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end)


def meter_period(period: Period) -> int:
    """Write what every lease not yet posted owes for the period into PeriodCharge, replacing
    earlier rows of those leases: usage summed by lease, use and charged asset, and the flat
    fee of each lease approved in the period, and the shares a home trust told this trust of
    its parts of federated leases (PartShare, received in the period), in a fixed number of
    statements whatever the volume. Unit prices are taken from the leases as they are now.
    Returns the rows written."""
    events, leases = UsageEvent._meta.db_table, Lease._meta.db_table
    charges, revenues = PeriodCharge._meta.db_table, LeaseRevenue._meta.db_table
    shares = PartShare._meta.db_table
    start = connection.ops.adapt_datetimefield_value(period.start)
    end = connection.ops.adapt_datetimefield_value(period.end)
    not_posted = f"NOT EXISTS (SELECT 1 FROM {revenues} r WHERE r.period_id = %s AND r.lease_id = l.id)"
    columns = "period_id, lease_id, use, asset_id, quantity, unit_price_cents"
    kinds = UsageEvent.Kind
    # Downloads and generated seconds are charged to the asset the event names; training runs
    # are shared across the lease's assets, so their asset is not kept. Summed first, then
    # joined to the few leases: the join sees thousands of groups, not millions of events.
    usage = f"""SELECT %s, l.id, g.kind, g.asset_id, g.quantity,
                   CASE g.kind WHEN %s THEN l.price_per_download_cents
                               WHEN %s THEN l.price_per_training_run_cents
                               WHEN %s THEN l.price_per_generated_second_cents ELSE 0 END
            FROM (SELECT e.lease_id, e.kind, CASE WHEN e.kind IN (%s, %s, %s) THEN e.asset_id END AS asset_id,
                         SUM(e.quantity) AS quantity
                  FROM {events} e WHERE e.occurred_at >= %s AND e.occurred_at < %s
                  GROUP BY 1, 2, 3) g
            JOIN {leases} l ON l.id = g.lease_id
            WHERE l.starts_at IS NOT NULL AND {not_posted}"""
    params = [
        period.pk,
        kinds.DOWNLOAD,
        kinds.TRAINING_RUN,
        kinds.GENERATED_SECOND,
        kinds.DOWNLOAD,
        kinds.GENERATED_SECOND,
        kinds.SUBSTITUTION_SAVING,  # summed per asset named, then priced by premiums.meter_premiums
        start,
        end,
        period.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {charges} WHERE period_id = %s AND lease_id NOT IN "
            f"(SELECT lease_id FROM {revenues} WHERE period_id = %s)",
            [period.pk, period.pk],
        )
        if connection.vendor == "postgresql":
            written = _copy_through_client(cursor, usage, params, f"{charges} ({columns})")
        else:
            cursor.execute(f"INSERT INTO {charges} ({columns}) {usage}", params)
            written = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, %s, NULL, 1, l.flat_fee_cents FROM {leases} l
            WHERE l.starts_at >= %s AND l.starts_at < %s AND l.status NOT IN (%s, %s) AND {not_posted}""",
            [period.pk, FLAT_FEE, start, end, *NEVER_ACTIVE, period.pk],
        )
        written += cursor.rowcount
        written -= _net_corrections_in_place(cursor, period, start, end)
        written += premiums.meter_premiums(
            cursor, period, start=start, end=end, not_posted=not_posted, never_active=NEVER_ACTIVE
        )
        # A part of a peer's federated lease: its shares of the lease's flat fee and training
        # runs, as the home trust's settlement told this trust in the period (PartShare), are
        # shared charges of the part's lease like its own would be.
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, s.use, NULL, 1, s.cents FROM {shares} s JOIN {leases} l ON l.id = s.lease_id
            WHERE s.received_at >= %s AND s.received_at < %s AND s.cents > 0 AND {not_posted}""",
            [period.pk, start, end, period.pk],
        )
        return written + cursor.rowcount


def _net_corrections_in_place(cursor, period: Period, start, end) -> int:
    """Net the usage corrections recorded while the period was open (`in_place`) into its
    charges: their (lease, use, asset) group's quantity lowered (or raised back by a correction
    of a correction), and a group corrected to nothing dropped. A chain never nets below zero
    (licensing.corrections), and its original's group exists, so no charge goes negative. Two
    statements over the few corrections, not the events. Returns the rows dropped."""
    charges, revenues = PeriodCharge._meta.db_table, LeaseRevenue._meta.db_table
    corrections = UsageCorrection._meta.db_table
    kinds = UsageEvent.Kind
    cursor.execute(
        f"""UPDATE {charges} SET quantity = {charges}.quantity + k.quantity
        FROM (SELECT lease_id, kind, CASE WHEN kind IN (%s, %s) THEN asset_id END AS asset_id,
                     SUM(quantity) AS quantity
              FROM {corrections} WHERE in_place AND original_occurred_at >= %s AND original_occurred_at < %s
              GROUP BY 1, 2, 3) k
        WHERE {charges}.period_id = %s AND {charges}.lease_id = k.lease_id AND {charges}.use = k.kind
          AND ({charges}.asset_id = k.asset_id OR ({charges}.asset_id IS NULL AND k.asset_id IS NULL))
          AND {charges}.lease_id NOT IN (SELECT lease_id FROM {revenues} WHERE period_id = %s)""",
        [kinds.DOWNLOAD, kinds.GENERATED_SECOND, start, end, period.pk, period.pk],
    )
    cursor.execute(
        f"DELETE FROM {charges} WHERE period_id = %s AND quantity = 0 AND use <> %s", [period.pk, FLAT_FEE]
    )
    return cursor.rowcount


def _copy_through_client(cursor, query: str, params: list, target: str) -> int:
    """INSERT INTO target <query>, as COPY (query) TO STDOUT then COPY target FROM STDIN.
    PostgreSQL runs an INSERT ... SELECT in one process, but COPY's query on parallel workers
    like any SELECT: the scan of a period's millions of events is split across cores. The
    result (one row per lease, use and charged asset) passes through here as raw COPY data,
    tens of bytes a row, never parsed."""
    # Room to hash-aggregate a period's (lease, use, asset) groups in memory, not on disk; and
    # the planner, which guesses the groups as if the three columns were independent (100k
    # for 6k), told that the partial sums workers hand back are cheap, so it splits the scan.
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute("SET LOCAL parallel_tuple_cost = 0.001")
    # At 10M events that guess (1M groups for 64k) passed work_mem, and PostgreSQL sorted the
    # 10M rows on disk instead (9 s of 12 s, EXPLAIN ANALYZE at full size): with sorting off
    # for this statement it hashes them (spilling to disk only if the groups truly do not
    # fit). JIT compiled this once-run statement for 1.1 s: off too.
    cursor.execute("SET LOCAL enable_sort = off")
    cursor.execute("SET LOCAL jit = off")
    # psycopg's own cursor: Django's debug wrapper of copy() takes no parameters.
    with cursor.cursor.copy(f"COPY ({query}) TO STDOUT", params) as copy:
        data = b"".join(bytes(block) for block in copy)
    for setting in ("work_mem", "parallel_tuple_cost", "enable_sort", "jit"):
        cursor.execute(f"RESET {setting}")
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        copy.write(data)
    return data.count(b"\n")


def _check_bound(lease_id: int, owed: LeaseCharges) -> None:
    total = owed.flat_fee_cents + owed.usage_cents
    if total > MAX_BILLABLE_CENTS_PER_LEASE_PERIOD:
        raise BillingLimitExceeded(
            f"lease {lease_id} would be billed {total} cents in this period, above the limit of "
            f"{MAX_BILLABLE_CENTS_PER_LEASE_PERIOD} cents per lease and period: correct its usage "
            "reports, then retry the close"
        )


def metered_charges(period: Period, *, first_lease_id: int, last_lease_id: int) -> dict[int, LeaseCharges]:
    """lease id -> what it owes for the period, for the metered leases in the id range, in one
    query over PeriodCharge. Quantities times prices are multiplied in Python ints, which do not
    overflow, so the bound is checked on the exact amount; raises BillingLimitExceeded past it."""
    rows = (
        PeriodCharge.objects.filter(period=period, lease_id__gte=first_lease_id, lease_id__lte=last_lease_id)
        .order_by("lease_id", "use", "asset_id")
        .values_list("lease_id", "use", "asset_id", "quantity", "unit_price_cents")
    )
    flat: dict[int, int] = {}
    charges: dict[int, list[tuple[str, str | None, int]]] = {}
    for lease_id, use, asset_id, quantity, price in rows:
        if lease_id not in flat:
            flat[lease_id] = 0
            charges[lease_id] = []
        amount = quantity * price
        if use == FLAT_FEE:
            flat[lease_id] += amount
        elif amount:
            charges[lease_id].append((use, str(asset_id) if asset_id is not None else None, amount))
    owed = {lease_id: LeaseCharges(flat[lease_id], tuple(charges[lease_id])) for lease_id in flat}
    for lease_id, lease_owed in owed.items():
        _check_bound(lease_id, lease_owed)
    return owed
