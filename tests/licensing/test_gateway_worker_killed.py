"""A gunicorn worker killed -9 in the middle of a download loses no usage event: the event
commits before the redirect leaves, so every 302 a client received has its event (a request
cut off by the kill may have committed one the client never saw, never the reverse)."""

import time

import pytest

from licensing.models import UsageEvent
from tests.benchmarks.harness import CountingClient, Gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_every_redirect_a_client_got_has_its_event_when_a_worker_is_killed(committed_world):
    world = committed_world
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    auth = {"Authorization": f"Bearer {world.secret_a}"}
    # Every download of the one asset billed (no pull window), so each 302 has an event of its own.
    with Gunicorn(
        workers=2, env={"PULL_WINDOW_SECONDS": "0"}, log_name="gateway-worker-killed.log"
    ) as server:
        with CountingClient(server.base, url, threads=8, headers=auth) as client:
            deadline = time.monotonic() + 60
            while client.statuses[302] < 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            killed = server.kill_one_worker()
            answered_at_kill = client.statuses[302]
            while client.statuses[302] < answered_at_kill + 20 and time.monotonic() < deadline:
                time.sleep(0.1)
        assert killed not in server.workers()
    events = UsageEvent.objects.filter(lease=world.lease_a, kind=UsageEvent.Kind.DOWNLOAD).count()
    assert client.statuses[302] >= answered_at_kill + 20, client.statuses  # served on after the kill
    assert set(client.statuses) <= {302, "dropped"}, client.statuses
    assert events >= client.statuses[302]
    assert events <= client.statuses[302] + client.statuses["dropped"]
