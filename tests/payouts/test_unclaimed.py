"""Unclaimed royalties worked out by hand: the hold period, moves to the pool, claims, release
and redistribution by floor and largest remainder. Time is a controlled clock (no sleeps):
`timezone.now` answers whatever the test set, so ledger postings are dated by it too."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts import ledger, selectors, services, unclaimed
from payouts.models import MemberEarning, PayoutItem, Period, UnclaimedHolding
from tests.factories import MemberFactory
from trust.errors import Conflict

pytestmark = pytest.mark.django_db
IBAN = "DE89370400440532013000"
T0 = datetime(2020, 1, 15, 12, 0, tzinfo=UTC)
HOLD = timedelta(days=1095)
WINDOW = timedelta(days=730)


@pytest.fixture
def clock(monkeypatch, settings):
    settings.UNCLAIMED_HOLD_DAYS = HOLD.days
    settings.UNCLAIMED_CLAIM_WINDOW_DAYS = WINDOW.days

    class Clock:
        now = T0

        def at(self, when: datetime) -> datetime:
            self.now = when
            return when

    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def people(world):
    """Alice, Carla and Erin can be paid; Bob has no bank details; Dan has bank details (he is
    marked untraceable by the tests that need it)."""
    cast = world.cast
    carla = MemberFactory(member_number="M-00003", display_name="Carla")
    dan = MemberFactory(member_number="M-00004", display_name="Dan")
    erin = MemberFactory(member_number="M-00005", display_name="Erin")
    for member in (cast.alice, carla, dan, erin):
        type(member).objects.filter(pk=member.pk).update(
            payout_iban=IBAN, payout_account_name=member.display_name
        )
        member.refresh_from_db()
    return {"alice": cast.alice, "bob": cast.bob, "carla": carla, "dan": dan, "erin": erin}


def earn(world, clock, when: datetime, nets: dict) -> Period:
    """A closed period ending at `when` whose royalties (net, no fee or pension for clarity) are
    posted at `when`: what a close leaves behind, without the metering around it."""
    clock.at(when)
    period = Period.objects.create(
        start=when - timedelta(days=28), end=when, status=Period.Status.CLOSED, closed_at=when
    )
    lease = world.lease_a
    MemberEarning.objects.bulk_create(
        MemberEarning(period=period, lease=lease, member=m, gross_cents=n, pension_cents=0, net_cents=n)
        for m, n in nets.items()
    )
    ledger.post(
        key=f"test:royalties:{period.pk}",
        memo="royalties",
        lines=[(ledger.studio_receivable(lease.studio), sum(nets.values()))]
        + [(ledger.member_payable(m), -n) for m, n in nets.items()],
        period=period,
    )
    return period


def owed(member) -> int:
    return selectors.member_balance_cents(member)


def pool() -> int:
    return -ledger.balance_of("trust:unclaimed_pool")


@pytest.mark.embedded
def test_a_member_without_bank_details_keeps_accruing_and_moves_to_the_pool_after_the_hold(
    world, people, clock, as_user
):
    bob, alice = people["bob"], people["alice"]
    earn(world, clock, T0, {bob: 1000, alice: 300})
    earn(world, clock, T0 + timedelta(days=365), {bob: 500, alice: 300})

    # A day short of three years: nothing of Bob's has been owed longer than the hold period.
    clock.at(T0 + HOLD - timedelta(days=1))
    assert unclaimed.unclaimed_move_overdue() == 0
    assert (owed(bob), pool()) == (1500, 0)

    # A day past it: the 1000 earned at T0 moves; the 500 earned a year later stays his balance.
    first_move = clock.at(T0 + HOLD + timedelta(days=1))
    assert unclaimed.unclaimed_move_overdue() == 1
    assert (owed(bob), pool()) == (500, 1000)
    assert owed(alice) == 600  # Alice can be paid: never moved, however old
    assert unclaimed.unclaimed_move_overdue() == 0  # run again: nothing more moves

    # A year later the 500 is past the hold too: a second amount, with its own release date.
    second_move = clock.at(T0 + timedelta(days=365) + HOLD + timedelta(days=1))
    assert unclaimed.unclaimed_move_overdue() == 1
    assert (owed(bob), pool()) == (0, 1500)
    rows = list(unclaimed.unclaimed_pool_rows())
    assert [(r["member_number"], r["amount_cents"], r["since"], r["release_at"]) for r in rows] == [
        ("M-00002", 1500, first_move, first_move + WINDOW)
    ]
    body = as_user(world.cast.admin).get("/api/v1/unclaimed/").json()
    assert body["count"] == 1
    assert body["results"][0] | {} == {
        "member": bob.pk,
        "member_number": "M-00002",
        "display_name": "Bob",
        "amount_cents": 1500,
        "since": first_move.isoformat().replace("+00:00", "Z"),
        "release_date": (first_move + WINDOW).isoformat().replace("+00:00", "Z"),
        "untraceable": False,
        "has_bank_details": False,
    }

    # Bob cannot claim without bank details; once he gives them he claims both amounts back.
    member_api = as_user(bob)
    refused = member_api.post("/api/v1/me/unclaimed/claim/")
    assert (refused.status_code, refused.json()["code"]) == (409, "no_bank_details")
    type(bob).objects.filter(pk=bob.pk).update(payout_iban=IBAN, payout_account_name="Bob")
    clock.at(second_move + timedelta(days=30))
    member_api = as_user(bob)  # a token minted at the new time (a token lives days, not years)
    assert member_api.get("/api/v1/me/unclaimed/").json()["amount_cents"] == 1500
    claimed = member_api.post("/api/v1/me/unclaimed/claim/")
    assert (claimed.status_code, claimed.json()["amount_cents"]) == (201, 1500)
    assert (owed(bob), pool()) == (1500, 0)
    assert set(UnclaimedHolding.objects.values_list("state", flat=True)) == {"claimed"}
    again = member_api.post("/api/v1/me/unclaimed/claim/")
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_claim")

    # The next payout batch pays him what he claimed (and Alice her 600).
    batch = services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)
    assert dict(
        PayoutItem.objects.filter(batch=batch).values_list("member__member_number", "amount_cents")
    ) == {
        "M-00001": 600,
        "M-00002": 1500,
    }
    assert ledger.trial_balance() == 0


@pytest.mark.embedded
def test_an_untraceable_member_is_not_paid_and_their_pool_balance_is_redistributed_at_release(
    world, people, clock, as_user
):
    alice, bob, carla, dan, erin = (people[k] for k in ("alice", "bob", "carla", "dan", "erin"))
    earn(world, clock, T0, {dan: 1001, alice: 10})
    clock.at(T0 + timedelta(days=10))
    marked = as_user(world.cast.admin).post(
        f"/api/v1/members/{dan.pk}/untraceable/", {"reason": "letters returned"}, format="json"
    )
    assert marked.status_code == 201

    # While untraceable, payout batches skip Dan (he has bank details) and he keeps accruing.
    batch = services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)
    assert list(batch.items.values_list("member__member_number", flat=True)) == ["M-00001"]
    reasons = {row["member_number"]: row["reason"] for row in selectors.member_balances(minimum_cents=1)}
    assert reasons == {"M-00004": "untraceable"}
    totals = selectors.payout_totals(minimum_cents=1)
    assert (totals["untraceable"], totals["payable"]) == (
        {"members": 1, "cents": 1001},
        {"members": 0, "cents": 0},
    )
    assert owed(dan) == 1001

    moved_at = clock.at(T0 + HOLD + timedelta(days=1))
    assert unclaimed.unclaimed_move_overdue() == 1
    assert (owed(dan), pool()) == (0, 1001)
    # An administrator cannot claim for him while he stands untraceable.
    with pytest.raises(Conflict) as refused:
        unclaimed.unclaimed_claim(actor=world.cast.admin, member=dan)
    assert refused.value.code == "member_untraceable"

    # The latest closed period before the release: Alice 300, Carla 200, Erin 100 net; Bob (no
    # bank details) and Dan (whose money it is) are left out of the redistribution.
    earn(world, clock, moved_at + timedelta(days=700), {alice: 300, carla: 200, erin: 100, bob: 400, dan: 50})

    # A day before the release date nothing is released; on it, the 1001 cents are split.
    clock.at(moved_at + WINDOW - timedelta(days=1))
    assert unclaimed.unclaimed_release_due() is None
    clock.at(moved_at + WINDOW)
    before = {m: owed(m) for m in (alice, carla, erin, bob, dan)}
    release = unclaimed.unclaimed_release_due()
    # Exact shares of 1001 over 600: 500.5, 333.67, 166.83. Floors 500 + 333 + 166 = 999; the two
    # cents left go to the largest remainders, Erin's .83 and Carla's .67.
    gained = {m.member_number: owed(m) - before[m] for m in (alice, carla, erin, bob, dan)}
    assert gained == {"M-00001": 500, "M-00003": 334, "M-00005": 167, "M-00002": 0, "M-00004": 0}
    assert (release.total_cents, release.recipients, pool()) == (1001, 3, 0)
    assert unclaimed.unclaimed_release_due() is None  # run again: nothing released twice

    # After the release there is nothing left for Dan to claim, even once traceable again.
    assert as_user(world.cast.admin).delete(f"/api/v1/members/{dan.pk}/untraceable/").status_code == 200
    late = as_user(world.cast.admin).post("/api/v1/unclaimed/claims/", {"member": dan.pk}, format="json")
    assert (late.status_code, late.json()["code"]) == (409, "nothing_to_claim")
    assert ledger.trial_balance() == 0
    assert ledger.balances_disagreeing() == []


def test_marking_twice_or_clearing_an_unmarked_member_is_a_conflict(world, people, as_user):
    admin = as_user(world.cast.admin)
    dan = people["dan"]
    assert admin.delete(f"/api/v1/members/{dan.pk}/untraceable/").json()["code"] == "not_untraceable"
    admin.post(f"/api/v1/members/{dan.pk}/untraceable/", {"reason": "r"}, format="json")
    again = admin.post(f"/api/v1/members/{dan.pk}/untraceable/", {"reason": "r"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_untraceable")
    missing = admin.post("/api/v1/members/999999/untraceable/", {"reason": "r"}, format="json")
    assert missing.status_code == 404
    blank = admin.post(f"/api/v1/members/{people['erin'].pk}/untraceable/", {}, format="json")
    assert blank.status_code == 400


def test_a_member_cannot_claim_for_another(world, people):
    with pytest.raises(Exception) as refused:
        unclaimed.unclaimed_claim(actor=people["alice"].user, member=people["bob"])
    assert refused.value.code == "not_your_account"


def test_the_move_and_the_release_stay_a_fixed_number_of_statements(
    world, people, clock, django_assert_max_num_queries
):
    many = [MemberFactory() for _ in range(40)]
    earn(world, clock, T0, dict.fromkeys(many, 137) | {people["alice"]: 500})
    clock.at(T0 + HOLD + timedelta(days=1))
    with django_assert_max_num_queries(18):
        assert unclaimed.unclaimed_move_overdue() == 40
    earn(world, clock, T0 + HOLD + timedelta(days=2), {people["alice"]: 7, people["carla"]: 3})
    clock.at(T0 + HOLD + timedelta(days=1) + WINDOW)
    with django_assert_max_num_queries(20):
        release = unclaimed.unclaimed_release_due()
    assert release.total_cents == 40 * 137
    assert (owed(people["alice"]), owed(people["carla"])) == (500 + 7 + 3836, 3 + 1644)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    total=st.integers(min_value=0, max_value=10**12),
    nets=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
)
def test_redistribution_adds_up_to_the_cent_and_is_pro_rata(total, nets):
    rows = [(f"M-{i:05d}", i, net) for i, net in enumerate(nets)]
    whole = sum(nets)
    shares = unclaimed.redistribution_shares(total, list(reversed(rows)))
    if whole == 0:
        assert shares == {}
        return
    assert sum(shares.values()) == total
    for _, member_id, net in rows:
        exact = Fraction(total * net, whole)
        assert exact - 1 < shares.get(member_id, 0) < exact + 1


def test_the_daily_beat_job_moves_and_releases_through_celery(world, people, clock, settings):
    from payouts import tasks

    assert settings.CELERY_BEAT_SCHEDULE["unclaimed-royalties"]["task"] == "payouts.tasks.unclaimed_royalties"
    bob, alice = people["bob"], people["alice"]
    earn(world, clock, T0, {bob: 250, alice: 40})
    clock.at(T0 + HOLD + timedelta(days=1))
    assert tasks.unclaimed_royalties.delay().get() == {"moved": 1, "released_cents": 0}
    earn(world, clock, T0 + HOLD + timedelta(days=2), {alice: 1})
    clock.at(T0 + HOLD + timedelta(days=1) + WINDOW)
    assert tasks.unclaimed_royalties.delay().get() == {"moved": 0, "released_cents": 250}
    assert (owed(bob), owed(alice), pool()) == (0, 40 + 1 + 250, 0)
