"""A smoke-sized run of tests/benchmarks/bench_dashboards.py's loaders and pages, so the
benchmark keeps working: the set-based rows load, every measured page answers, and the figures
the pages show are the loaded ones."""

import pytest
from django.urls import reverse

from payouts import ledger, selectors
from tests.benchmarks import bench_dashboards as bench

pytestmark = pytest.mark.django_db


def test_the_dashboards_benchmark_loads_and_every_page_answers(world, client, as_user):
    bench.load_member_history(world, leases=20, months=12)
    bench.load_operations(world, members=50, leases=40)
    bench.analyze()

    earnings = as_user(world.cast.alice.user).get("/api/v1/me/earnings/").json()
    assert len(earnings["periods"]) == 12 and earnings["total_net_cents"] == 12 * 2 * 950
    assert ledger.balances_disagreeing() == [] and ledger.books_total() == 0
    assert selectors.payout_totals()["payable"]["members"] > 0

    client.force_login(world.cast.alice.user)
    for name in ("member-home", "member-leases", "member-statements"):
        assert client.get(reverse(name)).status_code == 200
    client.force_login(world.cast.admin)
    for name in ("operations-home", "operations-leases", "operations-payouts", "operations-members"):
        assert client.get(reverse(name)).status_code == 200
    found = client.get(reverse("operations-members"), {"q": "bench member 42"})
    assert "Bench Member 42" in found.content.decode()
    assert bench.percentile(sorted([5.0, 1.0, 3.0, 2.0, 4.0]), 95) == 5.0
