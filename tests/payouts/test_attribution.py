"""Itemising a lease's distribution for statements: a hand-worked example, and hypothesis
properties that every figure adds up to the cent and nothing is negative."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.attribution import FLAT_FEE, UseCharge, itemise_lease
from payouts.distribution import Charge, Contributor, distribute_lease

USES = [FLAT_FEE, "download", "training_run", "generated_second"]
PER_ASSET = {"download", "generated_second"}


def member(n: int) -> tuple[str, int]:
    return (f"M-{n:03d}", n)


def _itemise(flat_fee_cents, charges, shared_assets, contributors, admin_fee_bps, pension_bps):
    result = distribute_lease(
        flat_fee_cents=flat_fee_cents,
        charges=[Charge(c.asset_id, c.amount_cents) for c in charges],
        shared_assets=shared_assets,
        contributors=contributors,
        admin_fee_bps=admin_fee_bps,
        pension_bps=pension_bps,
    )
    lines = itemise_lease(
        result=result,
        flat_fee_cents=flat_fee_cents,
        charges=charges,
        shared_assets=shared_assets,
        contributors=contributors,
        use_order=USES,
    )
    return result, lines


def test_a_hand_worked_itemisation():
    # R = 1000 flat + 200 downloads of asset a = 1200; F = 10% = 120; M = 1080.
    # Asset a is Ann's alone; b is shared 1/2 : 1/2 by Ann and Ben; the flat fee goes 500 to each asset.
    contributors = {
        "a": [Contributor(member(1), Fraction(1))],
        "b": [Contributor(member(1), Fraction(1, 2)), Contributor(member(2), Fraction(1, 2))],
    }
    result, lines = _itemise(1000, [UseCharge("download", "a", 200)], ["a", "b"], contributors, 1000, 500)
    # Ann: 500 + 250 flat, 200 downloads = 950 of R -> 855 gross; Ben: 250 of R -> 225 gross.
    assert [(m.member_key, m.gross_cents, m.pension_cents) for m in result.members] == [
        (member(1), 855, 42),
        (member(2), 225, 11),
    ]
    ann = {line.use: line for line in lines[member(1)]}
    assert [line.use for line in lines[member(1)]] == [FLAT_FEE, "download"]
    # Ann's 855 gross: 750/950 flat -> 675, 200/950 downloads -> 180. Fee 120 x 855/1080 = 95.
    assert (ann[FLAT_FEE].revenue_cents, ann[FLAT_FEE].admin_fee_cents) == (750, 75)
    assert (ann["download"].revenue_cents, ann["download"].admin_fee_cents) == (200, 20)
    assert ann[FLAT_FEE].pension_cents + ann["download"].pension_cents == 42
    (ben,) = lines[member(2)]
    assert (ben.use, ben.revenue_cents, ben.admin_fee_cents, ben.pension_cents, ben.net_cents) == (
        FLAT_FEE,
        250,
        25,
        11,
        214,
    )


def test_a_lease_whose_whole_revenue_is_the_fee_has_no_member_lines():
    contributors = {"a": [Contributor(member(1), Fraction(1))]}
    result, lines = _itemise(1000, [], ["a"], contributors, 10000, 0)
    assert result.admin_fee_cents == 1000 and lines == {}


@st.composite
def leases(draw):
    """A random lease: assets with random contributor shares, charges of every use."""
    asset_count = draw(st.integers(min_value=1, max_value=5))
    people = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=7, unique=True))
    assets = [f"asset-{n}" for n in range(asset_count)]
    contributors = {}
    for asset in assets:
        holders = draw(st.lists(st.sampled_from(people), min_size=1, max_size=len(people), unique=True))
        weights = draw(st.lists(st.integers(1, 1000), min_size=len(holders), max_size=len(holders)))
        # Named contributors may not have accepted (the registrant, first, always has).
        accepted = [
            True,
            *draw(st.lists(st.booleans(), min_size=len(holders) - 1, max_size=len(holders) - 1)),
        ]
        contributors[asset] = [
            Contributor(member(h), Fraction(w, sum(weights)), a)
            for h, w, a in zip(holders, weights, accepted, strict=True)
        ]
    shared = draw(st.lists(st.sampled_from(assets), min_size=1, max_size=len(assets), unique=True))
    charges = []
    for use in USES[1:]:
        for _ in range(draw(st.integers(0, 3))):
            asset = draw(st.sampled_from(assets)) if use in PER_ASSET else None
            charges.append(UseCharge(use, asset, draw(st.integers(0, 10**9))))
    return {
        "flat_fee_cents": draw(st.integers(0, 10**10)),
        "charges": charges,
        "shared_assets": shared,
        "contributors": contributors,
        "admin_fee_bps": (fee := draw(st.integers(0, 10000))),
        "pension_bps": draw(st.integers(0, 10000 - fee)),
    }


@settings(max_examples=300, deadline=None)
@given(leases())
def test_every_figure_adds_up_to_the_cent_and_none_is_negative(lease):
    result, lines = _itemise(**lease)
    paid = {m.member_key: m for m in result.members if m.gross_cents}
    assert set(lines) == set(paid)
    for key, share in paid.items():
        mine = lines[key]
        assert sum(line.net_cents for line in mine) == share.net_cents
        assert sum(line.pension_cents for line in mine) == share.pension_cents
        assert sum(line.gross_cents for line in mine) == share.gross_cents
        assert len({line.use for line in mine}) == len(mine)
        for line in mine:
            assert line.revenue_cents == line.admin_fee_cents + line.pension_cents + line.net_cents
            assert min(line.admin_fee_cents, line.pension_cents, line.net_cents) >= 0
    every = [line for mine in lines.values() for line in mine]
    if paid:
        assert sum(line.admin_fee_cents for line in every) == result.admin_fee_cents
        assert sum(line.revenue_cents for line in every) == result.revenue_cents


@settings(max_examples=200, deadline=None)
@given(leases())
def test_a_members_lines_only_name_uses_they_earned_from(lease):
    _, lines = _itemise(**lease)
    for key, mine in lines.items():
        held = {
            asset
            for asset, rows in lease["contributors"].items()
            if any(c.member_key == key and c.accepted for c in rows)
        }
        for line in mine:
            if line.use in PER_ASSET:
                assert any(
                    c.use == line.use and c.asset_id in held and c.amount_cents for c in lease["charges"]
                )
            elif line.use != FLAT_FEE:
                assert any(c.use == line.use and c.amount_cents for c in lease["charges"])


def test_a_use_outside_the_use_order_gives_each_member_one_line():
    halves = {"a": [Contributor(member(1), Fraction(1, 2)), Contributor(member(2), Fraction(1, 2))]}
    _, lines = _itemise(0, [UseCharge("other_use", None, 10)], ["a"], halves, 0, 0)
    assert [[line.use for line in lines[m]] for m in (member(1), member(2))] == [["other_use"], ["other_use"]]
