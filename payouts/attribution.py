"""Itemising a distributed lease for members' statements: each member's share of the lease's
revenue and of the trust's admin fee, by what was charged (flat fee, downloads, training runs,
generated seconds). Pure functions over integers and Fractions, no ORM, no floats.

This never changes what a member is paid: it takes `distribute_lease`'s result as given and
splits each member's gross, pension and net across uses, and the lease's admin fee across
members, so that every sum adds up to the cent:
- per member: sum of their lines' pension = P_i and net = net_i (so gross = gross_i);
- per lease: sum of every member's fee = F whenever the pool is not empty, so the revenue
  attributed to members (gross + fee) sums to R;
- every line has revenue = admin fee + pension + net, and no amount is negative."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from .distribution import Contributor, LeaseDistribution, counted_shares

FLAT_FEE = "flat_fee"


@dataclass(frozen=True)
class UseCharge:
    """One metered amount and what it was for. asset_id None: shared equally across the
    lease's shared assets (the flat fee and training runs), as the distribution shares it."""

    use: str
    asset_id: str | None
    amount_cents: int


@dataclass(frozen=True)
class Line:
    use: str
    revenue_cents: int
    admin_fee_cents: int
    pension_cents: int
    net_cents: int

    @property
    def gross_cents(self) -> int:
        return self.pension_cents + self.net_cents


def _split(total: int, weights: Mapping, order: Sequence) -> dict:
    """`total` whole cents in proportion to `weights` (largest remainder, ties in `order`).
    Worked in integers over the weights' common denominator: the same floors and remainders
    as with Fractions (every exact share has the same denominator), many times faster."""
    denominator = lcm(*(Fraction(weight).denominator for weight in weights.values())) if weights else 1
    numerators = {key: int(weight * denominator) for key, weight in weights.items()}
    whole = sum(numerators.values())
    if total == 0 or whole == 0:
        return {key: 0 for key in weights}
    rank = {key: index for index, key in enumerate(order)}
    floors, remainders = {}, {}
    for key, numerator in numerators.items():
        floors[key], remainders[key] = divmod(total * numerator, whole)
    leftover = total - sum(floors.values())
    for key in sorted(numerators, key=lambda key: (-remainders[key], rank[key]))[:leftover]:
        floors[key] += 1
    return floors


def member_sources(
    *,
    flat_fee_cents: int,
    charges: Sequence[UseCharge],
    shared_assets: Sequence[str],
    contributors: Mapping[str, Sequence[Contributor]],
) -> dict[tuple[str, int], dict[str, Fraction]]:
    """Each member's exact share of the lease's revenue by use, by the distribution's rule:
    per-asset charges to that asset's contributors, shared ones equally across the shared
    assets, then by the shares of the contributors who accepted (`counted_shares`)."""
    items = [UseCharge(FLAT_FEE, None, flat_fee_cents), *charges]
    sources: dict[tuple[str, int], dict[str, Fraction]] = {}
    for charge in items:
        if not charge.amount_cents:
            continue
        if charge.asset_id is None:
            per_asset = Fraction(charge.amount_cents, len(shared_assets))
            portions = [(asset_id, per_asset) for asset_id in shared_assets]
        else:
            portions = [(charge.asset_id, Fraction(charge.amount_cents))]
        for asset_id, amount in portions:
            for member_key, share in counted_shares(contributors[asset_id]):
                uses = sources.setdefault(member_key, {})
                uses[charge.use] = uses.get(charge.use, Fraction(0)) + amount * share
    return sources


def itemise_lease(
    *,
    result: LeaseDistribution,
    flat_fee_cents: int,
    charges: Sequence[UseCharge],
    shared_assets: Sequence[str],
    contributors: Mapping[str, Sequence[Contributor]],
    use_order: Sequence[str],
) -> dict[tuple[str, int], list[Line]]:
    """Each paid member's lines, one per use they earned from, in `use_order`. The lease's fee
    F goes to members in proportion to their gross; each member's gross, pension and fee go to
    uses in proportion to their exact share of the revenue of each use."""
    paid = [m for m in result.members if m.gross_cents]
    if not paid:
        return {}
    sources = member_sources(
        flat_fee_cents=flat_fee_cents, charges=charges, shared_assets=shared_assets, contributors=contributors
    )
    keys = sorted(m.member_key for m in paid)
    fees = _split(result.admin_fee_cents, {m.member_key: Fraction(m.gross_cents) for m in paid}, keys)
    order = [*use_order, *sorted({use for src in sources.values() for use in src if use not in use_order})]
    itemised = {}
    for member in paid:
        weights = {use: amount for use, amount in sources[member.member_key].items() if amount}
        uses = [use for use in order if use in weights]
        gross = _split(member.gross_cents, weights, uses)
        # Pension in proportion to gross, so no line's pension exceeds its gross.
        pension = _split(member.pension_cents, {use: Fraction(gross[use]) for use in uses}, uses)
        fee = _split(fees[member.member_key], weights, uses)
        itemised[member.member_key] = [
            Line(
                use=use,
                revenue_cents=gross[use] + fee[use],
                admin_fee_cents=fee[use],
                pension_cents=pension[use],
                net_cents=gross[use] - pension[use],
            )
            for use in uses
            if gross[use] or fee[use]
        ]
    return itemised
