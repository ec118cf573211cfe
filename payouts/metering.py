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

# The planner settings turned off (then back to their defaults) while a range's usage is summed.
UNSORTED = ["enable_sort", "enable_incremental_sort"]


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


# What one lease can be charged per asset it names (downloads, generated seconds, a saving's
# premium) and for the lease as a whole (flat fee, training runs, production fee, a premium on
# savings naming no asset, its part shares): the plan's estimate of a lease's charge rows.
CHARGES_PER_ASSET = 3
CHARGES_PER_LEASE = 6


def leases_that_can_owe(period: Period) -> list[tuple[int, int, int]]:
    """(lease id, studio id, charge rows it may write) of every lease not yet posted that a
    source of `meter_lease_range` can charge for the period, by id, in one query: usage is
    accepted only while a lease is live (licensing refuses it before `starts_at` and from its
    end), so a lease that can have usage, a flat fee or a premium in the period started before
    the period ends and did not end before it starts; a part's lease also owes the part shares
    received in it. The rows a lease may write are estimated from its approval assets."""
    leases, revenues, shares = Lease._meta.db_table, LeaseRevenue._meta.db_table, PartShare._meta.db_table
    approval = Lease.approval_assets.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT l.id, l.studio_id,
                   %s * (SELECT COUNT(*) FROM {approval} a WHERE a.lease_id = l.id) + %s
            FROM {leases} l
            WHERE ((l.starts_at < %s AND (l.ends_at IS NULL OR l.ends_at > %s))
                   OR l.id IN (SELECT s.lease_id FROM {shares} s
                               WHERE s.received_at >= %s AND s.received_at < %s AND s.cents > 0))
              AND NOT EXISTS (SELECT 1 FROM {revenues} r WHERE r.period_id = %s AND r.lease_id = l.id)
            ORDER BY l.id""",
            [
                CHARGES_PER_ASSET,
                CHARGES_PER_LEASE,
                period.end,
                period.start,
                period.start,
                period.end,
                period.pk,
            ],
        )
        return cursor.fetchall()


def meter_lease_range(period: Period, *, first_lease_id: int, last_lease_id: int) -> int:
    """Write what each lease with an id in [first_lease_id, last_lease_id] not yet posted owes
    for the period into PeriodCharge, replacing earlier rows of those leases (and touching no
    other lease's): usage summed by lease, use and charged asset, the flat fee of each lease
    approved in the period, premiums, and the shares a home trust told this trust of its parts
    of federated leases (PartShare, received in the period), in a fixed number of statements
    whatever the volume. Unit prices are taken from the leases as they are now. Each batch of a
    close meters its own range, so batches on many workers meter side by side. Returns the rows
    written."""
    events, leases = UsageEvent._meta.db_table, Lease._meta.db_table
    charges, revenues = PeriodCharge._meta.db_table, LeaseRevenue._meta.db_table
    shares = PartShare._meta.db_table
    start = connection.ops.adapt_datetimefield_value(period.start)
    end = connection.ops.adapt_datetimefield_value(period.end)
    # The leases `l` this call meters: in the range and not posted (three parameters).
    metered = f"""l.id BETWEEN %s AND %s
        AND NOT EXISTS (SELECT 1 FROM {revenues} r WHERE r.period_id = %s AND r.lease_id = l.id)"""
    metered_params = [first_lease_id, last_lease_id, period.pk]
    columns = "period_id, lease_id, use, asset_id, quantity, unit_price_cents"
    kinds = UsageEvent.Kind
    # Downloads and generated seconds are charged to the asset the event names; training runs
    # are shared across the lease's assets, so their asset is not kept. Summed first, then
    # joined to the few leases. The range's events are read by the usage index alone (lease,
    # time, and the summed columns included), not from the month's table, where they lie
    # scattered among every other lease's.
    usage = f"""SELECT %s, l.id, g.kind, g.asset_id, g.quantity,
                   CASE g.kind WHEN %s THEN l.price_per_download_cents
                               WHEN %s THEN l.price_per_training_run_cents
                               WHEN %s THEN l.price_per_generated_second_cents ELSE 0 END
            FROM (SELECT e.lease_id, e.kind, CASE WHEN e.kind IN (%s, %s, %s) THEN e.asset_id END AS asset_id,
                         SUM(e.quantity) AS quantity
                  FROM {events} e
                  WHERE e.lease_id BETWEEN %s AND %s AND e.occurred_at >= %s AND e.occurred_at < %s
                  GROUP BY 1, 2, 3) g
            JOIN {leases} l ON l.id = g.lease_id
            WHERE l.starts_at IS NOT NULL AND {metered}"""
    params = [
        period.pk,
        kinds.DOWNLOAD,
        kinds.TRAINING_RUN,
        kinds.GENERATED_SECOND,
        kinds.DOWNLOAD,
        kinds.GENERATED_SECOND,
        kinds.SUBSTITUTION_SAVING,  # summed per asset named, then priced by premiums.meter_premiums
        first_lease_id,
        last_lease_id,
        start,
        end,
        *metered_params,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A batch's statements run once each: JIT compiled them for longer than they run.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"""DELETE FROM {charges} WHERE period_id = %s AND lease_id BETWEEN %s AND %s
            AND lease_id NOT IN (SELECT lease_id FROM {revenues} WHERE period_id = %s)""",
            [period.pk, first_lease_id, last_lease_id, period.pk],
        )
        hashed = connection.vendor == "postgresql"
        if hashed:
            # The range's ~100k events fall into a few hundred groups, but PostgreSQL estimates
            # about one group per event, so it sorted them all (70 of 125 ms a batch at full
            # size) where hashing them takes ~20. For this statement only.
            cursor.execute(
                "SELECT set_config(name, 'off', true) FROM pg_settings WHERE name = ANY(%s)", [UNSORTED]
            )
        cursor.execute(f"INSERT INTO {charges} ({columns}) {usage}", params)
        written = cursor.rowcount
        if hashed:
            cursor.execute(
                "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name = ANY(%s)", [UNSORTED]
            )
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, %s, NULL, 1, l.flat_fee_cents FROM {leases} l
            WHERE l.starts_at >= %s AND l.starts_at < %s AND l.status NOT IN (%s, %s) AND {metered}""",
            [period.pk, FLAT_FEE, start, end, *NEVER_ACTIVE, *metered_params],
        )
        written += cursor.rowcount
        written -= _net_corrections_in_place(cursor, period, start, end, first_lease_id, last_lease_id)
        written += premiums.meter_premiums(
            cursor,
            period,
            start=start,
            end=end,
            leases=(first_lease_id, last_lease_id),
            metered=metered,
            metered_params=metered_params,
            never_active=NEVER_ACTIVE,
        )
        # A part of a peer's federated lease: its shares of the lease's flat fee and training
        # runs, as the home trust's settlement told this trust in the period (PartShare), are
        # shared charges of the part's lease like its own would be.
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, s.use, NULL, 1, s.cents FROM {shares} s JOIN {leases} l ON l.id = s.lease_id
            WHERE s.received_at >= %s AND s.received_at < %s AND s.cents > 0 AND {metered}""",
            [period.pk, start, end, *metered_params],
        )
        return written + cursor.rowcount


def _net_corrections_in_place(
    cursor, period: Period, start, end, first_lease_id: int, last_lease_id: int
) -> int:
    """Net the usage corrections recorded while the period was open (`in_place`) into the
    charges of the leases in the range: their (lease, use, asset) group's quantity lowered (or
    raised back by a correction of a correction), and a group corrected to nothing dropped. A
    chain never nets below zero (licensing.corrections), and its original's group exists, so no
    charge goes negative. Two statements over the few corrections, not the events. Returns the
    rows dropped."""
    charges, revenues = PeriodCharge._meta.db_table, LeaseRevenue._meta.db_table
    corrections = UsageCorrection._meta.db_table
    kinds = UsageEvent.Kind
    cursor.execute(
        f"""UPDATE {charges} SET quantity = {charges}.quantity + k.quantity
        FROM (SELECT lease_id, kind, CASE WHEN kind IN (%s, %s) THEN asset_id END AS asset_id,
                     SUM(quantity) AS quantity
              FROM {corrections}
              WHERE in_place AND original_occurred_at >= %s AND original_occurred_at < %s
                AND lease_id BETWEEN %s AND %s
              GROUP BY 1, 2, 3) k
        WHERE {charges}.period_id = %s AND {charges}.lease_id = k.lease_id AND {charges}.use = k.kind
          AND ({charges}.asset_id = k.asset_id OR ({charges}.asset_id IS NULL AND k.asset_id IS NULL))
          AND {charges}.lease_id NOT IN (SELECT lease_id FROM {revenues} WHERE period_id = %s)""",
        [
            kinds.DOWNLOAD,
            kinds.GENERATED_SECOND,
            start,
            end,
            first_lease_id,
            last_lease_id,
            period.pk,
            period.pk,
        ],
    )
    cursor.execute(
        f"""DELETE FROM {charges} WHERE period_id = %s AND lease_id BETWEEN %s AND %s
        AND quantity = 0 AND use <> %s""",
        [period.pk, first_lease_id, last_lease_id, FLAT_FEE],
    )
    return cursor.rowcount


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
