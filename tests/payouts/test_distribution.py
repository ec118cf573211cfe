"""The money rules as pure functions: hand-worked examples and hypothesis properties."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.distribution import Charge, Contributor, distribute_lease, largest_remainder


def member(n: int) -> tuple[str, int]:
    return (f"M-{n:03d}", n)


def test_a_hand_worked_split():
    # R = 1000; F = 10% = 100; M = 900 to one asset held 1/3 : 2/3; P&H 5%.
    result = distribute_lease(
        flat_fee_cents=1000,
        charges=[],
        shared_assets=["a"],
        admin_fee_bps=1000,
        pension_bps=500,
        contributors={"a": [Contributor(member(1), Fraction(1, 3)), Contributor(member(2), Fraction(2, 3))]},
    )
    assert (result.revenue_cents, result.admin_fee_cents, result.pool_cents) == (1000, 100, 900)
    assert [(m.gross_cents, m.pension_cents, m.net_cents) for m in result.members] == [
        (300, 15, 285),
        (600, 30, 570),
    ]


def test_the_leftover_cent_goes_to_the_largest_remainder_then_the_lowest_member_number():
    thirds = [Contributor(member(n), Fraction(1, 3)) for n in (3, 1, 2)]
    result = distribute_lease(
        flat_fee_cents=100,
        charges=[],
        shared_assets=["a"],
        contributors={"a": thirds},
        admin_fee_bps=0,
        pension_bps=0,
    )
    assert [(m.member_key, m.gross_cents) for m in result.members] == [
        (member(1), 34),
        (member(2), 33),
        (member(3), 33),
    ]


def test_per_asset_charges_go_to_that_assets_contributors():
    result = distribute_lease(
        flat_fee_cents=0,
        charges=[Charge("a", 500), Charge("b", 300)],
        shared_assets=[],
        contributors={"a": [Contributor(member(1), Fraction(1))], "b": [Contributor(member(2), Fraction(1))]},
        admin_fee_bps=0,
        pension_bps=0,
    )
    assert [m.gross_cents for m in result.members] == [500, 300]


def test_largest_remainder_needs_the_exact_total():
    with pytest.raises(ValueError):
        largest_remainder({"a": Fraction(1, 2)}, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flat_fee_cents": -1},
        {"admin_fee_bps": 10001},
        {"pension_bps": -1},
        {"admin_fee_bps": 6000, "pension_bps": 4001},
        {"contributors": {"a": [Contributor(member(1), Fraction(1, 2))]}},
        {
            "contributors": {
                "a": [Contributor(member(1), Fraction(3, 2)), Contributor(member(2), Fraction(-1, 2))]
            }
        },
        {"contributors": {}},
        {"shared_assets": []},
        {"charges": [Charge("ghost", 10)]},
    ],
)
def test_impossible_inputs_are_refused(kwargs):
    base = {
        "flat_fee_cents": 100,
        "charges": [],
        "shared_assets": ["a"],
        "admin_fee_bps": 0,
        "pension_bps": 0,
        "contributors": {"a": [Contributor(member(1), Fraction(1))]},
    }
    with pytest.raises(ValueError):
        distribute_lease(**{**base, **kwargs})


@st.composite
def leases(draw):
    """Any number of assets with any positive shares, prices, usage and rates."""
    asset_count = draw(st.integers(min_value=1, max_value=6))
    members = draw(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8, unique=True))
    contributors = {}
    for n in range(asset_count):
        holders = draw(st.lists(st.sampled_from(members), min_size=1, max_size=len(members), unique=True))
        weights = draw(
            st.lists(st.integers(min_value=1, max_value=1000), min_size=len(holders), max_size=len(holders))
        )
        total = sum(weights)
        # Some named contributors may not have accepted; the registrant always has.
        accepted = [
            True,
            *draw(st.lists(st.booleans(), min_size=len(holders) - 1, max_size=len(holders) - 1)),
        ]
        contributors[f"asset-{n}"] = [
            Contributor(member(h), Fraction(w, total), a)
            for h, w, a in zip(holders, weights, accepted, strict=True)
        ]
    assets = list(contributors)
    shared = draw(st.lists(st.sampled_from(assets), min_size=1, max_size=len(assets), unique=True))
    charges = draw(
        st.lists(
            st.builds(Charge, st.sampled_from([None, *assets]), st.integers(min_value=0, max_value=10**9)),
            max_size=12,
        )
    )
    return {
        "flat_fee_cents": draw(st.integers(min_value=0, max_value=10**10)),
        "charges": charges,
        "shared_assets": shared,
        "contributors": contributors,
        "admin_fee_bps": (fee := draw(st.integers(min_value=0, max_value=10000))),
        "pension_bps": draw(st.integers(min_value=0, max_value=10000 - fee)),
    }


def _exact_shares(lease) -> dict:
    revenue = lease["flat_fee_cents"] + sum(c.amount_cents for c in lease["charges"])
    pool = revenue - revenue * lease["admin_fee_bps"] // 10000
    shared = lease["flat_fee_cents"] + sum(c.amount_cents for c in lease["charges"] if c.asset_id is None)
    exact: dict = {}
    for asset in lease["contributors"]:
        source = Fraction(sum(c.amount_cents for c in lease["charges"] if c.asset_id == asset))
        if asset in lease["shared_assets"]:
            source += Fraction(shared, len(lease["shared_assets"]))
        counted = [c for c in lease["contributors"][asset] if c.accepted]
        accepted_total = sum(c.share for c in counted)
        for c in counted:
            share = c.share / accepted_total
            exact[c.member_key] = exact.get(c.member_key, 0) + pool * source * share / revenue
    return exact


@settings(max_examples=300, deadline=None)
@given(leases())
def test_everything_adds_up_to_the_cent(lease):
    result = distribute_lease(**lease)
    revenue = lease["flat_fee_cents"] + sum(c.amount_cents for c in lease["charges"])
    assert result.revenue_cents == revenue
    assert result.admin_fee_cents == revenue * lease["admin_fee_bps"] // 10000
    assert sum(m.gross_cents for m in result.members) == result.pool_cents == revenue - result.admin_fee_cents
    assert result.net_cents + result.pension_cents + result.admin_fee_cents == revenue
    for m in result.members:
        assert m.gross_cents >= 0 and m.pension_cents >= 0 and m.net_cents >= 0
        assert m.pension_cents == m.gross_cents * lease["pension_bps"] // 10000
        assert m.net_cents + m.pension_cents == m.gross_cents


@settings(max_examples=300, deadline=None)
@given(leases())
def test_each_member_is_within_a_cent_of_their_exact_share(lease):
    result = distribute_lease(**lease)
    exact = _exact_shares(lease) if result.revenue_cents else {}
    for m in result.members:
        assert abs(m.gross_cents - exact[m.member_key]) < 1


@settings(max_examples=200, deadline=None)
@given(leases(), st.randoms(use_true_random=False))
def test_the_order_of_the_input_does_not_matter(lease, random):
    shuffled = dict(lease)
    shuffled["charges"] = random.sample(lease["charges"], len(lease["charges"]))
    shuffled["contributors"] = {
        asset: random.sample(list(cs), len(cs))
        for asset, cs in random.sample(list(lease["contributors"].items()), len(lease["contributors"]))
    }
    assert distribute_lease(**shuffled) == distribute_lease(**lease)


@settings(max_examples=200, deadline=None)
@given(leases())
def test_only_members_who_accepted_a_share_are_paid(lease):
    accepted = {c.member_key for cs in lease["contributors"].values() for c in cs if c.accepted}
    result = distribute_lease(**lease)
    assert {m.member_key for m in result.members if m.gross_cents} <= accepted


def test_a_share_not_accepted_goes_to_those_who_accepted():
    result = distribute_lease(
        flat_fee_cents=1000,
        charges=[],
        shared_assets=["a"],
        admin_fee_bps=0,
        pension_bps=0,
        contributors={
            "a": [
                Contributor(member(1), Fraction(1, 4)),
                Contributor(member(2), Fraction(1, 4), accepted=False),
                Contributor(member(3), Fraction(1, 2)),
            ]
        },
    )
    assert [(m.member_key, m.gross_cents) for m in result.members] == [(member(1), 333), (member(3), 667)]


def test_an_asset_without_an_accepted_contributor_is_refused():
    with pytest.raises(ValueError, match="no accepted contributor"):
        distribute_lease(
            flat_fee_cents=100,
            charges=[],
            shared_assets=["a"],
            admin_fee_bps=0,
            pension_bps=0,
            contributors={"a": [Contributor(member(1), Fraction(1), accepted=False)]},
        )
