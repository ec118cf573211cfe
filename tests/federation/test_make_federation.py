"""`make federation` (deploy/federation.py, the entry point make runs) on two free ports and a
temporary var dir: what someone who typed it sees. Both trusts answer with each other's keys,
peered and live; each administrator signs in (in one browser, one after the other); the studio's
federated lease is active at sag-aftra with both parts approved, and one token of it downloads
an asset at each trust's gateway; Ctrl-C stops both servers; run again, it reuses everything."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.servers import ROOT, free_port
from trust import keys

pytestmark = pytest.mark.embedded

PASSWORD = "guildtrust-demo"
READY_SECONDS = 150  # a fresh run migrates and seeds both trusts: about 40 s on a busy 2-core machine


def _two_free_ports() -> int:
    """A port P with P and P+1 both free (sag-aftra on P, equity-uk on P+1)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and _is_free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports")


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class MakeFederation:
    """deploy/federation.py as make runs it, its output in a file the test reads."""

    def __init__(self, port: int, var_dir: Path):
        self.port, self.var_dir = port, var_dir
        self.output_path = var_dir / f"federation-{time.monotonic_ns()}.out"
        self.process: subprocess.Popen | None = None

    def start(self) -> "MakeFederation":
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with self.output_path.open("w") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "deploy/federation.py",
                    "--port",
                    str(self.port),
                    "--var-dir",
                    str(self.var_dir),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_SECONDS
        while "Both trusts are serving" not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"make federation did not come up:\n{self.output}")
            time.sleep(0.3)
        return self

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def server_pids(self) -> dict[str, int]:
        return {
            slug: int(pid)
            for slug, pid in re.findall(r"^([a-z-]+): serving \S+ \(pid (\d+)\)", self.output, re.M)
        }

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the script, as the terminal sends it; its exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
def federation_run(tmp_path):
    port = _two_free_ports()
    runs: list[MakeFederation] = []

    def start() -> MakeFederation:
        runs.append(MakeFederation(port, tmp_path / "var").start())
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def _token(url: str, username: str) -> dict:
    answer = requests.post(
        f"{url}/api/v1/auth/token/", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 201, (url, username, answer.text)
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _sign_in(browser: requests.Session, url: str, username: str) -> requests.Response:
    """The login page, as a person fills it in; the page it lands on."""
    page = browser.get(f"{url}/accounts/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    return browser.post(
        f"{url}/accounts/login/",
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD},
        timeout=30,
    )


def _peer_row(url: str, headers: dict, slug: str) -> dict:
    rows = requests.get(f"{url}/api/v1/federation/peers/", headers=headers, timeout=30).json()["results"]
    return next(row for row in rows if row["slug"] == slug)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_federation_serves_two_peered_trusts_with_an_active_federated_lease_until_ctrl_c(
    federation_run,
):
    run = federation_run()
    sag_aftra, equity_uk = f"http://127.0.0.1:{run.port}", f"http://127.0.0.1:{run.port + 1}"
    assert sag_aftra in run.output and equity_uk in run.output and PASSWORD in run.output

    # Both well-known documents answer; each trust holds the other's key, peered and live.
    documents = {
        url: requests.get(f"{url}/.well-known/guildtrust.json", timeout=30).json()
        for url in (sag_aftra, equity_uk)
    }
    assert documents[sag_aftra]["slug"] == "sag-aftra" and documents[equity_uk]["slug"] == "equity-uk"
    assert documents[sag_aftra]["currency"] == documents[equity_uk]["currency"] == "USD"
    admins = {url: _token(url, "admin") for url in (sag_aftra, equity_uk)}
    for url, other in ((sag_aftra, equity_uk), (equity_uk, sag_aftra)):
        row = _peer_row(url, admins[url], documents[other]["slug"])
        assert row["state"] == "live"
        assert row["fingerprint"] == keys.fingerprint_of(documents[other]["public_keys"][0]["key"])

    # Each login page names its trust and the demo logins it has.
    pages = {url: requests.get(f"{url}/accounts/login/", timeout=30).text for url in (sag_aftra, equity_uk)}
    assert (
        "SAG-AFTRA Performers Data Trust" in pages[sag_aftra]
        and "<strong>studio</strong>" in pages[sag_aftra]
    )
    assert (
        "Equity UK Performers Data Trust" in pages[equity_uk]
        and "<strong>studio</strong>" not in pages[equity_uk]
    )

    # In one browser: admin signs in at sag-aftra, then at equity-uk, and is still signed in at both.
    browser = requests.Session()
    for url in (sag_aftra, equity_uk):
        landed = _sign_in(browser, url, "admin")
        assert landed.status_code == 200 and landed.url.endswith("/operations/"), (url, landed.url)
    assert browser.get(f"{sag_aftra}/operations/", timeout=30, allow_redirects=False).status_code == 200
    # Each trust has its own people and member numbers, a `member` login among them; the studio's
    # login lives at sag-aftra only.
    rosters = {
        url: requests.get(f"{url}/api/v1/members/", headers=admins[url], timeout=30).json()["results"]
        for url in (sag_aftra, equity_uk)
    }
    for field in ("member_number", "display_name"):
        assert not {m[field] for m in rosters[sag_aftra]} & {m[field] for m in rosters[equity_uk]}
    for url in (sag_aftra, equity_uk):
        assert "member" in {m["username"] for m in rosters[url]}
        _token(url, "member")
    login = requests.post(
        f"{equity_uk}/api/v1/auth/token/", json={"username": "studio", "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 401

    # The federated lease is active at the studio's home, both parts approved.
    studio = _token(sag_aftra, "studio")
    leases = requests.get(f"{sag_aftra}/api/v1/leases/", headers=studio, timeout=30).json()["results"]
    (federated,) = [lease for lease in leases if lease.get("parts")]
    assert federated["status"] == "active"
    assert {p["trust"]: p["status"] for p in federated["parts"]} == {
        "sag-aftra": "approved",
        "equity-uk": "approved",
    }

    # One token of it downloads an asset at each trust's gateway.
    minted = requests.post(
        f"{sag_aftra}/api/v1/leases/{federated['id']}/tokens/",
        json={"name": "demo farm"},
        headers=studio,
        timeout=30,
    )
    assert minted.status_code == 201, minted.text
    bearer = {"Authorization": f"Bearer {minted.json()['token']}"}
    manifest = requests.get(
        f"{sag_aftra}/api/v1/leases/{federated['id']}/manifest/", headers=bearer, timeout=30
    )
    assert manifest.status_code == 200, manifest.text
    assert {p["trust"]: p["status"] for p in manifest.json()["parts"]} == {
        "sag-aftra": "available",
        "equity-uk": "available",
    }
    for slug, url in (("sag-aftra", sag_aftra), ("equity-uk", equity_uk)):
        asset = next(a for a in manifest.json()["assets"] if a["trust"] == slug)
        assert asset["download_url"].startswith(url)
        redirect = requests.get(asset["download_url"], headers=bearer, timeout=30, allow_redirects=False)
        assert redirect.status_code == 302, (slug, redirect.text)
        data = requests.get(redirect.headers["Location"], timeout=30)
        assert data.status_code == 200 and hashlib.sha256(data.content).hexdigest() == asset["sha256"]

    # Ctrl-C stops both servers: no process left, nothing answers.
    pids = run.server_pids()
    assert set(pids) == {"sag-aftra", "equity-uk"}
    assert run.interrupt() == 0
    assert "Both trusts stopped." in run.output
    assert not any(_is_running(pid) for pid in pids.values())
    for url in (sag_aftra, equity_uk):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/healthz", timeout=5)

    # Run again on the same var/: the same trusts, the same peering and lease, nothing made twice.
    again = federation_run()
    assert f"federated lease #{federated['id']} is active" in again.output
    assert not re.search(
        r"^[a-z-]+: (added|shares|.* requested lease|the administrator approved)", again.output, re.M
    )
    for url, other in ((sag_aftra, "equity-uk"), (equity_uk, "sag-aftra")):
        rows = requests.get(
            f"{url}/api/v1/federation/peers/", headers=_token(url, "admin"), timeout=30
        ).json()
        assert [row["slug"] for row in rows["results"]] == [other]
    leases = requests.get(
        f"{sag_aftra}/api/v1/leases/", headers=_token(sag_aftra, "studio"), timeout=30
    ).json()
    assert [lease["id"] for lease in leases["results"] if lease.get("parts")] == [federated["id"]]
    assert again.interrupt() == 0
