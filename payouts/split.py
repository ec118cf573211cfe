"""The close's hot path: the money rule of `distribution.distribute_lease` and the statement
lines of `attribution.itemise_lease`, worked in integers over one common denominator per lease,
with no Fraction and no object per member. Those two modules stay the contract (pure,
property-tested); tests/payouts/test_split.py proves this one gives the same cents for random
leases.

Why integers give the same cents: every member's exact share of the pool is
pool x N_m / Q with one Q for the whole lease (Q = R x n x D: revenue, shared assets, the
shares' common denominator), so floors and remainders are integer divmods and the largest
remainder compares plain integers. The statement splits are proportional, so any common
denominator of their weights gives the same floors and the same remainder order."""

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from math import lcm
from typing import NamedTuple

from trust.models import AssetContributor

from .attribution import FLAT_FEE
from .distribution import BPS, Contributor, rates_problem

# (member number, member id): the tie-break order of the money rule.
MemberKey = tuple[str, int]


class Holders(NamedTuple):
    """Every asset's contributors as (member key, share numerator) over one denominator."""

    by_asset: dict[str, list[tuple[MemberKey, int]]]
    denominator: int


class MemberSplit(NamedTuple):
    key: MemberKey
    gross_cents: int
    pension_cents: int
    net_cents: int
    # (use, revenue, admin fee, pension, net): the member's statement lines, in use order.
    lines: list[tuple[str, int, int, int, int]]


class LeaseSplit(NamedTuple):
    revenue_cents: int
    admin_fee_cents: int
    pension_cents: int
    net_cents: int
    members: list[MemberSplit]  # paid members only, by member key


def holders_from_rows(rows: Iterable[tuple[str, MemberKey, object]]) -> Holders:
    """(asset id, member key, share) rows, shares as Decimal or Fraction, to integer holders.
    Distinct shares are few (1, 0.5, ...): each is turned into a numerator once."""
    rows = list(rows)
    # Looked up by the share object first: `counted_rows` hands out one Fraction per distinct
    # share, and hashing a Fraction (every row, twice) cost more than the rest of this. `rows`
    # keeps every share alive, so no id is reused; equal shares in other objects still meet
    # in `exact`.
    by_object: dict[int, Fraction] = {}
    exact: dict[Fraction, Fraction] = {}
    for _, _, share in rows:
        if id(share) not in by_object:
            value = Fraction(share)
            by_object[id(share)] = exact.setdefault(value, value)
    denominator = lcm(*(f.denominator for f in exact.values())) if exact else 1
    numerators = {pk: value.numerator * (denominator // value.denominator) for pk, value in by_object.items()}
    by_asset: dict[str, list[tuple[MemberKey, int]]] = {}
    for asset_id, key, share in rows:
        held = by_asset.get(asset_id)
        if held is None:
            held = by_asset[asset_id] = []
        held.append((key, numerators[id(share)]))
    return Holders(by_asset, denominator)


def holders_from_contributors(contributors: Mapping[str, Sequence[Contributor]]) -> Holders:
    return holders_from_rows(
        (asset_id, c.member_key, c.share) for asset_id, held in contributors.items() for c in held
    )


def apportion(total: int, weights: Sequence[int], whole: int) -> list[int]:
    """`total` cents in proportion to `weights` (summing to `whole`): floors, then the leftover
    cents one by one to the largest remainders, ties to the earlier weight."""
    if not total or not whole:
        return [0] * len(weights)
    parts, remainders = [], []
    for weight in weights:
        part, remainder = divmod(total * weight, whole)
        parts.append(part)
        remainders.append(remainder)
    leftover = total - sum(parts)
    if leftover:
        for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
            parts[index] += 1
    return parts


class _Checked:
    """The assets whose contributors were found valid (present, positive, summing to 1),
    checked once per batch as the reference checks them per lease."""

    def __init__(self, holders: Holders):
        self.holders = holders
        self.valid: set[str] = set()

    def __call__(self, asset_id: str) -> list[tuple[MemberKey, int]]:
        held = self.holders.by_asset.get(asset_id)
        if asset_id not in self.valid:
            if not held:
                raise ValueError(f"asset {asset_id} has no contributors")
            if any(numerator <= 0 for _, numerator in held):
                raise ValueError(f"asset {asset_id} has a share that is not positive")
            if sum(numerator for _, numerator in held) != self.holders.denominator:
                raise ValueError(f"the shares of asset {asset_id} do not sum to exactly 1")
            self.valid.add(asset_id)
        return held


def checker(holders: Holders) -> _Checked:
    """What `split_lease` takes as `held`: one per batch, so each asset is checked once."""
    return _Checked(holders)


def split_lease(
    *,
    flat_fee_cents: int,
    charges: Sequence[tuple[str, str | None, int]],
    shared_assets: Sequence[str],
    held: _Checked,
    admin_fee_bps: int,
    pension_bps: int,
    use_order: Sequence[str],
) -> LeaseSplit:
    """One lease's split and statement lines: the cents of `distribute_lease` and
    `itemise_lease` for the same lease. `charges` are (use, asset id or None, cents); None is
    shared equally across `shared_assets`, like the flat fee."""
    problem = rates_problem(admin_fee_bps, pension_bps)  # the one rule of rates, as the reference
    if problem:
        raise ValueError(problem)
    if flat_fee_cents < 0 or any(amount < 0 for _, _, amount in charges):
        raise ValueError("amounts must not be negative")
    shared_by_use: dict[str, int] = {FLAT_FEE: flat_fee_cents} if flat_fee_cents else {}
    shared_cents = flat_fee_cents
    revenue = flat_fee_cents
    direct = []
    for use, asset_id, amount in charges:
        revenue += amount
        if asset_id is None:
            shared_cents += amount
            if amount:
                shared_by_use[use] = shared_by_use.get(use, 0) + amount
        else:
            direct.append((use, asset_id, amount))
    if shared_cents and not shared_assets:
        raise ValueError("shared revenue needs at least one shared asset")
    for _, asset_id, _ in direct:
        held(asset_id)
    if shared_cents:
        for asset_id in shared_assets:
            held(asset_id)
    fee = revenue * admin_fee_bps // BPS
    pool = revenue - fee
    if revenue == 0:
        return LeaseSplit(0, 0, 0, 0, [])

    # weights[key][use]: the member's exact revenue from the use, times n x D.
    n = max(len(shared_assets), 1)
    weights: dict[MemberKey, dict[str, int]] = {}
    if shared_by_use:
        # A member's summed share numerators over the shared assets, once for every shared use.
        in_shared: dict[MemberKey, int] = {}
        for asset_id in shared_assets:
            for key, numerator in held.holders.by_asset[asset_id]:
                in_shared[key] = in_shared.get(key, 0) + numerator
        for key, numerator in in_shared.items():
            weights[key] = {use: amount * numerator for use, amount in shared_by_use.items()}
    for use, asset_id, amount in direct:
        if not amount:
            continue
        for key, numerator in held.holders.by_asset[asset_id]:
            uses = weights.get(key)
            if uses is None:
                uses = weights[key] = {}
            uses[use] = uses.get(use, 0) + amount * n * numerator

    if not pool:
        return LeaseSplit(revenue, fee, 0, 0, [])
    keys = sorted(weights)
    totals = [sum(weights[key].values()) for key in keys]
    gross = apportion(pool, totals, revenue * n * held.holders.denominator)
    paid = [(key, g, total) for key, g, total in zip(keys, gross, totals, strict=True) if g]
    fees = apportion(fee, [g for _, g, _ in paid], pool)
    rank = {use: index for index, use in enumerate(use_order)}
    members = []
    pension_sum = net_sum = 0
    for (key, g, total), member_fee in zip(paid, fees, strict=True):
        mine = weights[key]
        uses = sorted(
            (use for use, weight in mine.items() if weight), key=lambda u: (rank.get(u, len(rank)), u)
        )
        use_weights = [mine[use] for use in uses]
        gross_lines = apportion(g, use_weights, total)
        p = g * pension_bps // BPS
        pension_lines = apportion(p, gross_lines, g)
        fee_lines = apportion(member_fee, use_weights, total)
        lines = [
            (use, gu + fu, fu, pu, gu - pu)
            for use, gu, pu, fu in zip(uses, gross_lines, pension_lines, fee_lines, strict=True)
            if gu or fu
        ]
        members.append(MemberSplit(key, g, p, g - p, lines))
        pension_sum += p
        net_sum += g - p
    return LeaseSplit(revenue, fee, pension_sum, net_sum, members)


def counted_rows(rows) -> list[tuple]:
    """(asset id, member id, member number, share) of the accepted contributors only, each share
    scaled so an asset's accepted shares sum to exactly 1: the fast path's form of
    `distribution.counted_shares` (the differential tests hold the two equal). One Fraction per
    distinct share, not per row (a batch reads tens of thousands of rows over a few shares)."""
    exact: dict = {}
    accepted: dict = {}
    for asset_id, member_id, number, share, status in rows:
        if status == AssetContributor.Status.ACCEPTED:
            fraction = exact.get(share)
            if fraction is None:
                fraction = exact[share] = Fraction(share)
            held = accepted.get(asset_id)
            if held is None:
                held = accepted[asset_id] = []
            held.append((member_id, number, fraction))
    counted = []
    for asset_id, held in accepted.items():
        total = held[0][2] if len(held) == 1 else sum((share for _, _, share in held), Fraction(0))
        if total == 1:  # shares that already sum to 1 stay as they are (the same objects)
            counted += [(asset_id, member_id, number, share) for member_id, number, share in held]
        else:
            counted += [(asset_id, member_id, number, share / total) for member_id, number, share in held]
    return counted
