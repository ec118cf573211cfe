"""`make federation`: two trusts on one machine, on the embedded default, peered, with one
federated lease already active.

`sag-aftra` serves on PORT (8000) and `equity-uk` on PORT+1, each a runserver of its own with its
own SQLite database, object store, secret key and signing key under var/<slug>/. Each is migrated
and seeded with its own cast (`seed_demo --cast`), then `seed_federation` runs at one trust and
the other in turn, each told the other's URL and the fingerprint read from the other's own key
(what the two administrators would tell each other out of band), until the lease the studio
requested at sag-aftra is active at both. Both servers run until Ctrl-C (SIGINT) or SIGTERM,
which stops them.

Running it again on the same var/ reuses what is there: the seed, the peering and the lease
are found, not made twice. Remove var/sag-aftra and var/equity-uk to start over.

    python deploy/federation.py [--port 8000] [--var-dir var]"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Both trusts price in one currency: a federated lease's parts must share the lease's
# (licensing.federated refuses `mixed_currency`), so equity-uk prices in US dollars here.
CURRENCY = "USD"
# Settings a trust of this demo must not inherit from the shell: a server stack (the embedded
# default is the point), or another trust's identity and key (two trusts would share a key).
NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "SECRET_KEY",
    "HTTPS",
    "TRUST_SIGNING_KEY",
    "TRUST_SLUG",
    "TRUST_NAME",
    "TRUST_IBAN",
    "TRUST_BIC",
    "TRUST_CURRENCY",
    "PUBLIC_BASE_URL",
    "GUILDTRUST_VAR_DIR",
    "LOCAL_OBJECT_ROOT",
    "STATIC_ROOT",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "SESSION_COOKIE_NAME",
)
READY_SECONDS = 90
# The embedded default has no beat: while serving, seed_federation runs again at each trust this
# often, doing beat's part (the peer's offers fetched before FEDERATION_OFFERS_STALE_SECONDS, 300,
# label them stale; federated lease messages still unsent sent again).
REFRESH_SECONDS = 240
FINGERPRINT = re.compile(r"fingerprint ([0-9a-f]{64})")


def _die_with_parent() -> None:
    """In a server's process: get SIGTERM if this script dies without stopping it (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Trust:
    """One trust of the demo: its embedded-default environment under var/<slug>/, its manage.py
    commands and its runserver."""

    def __init__(self, slug: str, name: str, cast: str, port: int, var_root: Path, extra: dict[str, str]):
        self.slug, self.name, self.cast, self.port = slug, name, cast, port
        self.url = f"http://127.0.0.1:{port}"
        self.var_dir = var_root / slug
        self.log_path = self.var_dir / "server.log"
        self.env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
        self.env.update(
            GUILDTRUST_VAR_DIR=str(self.var_dir),
            TRUST_SLUG=slug,
            TRUST_NAME=name,
            TRUST_CURRENCY=CURRENCY,
            PUBLIC_BASE_URL=self.url,
            PORT=str(port),
            # Both trusts answer on 127.0.0.1, and a browser sends a host's cookies to every port:
            # a session cookie of its own name keeps signing in at one from signing out of the other.
            SESSION_COOKIE_NAME=f"sessionid-{slug}",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        self.logins = ""
        self.fingerprint = ""
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        """Run one manage.py command for this trust; its output, or exit naming what failed."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with (self.var_dir / "setup.log").open("a") as log:
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=600,
            )
        if result.returncode:
            tail = "\n".join((self.var_dir / "setup.log").read_text().splitlines()[-15:])
            raise SystemExit(f"{self.slug}: manage.py {args[0]} failed:\n{result.stdout}{tail}")
        return result.stdout

    def prepare(self) -> None:
        """Migrate, seed this trust's cast (or find it seeded), and read its key's fingerprint."""
        seeded_mark = self.var_dir / "seeded"
        if (self.var_dir / "guildtrust.sqlite3").exists() and not seeded_mark.exists():
            # seed_demo takes a seeded admin for a whole story: one cut short stays cut short.
            raise SystemExit(
                f"{self.slug}: {self.var_dir} holds a seed that did not finish (interrupted?); "
                f"remove it to start over: rm -rf {self.var_dir}"
            )
        self.manage("migrate", "--noinput", "-v", "0")
        seeded = self.manage("seed_demo", "--cast", self.cast, "-v", "0")
        seeded_mark.touch()
        self.logins = seeded[seeded.index("Demo logins") :].rstrip()
        self.fingerprint = FINGERPRINT.search(self.manage("signing_key", "--show"))[1]

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C reaches this script only; it stops the servers in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self, deadline: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                why = f"{self.slug} did not start on {self.url}; {self.log_path} ends:"
                raise SystemExit(f"{why}\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.terminate()
        try:
            self.server.wait(10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the server binds: a port whose last connections linger in TIME_WAIT is free to it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _seed_federation(trust: Trust, other: Trust) -> str:
    return trust.manage(
        "seed_federation", "--peer-url", other.url, "--peer-fingerprint", other.fingerprint
    ).rstrip()


def _federate(home: Trust, part: Trust) -> str:
    """seed_federation at each trust in turn until the home reports the lease active (five runs
    from nothing, one on a federation already made)."""
    for trust, other in [(home, part), (part, home)] * 3:
        said = _seed_federation(trust, other)
        print(said, flush=True)
        if trust is home and re.search(r"federated lease #\d+ is active", said):
            return said
    raise SystemExit("the federated lease did not become active; see the lines above")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var")
    args = parser.parse_args()
    var_root = args.var_dir.resolve()
    home = Trust("sag-aftra", "SAG-AFTRA Performers Data Trust", "sag-aftra", args.port, var_root, {})
    part = Trust(
        "equity-uk",
        "Equity UK Performers Data Trust",
        "equity-uk",
        args.port + 1,
        var_root,
        # Its payouts leave from a UK account (a bank's published example IBAN).
        {"TRUST_IBAN": "GB29NWBK60161331926819", "TRUST_BIC": "NWBKGB2L"},
    )
    trusts = (home, part)
    taken = [str(t.port) for t in trusts if not _port_is_free(t.port)]
    if taken:
        print(f"port {', '.join(taken)} is in use: choose another with PORT=...", file=sys.stderr)
        return 1
    # Ctrl-C and SIGTERM both stop the servers; set here, since a shell starts a background job
    # with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    began = time.monotonic()
    try:
        print(f"Migrating and seeding {home.slug} and {part.slug} under {var_root}/ ...", flush=True)
        with ThreadPoolExecutor(len(trusts)) as pool:
            for done in [pool.submit(trust.prepare) for trust in trusts]:
                done.result()
        for trust in trusts:
            trust.start()
        deadline = time.monotonic() + READY_SECONDS
        for trust in trusts:
            trust.wait_ready(deadline)
            print(f"{trust.slug}: serving {trust.url} (pid {trust.server.pid})", flush=True)
        _federate(home, part)
        print()
        for trust in trusts:
            print(f"{trust.name} ({trust.slug}): {trust.url}/")
            print(f"  data in {trust.var_dir}/, server log {trust.log_path}")
            print("  " + trust.logins.replace("\n", "\n  "))
            print()
        print(f"Both trusts are serving (ready in {time.monotonic() - began:.0f} s); Ctrl-C stops them.")
        print(f"Start over: stop them, then rm -rf {home.var_dir} {part.var_dir}")
        sys.stdout.flush()
        refresh_at = time.monotonic() + REFRESH_SECONDS
        while all(trust.server.poll() is None for trust in trusts):
            time.sleep(0.5)
            if time.monotonic() >= refresh_at:
                for trust, other in ((home, part), (part, home)):
                    try:
                        _seed_federation(trust, other)
                    except SystemExit as failed:  # say so, and keep serving: the next round retries
                        print(failed, file=sys.stderr, flush=True)
                refresh_at = time.monotonic() + REFRESH_SECONDS
        stopped = next(trust for trust in trusts if trust.server.poll() is not None)
        why = f"{stopped.slug} stopped by itself; {stopped.log_path} ends:"
        print(f"{why}\n{stopped.tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping both trusts ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the stop short
        for trust in trusts:
            trust.stop()
        if any(trust.server for trust in trusts):
            print("Both trusts stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
