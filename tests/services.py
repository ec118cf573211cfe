"""The real services the suite starts for itself: an S3 server and a Celery worker. Both
listen or connect on 127.0.0.1 only and stop with the session."""

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, grace: float) -> None:
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class S3Server:
    """moto's standalone S3 server on a free port. It checks neither presigned signatures nor
    expiry: tests of a URL's lifetime read X-Amz-Expires instead."""

    def __init__(self):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        binary = Path(sys.executable).parent / "moto_server"
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.endpoint_url, timeout=1)
                return self
            except requests.ConnectionError as error:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    _stop(self.process, 1)
                    stderr = self.process.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the S3 server did not start: {stderr}") from error
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

    def __exit__(self, *exc):
        _stop(self.process, 5)


class CeleryWorker:
    """`celery -A config worker` as a separate process, with its log under tests/artifacts/."""

    def __init__(self, env: dict[str, str], queues: str = "celery,metering", app: str = "config"):
        self.env = {**os.environ, **env}
        self.queues = queues
        self.app = app
        self.log_path = ARTIFACTS / "celery-worker.log"

    def __enter__(self):
        ARTIFACTS.mkdir(exist_ok=True)
        self.log = self.log_path.open("w")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            self.queues,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.log_path.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                _stop(self.process, 1)
                raise RuntimeError(f"the Celery worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def log_tail(self, lines: int = 50) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def __exit__(self, *exc):
        _stop(self.process, 10)
        self.log.close()
