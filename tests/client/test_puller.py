"""`guildtrust pull` and `open_lease()` against a live server on the real stack: a 200-asset lease
pulled with 8 jobs; a pull killed -9 half-way and resumed (no file fetched twice, no extra billed
download); a file corrupted on disk found and fetched again; a presigned URL that expired
refreshed without a new billed download; a revoked token, a withdrawn asset and a reached cap
each stopping or skipping with its message and exit code."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import guildtrust
from guildtrust import errors
from guildtrust.lease import STATE_DIR
from licensing import tokens as lease_tokens
from licensing.models import Lease
from tests.client.conftest import ASSETS, URL_SECONDS, make_lease, puller
from trust import services as trust
from trust.tokens import user_token_mint

pytestmark = pytest.mark.django_db(transaction=True)


def _files(folder: Path) -> dict[str, bytes]:
    """The pulled files: final names only (no `.part`, no state folder)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def _names(folder: Path) -> dict[str, str]:
    return json.loads((folder / STATE_DIR / "names.json").read_text())["names"]


def _assert_pulled_whole(lease, folder: Path) -> None:
    names, files = _names(folder), _files(folder)
    assert len(files) == ASSETS
    for asset_id, stored in zip(lease.asset_ids, lease.objects, strict=True):
        assert hashlib.sha256(files[names[str(asset_id)]]).hexdigest() == stored.sha256
    assert not list(folder.glob(".*.part"))


def _pull(lease, folder: Path, *extra: str, timeout: float = 90) -> tuple[int, dict, str]:
    summary = folder.parent / f"{folder.name}-summary.json"
    process = puller(
        "pull",
        *("--url", lease.url, "--lease", str(lease.lease.pk), "--to", str(folder)),
        *("--jobs", "8", "--quiet", "--summary", str(summary)),
        *extra,
        secret=lease.secret,
    )
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, json.loads(summary.read_text()) if summary.exists() else {}, stderr


def test_a_200_asset_lease_is_pulled_with_8_jobs_verified_with_readable_names(pulled_lease, tmp_path):
    folder = tmp_path / "pull"
    code, summary, stderr = _pull(pulled_lease, folder)

    assert code == 0, stderr
    assert summary["fetched"] == ASSETS and summary["skipped"] == 0
    _assert_pulled_whole(pulled_lease, folder)
    names = set(_names(folder).values())
    assert "Take-1-Zoes-scene.wav" in names  # the title, ASCII, with its media type's extension
    assert len({name.lower() for name in names}) == ASSETS  # titles repeat; names never do
    assert pulled_lease.billed() == ASSETS
    assert f"{ASSETS} files: {ASSETS} fetched" in stderr


def test_a_pull_killed_half_way_resumes_without_fetching_or_billing_anything_twice(pulled_lease, tmp_path):
    folder = tmp_path / "pull"
    first = puller(
        "pull",
        *("--url", pulled_lease.url, "--lease", str(pulled_lease.lease.pk), "--to", str(folder)),
        *("--jobs", "8", "--quiet"),
        secret=pulled_lease.secret,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if folder.exists() and len(_files(folder)) >= ASSETS // 2:
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL, "the pull ended before it could be killed half-way"
    complete = _files(folder)
    partial = {p.name: p.stat().st_size for p in folder.glob(".*.part")}
    assert 0 < len(complete) < ASSETS
    billed_at_kill = pulled_lease.billed()

    code, summary, stderr = _pull(pulled_lease, folder)

    assert code == 0, stderr
    _assert_pulled_whole(pulled_lease, folder)
    # Every file complete at the kill was verified and kept, none fetched again...
    assert summary["skipped"] == len(complete)
    assert summary["fetched"] == ASSETS - len(complete)
    for name, data in complete.items():
        assert (folder / name).read_bytes() == data
    # ...partial files were continued, and only the missing bytes crossed the network.
    total = sum(len(stored.data) for stored in pulled_lease.objects)
    assert summary["bytes_fetched"] == total - sum(len(d) for d in complete.values()) - sum(partial.values())
    assert summary["resumed"] == len([size for size in partial.values() if size])
    # One billed download per asset, whatever was asked twice.
    assert billed_at_kill <= ASSETS
    assert pulled_lease.billed() == ASSETS
    assert set(pulled_lease.billed_per_asset().values()) == {1}


def test_a_file_corrupted_on_disk_is_found_and_fetched_again_unbilled(pulled_lease, tmp_path):
    folder = tmp_path / "pull"
    assert _pull(pulled_lease, folder)[0] == 0
    names = _names(folder)
    flipped, truncated = (folder / names[str(a)] for a in pulled_lease.asset_ids[:2])
    data = bytearray(flipped.read_bytes())
    data[100] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:1000])

    code, summary, stderr = _pull(pulled_lease, folder)

    assert code == 0, stderr
    assert summary["corrupt_refetched"] == 2
    assert summary["fetched"] == 2 and summary["skipped"] == ASSETS - 2
    _assert_pulled_whole(pulled_lease, folder)
    assert pulled_lease.billed() == ASSETS  # inside the pull window: refetched, not billed again


def test_a_presigned_url_that_expires_mid_pull_is_refreshed_without_a_new_billed_download(
    pulled_lease, tmp_path
):
    lease = guildtrust.open_lease(pulled_lease.url, pulled_lease.secret, lease=pulled_lease.lease.pk)
    slow = str(pulled_lease.asset_ids[5])
    real_location = lease._location
    delayed = []

    def location_that_waits_too_long(entry):
        url = real_location(entry)
        if entry["id"] == slow and not delayed:
            delayed.append(url)
            time.sleep(URL_SECONDS + 1.5)  # the URL expires before it is used
        return url

    lease._location = location_that_waits_too_long
    summary = lease.download(tmp_path / "pull", jobs=8)

    assert summary.exit_code == 0, summary.lines()
    assert delayed and summary.urls_refreshed >= 1
    _assert_pulled_whole(pulled_lease, tmp_path / "pull")
    assert pulled_lease.billed_per_asset()[slow] == 1
    assert pulled_lease.billed() == ASSETS


def test_a_token_revoked_mid_pull_stops_it_with_a_clear_message_and_exit_code_5(pulled_lease, tmp_path):
    lease = guildtrust.open_lease(pulled_lease.url, pulled_lease.secret, lease=pulled_lease.lease.pk)
    real_location, calls = lease._location, []

    def location_then_revoke(entry):
        calls.append(entry["id"])
        if len(calls) == 20:
            lease_tokens.lease_token_revoke(
                actor=pulled_lease.lease.studio.staff.first().user,
                lease=pulled_lease.lease,
                token=pulled_lease.token,
            )
        return real_location(entry)

    lease._location = location_then_revoke
    summary = lease.download(tmp_path / "pull", jobs=4)

    assert isinstance(summary.stopped_by, guildtrust.TokenRevoked)
    assert summary.exit_code == errors.TOKEN_REVOKED == 5
    assert "revoked" in str(summary.stopped_by)
    assert 19 <= summary.fetched < ASSETS  # stopped at once, not after trying every asset
    # Nothing unverified under a final name; what was cut short stays `.part`, to be continued.
    names = _names(tmp_path / "pull")
    by_id = {str(a): stored for a, stored in zip(pulled_lease.asset_ids, pulled_lease.objects, strict=True)}
    pulled = _files(tmp_path / "pull")
    assert len(pulled) == summary.fetched
    for asset_id, name in names.items():
        if name in pulled:
            assert hashlib.sha256(pulled[name]).hexdigest() == by_id[asset_id].sha256
    assert all(p.stat().st_size for p in (tmp_path / "pull").glob(".*.part"))

    # The command says so too, with the same status.
    code, _, stderr = _pull(pulled_lease, tmp_path / "again")
    assert code == 5
    assert "this token was revoked (token_revoked)" in stderr
    assert "exit 5" in stderr


def test_a_withdrawn_asset_is_skipped_and_named_and_the_rest_pulled(committed_cast, pulled_lease, tmp_path):
    lease_url = f"{pulled_lease.url}/api/v1/leases/{pulled_lease.lease.pk}/"
    lease = guildtrust.open_lease(lease_url, pulled_lease.secret)  # the lease's own URL names it
    assert len(lease.manifest["assets"]) == ASSETS
    bob = committed_cast.bob  # the first asset is Bob's; he withdraws after the manifest was read
    trust.consent_withdraw(actor=bob.user, consent=bob.consents.get(use="training"))

    summary = lease.download(tmp_path / "pull", jobs=8)

    withdrawn = str(pulled_lease.asset_ids[0])
    assert summary.exit_code == errors.ASSET_WITHDRAWN == 6
    assert list(summary.withdrawn) == [withdrawn]
    assert summary.fetched == ASSETS - 1
    assert any("consent withdrawn" in line for line in summary.lines())


def test_a_reached_cap_stops_the_pull_with_exit_code_7(committed_cast, stored_objects, server, tmp_path):
    capped = make_lease(committed_cast, stored_objects, url=server.url, download_cap=50)

    code, summary, stderr = _pull(capped, tmp_path / "pull")

    assert code == errors.CAP_REACHED == 7, stderr
    assert "download_cap_reached" in stderr
    assert summary["fetched"] == 50, (json.dumps(summary), capped.billed(), stderr)
    assert capped.billed() == 50


def test_an_expired_lease_or_a_bad_token_has_its_own_exit_code(pulled_lease, tmp_path):
    Lease.objects.filter(pk=pulled_lease.lease.pk).update(status=Lease.Status.EXPIRED)
    assert _pull(pulled_lease, tmp_path / "a")[0] == errors.TOKEN_EXPIRED == 4
    pulled_lease.secret = "lt_" + "x" * 43
    code, _, stderr = _pull(pulled_lease, tmp_path / "b")
    assert code == errors.TOKEN_INVALID == 3
    assert "token_invalid" in stderr


def test_the_token_is_never_taken_from_the_command_line(pulled_lease, tmp_path):
    process = puller(
        "pull", "--url", pulled_lease.url, "--lease", "1", "--to", str(tmp_path), "--token", "lt_x", secret=""
    )
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "unrecognized arguments: --token" in stderr


def test_streaming_an_asset_verifies_it(pulled_lease):
    lease = guildtrust.open_lease(pulled_lease.url, pulled_lease.secret, lease=pulled_lease.lease.pk)
    entry = lease.assets[3]
    assert hashlib.sha256(lease.read(entry)).hexdigest() == entry["sha256"]
    entry = dict(entry, sha256="0" * 64)
    with pytest.raises(guildtrust.VerificationFailed):
        b"".join(lease.stream(entry))


def test_the_client_imports_nothing_of_the_server():
    script = (
        "import sys, guildtrust, guildtrust.cli; assert 'django' not in sys.modules, 'django'; print('ok')"
    )
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=os.getcwd())
    assert answer.stdout.strip() == "ok", answer.stderr


def test_ctrl_c_stops_the_pull_at_once_and_says_how_to_resume(pulled_lease, tmp_path):
    folder = tmp_path / "pull"
    process = puller(
        "pull",
        *("--url", pulled_lease.url, "--lease", str(pulled_lease.lease.pk), "--to", str(folder)),
        *("--jobs", "8", "--quiet"),
        secret=pulled_lease.secret,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if folder.exists() and len(_files(folder)) >= 20:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)

    assert process.returncode == 130, stderr
    assert "interrupted; run the same command again to resume" in stderr
    assert len(_files(folder)) < ASSETS
    code, summary, stderr = _pull(pulled_lease, folder)
    assert code == 0, stderr
    _assert_pulled_whole(pulled_lease, folder)
    assert pulled_lease.billed() == ASSETS


def test_tokens_lists_mints_and_revokes_with_a_staff_login_and_manifest_prints_the_manifest(
    committed_cast, pulled_lease, tmp_path
):
    staff = {"GUILDTRUST_USER_TOKEN": user_token_mint(user=committed_cast.carol)[1]}
    lease_args = ("--url", pulled_lease.url, "--lease", str(pulled_lease.lease.pk))

    def run(*args, env=None):
        process = puller(*args, secret=pulled_lease.secret, env_extra=env)
        out, err = process.communicate(timeout=60)
        return process.returncode, out, err

    code, out, err = run("tokens", "mint", *lease_args, "--name", "render farm", env=staff)
    assert code == 0, err
    minted = out.strip()
    assert minted.startswith("lt_") and "shown once" in err
    code, out, _ = run("tokens", "list", *lease_args, env=staff)
    assert code == 0 and "render farm" in out and "active" in out
    token_id = next(line.split()[0] for line in out.splitlines() if "render farm" in line)
    assert run("tokens", "revoke", *lease_args, "--id", token_id, env=staff)[0] == 0
    assert "revoked" in run("tokens", "list", *lease_args, env=staff)[1]
    # Without a staff login: a usage error, not a lease token sent where it does not belong.
    assert run("tokens", "list", *lease_args)[0] == errors.USAGE

    code, out, err = run("manifest", *lease_args, "--out", str(tmp_path / "m.json"))
    assert code == 0, err
    assert len(json.loads((tmp_path / "m.json").read_text())["assets"]) == ASSETS
