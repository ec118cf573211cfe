"""A federated lease's money (FEDERATION.md, "Metering and money across trusts"): the flat fee and
training runs split across parts by licensable assets at approval, floor then largest remainder,
ties by trust slug; each part's revenue paid to its own trust's members by that trust's rates."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.models import Peer
from licensing import services as licensing
from licensing.models import Lease, LeasePart
from payouts import federated, services, split
from payouts.metering import LeaseCharges
from payouts.models import LeaseRevenue, MemberEarning, Period

SLUGS = ["actra", "equity-uk", "fia", "meaa", "sag-aftra", "uda"]


def test_the_split_is_floor_then_largest_remainder_with_ties_by_trust_slug():
    # 1000 cents over 2:3 assets: exact, 400 and 600.
    assert federated.split_by_licensable(1000, {"sag-aftra": 2, "equity-uk": 3}, home="sag-aftra") == {
        "equity-uk": 600,
        "sag-aftra": 400,
    }
    # 100 over three equal parts: 33 each and one cent left, which goes to the first slug.
    assert federated.split_by_licensable(
        100, {"sag-aftra": 4, "equity-uk": 4, "actra": 4}, home="sag-aftra"
    ) == {
        "actra": 34,
        "equity-uk": 33,
        "sag-aftra": 33,
    }
    # 10 over 1:2 -> 3.33 and 6.67: floors 3 and 6, the leftover cent to the larger remainder.
    assert federated.split_by_licensable(10, {"sag-aftra": 1, "equity-uk": 2}, home="sag-aftra") == {
        "equity-uk": 7,
        "sag-aftra": 3,
    }
    # A part never approved takes nothing; with no count anywhere the home part takes it all.
    assert federated.split_by_licensable(10, {"sag-aftra": None, "equity-uk": None}, home="sag-aftra") == {
        "equity-uk": 0,
        "sag-aftra": 10,
    }


def test_the_home_part_keeps_its_share_and_every_charge_of_its_own_assets():
    owed = LeaseCharges(
        1000, (("training_run", None, 300), ("download", "a1", 70), ("generated_second", "a2", 5))
    )
    mine = federated.home_part_charges(owed, {"sag-aftra": 2, "equity-uk": 3}, home="sag-aftra")
    assert mine.flat_fee_cents == 400
    assert sorted(mine.charges, key=str) == sorted(
        [("training_run", None, 120), ("download", "a1", 70), ("generated_second", "a2", 5)], key=str
    )


parts_strategy = st.lists(st.sampled_from(SLUGS), min_size=1, max_size=6, unique=True)


# Generation may be slow on a shared machine: that is no failure of the money rule.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slugs=parts_strategy,
    data=st.data(),
    flat=st.integers(0, 10**9),
    training=st.integers(0, 10**9),
)
def test_parts_revenues_add_up_to_the_lease_revenue_and_each_trusts_distribution_balances(
    slugs, data, flat, training
):
    home = data.draw(st.sampled_from(slugs))
    licensable = {slug: data.draw(st.integers(0, 500)) for slug in slugs}
    # Each part's own metered usage (downloads and generated seconds of its assets, at its prices).
    usage = {slug: data.draw(st.integers(0, 10**8)) for slug in slugs}
    owed = LeaseCharges(flat, (("training_run", None, training),) if training else ())
    shares = federated.part_shares(owed, licensable, home=home)
    revenue = {
        slug: usage[slug] + shares[slug].flat_fee_cents + shares[slug].training_cents for slug in slugs
    }
    assert sum(revenue.values()) == flat + training + sum(usage.values())
    assert all(value >= 0 for value in revenue.values())

    # Each trust pays its part's revenue to its own members with its own rates, to the cent.
    for slug in slugs:
        fee_bps = data.draw(st.integers(0, 10000))
        pension_bps = data.draw(st.integers(0, 10000 - fee_bps))
        shares_of_asset = data.draw(st.sampled_from([["1"], ["0.5", "0.5"], ["0.2", "0.3", "0.5"]]))
        holders = split.holders_from_rows(
            (asset, (f"M{asset}{i}", i), share)
            for asset in ("a", "b")
            for i, share in enumerate(shares_of_asset)
        )
        shared = shares[slug].flat_fee_cents + shares[slug].training_cents
        result = split.split_lease(
            flat_fee_cents=shares[slug].flat_fee_cents,
            charges=[("training_run", None, shares[slug].training_cents), ("download", "a", usage[slug])],
            shared_assets=["a", "b"] if shared else ["a"],
            held=split.checker(holders),
            admin_fee_bps=fee_bps,
            pension_bps=pension_bps,
            use_order=["flat_fee", "download", "training_run", "generated_second"],
        )
        assert result.revenue_cents == revenue[slug]
        assert result.admin_fee_cents + result.pension_cents + result.net_cents == revenue[slug]
        assert sum(m.gross_cents for m in result.members) + result.admin_fee_cents == revenue[slug]


# --- The home trust's close pays home members the home part's share only --------------------------


@pytest.mark.django_db
def test_home_members_are_paid_exactly_the_home_parts_share_worked_by_hand(world, settings):
    settings.TRUST_SLUG = "sag-aftra"
    lease = world.lease_a
    now = timezone.now()
    equity = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK",
        currency="USD",
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        public_keys=[],
        fingerprint="x",
        added_by_us_at=now,
        added_by_them_at=now,
    )
    LeasePart.objects.create(lease=lease, peer=None, status="approved", licensable_at_approval=2)
    LeasePart.objects.create(
        lease=lease,
        peer=equity,
        status="approved",
        remote_terms_id=3,
        remote_lease_id=55,
        licensable_at_approval=3,
    )
    licensing.usage_report(
        token=world.token_a,
        lease_id=lease.pk,
        events=[{"event_key": "r1", "kind": "training_run", "quantity": 3, "occurred_at": now}],
    )
    period = services.period_create(
        actor=world.cast.admin, start=now - timedelta(hours=1), end=timezone.now()
    )
    period = services.period_close(period_id=period.pk)
    assert period.status == Period.Status.CLOSED, period.failure_reason

    # By hand: flat fee 1000 over 2:3 assets -> 400 here; 3 runs x 100 = 300 -> 120 here.
    revenue = LeaseRevenue.objects.get(period=period, lease=lease)
    assert (revenue.flat_fee_cents, revenue.usage_cents, revenue.revenue_cents) == (400, 120, 520)
    paid = MemberEarning.objects.filter(period=period, lease=lease).aggregate(gross=Sum("gross_cents"))[
        "gross"
    ]
    assert paid + revenue.admin_fee_cents == 520
    # Lease B (local) is untouched: its whole 1000 flat fee.
    assert LeaseRevenue.objects.get(period=period, lease=world.lease_b).revenue_cents == 1000
    assert period.revenue_cents == 1520


@pytest.mark.django_db
@pytest.mark.parametrize("ended", [Lease.Status.REJECTED, Lease.Status.CANCELLED])
def test_a_federated_lease_approved_here_but_never_active_is_charged_no_flat_fee(world, ended):
    """The home trust approved its part (the lease has a start), then another trust rejected its
    part (or the studio cancelled while it was undecided): the studio never had the data."""
    lease = world.lease_a
    Lease.objects.filter(pk=lease.pk).update(status=ended)
    now = timezone.now()
    period = services.period_create(
        actor=world.cast.admin, start=now - timedelta(hours=1), end=timezone.now()
    )
    period = services.period_close(period_id=period.pk)
    assert period.status == Period.Status.CLOSED, period.failure_reason
    assert not LeaseRevenue.objects.filter(period=period, lease=lease).exists()
    # The other studio's lease, active, still pays its fee.
    assert LeaseRevenue.objects.get(period=period, lease=world.lease_b).flat_fee_cents > 0
