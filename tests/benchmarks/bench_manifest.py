"""Manifest of a 100,000-asset lease under gunicorn (one worker, deploy/gunicorn.conf.py): time
to the last byte against a bare Django view building the same JSON in the same server, and the
worker's resident memory after 10k- and 100k-asset manifests (streamed: flat in the asset count).
Also how long approving the 100k lease took right after loading, before any ANALYZE. Run with
`make bench`."""

import json
import statistics
import time

import pytest

from tests.benchmarks.data import big_lease
from tests.benchmarks.harness import SCALE, Gunicorn, get, rss_kib, scaled

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
RUNS = 3


def _last_byte(url: str, headers: dict | None = None) -> tuple[float, bytes]:
    start = time.perf_counter()
    status, body = get(url, headers)
    assert status == 200, body[:300]
    return time.perf_counter() - start, body


def _median_last_byte(url: str, headers: dict | None = None) -> tuple[float, bytes]:
    timings = [_last_byte(url, headers) for _ in range(RUNS)]
    return statistics.median(t for t, _ in timings), timings[-1][1]


def test_manifest_of_a_big_lease_against_a_bare_view(committed_cast):
    small_count, big_count = scaled(10_000, 10_000), scaled(100_000, 100_000)
    small = big_lease(cast=committed_cast, count=small_count, slug="m-small")
    # Loaded and approved at once, on the statistics of the smaller load: no ANALYZE in between.
    big = big_lease(cast=committed_cast, count=big_count, slug="m-big", analyzed=False)
    with Gunicorn(workers=1, log_name="bench-manifest.log") as server:
        worker = server.workers()[0]
        manifest = f"{server.base}/api/v1/leases/{{}}/manifest/"
        _last_byte(manifest.format(small.lease.pk), {"Authorization": f"Bearer {small.secret}"})
        rss_start = rss_kib(worker)
        _median_last_byte(manifest.format(small.lease.pk), {"Authorization": f"Bearer {small.secret}"})
        rss_small = rss_kib(worker)
        big_s, body = _median_last_byte(
            manifest.format(big.lease.pk), {"Authorization": f"Bearer {big.secret}"}
        )
        rss_big = rss_kib(worker)
        bare_s, bare_body = _median_last_byte(f"{server.base}/bare/manifest/{big_count}/")
        rss_bare = rss_kib(worker)
    document = json.loads(body)
    assert len(document["assets"]) == big_count == len(json.loads(bare_body)["assets"])
    assert document["assets"][0]["download_url"].endswith("/download/")
    growth_small, growth_big = (rss_small - rss_start) / 1024, (rss_big - rss_start) / 1024
    met = big_s <= 1 and growth_big <= max(growth_small, 0) + 16
    print(
        f"\n| manifest, {big_count:,} assets (BENCH_SCALE={SCALE}, last byte, median of {RUNS}) "
        f"| {big_s:.2f} s, {len(body) / 1e6:.1f} MB streamed | bare view building the same JSON "
        f"{bare_s:.2f} s | {big_s / bare_s:.2f}x | goal <= 1 s, memory flat | {'met' if met else 'NOT met'} |"
        f"\n| manifest worker RSS growth | {small_count:,} assets +{growth_small:.1f} MB, "
        f"{big_count:,} assets +{growth_big:.1f} MB | bare view +{(rss_bare - rss_start) / 1024:.1f} MB "
        f"| - | flat in the asset count | {'met' if growth_big <= max(growth_small, 0) + 16 else 'NOT met'} |"
        f"\n| approving the {big_count:,}-asset lease right after loading (stale statistics) "
        f"| {big.approve_s:.2f} s | {small_count:,}-asset lease on fresh statistics {small.approve_s:.2f} s "
        "| - | seconds, not minutes | - |"
    )
