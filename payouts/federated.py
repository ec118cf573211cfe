"""The money of a federated lease (FEDERATION.md, "Metering and money across trusts"): its flat
fee and training-run charges are the whole lease's, split across its parts by the assets each
part had licensable at approval (floor, then largest remainder, ties by trust slug); downloads
and generated seconds belong to the part whose asset was used. Pure functions over integers:
the close (home part's share, paid to home members) and the settlement (each remote part's
share, owed to its trust) both ask these, so the two always agree to the cent."""

from collections.abc import Mapping
from typing import NamedTuple

from .attribution import FLAT_FEE
from .metering import LeaseCharges
from .split import apportion

TRAINING_RUN = "training_run"


class PartShares(NamedTuple):
    flat_fee_cents: int
    training_cents: int


def split_by_licensable(total: int, licensable: Mapping[str, int | None], *, home: str) -> dict[str, int]:
    """`total` cents across the parts (trust slug -> assets licensable at approval): floor, then
    the leftover cents to the largest remainders, ties to the earlier slug. Sums to `total`
    exactly. A part never approved (no count) takes nothing; when no part has a count, the home
    part takes it all (nothing is lost)."""
    slugs = sorted(set(licensable) | {home})
    weights = [licensable.get(slug) or 0 for slug in slugs]
    whole = sum(weights)
    if not whole:
        return {slug: total if slug == home else 0 for slug in slugs}
    return dict(zip(slugs, apportion(total, weights, whole), strict=True))


def part_shares(
    owed: LeaseCharges, licensable: Mapping[str, int | None], *, home: str
) -> dict[str, PartShares]:
    """Each part's share of a lease's flat fee and of its training-run charges for a period (the
    charges that name no asset), by `split_by_licensable`, each split on its own."""
    training = sum(amount for use, asset, amount in owed.charges if asset is None)
    flat = split_by_licensable(owed.flat_fee_cents, licensable, home=home)
    runs = split_by_licensable(training, licensable, home=home)
    return {slug: PartShares(flat[slug], runs[slug]) for slug in flat}


def home_part_charges(owed: LeaseCharges, licensable: Mapping[str, int | None], *, home: str) -> LeaseCharges:
    """What the home trust distributes to its own members for a federated lease: its part's
    share of the flat fee and training runs, and the usage of its own assets (every charge
    naming an asset here is of a home asset: other trusts' usage is never metered here)."""
    mine = part_shares(owed, licensable, home=home)[home]
    direct = tuple(charge for charge in owed.charges if charge[1] is not None)
    shared = ((TRAINING_RUN, None, mine.training_cents),) if mine.training_cents else ()
    return LeaseCharges(mine.flat_fee_cents, shared + direct)


__all__ = ["FLAT_FEE", "PartShares", "home_part_charges", "part_shares", "split_by_licensable"]
