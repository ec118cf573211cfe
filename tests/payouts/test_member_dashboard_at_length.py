"""A member's home and earnings API over a long history (issue 10): the queries do not grow with
the number of periods, the home shows the latest periods and says where every one of them is,
and the API still lists every period and lease."""

import re

import pytest
from django.urls import reverse

from payouts import selectors
from tests.benchmarks import bench_dashboards as bench

pytestmark = pytest.mark.django_db

# Session, user, the member (three times: view, portal, menu), the latest periods, two totals,
# the balance and the breakdown.
HOME_QUERIES = 10
# Token (read, last use written), the member (twice), earnings, adjustments, periods, balance.
EARNINGS_API_QUERIES = 8


@pytest.mark.parametrize("months", [3, 36])
def test_the_home_page_reads_the_same_queries_for_any_length_of_history(
    world, client, months, django_assert_max_num_queries
):
    bench.load_member_history(world, leases=20, months=months)
    client.force_login(world.cast.alice.user)
    with django_assert_max_num_queries(HOME_QUERIES):
        assert client.get(reverse("member-home")).status_code == 200


@pytest.mark.parametrize("months", [3, 36])
def test_the_earnings_api_reads_the_same_queries_for_any_length_of_history(
    world, as_user, months, django_assert_max_num_queries
):
    bench.load_member_history(world, leases=20, months=months)
    api = as_user(world.cast.alice.user)
    with django_assert_max_num_queries(EARNINGS_API_QUERIES):
        earnings = api.get("/api/v1/me/earnings/").json()
    # Every period and every lease row, to the cent: the API is the whole history.
    assert len(earnings["periods"]) == months
    assert sum(len(period["leases"]) for period in earnings["periods"]) == months * 2
    assert earnings["total_net_cents"] == months * 2 * 950


def test_the_home_shows_the_latest_periods_and_points_to_every_one(world, client):
    bench.load_member_history(world, leases=20, months=36)
    client.force_login(world.cast.alice.user)
    html = client.get(reverse("member-home")).content.decode()
    table = html.split('aria-label="Net earnings and pension per period"')[1].split("</table>")[0]
    shown = [int(period) for period in re.findall(r'<tr data-period="(\d+)"', table)]
    latest = [row["period"] for row in selectors.member_earnings_by_period(world.cast.alice)][-12:]
    assert shown == latest
    assert "latest 12; all on" in table and reverse("member-statements") in table
    # The totals are the whole history's, not the twelve periods shown.
    assert f'id="total-net">{36 * 2 * 950 // 100:,}.00' in html


def test_who_used_my_data_pages_many_leases_and_says_the_totals_are_all_of_them(
    world, client, django_assert_max_num_queries
):
    bench.load_member_history(world, leases=60, months=3)
    client.force_login(world.cast.alice.user)
    # Session, user, member (three times), count, page, vendors, takedowns, models, totals.
    with django_assert_max_num_queries(11):
        page = client.get(reverse("member-leases"))
    html = page.content.decode()
    assert len(page.context["listing"].rows) == 25
    assert "25 a page" in html and "the figures above add up every lease" in html
    every = selectors.member_lease_history(world.cast.alice).count()  # the world's and the 60 loaded
    assert every > 60 and page.context["totals"]["leases"] == every
    assert f"Showing 1–25 of {every}" in html
