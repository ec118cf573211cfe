"""The member dashboard (`/member/`, `/api/v1/me/earnings/`) and who-used-my-data read the same
number of queries whether the member has one year of monthly history or five, and reading a
balance writes nothing (no ledger account is created by looking)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payouts.models import Account, MemberEarning, Period

pytestmark = pytest.mark.django_db


def _history(world, months: int) -> None:
    """`months` closed monthly periods, each paying Alice from both leases (bulk: rows, not services)."""
    end = timezone.now().replace(microsecond=0) - timedelta(days=1)
    periods = Period.objects.bulk_create(
        [
            Period(
                start=end - timedelta(days=30 * (n + 1)),
                end=end - timedelta(days=30 * n),
                status=Period.Status.CLOSED,
                closed_at=end,
                admin_fee_bps=1000,
                pension_bps=500,
            )
            for n in range(months)
        ]
    )
    MemberEarning.objects.bulk_create(
        [
            MemberEarning(
                period=period,
                lease=lease,
                member=world.cast.alice,
                gross_cents=100,
                pension_cents=5,
                net_cents=95,
            )
            for period in periods
            for lease in (world.lease_a, world.lease_b)
        ]
    )


def _queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("months", [12, 60])
def test_member_home_reads_a_fixed_number_of_queries(client, world, months, django_assert_max_num_queries):
    _history(world, months)
    client.force_login(world.cast.alice.user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("member-home"))
    assert response.status_code == 200
    # The latest 12 periods are shown; older ones only said to exist (all on Statements).
    assert response.context["older_periods"] is (months > 12)


@pytest.mark.parametrize("months", [12, 60])
def test_my_earnings_api_reads_a_fixed_number_of_queries(
    world, as_user, months, django_assert_max_num_queries
):
    _history(world, months)
    alice = as_user(world.cast.alice.user)
    # 8: each period's dates are read once per period, not on each earning row.
    with django_assert_max_num_queries(8):
        body = alice.get("/api/v1/me/earnings/").json()
    assert len(body["periods"]) == months
    assert body["total_net_cents"] == months * 2 * 95


def test_the_dashboard_costs_the_same_at_one_year_and_five(client, world, as_user):
    client.force_login(world.cast.alice.user)
    api = as_user(world.cast.alice.user)
    api.get("/api/v1/me/earnings/")  # the token's first use is recorded once: out of the count
    _history(world, 12)
    one_year = (
        _queries(lambda: client.get(reverse("member-home"))),
        _queries(lambda: api.get("/api/v1/me/earnings/")),
    )
    _history(world, 48)  # the same member, four more years
    five_years = (
        _queries(lambda: client.get(reverse("member-home"))),
        _queries(lambda: api.get("/api/v1/me/earnings/")),
    )
    assert five_years == one_year


def test_reading_a_balance_creates_no_account_and_writes_nothing(client, world, as_user):
    """Bob has no payable account yet: his pages show a zero balance and leave none behind."""
    bob = world.cast.bob
    assert not Account.objects.filter(member=bob).exists()
    client.force_login(bob.user)
    api = as_user(bob.user)
    with CaptureQueriesContext(connection) as captured:
        for url in (reverse("member-home"), reverse("member-payouts"), reverse("member-leases")):
            assert client.get(url).status_code == 200
        assert api.get("/api/v1/me/earnings/").json()["balance_cents"] == 0
    assert not Account.objects.filter(member=bob).exists()
    writes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        # Recording a session's and a token's last use is not a balance read's doing.
        and "django_session" not in q["sql"]
        and "last_used_at" not in q["sql"]
    ]
    assert writes == []
