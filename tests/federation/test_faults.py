"""Faults between two trusts on the real stack (FEDERATION.md, Faults; tests/federation/two_trusts.py):
a peer whose web process is down, a member of the peer withdrawing consent, the home trust down.
Each test leaves both trusts up and touches its own assets, so they run in any order."""

import time

import pytest
import requests

from tests.federation.two_trusts import HOME, PEER, until

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _takedowns_at_home(trusts, studio) -> list[dict]:
    return studio.get(f"/api/v1/leases/{trusts.lease}/takedowns/").json()["results"]


def _withdraw_training(trusts, slug: str, member: str) -> None:
    """The member withdraws their training grant, on their trust's API."""
    person = trusts.member(slug, member)
    grant = next(
        row
        for row in person.get("/api/v1/consents/").json()["results"]
        if row["use"] == "training" and row["state"] == "granted" and row["active"]
    )
    withdrawn = person.post(f"/api/v1/consents/{grant['id']}/withdraw/")
    assert withdrawn.status_code in (200, 201), withdrawn.text


def _second_lease(trusts, purpose: str) -> tuple[int, int]:
    """Another federated lease over both trusts, active: (its id at home, its part's id at equity-uk)."""
    studio, home_admin, peer_admin = trusts.studio(), trusts.admin(HOME), trusts.admin(PEER)
    requested = studio.post(
        "/api/v1/leases/",
        {
            "purpose": purpose,
            "parts": [
                {"trust": HOME, "terms": trusts.seeded[HOME]["terms"]},
                {"trust": PEER, "terms": trusts.seeded[PEER]["terms"]},
            ],
        },
    )
    assert requested.status_code == 201, requested.text
    lease = requested.json()["id"]

    def forwarded():
        rows = peer_admin.get("/api/v1/leases/").json()["results"]
        return next((row["id"] for row in rows if row["purpose"] == purpose), None)

    theirs = until(forwarded, seconds=30)
    assert theirs and peer_admin.post(f"/api/v1/leases/{theirs}/approve/").status_code == 200
    assert home_admin.post(f"/api/v1/leases/{lease}/approve/").status_code == 200
    assert until(lambda: studio.get(f"/api/v1/leases/{lease}/").json()["status"] == "active", seconds=30)
    return lease, theirs


def test_a_peer_that_is_down_is_unavailable_in_the_manifest_and_gets_its_messages_once_back(two_trusts):
    trusts = two_trusts
    studio, home_admin = trusts.studio(), trusts.admin(HOME)
    ending, ending_there = _second_lease(trusts, "Stunt set, ended while equity-uk is down")
    spare = studio.post(f"/api/v1/leases/{trusts.lease}/tokens/", {"name": "spare"}).json()

    trusts.peer.stop_web()
    try:
        # The manifest answers whole: the home part's assets, equity-uk's part marked unavailable.
        started = time.monotonic()
        manifest = requests.get(
            f"{trusts.home.url}/api/v1/leases/{trusts.lease}/manifest/", headers=trusts.bearer(), timeout=60
        )
        took = time.monotonic() - started
        assert manifest.status_code == 200, manifest.text
        body = manifest.json()
        assert {a["id"] for a in body["assets"]} == {
            trusts.asset(HOME, name) for name in ("alice", "bob", "cleo")
        }
        assert all(a["trust"] == HOME for a in body["assets"])
        parts = {p["trust"]: p for p in body["parts"]}
        assert parts[HOME]["status"] == "available"
        assert parts[PEER]["status"] == "unavailable" and "did not answer" in parts[PEER]["reason"]
        assert took < 5, f"a peer refusing connections held the manifest {took:.1f} s"

        # The studio's lease page says so.
        page = trusts.page(HOME, "studio", f"/studio/leases/{trusts.lease}/")
        assert page.status_code == 200
        assert "Equity UK Performers Trust has not answered since" in page.text
        shown = {p["trust"]: p for p in studio.get(f"/api/v1/leases/{trusts.lease}/").json()["parts"]}
        assert shown[PEER]["unavailable_since"] and shown[HOME]["unavailable_since"] is None

        # Messages to the peer while it is down: a revoked token, and the end of the other lease.
        assert studio.delete(f"/api/v1/leases/{trusts.lease}/tokens/{spare['id']}/").status_code == 204
        revoked = home_admin.post(f"/api/v1/leases/{ending}/revoke/", {"reason": "the shoot moved"})
        assert revoked.status_code == 200, revoked.text
        assert [p["status"] for p in studio.get(f"/api/v1/leases/{ending}/").json()["parts"]] == [
            "revoked",
            "approved",  # equity-uk has not been told yet
        ]
        time.sleep(2 * 2)  # a couple of beat resends find the peer still down
    finally:
        trusts.peer.start_web()

    peer_admin = trusts.admin(PEER)
    assert until(
        lambda: peer_admin.get(f"/api/v1/leases/{ending_there}/").json()["status"] == "revoked", seconds=30
    )
    assert until(
        lambda: (
            [p["status"] for p in studio.get(f"/api/v1/leases/{ending}/").json()["parts"]]
            == ["revoked", "revoked"]
        ),
        seconds=30,
    )
    time.sleep(2 * 2)  # later resends and retries arrive too: none may count twice
    assert trusts.count(PEER, "licensing.Lease", pk=ending_there, status="revoked") == 1
    assert trusts.count(PEER, "trust.AuditEvent", action="lease.revoked", subject_id=str(ending_there)) == 1
    assert trusts.count(HOME, "trust.AuditEvent", action="lease_part.revoked", subject_id=str(ending)) == 1
    # The revoked token: listed once at equity-uk (pushed and pulled, kept once), refused there.
    assert trusts.count(PEER, "licensing.FederatedRevocation", home_lease_id=trusts.lease) == 1
    refused = requests.get(
        trusts.download_url(PEER, trusts.asset(PEER, "alice")),
        headers=trusts.bearer(spare["token"]),
        timeout=60,
        allow_redirects=False,
    )
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
    # Back: the manifest lists equity-uk's part again, and the page no longer calls it unavailable.
    manifest = requests.get(
        f"{trusts.home.url}/api/v1/leases/{trusts.lease}/manifest/", headers=trusts.bearer(), timeout=60
    ).json()
    assert {p["trust"]: p["status"] for p in manifest["parts"]} == {HOME: "available", PEER: "available"}
    assert "has not answered since" not in trusts.page(HOME, "studio", f"/studio/leases/{trusts.lease}/").text
    assert all(
        p["unavailable_since"] is None for p in studio.get(f"/api/v1/leases/{trusts.lease}/").json()["parts"]
    )


def test_a_withdrawal_at_the_peer_refuses_its_download_at_once_and_the_takedown_reaches_the_studio_at_home(
    two_trusts,
):
    trusts = two_trusts
    bob = trusts.asset(PEER, "bob")
    download = trusts.download_url(PEER, bob)
    assert (
        requests.get(download, headers=trusts.bearer(), timeout=60, allow_redirects=False).status_code == 302
    )

    _withdraw_training(trusts, PEER, "bob")
    refused = requests.get(download, headers=trusts.bearer(), timeout=60, allow_redirects=False)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_licensable")
    assert trusts.count(PEER, "licensing.Takedown", lease_id=trusts.peer_lease, asset_id=bob) == 1

    studio = trusts.studio()

    def relayed():
        return [row for row in _takedowns_at_home(trusts, studio) if row["asset"] == bob]

    rows = until(relayed, seconds=15)
    assert [(r["trust"], r["kind"], r["status"]) for r in rows] == [(PEER, "face_scan", "issued")]
    page = trusts.page(HOME, "studio", f"/studio/leases/{trusts.lease}/")
    assert bob in page.text and "Equity UK Performers Trust" in page.text

    # The studio acknowledges and attests at home; equity-uk's own notice follows.
    notice = rows[0]["id"]
    assert studio.post(f"/api/v1/takedowns/{notice}/acknowledge/").status_code == 200
    attested = studio.post(f"/api/v1/takedowns/{notice}/attest/", {"statement": "Deleted from the farm."})
    assert attested.status_code == 200, attested.text
    assert until(
        lambda: (
            trusts.count(
                PEER,
                "licensing.Takedown",
                lease_id=trusts.peer_lease,
                asset_id=bob,
                status="deletion_attested",
            )
            == 1
        ),
        seconds=15,
    )
    time.sleep(2 * 2)  # the beat's resends: nothing doubled
    assert len(relayed()) == 1
    assert trusts.count(HOME, "licensing.Takedown", remote_asset_id=bob) == 1


def test_with_the_home_trust_down_the_peer_still_serves_ft_tokens_offline_and_relays_later(two_trusts):
    trusts = two_trusts
    alice, cleo = trusts.asset(PEER, "alice"), trusts.asset(PEER, "cleo")
    trusts.home.stop_web()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(trusts.home.url, timeout=5)  # the home trust answers nothing
        got = requests.get(
            trusts.download_url(PEER, alice), headers=trusts.bearer(), timeout=60, allow_redirects=False
        )
        assert got.status_code == 302, got.text
        stored = requests.get(got.headers["Location"], timeout=60)
        assert stored.status_code == 200 and stored.content == b"equity-uk scan of alice"

        # A withdrawal while the home trust is down: refused at once here, the notice waits.
        _withdraw_training(trusts, PEER, "cleo")
        refused = requests.get(
            trusts.download_url(PEER, cleo), headers=trusts.bearer(), timeout=60, allow_redirects=False
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "not_licensable")
        time.sleep(2 * 2)
        assert (
            trusts.count(
                PEER, "licensing.Takedown", lease_id=trusts.peer_lease, asset_id=cleo, relayed_status=""
            )
            == 1
        )
    finally:
        trusts.home.start_web()

    studio = trusts.studio()
    rows = until(lambda: [r for r in _takedowns_at_home(trusts, studio) if r["asset"] == cleo], seconds=20)
    assert [(r["trust"], r["status"]) for r in rows] == [(PEER, "issued")]
    time.sleep(2 * 2)
    assert trusts.count(HOME, "licensing.Takedown", remote_asset_id=cleo) == 1
    assert (
        trusts.count(
            PEER, "licensing.Takedown", lease_id=trusts.peer_lease, asset_id=cleo, relayed_status="issued"
        )
        == 1
    )
