"""Croissant cards of a 100,000-asset lease under gunicorn (one worker): time to the last byte of
the lease's card and of its version's card, against the lease's manifest (the same assets
streamed as plain JSON) in the same server, and the worker's resident memory growth (the cards
are streamed: flat in the asset count). Run with `make bench`."""

import json
import statistics
import time

import pytest

from tests.benchmarks.data import big_lease
from tests.benchmarks.harness import SCALE, Gunicorn, get, rss_kib, scaled
from trust.tokens import user_token_mint

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
RUNS = 3


def _median_last_byte(url: str, headers: dict) -> tuple[float, bytes]:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        status, body = get(url, headers)
        assert status == 200, body[:300]
        timings.append((time.perf_counter() - start, body))
    return statistics.median(t for t, _ in timings), timings[-1][1]


def test_cards_of_a_big_lease_against_its_manifest(committed_cast):
    count = scaled(100_000, 100_000)
    big = big_lease(cast=committed_cast, count=count, slug="cards-big")
    lease = big.lease
    token = {"Authorization": f"Bearer {big.secret}"}
    admin = {"Authorization": f"Bearer {user_token_mint(user=committed_cast.admin)[1]}"}
    with Gunicorn(workers=1, log_name="bench-cards.log") as server:
        worker = server.workers()[0]
        base = f"{server.base}/api/v1"
        manifest_s, _ = _median_last_byte(f"{base}/leases/{lease.pk}/manifest/", token)
        rss_start = rss_kib(worker)
        card_s, card = _median_last_byte(f"{base}/leases/{lease.pk}/croissant.json", token)
        rss_card = rss_kib(worker)
        version_s, version_card = _median_last_byte(
            f"{base}/datasets/{lease.version.dataset_id}/versions/{lease.version.number}/croissant.json",
            admin,
        )
        rss_version = rss_kib(worker)
    document = json.loads(card)
    assert len(document["distribution"]) == count == len(document["recordSet"][0]["data"])
    assert len(json.loads(version_card)["distribution"]) == count
    growth = (max(rss_card, rss_version) - rss_start) / 1024
    print(
        f"\n| lease Croissant card, {count:,} assets (BENCH_SCALE={SCALE}, last byte, median of {RUNS}) "
        f"| {card_s:.2f} s, {len(card) / 1e6:.1f} MB streamed | the lease's manifest {manifest_s:.2f} s "
        f"| {card_s / manifest_s:.2f}x | streamed, memory flat |"
        f"\n| version Croissant card, {count:,} assets (admin) | {version_s:.2f} s, "
        f"{len(version_card) / 1e6:.1f} MB | manifest {manifest_s:.2f} s "
        f"| {version_s / manifest_s:.2f}x | - |"
        f"\n| cards' worker RSS growth over the manifest's | +{growth:.1f} MB | - | - | flat |"
    )
