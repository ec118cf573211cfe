"""The real services the suite starts for itself: an S3 server and a Celery worker.

Plain context managers (no pytest here) so conftest.py decides the fixture scopes. Both listen or
connect on 127.0.0.1 only, log under tests/artifacts/, and are stopped on exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


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
    """moto's standalone S3 server on a free port.

    It checks neither presigned signatures nor expiry: tests of a URL's lifetime read
    X-Amz-Expires instead."""

    def __init__(self, log_name: str = "s3-server.log"):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / log_name
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> S3Server:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).parent / "moto_server"
        # Its request log goes to a file, not a pipe: nobody reads a pipe during the session, and
        # a full one would block the server mid-suite.
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.endpoint_url + "/", timeout=1)
                return self
            except requests.RequestException as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    _stop(self.process, 1)
                    raise RuntimeError(
                        f"the S3 server ({binary}) did not answer on {self.endpoint_url} within 20 s; "
                        f"its output:\n{_tail(self.log_path, 50)}"
                    ) from error
                time.sleep(0.1)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def log_tail(self, n: int = 50) -> str:
        return _tail(self.log_path, n)

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 5)


class CeleryWorker:
    """`celery -A <app> worker` as a separate process, with its log under tests/artifacts/.

    `env` is merged over os.environ (broker, database, S3 settings for the worker)."""

    def __init__(
        self,
        env: dict[str, str],
        queues: str = "celery,metering",
        app: str = "config",
        log_name: str = "celery-worker.log",
    ):
        # Unbuffered, so "ready." reaches the log as soon as the worker says it.
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.queues = queues
        self.app = app
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
