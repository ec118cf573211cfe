"""The money rules of one lease's royalties in one period, as pure functions over integers and
Fractions. No ORM, no floats: services load rows, call `distribute_lease`, post the result."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import TypeVar

K = TypeVar("K")
BPS = 10_000


@dataclass(frozen=True)
class Contributor:
    member_key: tuple[str, int]  # (member number, member id): the tie-break order
    share: Fraction
    # A member named by another must accept before the asset counts for them (trust/models.py).
    accepted: bool = True


@dataclass(frozen=True)
class Charge:
    asset_id: str | None  # None: shared equally across the lease's assets (flat fee, training runs)
    amount_cents: int


@dataclass(frozen=True)
class MemberShare:
    member_key: tuple[str, int]
    gross_cents: int
    pension_cents: int
    net_cents: int


@dataclass(frozen=True)
class LeaseDistribution:
    revenue_cents: int
    admin_fee_cents: int
    pool_cents: int
    members: tuple[MemberShare, ...]

    @property
    def pension_cents(self) -> int:
        return sum(m.pension_cents for m in self.members)

    @property
    def net_cents(self) -> int:
        return sum(m.net_cents for m in self.members)


def largest_remainder(exact: Mapping[K, Fraction], total: int) -> dict[K, int]:
    """Whole cents per key summing to exactly `total`: floor each exact amount, then give the
    leftover cents one by one to the largest remainders, ties to the smallest key."""
    if sum(exact.values(), Fraction(0)) != total:
        raise ValueError("exact amounts must sum to the total being split")
    floors = {key: floor(amount) for key, amount in exact.items()}
    leftover = total - sum(floors.values())
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - floors[key]), key))
    for key in by_remainder[:leftover]:
        floors[key] += 1
    return floors


def rates_problem(admin_fee_bps: int, pension_bps: int) -> str | None:
    """Why these rates cannot be in force, or None. Each is 0 to 100%, and together at most
    100%: the trust and the plan never take more than a lease's revenue between them."""
    for name, value in (("admin_fee_bps", admin_fee_bps), ("pension_bps", pension_bps)):
        if not 0 <= value <= BPS:
            return f"{name} must be between 0 and {BPS} basis points, not {value}"
    if admin_fee_bps + pension_bps > BPS:
        return (
            f"the admin fee and pension & health together must be at most {BPS} basis points "
            f"(100%), not {admin_fee_bps} + {pension_bps} = {admin_fee_bps + pension_bps}"
        )
    return None


def _check_contributors(asset_id: str, contributors: Sequence[Contributor]) -> None:
    if not contributors:
        raise ValueError(f"asset {asset_id} has no contributors")
    if any(c.share <= 0 for c in contributors):
        raise ValueError(f"asset {asset_id} has a share that is not positive")
    if sum((c.share for c in contributors), Fraction(0)) != 1:
        raise ValueError(f"the shares of asset {asset_id} do not sum to exactly 1")
    if not any(c.accepted for c in contributors):
        raise ValueError(f"asset {asset_id} has no accepted contributor")


def counted_shares(contributors: Sequence[Contributor]) -> list[tuple[tuple[str, int], Fraction]]:
    """Who an asset's money goes to: only the contributors who accepted, their shares scaled to
    sum to 1 (a share not accepted goes to those who did, in proportion). Every asset is
    registered with at least one accepted contributor: its registrant, or all when the trust
    registers it."""
    counted = [c for c in contributors if c.accepted]
    total = sum((c.share for c in counted), Fraction(0))
    return [(c.member_key, c.share / total) for c in counted]


def distribute_lease(
    *,
    flat_fee_cents: int,
    charges: Sequence[Charge],
    shared_assets: Sequence[str],
    contributors: Mapping[str, Sequence[Contributor]],
    admin_fee_bps: int,
    pension_bps: int,
) -> LeaseDistribution:
    """Split one lease's period revenue R. Guarantees, to the cent:
    F = floor(R x fee), the pool M = R - F goes wholly to members who accepted their part
    (sum of gross = M), each member's gross is within one cent of their exact share,
    P_i = floor(gross_i x pension), and sum(net) + sum(P) + F = R."""
    problem = rates_problem(admin_fee_bps, pension_bps)
    if problem:
        raise ValueError(problem)
    if flat_fee_cents < 0 or any(c.amount_cents < 0 for c in charges):
        raise ValueError("amounts must not be negative")
    shared_cents = flat_fee_cents + sum(c.amount_cents for c in charges if c.asset_id is None)
    direct: dict[str, int] = {}
    for charge in charges:
        if charge.asset_id is not None:
            direct[charge.asset_id] = direct.get(charge.asset_id, 0) + charge.amount_cents
    if shared_cents and not shared_assets:
        raise ValueError("shared revenue needs at least one shared asset")
    for asset_id in {*direct, *(shared_assets if shared_cents else ())}:
        _check_contributors(asset_id, contributors.get(asset_id, ()))

    revenue = shared_cents + sum(direct.values())
    fee = revenue * admin_fee_bps // BPS
    pool = revenue - fee
    if revenue == 0:
        return LeaseDistribution(0, 0, 0, ())

    # Each asset's source revenue, then scaled to the pool: pool x source / revenue.
    source: dict[str, Fraction] = {asset_id: Fraction(amount) for asset_id, amount in direct.items()}
    if shared_cents:
        per_asset = Fraction(shared_cents, len(shared_assets))
        for asset_id in shared_assets:
            source[asset_id] = source.get(asset_id, Fraction(0)) + per_asset
    exact: dict[tuple[str, int], Fraction] = {}
    for asset_id, amount in source.items():
        asset_pool = amount * pool / revenue
        for key, share in counted_shares(contributors[asset_id]):
            exact[key] = exact.get(key, Fraction(0)) + asset_pool * share

    gross = largest_remainder({k: v for k, v in exact.items() if v > 0}, pool) if pool else {}
    members = []
    for key in sorted(gross):
        pension = gross[key] * pension_bps // BPS
        members.append(MemberShare(key, gross[key], pension, gross[key] - pension))
    return LeaseDistribution(revenue, fee, pool, tuple(members))
