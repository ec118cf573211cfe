import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.endpoint_url, timeout=1)
                return self
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto did not start")
                time.sleep(0.1)

    def create_bucket(self, name):
        boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=name)

    def __exit__(self, *a):
        self.proc.terminate()
        self.proc.wait(5)


class CeleryWorker:
    def __init__(self, env, queues="celery,metering"):
        self.env = {**os.environ, **env}
        self.queues = queues
        self.log_path = ROOT / "tests" / "artifacts" / "celery-worker.log"

    def __enter__(self):
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "-Q",
                self.queues,
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.log_path.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text()[-3000:])
            time.sleep(0.2)
        return self

    def __exit__(self, *a):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
