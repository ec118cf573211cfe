"""The puller against plain parallel curl (`xargs -P 8 curl -L`, what a studio would script) on
the same lease, in one run: gunicorn on PostgreSQL, objects in the S3 server, 8 at a time each.
Each side pulls with a token of its own, so both take the gateway's billed path. curl verifies
nothing and cannot resume; the puller hashes every file, writes it under a temporary name and
renames it. Overhead per file: the wall-clock difference to curl over the file count, and the
puller's own CPU per file in process. Run with `make bench` (BENCH_SCALE=small: 200 assets;
large: 2,000)."""

import hashlib
import os
import subprocess
import sys
import time

import pytest
import requests

import guildtrust
from licensing import tokens as lease_tokens
from tests.benchmarks.harness import SCALE, scaled
from tests.client.conftest import StoredObject, _bytes_of, make_lease
from tests.conftest import S3_BUCKET, stack_env
from tests.servers import ROOT, GunicornServer

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]
JOBS = 8


def _curl_pull(manifest: dict, secret: str, folder) -> float:
    """Every asset with curl, JOBS at a time, following the gateway's redirect; seconds taken."""
    folder.mkdir()
    pairs = "".join(f"{folder / a['id']}\n{a['download_url']}\n" for a in manifest["assets"])
    command = 'exec curl -sS --fail -L -H "Authorization: Bearer $TOKEN" -o "$0" "$1"'
    start = time.perf_counter()
    subprocess.run(
        ["xargs", "-P", str(JOBS), "-n", "2", "sh", "-c", command],
        input=pairs,
        text=True,
        check=True,
        env={**os.environ, "TOKEN": secret},
    )
    return time.perf_counter() - start


def _puller_pull(url: str, lease_id: int, secret: str, folder) -> float:
    """`guildtrust pull` as a studio runs it (a process of its own, start-up included)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "guildtrust", "pull", "--url", url, "--lease", str(lease_id)]
        + ["--to", str(folder), "--jobs", str(JOBS), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "GUILDTRUST_TOKEN": secret},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def test_the_puller_against_parallel_curl(committed_cast, s3_server, tmp_path):
    count = scaled(200, 2_000)
    objects = [StoredObject(f"bench-puller/{n}", _bytes_of(n)) for n in range(count)]
    client = s3_server.client()
    for stored in objects:
        client.put_object(Bucket=S3_BUCKET, Key=stored.key, Body=stored.data)
    env = stack_env(redis_url=os.environ.get("REDIS_URL", ""), s3_server=s3_server)
    env |= {"HTTPS": "off", "DEBUG": "false", "S3_REGION": "us-east-1"}
    with GunicornServer(env, workers=2, log_name="bench-puller.log") as web:
        lease = make_lease(committed_cast, objects, url=web.url)
        tokens = [
            lease_tokens.lease_token_mint(actor=committed_cast.carol, lease=lease.lease, name=f"bench {n}")[1]
            for n in range(4)
        ]
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        manifest = requests.get(f"{web.url}/api/v1/leases/{lease.lease.pk}/manifest/", headers=headers).json()
        _curl_pull(manifest, tokens[0], tmp_path / "warm-up")  # imports, connections, caches
        curl_s = _curl_pull(manifest, tokens[1], tmp_path / "curl")
        puller_s = _puller_pull(web.url, lease.lease.pk, tokens[2], tmp_path / "puller")
        in_process = guildtrust.open_lease(web.url, tokens[3], lease=lease.lease.pk)
        start, cpu_start = time.perf_counter(), time.process_time()
        summary = in_process.download(tmp_path / "notebook", jobs=JOBS)
        notebook_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start

    total = sum(len(stored.data) for stored in objects)
    expected = {hashlib.sha256(stored.data).hexdigest() for stored in objects}
    curled = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "curl").iterdir()}
    pulled = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (tmp_path / "puller").iterdir()
        if p.is_file() and not p.name.startswith(".")
    }
    assert curled == expected and pulled == expected
    assert summary.exit_code == 0 and summary.fetched == count
    ratio = curl_s / puller_s  # the puller's throughput as a share of curl's
    overhead_ms = (puller_s - curl_s) / count * 1000
    print(
        f"\n| puller vs `xargs -P {JOBS} curl -L`, {count:,} assets, {total / 1024**2:.1f} MiB "
        f"(BENCH_SCALE={SCALE}) | guildtrust pull {puller_s:.2f} s ({count / puller_s:.0f} files/s, "
        f"{total / puller_s / 1024**2:.1f} MiB/s) | curl {curl_s:.2f} s ({count / curl_s:.0f} files/s) "
        f"| {ratio:.2f}x curl's throughput | overhead {overhead_ms:+.2f} ms per file |"
        f"\n| open_lease().download() in process (no start-up), same lease | {notebook_s:.2f} s "
        f"({count / notebook_s:.0f} files/s) | - | {curl_s / notebook_s:.2f}x curl's throughput "
        f"| overhead {(notebook_s - curl_s) / count * 1000:+.2f} ms per file, client CPU "
        f"{cpu_s / count * 1000:.2f} ms per file (HTTP, SHA-256, write, rename) |"
    )
