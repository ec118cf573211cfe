"""The puller's retries against a scripted trust (a small HTTP server in a thread, no database):
503 and 429 with Retry-After are waited out, a connection cut mid-body continues with a range
from the last byte received, and retries that never succeed end in their own exit code."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guildtrust import errors
from guildtrust.http import Backoff, Connection
from guildtrust.lease import Lease

DATA = bytes(range(256)) * 4096  # 1 MiB: four of the puller's chunks


class ScriptedTrust(BaseHTTPRequestHandler):
    """A manifest of one asset, its gateway (302 to /object), and the object, whose first
    answers follow `script`: a status, "cut" (half the body, then the connection closes), or
    "ok"; every request is logged with its Range header."""

    script: list = []
    log: list = []
    refusal: dict | None = None  # the gateway's answer instead of a 302: {"status", "code"}

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range")))
        base = f"http://{self.headers['Host']}"
        if self.path.endswith("/manifest/"):
            entry = {
                "id": "a1",
                "title": "Only take",
                "content_type": "audio/wav",
                "sha256": hashlib.sha256(DATA).hexdigest(),
                "size": len(DATA),
                "download_url": f"{base}/api/v1/leases/1/assets/a1/download/",
            }
            return self._send(200, json.dumps({"lease": 1, "assets": [entry]}).encode())
        if self.path.endswith("/download/") and self.refusal:
            body = {"code": self.refusal["code"], "detail": "refused"}
            return self._send(self.refusal["status"], json.dumps(body).encode())
        if self.path.endswith("/download/"):
            self.send_response(302)
            self.send_header("Location", "/object?signature=x")
            self.end_headers()
            return None
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, tuple):  # (status, Retry-After)
            return self._send(step[0], b"{}", retry_after=step[1])
        if isinstance(step, int):
            return self._send(step, b"{}")
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        body = DATA[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if step == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        self.wfile.write(body)
        return None

    def _send(self, status, body, retry_after=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def trust():
    ScriptedTrust.script, ScriptedTrust.log, ScriptedTrust.refusal = [], [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedTrust)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _lease(url, waits: list, retries: int = 6) -> Lease:
    backoff = Backoff(retries=retries, sleep=waits.append)
    return Lease(Connection(url, "lt_test", backoff=backoff), 1)


def test_a_503_a_429_with_retry_after_and_a_cut_transfer_are_retried_to_a_verified_file(trust, tmp_path):
    ScriptedTrust.script = [503, (429, 7), "cut", "ok"]
    waits: list = []

    summary = _lease(trust, waits).download(tmp_path, jobs=1)

    assert summary.exit_code == 0, summary.lines()
    assert (tmp_path / "Only-take.wav").read_bytes() == DATA
    assert 7 in waits  # the 429's Retry-After, as asked
    objects = [rng for path, rng in ScriptedTrust.log if path.startswith("/object")]
    # After the cut, the transfer continued from the bytes it had, not from zero.
    assert objects[-1] is not None and objects[-1].startswith("bytes=") and objects[-1] != "bytes=0-"
    assert summary.bytes_fetched == len(DATA)


def test_retries_that_never_succeed_end_in_exit_code_9(trust, tmp_path):
    ScriptedTrust.script = [503] * 10
    summary = _lease(trust, [], retries=3).download(tmp_path, jobs=1)
    assert summary.exit_code == errors.UNAVAILABLE == 9
    assert not (tmp_path / "Only-take.wav").exists()


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    waits: list = []
    backoff = Backoff(base=0.5, cap=4, sleep=waits.append)
    for attempt in range(8):
        backoff.wait(attempt)
    assert all(0 <= wait <= min(4, 0.5 * 2**n) for n, wait in enumerate(waits))


def test_a_used_up_cap_on_a_use_refuses_that_asset_with_its_own_exit_code(trust, tmp_path):
    ScriptedTrust.refusal = {"status": 409, "code": "quota_exceeded"}
    summary = _lease(trust, []).download(tmp_path)
    assert summary.stopped_by is None  # that asset only: a pull of the others goes on
    assert "quota_exceeded" in summary.failed["a1"]
    assert summary.exit_code == errors.USE_CAP_REACHED == 12
    assert not (tmp_path / "Only take.wav").exists()
