"""Under gunicorn with several workers, /metrics adds up every worker's counters (prometheus-client
multiprocess mode, set up by deploy/gunicorn.conf.py)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-metrics-token-123"


def test_metrics_add_up_every_gunicorn_worker(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        GUILDTRUST_VAR_DIR=str(tmp_path / "var"), METRICS_TOKEN=TOKEN, WEB_CONCURRENCY="3", PORT=str(port)
    )
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
            time.sleep(0.3)
        for _ in range(40):  # spread over the workers by the kernel
            assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
        assert requests.get(f"{base}/metrics", timeout=30).status_code == 401
        text = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).text
        line = next(row for row in text.splitlines() if row.startswith("guildtrust_http_requests_total{"))
        # Every request counted (41, or one more if a start-up probe timed out but was answered),
        # not only those of the worker that answered the scrape.
        assert 'view="health"' in line and float(line.rsplit(" ", 1)[1]) >= 41
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
