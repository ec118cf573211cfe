"""What each lease owes for a period: its flat fee if approved in the period, plus metered
usage at the lease's unit prices."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum

from licensing.models import Lease, UsageEvent

from .attribution import UseCharge
from .distribution import Charge
from .models import Period

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
    return LeaseCharges(flat_fee_cents=flat, charges=tuple(charges), uses=tuple(uses))
