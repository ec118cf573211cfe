"""Usage ingest: events/s through POST /api/v1/leases/{id}/usage/ (the WSGI handler in-process,
10,000 events per request) against PostgreSQL COPY of the same rows into the same table in the
same run. Goal (issue 10): >= 0.25x COPY. Run with `make bench`; BENCH_SCALE=full for the
issue's volume (1M events already stored), small (default) for a few minutes on a shared machine.

Requests and COPY batches alternate, so noise on a shared machine falls on both alike."""

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, UsageEvent
from tests.factories import grant_all
from trust import services as trust
from trust.models import Asset, AssetContributor, DatasetItem

GOAL = 0.25
SCALES = {
    # preloaded events, assets in the leased version, timed requests, events per request
    "tiny": (1_000, 20, 1, 200),
    "small": (200_000, 1_000, 6, 10_000),
    "full": (1_000_000, 1_000, 20, 10_000),
}


@dataclass
class Figures:
    scale: str
    api_per_s: float
    copy_per_s: float
    body_bytes: int
    accepted: int

    @property
    def ratio(self) -> float:
        return self.api_per_s / self.copy_per_s


def _version_of_assets(cast, count: int):
    grant_all(cast.alice, "training", "replica_active")
    assets = [
        Asset(
            kind="voice_recording",
            title=f"take {n}",
            content_type="audio/wav",
            size=n + 1,
            sha256=f"{n:064x}",
            object_key=f"assets/bench-usage-{n}",
            status=Asset.Status.AVAILABLE,
            created_by=cast.admin,
        )
        for n in range(count)
    ]
    Asset.objects.bulk_create(assets, batch_size=1000)
    AssetContributor.objects.bulk_create(
        [
            AssetContributor(asset=a, member=cast.alice, share=1, status=AssetContributor.Status.ACCEPTED)
            for a in assets
        ],
        batch_size=1000,
    )
    dataset = trust.dataset_create(actor=cast.admin, slug="bench-usage", title="Bench usage")
    DatasetItem.objects.bulk_create([DatasetItem(dataset=dataset, asset=a) for a in assets], batch_size=1000)
    trust.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="bench",
        permitted_uses=["training", "replica_active"],
        duration_days=365,
        price_per_training_run_cents=100,
        price_per_generated_second_cents=2,
    )
    lease = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="bench")
    )
    # Live for the last 60 days, so the stored and reported usage spans three months.
    Lease.objects.filter(pk=lease.pk).update(starts_at=timezone.now() - timedelta(days=60))
    lease.refresh_from_db()
    token, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="bench")
    return lease, token, secret, [str(a.pk) for a in assets]


def _preload(lease, token, count: int) -> None:
    """`count` stored events over the lease's 60 days, set-based, then ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {UsageEvent._meta.db_table}
                (lease_id, event_key, kind, asset_id, quantity, occurred_at, recorded_at, source, token_id)
            SELECT %s, 'stored-' || n, 'training_run', NULL, 1 + n %% 5,
                   %s - (n %% 5184000) * interval '1 second', now(), 'report', %s
            FROM generate_series(1, %s) AS n
            """,
            [lease.pk, timezone.now(), token.pk, count],
        )
        cursor.execute(f"ANALYZE {UsageEvent._meta.db_table}")


def _events(batch: int, size: int, assets: list[str], now) -> list[dict]:
    """What a render farm reports: generated seconds per asset and training runs, over the
    last month, each with a UUID event key."""
    events = []
    for n in range(size):
        at = (now - timedelta(seconds=(batch * size + n) % 2_592_000)).isoformat()
        if n % 4:
            events.append(
                {
                    "event_key": str(uuid.uuid4()),
                    "kind": "generated_second",
                    "asset": assets[n % len(assets)],
                    "quantity": 1 + n % 900,
                    "occurred_at": at,
                }
            )
        else:
            events.append(
                {"event_key": str(uuid.uuid4()), "kind": "training_run", "quantity": 1, "occurred_at": at}
            )
    return events


def _copy_text(events: list[dict], lease, token, now) -> bytes:
    """The same events as COPY's text format, built before the clock starts."""
    lines = []
    for e in events:
        lines.append(
            "\t".join(
                [
                    str(lease.pk),
                    f"copy-{e['event_key']}",
                    e["kind"],
                    e.get("asset", "\\N"),
                    str(e["quantity"]),
                    e["occurred_at"],
                    now.isoformat(),
                    "report",
                    str(token.pk),
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode()


def measure(cast, scale: str) -> Figures:
    preload, asset_count, requests, size = SCALES[scale]
    lease, token, secret, assets = _version_of_assets(cast, asset_count)
    _preload(lease, token, preload)
    client = Client()
    url = f"/api/v1/leases/{lease.pk}/usage/"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    now = timezone.now()
    # Warm up both paths once (connections, caches, the first token use), untimed.
    warm = _events(requests, size, assets, now)
    assert client.post(url, json.dumps({"events": warm}), "application/json", **auth).status_code == 202
    api_s = copy_s = 0.0
    accepted = body_bytes = 0
    for batch in range(requests):
        events = _events(batch, size, assets, now)
        body = json.dumps({"events": events})
        copy_text = _copy_text(events, lease, token, now)
        body_bytes = len(body.encode())
        start = time.perf_counter()
        response = client.post(url, body, "application/json", **auth)
        api_s += time.perf_counter() - start
        assert response.status_code == 202, response.content[:300]
        accepted += response.json()["accepted"]
        with connection.cursor() as cursor:
            start = time.perf_counter()
            with cursor.copy(
                f"COPY {UsageEvent._meta.db_table} (lease_id, event_key, kind, asset_id, quantity, "
                "occurred_at, recorded_at, source, token_id) FROM STDIN"
            ) as copy:
                copy.write(copy_text)
            copy_s += time.perf_counter() - start
    return Figures(
        scale=scale,
        api_per_s=requests * size / api_s,
        copy_per_s=requests * size / copy_s,
        body_bytes=body_bytes,
        accepted=accepted,
    )


@pytest.mark.benchmark
@pytest.mark.django_db
def test_usage_ingest_against_copy(cast):
    scale = os.environ.get("BENCH_SCALE", "small")
    preload, _, requests, size = SCALES[scale]
    figures = measure(cast, scale)
    assert figures.accepted == requests * size
    met = "met" if figures.ratio >= GOAL else "NOT met"
    print(
        f"\nusage ingest | {figures.api_per_s:,.0f} events/s through POST /usage/ "
        f"({size:,} events/request, {figures.body_bytes:,} bytes/request) | baseline COPY of the same rows "
        f"{figures.copy_per_s:,.0f}/s | ratio {figures.ratio:.2f}x | goal >= {GOAL}x: {met} "
        f"| BENCH_SCALE={scale}: {preload:,} events stored, {requests} requests"
    )


@pytest.mark.django_db
def test_the_usage_benchmark_runs_at_a_tiny_size(cast):
    """A smoke run in `make test`, so the benchmark keeps working: it only checks the result."""
    preload, _, requests, size = SCALES["tiny"]
    figures = measure(cast, "tiny")
    assert figures.accepted == requests * size
    assert UsageEvent.objects.filter(source="report").count() == preload + (2 * requests + 1) * size
