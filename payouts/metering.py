"""What each lease owes for a period: its flat fee if approved in the period, plus metered
usage at the lease's unit prices."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum

from licensing.models import Lease, UsageEvent

from .attribution import UseCharge
from .distribution import Charge
from .models import Period

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


def leases_with_revenue(period: Period) -> QuerySet[Lease]:
    """Leases approved in the period or with usage dated in it, in a stable order."""
    used = usage_in(period).values("lease_id")
    return (
        Lease.objects.filter(Q(starts_at__gte=period.start, starts_at__lt=period.end) | Q(pk__in=used))
        .exclude(starts_at__isnull=True)
        .order_by("pk")
    )


def lease_charges(lease: Lease, period: Period) -> LeaseCharges:
    """What the lease owes for the period; raises BillingLimitExceeded past the bound. The
    quantities are summed in SQL and multiplied by the prices in Python ints, which do not
    overflow, so the bound is checked on the exact amount."""
    flat = lease.flat_fee_cents if lease.starts_at and period.start <= lease.starts_at < period.end else 0
    rows = (
        usage_in(period)
        .filter(lease=lease)
        .values("kind", "asset_id")
        .annotate(quantity=Sum("quantity"))
        .order_by("kind", "asset_id")
    )
    charges, uses = [], []
    for row in rows:
        amount = row["quantity"] * lease.unit_price(row["kind"])
        asset = str(row["asset_id"]) if row["kind"] in PER_ASSET_KINDS else None
        if amount:
            charges.append(Charge(asset_id=asset, amount_cents=amount))
            uses.append(UseCharge(use=row["kind"], asset_id=asset, amount_cents=amount))
    owed = LeaseCharges(flat_fee_cents=flat, charges=tuple(charges), uses=tuple(uses))
    total = owed.flat_fee_cents + owed.usage_cents
    if total > MAX_BILLABLE_CENTS_PER_LEASE_PERIOD:
        raise BillingLimitExceeded(
            f"lease {lease.pk} would be billed {total} cents in this period, above the limit of "
            f"{MAX_BILLABLE_CENTS_PER_LEASE_PERIOD} cents per lease and period: correct its usage "
            "reports, then retry the close"
        )
    return owed
