"""What each lease owes for a period: its flat fee if approved in the period, plus metered
usage at the lease's unit prices."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from licensing.models import Lease, UsageEvent

from .attribution import FLAT_FEE, UseCharge
from .distribution import Charge
from .models import LeaseRevenue, Period, PeriodCharge

# The most one lease can be billed in one period, in cents (100 billion in currency units).
# Checked before anything is posted: with it, a lease's figures and a period's totals over
# 90,000 such leases stay inside PostgreSQL's BIGINT (about 9.2 x 10^18), so a close never
# overflows half-way.
MAX_BILLABLE_CENTS_PER_LEASE_PERIOD = 10**13


class BillingLimitExceeded(ValueError):
    """A lease's charges for a period pass MAX_BILLABLE_CENTS_PER_LEASE_PERIOD."""


# Charged to the asset the event names; everything else is shared across the lease's assets.
PER_ASSET_KINDS = {UsageEvent.Kind.DOWNLOAD, UsageEvent.Kind.GENERATED_SECOND}


@dataclass(frozen=True)
class LeaseCharges:
    flat_fee_cents: int
    charges: tuple[Charge, ...]
    # The same charges with the kind of usage each is for, to itemise members' statements.
    uses: tuple[UseCharge, ...] = ()

    @property
    def usage_cents(self) -> int:
        return sum(c.amount_cents for c in self.charges)


def usage_in(period: Period) -> QuerySet[UsageEvent]:
    return UsageEvent.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end)


def meter_period(period: Period) -> int:
    """Write what every lease not yet posted owes for the period into PeriodCharge, replacing
    earlier rows of those leases: two INSERT ... SELECT statements (usage summed by lease, use
    and charged asset; the flat fee of each lease approved in the period), whatever the volume.
    Unit prices are taken from the leases as they are now. Returns the rows written."""
    events, leases = UsageEvent._meta.db_table, Lease._meta.db_table
    charges, revenues = PeriodCharge._meta.db_table, LeaseRevenue._meta.db_table
    start = connection.ops.adapt_datetimefield_value(period.start)
    end = connection.ops.adapt_datetimefield_value(period.end)
    not_posted = f"NOT EXISTS (SELECT 1 FROM {revenues} r WHERE r.period_id = %s AND r.lease_id = l.id)"
    columns = "period_id, lease_id, use, asset_id, quantity, unit_price_cents"
    kinds = UsageEvent.Kind
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {charges} WHERE period_id = %s AND lease_id NOT IN "
            f"(SELECT lease_id FROM {revenues} WHERE period_id = %s)",
            [period.pk, period.pk],
        )
        # Downloads and generated seconds are charged to the asset the event names; training
        # runs are shared across the lease's assets, so their asset is not kept.
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, e.kind,
                   CASE WHEN e.kind IN (%s, %s) THEN e.asset_id END,
                   SUM(e.quantity),
                   CASE e.kind WHEN %s THEN l.price_per_download_cents
                               WHEN %s THEN l.price_per_training_run_cents
                               WHEN %s THEN l.price_per_generated_second_cents ELSE 0 END
            FROM {events} e JOIN {leases} l ON l.id = e.lease_id
            WHERE e.occurred_at >= %s AND e.occurred_at < %s AND l.starts_at IS NOT NULL AND {not_posted}
            GROUP BY l.id, e.kind, 4""",
            [
                period.pk,
                kinds.DOWNLOAD,
                kinds.GENERATED_SECOND,
                kinds.DOWNLOAD,
                kinds.TRAINING_RUN,
                kinds.GENERATED_SECOND,
                start,
                end,
                period.pk,
            ],
        )
        written = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {charges} ({columns})
            SELECT %s, l.id, %s, NULL, 1, l.flat_fee_cents FROM {leases} l
            WHERE l.starts_at >= %s AND l.starts_at < %s AND {not_posted}""",
            [period.pk, FLAT_FEE, start, end, period.pk],
        )
        return written + cursor.rowcount


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
    charges: dict[int, list[Charge]] = {}
    uses: dict[int, list[UseCharge]] = {}
    for lease_id, use, asset_id, quantity, price in rows:
        flat.setdefault(lease_id, 0)
        charges.setdefault(lease_id, [])
        uses.setdefault(lease_id, [])
        amount = quantity * price
        if use == FLAT_FEE:
            flat[lease_id] += amount
        elif amount:
            asset = str(asset_id) if asset_id is not None else None
            charges[lease_id].append(Charge(asset_id=asset, amount_cents=amount))
            uses[lease_id].append(UseCharge(use=use, asset_id=asset, amount_cents=amount))
    owed = {
        lease_id: LeaseCharges(
            flat_fee_cents=flat[lease_id], charges=tuple(charges[lease_id]), uses=tuple(uses[lease_id])
        )
        for lease_id in flat
    }
    for lease_id, lease_owed in owed.items():
        _check_bound(lease_id, lease_owed)
    return owed
