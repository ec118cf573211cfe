"""Download latency at a peer's gateway with an `ft_` token verified offline (the home trust's
Biscuit, checked with its public key, no call to it) against the same downloads at the same trust
with a local lease's `lt_` token, measured in the same run on two live trusts
(tests/federation/two_trusts.py: gunicorn with 2 workers each, PostgreSQL, Redis, S3, Celery).
Also `biscuits.authorize` alone, in this process. Run with `make bench`."""

import os
import statistics
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from federation import biscuits
from tests.benchmarks.harness import wrk
from tests.federation.two_trusts import PEER, TwoTrusts
from tests.servers import suite_database_url
from trust import keys

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 16


@pytest.fixture(scope="module")
def trusts(django_db_setup):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("two trusts on the real stack need REDIS_URL")
    with TwoTrusts(database_url=suite_database_url(), redis_url=os.environ["REDIS_URL"]) as two:
        yield two


def test_ft_download_at_the_peer_verified_offline_against_an_lt_download_there(trusts):
    assets = [trusts.asset(PEER, name) for name in ("alice", "bob", "cleo")]
    local_lease = trusts.seeded[PEER]["local_lease"]
    minted = trusts.local_studio().post(f"/api/v1/leases/{local_lease}/tokens/", {"name": "baseline"})
    assert minted.status_code == 201, minted.text
    runs = {
        "lt_": (trusts.bearer(minted.json()["token"]), local_lease),
        "ft_": (trusts.bearer(), trusts.peer_lease),
    }
    rows = []
    # Latency nearly alone (2 connections), then under load (16): each pair in the same minute.
    for connections in (2, CONNECTIONS):
        results = {}
        for _ in range(2):  # the first round warms both paths up; the second is the one reported
            for kind, (auth, lease) in runs.items():
                paths = [f"/api/v1/leases/{lease}/assets/{asset}/download/" for asset in assets]
                results[kind] = wrk(
                    trusts.peer.url + paths[0],
                    seconds=SECONDS if kind in results else 3,
                    connections=connections,
                    headers=auth,
                    paths=paths,
                )
        lt, ft = results["lt_"], results["ft_"]
        assert lt.errors == 0 and ft.errors == 0, (lt.raw, ft.raw)
        assert lt.requests and ft.requests and lt.p50_ms and ft.p50_ms, (lt.raw, ft.raw)
        rows += [
            f"| download at equity-uk's gateway, `lt_` local lease ({connections} conn, {SECONDS}s) "
            f"| {lt.requests_per_s:,.0f} req/s | p50 {lt.p50_ms:.2f} ms | p95 {lt.p95_ms:.2f} ms |",
            f"| download at equity-uk's gateway, `ft_` token of sag-aftra verified offline ({connections} "
            f"conn) | {ft.requests_per_s:,.0f} req/s | p50 {ft.p50_ms:.2f} ms | p95 {ft.p95_ms:.2f} ms |",
            f"| ft_ / lt_ ({connections} conn) | {ft.requests_per_s / lt.requests_per_s:.2f}x req/s "
            f"| p50 {ft.p50_ms / lt.p50_ms:.2f}x | p95 {ft.p95_ms / lt.p95_ms:.2f}x |",
        ]
    authorize = _authorize_alone()
    rows.append(
        f"| `biscuits.authorize` alone (parse, verify Ed25519, authorize; {authorize['n']:,} runs) "
        f"| mean {authorize['mean_us']:.0f} us | p50 {authorize['p50_us']:.0f} us "
        f"| p95 {authorize['p95_us']:.0f} us |"
    )
    print("\n" + "\n".join(rows))


def _authorize_alone(n: int = 2000) -> dict:
    """A lease token of two parts checked for one asset and use, as a part's gateway does."""
    key = keys.SigningKey(Ed25519PrivateKey.generate())
    grant = biscuits.LeaseGrant(
        home="sag-aftra",
        lease=77,
        parts=(("sag-aftra", 77), ("equity-uk", 55)),
        studio="sag-aftra:1",
        uses=("training",),
        expires_at=timezone.now() + timedelta(days=1),
    )
    token = biscuits.mint(grant, key=key)

    def public_key_for(kid):
        return key.public_hex

    now = timezone.now()
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        biscuits.authorize(
            token,
            public_key_for=public_key_for,
            trust="equity-uk",
            local_lease=55,
            now=now,
            asset="6f1b7a1e-9a55-4c3e-9d7a-1f6c1d1e2a3b",
            uses=("training",),
        )
        timings.append((time.perf_counter() - started) * 1e6)
    timings.sort()
    return {
        "n": n,
        "mean_us": statistics.fmean(timings),
        "p50_us": timings[n // 2],
        "p95_us": timings[int(n * 0.95)],
    }
