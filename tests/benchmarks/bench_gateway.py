"""Gateway download under gunicorn (deploy/gunicorn.conf.py) on PostgreSQL, 32 concurrent wrk
connections, against the bare Django JSON view in the same server; then the floor (a view that
only writes the event row and presigns: the best ratio any download reaches here); then a run
with one worker killed -9 mid-load: every 302 a client got must have its usage event. Run with
`make bench`."""

import os
import time

import pytest

from licensing.models import UsageEvent
from tests.benchmarks.data import big_lease
from tests.benchmarks.harness import SCALE, CountingClient, Gunicorn, scaled, wrk

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
# The pull window of the server under test. The load asks for the same 200 assets with one
# token again and again: 0 (the default here) bills every request, the gateway's full write path;
# with a window (86400, the app's default) all but the first of each are refreshes.
PULL_WINDOW = os.environ.get("BENCH_PULL_WINDOW_SECONDS", "0")


def s3_env(s3_server) -> dict:
    from tests.conftest import S3_BUCKET

    return {
        "S3_BUCKET": S3_BUCKET,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_ACCESS_KEY_ID": s3_server.access_key,
        "S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "S3_REGION": "us-east-1",
    }


def test_gateway_download_against_a_bare_view(committed_cast, s3_server):
    assets = scaled(5_000, 120_000)
    data = big_lease(cast=committed_cast, count=assets, download_cap=10**9)
    auth = {"Authorization": f"Bearer {data.secret}"}
    paths = [f"/api/v1/leases/{data.lease.pk}/assets/{a}/download/" for a in data.asset_ids]
    floor_paths = [f"/bare/download/{data.lease.pk}/{a}/" for a in data.asset_ids]
    env = s3_env(s3_server) | {"PULL_WINDOW_SECONDS": PULL_WINDOW}
    with Gunicorn(env=env, log_name="bench-gateway.log") as server:
        wrk(server.base + "/bare/ok/", seconds=3)  # warm-up: imports, connections, clients
        wrk(server.base + paths[0], seconds=3, headers=auth, paths=paths)
        bare = wrk(server.base + "/bare/ok/", seconds=SECONDS)
        gateway = wrk(server.base + paths[0], seconds=SECONDS, headers=auth, paths=paths)
        floor = wrk(server.base + floor_paths[0], seconds=SECONDS, paths=floor_paths)
        before_kill = UsageEvent.objects.filter(lease=data.lease).count()
        with CountingClient(server.base, paths[0], threads=16, headers=auth) as client:
            time.sleep(2)
            server.kill_one_worker()
            time.sleep(3)
        answered = client.statuses[302]
        recorded = UsageEvent.objects.filter(lease=data.lease).count() - before_kill
    assert gateway.errors == 0 and bare.errors == 0 and floor.errors == 0, (gateway, bare, floor)
    assert gateway.requests and bare.requests, (gateway.raw, bare.raw)
    assert gateway.p99_ms and bare.p99_ms, (gateway.raw, bare.raw)
    ratio = gateway.requests_per_s / bare.requests_per_s
    p99_ratio = gateway.p99_ms / bare.p99_ms
    billed_every_time = PULL_WINDOW == "0"
    kept = recorded >= answered or not billed_every_time
    kill_verdict = "met" if recorded >= answered else "NOT met" if billed_every_time else "n/a: refreshes"
    met = ratio >= 0.5 and p99_ratio <= 2 and kept
    print(
        f"\n| gateway download, lease with a cap, {assets:,} assets (BENCH_SCALE={SCALE}, 32 conn, "
        f"{SECONDS}s, pull window {PULL_WINDOW} s) | {gateway.row()} | bare JSON view {bare.row()} "
        f"| {ratio:.2f}x req/s, "
        f"p99 {p99_ratio:.2f}x | goal >= 0.5x, p99 <= 2x | {'met' if met else 'NOT met'} |"
        f"\n| floor: bare view + the event row + the presign (all a download cannot skip) | {floor.row()} "
        f"| bare JSON view | {floor.requests_per_s / bare.requests_per_s:.2f}x req/s, "
        f"p99 {floor.p99_ms / bare.p99_ms:.2f}x | the gateway's best possible ratio here | - |"
        f"\n| gateway, one worker killed -9 mid-load | {answered:,} redirects answered, {recorded:,} "
        f"download events ({client.statuses['dropped']} dropped) | - | lost {max(answered - recorded, 0)} "
        f"| goal: none lost | {kill_verdict} |"
        f"\n| approving the {assets:,}-asset lease (fresh statistics) | {data.approve_s:.2f} s "
        "| - | - | - | - |"
    )
