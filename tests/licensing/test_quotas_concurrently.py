"""Quotas under parallel load, on real PostgreSQL with each report on its own connection: a cap
of N lets exactly N through however many reports ask at once, the counter's first take
included, and the refused reports leave nothing behind."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from licensing.models import Lease, UsageEvent, UsageQuota
from tests.conftest import bearer_client
from trust import services as trust

pytestmark = pytest.mark.django_db(transaction=True)


def _in_parallel(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results, lock = [], threading.Lock()

    def run(n):
        try:
            barrier.wait()
            outcome = work(n)
        except Exception as error:  # surfaced in the results
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _report(world, key: str, quantity: int) -> int:
    event = {
        "event_key": key,
        "kind": "training_run",
        "asset": str(world.bob_asset.pk),
        "quantity": quantity,
        "occurred_at": timezone.now().isoformat(),
    }
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": [event]}, format="json"
    )
    return response.status_code


def _cap_bob(world, quantity: int, per: str = "lease") -> None:
    bob = world.cast.bob
    trust.consent_withdraw(actor=bob.user, consent=bob.consents.get(use="training", state="granted"))
    trust.consent_grant(actor=bob.user, member=bob, use="training", cap_quantity=quantity, cap_per=per)


def test_a_members_cap_of_seven_lets_exactly_seven_of_thirty_parallel_reports_through(committed_world):
    world = committed_world
    _cap_bob(world, 7)
    statuses = _in_parallel(30, lambda n: _report(world, f"run-{n}", 1))
    assert Counter(statuses) == {202: 7, 409: 23}
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == 7
    assert UsageQuota.objects.get(member=world.cast.bob).used == 7


def test_parallel_reports_of_three_under_a_per_year_cap_of_ten_take_three_of_them(committed_world):
    world = committed_world
    _cap_bob(world, 10, per="year")
    statuses = _in_parallel(12, lambda n: _report(world, f"batch-{n}", 3))
    assert Counter(statuses) == {202: 3, 409: 9}
    assert sum(UsageEvent.objects.filter(lease=world.lease_a).values_list("quantity", flat=True)) == 9
    assert UsageQuota.objects.get(member=world.cast.bob).used == 9


def test_a_terms_cap_holds_under_parallel_reports(committed_world):
    world = committed_world
    Lease.objects.filter(pk=world.lease_a.pk).update(use_caps={"training": 5})
    statuses = _in_parallel(20, lambda n: _report(world, f"terms-{n}", 1))
    assert Counter(statuses) == {202: 5, 409: 15}
    assert UsageQuota.objects.get(lease=world.lease_a, member=None).used == 5
