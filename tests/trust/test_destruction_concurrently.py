"""Two destruction runs at once (two beat deliveries, or the button pressed during the daily
run), on committed rows each run's own connection sees: every due asset is claimed once,
destroyed once and certified once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from trust import destruction
from trust.models import Asset, AssetDestruction, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_runs_at_once_destroy_and_certify_each_asset_once(committed_world):
    world = committed_world
    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 1})
    later = timezone.now() + timedelta(days=2)
    barrier, results, lock = threading.Barrier(2), [], threading.Lock()

    def run():
        try:
            barrier.wait()
            outcome = destruction.destroy_due(at=later)
        except Exception as error:  # surfaced in the results
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["claimed"] for r in results) == 2  # the two world assets, claimed once each
    assert set(Asset.objects.values_list("status", flat=True)) == {Asset.Status.DESTROYED}
    assert AssetDestruction.objects.count() == 2
    assert AuditEvent.objects.filter(action="asset.destroyed").count() == 2
    assert AuditEvent.objects.filter(action="asset.destruction_started").count() == 2
