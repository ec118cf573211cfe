"""What the pull window costs the gateway, without HTTP's noise: `gateway_download` called in
process on PostgreSQL (the one statement, presigning included) for distinct assets with the
window off (every download billed, as before the window), with it on (billed, and the window
opened in the same statement), and again for the same assets inside the window (refreshes:
nothing written). Interleaved in rounds, so the machine's load falls on all three alike."""

import time

import pytest

from licensing import services
from licensing.models import LeaseToken, UsageEvent
from tests.benchmarks.data import big_lease
from tests.benchmarks.harness import SCALE, scaled
from trust.models import DatasetVersionItem

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def _per_call_ms(token, lease, asset_ids) -> float:
    start = time.perf_counter()
    for asset_id in asset_ids:
        services.gateway_download(token=token, lease_id=lease.pk, asset_id=asset_id)
    return (time.perf_counter() - start) / len(asset_ids) * 1000


def test_the_pull_window_costs_the_gateway(committed_cast, s3_settings, settings):
    assets = scaled(5_000, 120_000)
    per_round = 200
    data = big_lease(cast=committed_cast, count=assets, download_cap=10**9)
    ids = list(
        DatasetVersionItem.objects.filter(version_id=data.lease.version_id)
        .order_by("asset_id")
        .values_list("asset_id", flat=True)[: per_round * ROUNDS * 2 + 1]
    )
    token = LeaseToken.objects.select_related("lease").get(lease=data.lease)
    services.gateway_download(token=token, lease_id=data.lease.pk, asset_id=ids.pop())  # warm-up
    off, on, refresh = [], [], []
    for n in range(ROUNDS):
        window_off = ids[2 * n * per_round : (2 * n + 1) * per_round]
        window_on = ids[(2 * n + 1) * per_round : (2 * n + 2) * per_round]
        settings.PULL_WINDOW_SECONDS = 0
        off.append(_per_call_ms(token, data.lease, window_off))
        settings.PULL_WINDOW_SECONDS = 86400
        on.append(_per_call_ms(token, data.lease, window_on))
        refresh.append(_per_call_ms(token, data.lease, window_on))
    billed = UsageEvent.objects.filter(lease=data.lease, kind=UsageEvent.Kind.DOWNLOAD).count()
    assert billed == 1 + 2 * per_round * ROUNDS  # the refreshes recorded nothing

    def median(values):
        return sorted(values)[len(values) // 2]

    print(
        f"\n| gateway_download in process, {assets:,}-asset capped lease (BENCH_SCALE={SCALE}), "
        f"{per_round * ROUNDS:,} calls each, median of {ROUNDS} rounds | window off (billed) "
        f"{median(off):.2f} ms | window on, billed {median(on):.2f} ms ({median(on) / median(off):.2f}x) "
        f"| refresh inside the window {median(refresh):.2f} ms ({median(refresh) / median(off):.2f}x) |"
    )
