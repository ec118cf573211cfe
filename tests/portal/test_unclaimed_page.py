"""The administrator's unclaimed-royalties page: the pool's figures and ageing, claiming on a
member's behalf, untraceable marks; no other role sees it, and it stays a handful of queries."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from payouts import ledger, unclaimed
from payouts.models import UnclaimedHolding, UntraceableMark
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
IBAN = "DE89370400440532013000"


def page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def held(member, cents: int, *, days_ago: int) -> None:
    """An amount of the member's in the pool, moved `days_ago` days ago (as the job would)."""
    pool = ledger.unclaimed_pool()
    # Earned first (where from does not matter here), then moved to the pool.
    ledger.post(
        key=f"test:earned:{member.pk}:{cents}",
        memo="earned",
        lines=[(ledger.trust_fee_revenue(), cents), (ledger.member_payable(member), -cents)],
    )
    txn = ledger.post(
        key=f"test:held:{member.pk}:{cents}",
        memo="moved",
        lines=[(ledger.member_payable(member), cents), (pool, -cents)],
    )
    moved = timezone.now() - timedelta(days=days_ago)
    UnclaimedHolding.objects.create(
        member=member,
        amount_cents=cents,
        moved_at=moved,
        release_at=moved + timedelta(days=730),
        transaction=txn,
    )


@pytest.fixture
def pool(cast):
    many = [MemberFactory(display_name=f"Member {i}") for i in range(30)]
    for i, member in enumerate(many):
        held(member, 100 + i, days_ago=10 + 20 * i)
    ready = MemberFactory(member_number="M-70001", display_name="Ready", payout_iban=IBAN)
    held(ready, 2500, days_ago=400)
    return ready


@pytest.fixture
def as_admin(client, cast):
    client.force_login(cast.admin)
    return client


def test_the_page_shows_the_pool_its_ageing_and_stays_flat(as_admin, pool, django_assert_max_num_queries):
    with django_assert_max_num_queries(16):
        response = as_admin.get("/operations/unclaimed/")
    assert response.status_code == 200
    text = page_text(response)
    total = sum(100 + i for i in range(30)) + 2500
    assert f"In the pool {total // 100}.{total % 100:02d}" in text
    # 10 + 20i days: i = 0..8 under 183 days; 9..17 under a year; 18..29 (and Ready's 400 days)
    # one to two years.
    buckets = {b["key"]: (b["members"], b["cents"]) for b in unclaimed.unclaimed_overview()["buckets"]}
    assert buckets == {
        "under_6_months": (9, sum(100 + i for i in range(9))),
        "6_to_12_months": (9, sum(100 + i for i in range(9, 18))),
        "1_to_2_years": (13, sum(100 + i for i in range(18, 30)) + 2500),
        "over_2_years": (0, 0),
    }
    assert "1 to 2 years" in text and "Claim for M-70001" in text


def test_the_administrator_claims_for_a_member_with_bank_details(as_admin, pool):
    response = as_admin.post(f"/operations/unclaimed/{pool.pk}/claim/", follow=True)
    assert "25.00 claimed for M-70001" in page_text(response)
    assert ledger.balance_of(ledger.member_payable_code(pool)) == -2500
    assert "Claim for M-70001" not in page_text(response)
    assert "25.00" in page_text(response)  # the latest claims list it


def test_the_administrator_marks_a_member_untraceable_and_traceable_again(as_admin, pool):
    response = as_admin.post(
        "/operations/unclaimed/untraceable/",
        {"member_number": "M-70001", "reason": "mail returned"},
        follow=True,
    )
    assert "M-70001 is marked untraceable" in page_text(response)
    assert UntraceableMark.objects.filter(member=pool, cleared_at__isnull=True).exists()
    unknown = as_admin.post("/operations/unclaimed/untraceable/", {"member_number": "nobody", "reason": "x"})
    assert "No member has this number." in page_text(unknown)
    response = as_admin.post(f"/operations/unclaimed/{pool.pk}/traceable/", follow=True)
    assert "M-70001 is traceable again" in page_text(response)
    assert not UntraceableMark.objects.filter(member=pool, cleared_at__isnull=True).exists()


@pytest.mark.parametrize("who", ["alice", "carol", "outsider"])
def test_no_other_role_sees_the_page_or_acts_on_it(client, cast, pool, who):
    client.force_login(getattr(cast, who).user if who == "alice" else getattr(cast, who))
    assert client.get("/operations/unclaimed/").status_code == 403
    assert client.post(f"/operations/unclaimed/{pool.pk}/claim/").status_code == 403
    assert (
        client.post(
            "/operations/unclaimed/untraceable/", {"member_number": "M-70001", "reason": "r"}
        ).status_code
        == 403
    )
    assert ledger.balance_of(ledger.member_payable_code(pool)) == 0
    assert not UntraceableMark.objects.exists()
