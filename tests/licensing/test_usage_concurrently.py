"""Usage reports sharing event keys, sent at once on their own connections (real PostgreSQL):
each key is recorded once whichever report takes it, every report is answered, and the
accepted counts add up to the events stored."""

import random

import pytest
from django.utils import timezone

from licensing.models import UsageEvent
from tests.conftest import bearer_client
from tests.licensing.test_quotas_concurrently import _in_parallel

pytestmark = pytest.mark.django_db(transaction=True)

SHARED = [f"shared-{n}" for n in range(200)]


def _report(world, n: int) -> dict:
    # Each report sends the shared keys in its own order, and keys of its own.
    keys = random.Random(n).sample(SHARED, len(SHARED)) + [f"own-{n}-{m}" for m in range(20)]
    at = timezone.now().isoformat()
    events = [{"event_key": k, "kind": "training_run", "quantity": 1, "occurred_at": at} for k in keys]
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": events}, format="json"
    )
    assert response.status_code == 202, response.content
    return response.json()


def test_parallel_reports_sharing_keys_record_each_key_once(committed_world):
    results = _in_parallel(6, lambda n: _report(committed_world, n))
    assert not [r for r in results if isinstance(r, Exception)], results
    stored = UsageEvent.objects.filter(lease=committed_world.lease_a)
    assert stored.count() == len(SHARED) + 6 * 20
    assert stored.values("event_key").distinct().count() == stored.count()
    assert sum(r["accepted"] for r in results) == stored.count()
    assert sum(r["duplicates"] for r in results) == 6 * (len(SHARED) + 20) - stored.count()
