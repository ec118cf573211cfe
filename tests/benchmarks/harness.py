"""What the benchmarks (and the worker-kill test) share: a gunicorn serving the app on the test
database with `deploy/gunicorn.conf.py`, the `wrk` load generator, a threaded HTTP client that
counts what it got, and set-based data loading.

Sizes come from the environment: BENCH_SCALE=small (default: minutes on a shared 2-core machine)
or full (the volumes of issue 10)."""

from __future__ import annotations

import http.client
import os
import re
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings as django_settings
from django.db import connection

from tests.servers import ARTIFACTS, ROOT, _stop, _tail, free_port, suite_database_url

SCALE = os.environ.get("BENCH_SCALE", "small")


def scaled(small: int, full: int) -> int:
    return full if SCALE == "full" else small


class Gunicorn:
    """gunicorn with the production config on a free port of 127.0.0.1, on the suite's test
    database (the rows the test committed), the bare baseline views mounted beside the app."""

    def __init__(
        self, *, env: dict | None = None, workers: int | None = None, log_name: str = "gunicorn.log"
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / log_name
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.benchmarks.settings",
            "DATABASE_URL": suite_database_url(),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "BIND": f"127.0.0.1:{self.port}",
            # No recycling while measuring: the five workers start together, serve alike and so
            # all reached the 5,000-request recycle at once inside a run (20k bare requests
            # first), rebooting side by side and stalling that run's tail for 1-3 s. A served
            # trust's workers start and recycle apart; that cost (a worker's boot, ~1.5 s CPU
            # per 5,000 requests) is deploy/SCALING.md's, not the request path's.
            "GUNICORN_MAX_REQUESTS": "0",
            **(env or {}),
        }
        if workers:
            self.env["WEB_CONCURRENCY"] = str(workers)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        ARTIFACTS.mkdir(exist_ok=True)
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "deploy/gunicorn.conf.py", "config.wsgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{_tail(self.log_path, 40)}")
            try:
                status, _ = get(self.base + "/healthz")
                if status == 200 and len(self.workers()) >= int(self.env.get("WEB_CONCURRENCY", "1")):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer:\n{_tail(self.log_path, 40)}")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 20)

    def workers(self) -> list[int]:
        """The pids of the master's worker processes (children of the process we started)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def kill_one_worker(self) -> int:
        pid = self.workers()[0]
        os.kill(pid, signal.SIGKILL)
        return pid


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    host, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request("GET", "/" + path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    raw: str = field(default="", repr=False)
    p95_ms: float = 0.0  # wrk's --latency prints no 95th percentile: its Lua done() does

    def row(self) -> str:
        return f"{self.requests_per_s:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    url: str, *, seconds: int, connections: int = 32, headers: dict | None = None, paths=None
) -> WrkResult:
    """Run wrk against `url` (cycling through `paths` when given) and parse its figures. Any
    answer but 2xx/3xx, or a socket error, counts as an error."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run deploy/ensure-bench.sh")
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    script = ARTIFACTS / f"wrk-{os.getpid()}.lua"
    ARTIFACTS.mkdir(exist_ok=True)
    # The 95th percentile, in microseconds, on a line of its own.
    lua = (
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("p95_us %d\\n", latency:percentile(95)))\nend\n'
    )
    if paths:
        listed = ",".join(f'"{p}"' for p in paths)
        lua += (
            f"local paths = {{{listed}}}\nlocal n = 0\n"
            "request = function()\n  n = n % #paths + 1\n"
            '  return wrk.format("GET", paths[n])\nend\n'
        )
    script.write_text(lua)
    command += ["-s", str(script)]
    run = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    script.unlink()
    out = run.stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out}\n{run.stderr}")
    latency = {"50": "0us", "99": "0us"}  # nothing answered in time
    latency |= dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|errors: .*?): (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return WrkResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        errors=errors,
        raw=out,
        p95_ms=int(re.search(r"^p95_us (\d+)$", out, re.M).group(1)) / 1000,
    )


class CountingClient:
    """`threads` clients each sending GETs in a loop until stopped, counting the statuses they
    received (a connection dropped mid-request counts as 'dropped', never as an answer)."""

    def __init__(self, base: str, path: str, *, threads: int, headers: dict):
        self.host = base.removeprefix("http://")
        self.path, self.headers = path, headers
        self.statuses: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                conn = conn or http.client.HTTPConnection(self.host, timeout=30)
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                response.read()
                outcome = response.status
            except (OSError, http.client.HTTPException):
                outcome = "dropped"
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.statuses[outcome] += 1
        if conn is not None:
            conn.close()

    def __enter__(self) -> CountingClient:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def analyze() -> None:
    """Fresh planner statistics after a bulk load, as any bulk load should end: this database's
    own tables only. A bare `ANALYZE` also takes the catalogs every database on the server shares,
    and a benchmark's transaction holds that lock until it ends: every other database's ANALYZE
    (other benchmarks and test runs on the shared machine) would wait for the whole benchmark."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))


def rss_kib(pid: int) -> int:
    """Resident memory of a process now, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def max_rss_kib_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
