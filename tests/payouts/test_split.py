"""The close's integer split (payouts/split.py) against the reference money rule
(distribution.distribute_lease and attribution.itemise_lease): the same cents for every member
and every statement line, for random leases built to hit ties, zero amounts, a 100% fee and
shares with unrelated denominators, and the same refusals."""

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from payouts import split
from payouts.attribution import FLAT_FEE, UseCharge, itemise_lease
from payouts.distribution import Charge, Contributor, distribute_lease

USES = [FLAT_FEE, "download", "training_run", "generated_second"]


def _reference(lease: dict):
    """What the reference rule gives: (revenue, fee, pension, net, paid members with lines)."""
    charges = [UseCharge(use, asset, amount) for use, asset, amount in lease["charges"]]
    result = distribute_lease(
        flat_fee_cents=lease["flat_fee_cents"],
        charges=[Charge(c.asset_id, c.amount_cents) for c in charges],
        shared_assets=lease["shared_assets"],
        contributors=lease["contributors"],
        admin_fee_bps=lease["admin_fee_bps"],
        pension_bps=lease["pension_bps"],
    )
    lines = itemise_lease(
        result=result,
        flat_fee_cents=lease["flat_fee_cents"],
        charges=charges,
        shared_assets=lease["shared_assets"],
        contributors=lease["contributors"],
        use_order=USES,
    )
    members = [
        (
            m.member_key,
            m.gross_cents,
            m.pension_cents,
            m.net_cents,
            [
                (x.use, x.revenue_cents, x.admin_fee_cents, x.pension_cents, x.net_cents)
                for x in lines[m.member_key]
            ],
        )
        for m in result.members
        if m.gross_cents
    ]
    return (result.revenue_cents, result.admin_fee_cents, result.pension_cents, result.net_cents, members)


def _fast(lease: dict):
    result = split.split_lease(
        flat_fee_cents=lease["flat_fee_cents"],
        charges=lease["charges"],
        shared_assets=lease["shared_assets"],
        held=split.checker(split.holders_from_contributors(lease["contributors"])),
        admin_fee_bps=lease["admin_fee_bps"],
        pension_bps=lease["pension_bps"],
        use_order=USES,
    )
    members = [(m.key, m.gross_cents, m.pension_cents, m.net_cents, m.lines) for m in result.members]
    return (result.revenue_cents, result.admin_fee_cents, result.pension_cents, result.net_cents, members)


@st.composite
def shares(draw, holders: int) -> list[Fraction]:
    """`holders` positive Fractions summing to exactly 1: equal ones (ties), decimal ones (as
    the database stores them) or any."""
    kind = draw(st.sampled_from(["equal", "decimal", "any"]))
    if kind == "equal":
        return [Fraction(1, holders)] * holders
    if kind == "decimal":
        cuts = sorted(
            draw(st.lists(st.integers(1, 10**6 - 1), min_size=holders - 1, max_size=holders - 1, unique=True))
        )
        bounds = [0, *cuts, 10**6]
        return [Fraction(b - a, 10**6) for a, b in zip(bounds, bounds[1:], strict=False)]
    weights = draw(st.lists(st.integers(1, 997), min_size=holders, max_size=holders))
    return [Fraction(w, sum(weights)) for w in weights]


@st.composite
def leases(draw) -> dict:
    asset_count = draw(st.integers(1, 6))
    numbers = draw(st.lists(st.integers(1, 30), min_size=1, max_size=9, unique=True))
    # Two members may share a member number (ties then fall to the member id).
    keys = [
        (f"M-{draw(st.sampled_from(numbers)):03d}", member_id) for member_id in range(1, len(numbers) + 1)
    ]
    contributors = {}
    for n in range(asset_count):
        holders = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True))
        contributors[f"asset-{n}"] = [
            Contributor(key, share) for key, share in zip(holders, draw(shares(len(holders))), strict=True)
        ]
    assets = list(contributors)
    shared = draw(st.lists(st.sampled_from(assets), min_size=1, max_size=len(assets), unique=True))
    amounts = st.one_of(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 10**12))
    charges = draw(
        st.lists(
            st.one_of(
                st.tuples(
                    st.sampled_from(["download", "generated_second"]), st.sampled_from(assets), amounts
                ),
                st.tuples(st.sampled_from(["training_run", "other_use"]), st.none(), amounts),
            ),
            max_size=10,
        )
    )
    return {
        "flat_fee_cents": draw(amounts),
        "charges": charges,
        "shared_assets": shared,
        "contributors": contributors,
        "admin_fee_bps": (fee := draw(st.one_of(st.sampled_from([0, 1000, 10000]), st.integers(0, 10000)))),
        # Together at most 100% (distribution.rates_problem): the rest of the range, ends included.
        "pension_bps": draw(st.one_of(st.sampled_from([0, 10000 - fee]), st.integers(0, 10000 - fee))),
    }


THIRDS = {
    "a": [Contributor(("M-003", 3), Fraction(1, 3)), Contributor(("M-001", 1), Fraction(1, 3))]
    + [Contributor(("M-001", 2), Fraction(1, 3))],
}


@settings(max_examples=600, deadline=None)
@given(leases())
@example(
    {
        "flat_fee_cents": 100,
        "charges": [("training_run", None, 1), ("download", "a", 2)],
        "shared_assets": ["a"],
        "contributors": THIRDS,
        "admin_fee_bps": 1000,
        "pension_bps": 500,
    }
)
def test_the_integer_split_pays_every_member_and_line_what_the_reference_rule_pays(lease):
    assert _fast(lease) == _reference(lease)


def test_leftover_cents_go_by_largest_remainder_then_member_number_then_id():
    lease = {
        "flat_fee_cents": 100,
        "charges": [],
        "shared_assets": ["a"],
        "contributors": THIRDS,
        "admin_fee_bps": 0,
        "pension_bps": 0,
    }
    assert [(m[0], m[1]) for m in _fast(lease)[4]] == [
        (("M-001", 1), 34),
        (("M-001", 2), 33),
        (("M-003", 3), 33),
    ]


def test_a_lease_with_nothing_owed_pays_nobody():
    lease = {
        "flat_fee_cents": 0,
        "charges": [("download", "a", 0)],
        "shared_assets": ["a"],
        "contributors": THIRDS,
        "admin_fee_bps": 1000,
        "pension_bps": 500,
    }
    assert _fast(lease) == _reference(lease) == (0, 0, 0, 0, [])


@pytest.mark.parametrize(
    "change",
    [
        {"flat_fee_cents": -1},
        {"admin_fee_bps": 10001},
        {"pension_bps": -1},
        {"contributors": {"a": [Contributor(("M-001", 1), Fraction(1, 2))]}},
        {
            "contributors": {
                "a": [Contributor(("M-001", 1), Fraction(3, 2)), Contributor(("M-002", 2), Fraction(-1, 2))]
            }
        },
        {"contributors": {}},
        {"shared_assets": []},
        {"charges": [("download", "ghost", 10)]},
        {"charges": [("download", "a", -10)]},
    ],
)
def test_the_integer_split_refuses_what_the_reference_refuses(change):
    lease = {
        "flat_fee_cents": 100,
        "charges": [],
        "shared_assets": ["a"],
        "contributors": {"a": [Contributor(("M-001", 1), Fraction(1))]},
        "admin_fee_bps": 0,
        "pension_bps": 0,
        **change,
    }
    with pytest.raises(ValueError):
        _reference(lease)
    with pytest.raises(ValueError):
        _fast(lease)
