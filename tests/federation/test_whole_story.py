"""The whole federated story (issue 11, "Tests that must exist"), over HTTP between two live trust
processes on the real stack (tests/federation/two_trusts.py, seeded and not yet peered): each
step as its people see it, in order, and the money worked out by hand.

Prices (GBP cents). sag-aftra's terms, the lease's: flat fee 1001, a training run 67, a download
5, a generated second 2. equity-uk's shared terms: a download 7, a generated second 3 (its own
flat fee and training price are its local leases', never this lease's). Licensable at approval:
3 assets at each trust.

What the studio does, by trust:
  downloads at sag-aftra: its 3 assets once                                     3 x 5 = 15
  downloads at equity-uk: its 3 assets once, bob once with the vendor's token  4 x 7 = 28
    (alice again while sag-aftra is down is a refresh inside the token's pull window:
    served, not billed; refusals count nothing)
  reported at sag-aftra: 3 training runs                                       3 x 67 = 201
    40 generated seconds of equity-uk's alice (forwarded)                     40 x 3 = 120
    10 generated seconds of sag-aftra's bob                                    10 x 2 = 20
Split by licensable count 3:3, floor then largest remainder, ties by slug (equity-uk first):
  flat fee 1001 -> 500 + 500, 1 left over, tie -> equity-uk 501, sag-aftra 500
  training 201  -> 100 + 100, 1 left over, tie -> equity-uk 101, sag-aftra 100
equity-uk's part: 28 + 120 + 501 + 101 = 750 (the settlement, at both trusts)
sag-aftra's part: 15 + 20 + 500 + 100 = 635; the studio owes 1385 = 1001 + 201 + 15 + 28 + 20 + 120.

equity-uk pays its members from 750 at its own rates (admin fee 15 %, pension 10 %):
  fee 750 x 15 % = 112.5 -> 112; pool 638. Shares of the pool, by revenue attributed (x 3, the
  shared 602 split equally over 3 assets): alice 602 + 3 x (7 + 120) = 983, bob 602 + 3 x 14
  = 644, cleo 602 + 3 x 7 = 623 (of 2250):
  alice 638 x 983 / 2250 = 278 r 1654, bob 182 r 1372, cleo 176 r 1474: 636, 2 left over to the
  largest remainders -> alice 279, bob 182, cleo 177; pension 10 % -> 27, 18, 17; net 252, 164, 160."""

import hashlib
import time
from datetime import UTC, datetime, timedelta

import biscuit_auth
import pytest
import requests

from tests.federation.two_trusts import ADMIN_PASSWORD, HOME, PEER, until
from trust.keys import fingerprint_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

HOME_PRICES = {
    "flat_fee_cents": 1001,
    "price_per_training_run_cents": 67,
    "price_per_download_cents": 5,
    "price_per_generated_second_cents": 2,
}
PEER_PRICES = {
    "flat_fee_cents": 2500,
    "price_per_training_run_cents": 900,
    "price_per_download_cents": 7,
    "price_per_generated_second_cents": 3,
}
USES = ["training", "crowd_generation"]
PEER_RATES = {"admin_fee_bps": 1500, "pension_bps": 1000}


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fetch(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60, allow_redirects=False)


def _download_bytes(url: str, token: str) -> bytes:
    """A gateway download: its 302 to the object store, then the bytes."""
    answer = _fetch(url, token)
    assert answer.status_code == 302, (url, answer.status_code, answer.text)
    stored = requests.get(answer.headers["Location"], timeout=60)
    assert stored.status_code == 200
    return stored.content


def _refused(url: str, token: str) -> tuple[int, str]:
    answer = _fetch(url, token)
    return answer.status_code, (answer.json().get("code") if answer.status_code != 302 else "")


def _terms(admin, dataset: int, title: str, prices: dict) -> int:
    created = admin.post(
        "/api/v1/terms/",
        {"dataset": dataset, "title": title, "permitted_uses": USES, "duration_days": 30, **prices},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _peer_row(admin, slug: str) -> dict | None:
    return next(
        (r for r in admin.get("/api/v1/federation/peers/").json()["results"] if r["slug"] == slug), None
    )


def _period_closed(admin, start: datetime) -> dict:
    """The trust's administrator creates a period from `start` to a few seconds from now, waits
    for it to end, closes it on the API and waits for the close (a Celery job) to finish."""
    end = datetime.now(UTC) + timedelta(seconds=2)
    created = admin.post("/api/v1/periods/", {"start": _at(start), "end": _at(end)})
    assert created.status_code == 201, created.text
    period = created.json()["id"]
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.2)
    closing = admin.post(f"/api/v1/periods/{period}/close/")
    assert closing.status_code == 202, closing.text
    closed = until(
        lambda: (
            (row := admin.get(f"/api/v1/periods/{period}/").json())["status"] in ("closed", "failed") and row
        ),
        seconds=60,
    )
    assert closed and closed["status"] == "closed", closed
    return closed


def test_the_whole_federated_story_between_two_live_trusts(two_seeded_trusts):
    trusts = two_seeded_trusts
    story_began = time.monotonic()
    # The periods start here: after the seeding, so equity-uk's own local lease (approved then,
    # with a flat fee of its own) falls before them; everything of the story falls inside.
    began = datetime.now(UTC)
    home_admin, peer_admin, studio = trusts.admin(HOME), trusts.admin(PEER), trusts.studio()
    # --- 1. Peering, a double opt-in checked by fingerprint -----------------------------------
    published = {
        slug: requests.get(f"{t.url}/.well-known/guildtrust.json", timeout=60).json()
        for slug, t in trusts.trusts.items()
    }
    assert {slug: doc["slug"] for slug, doc in published.items()} == {HOME: HOME, PEER: PEER}
    fingerprints = {slug: fingerprint_of(doc["public_keys"][0]["key"]) for slug, doc in published.items()}
    wrong = home_admin.post(
        "/api/v1/federation/peers/", {"url": trusts.peer.url, "fingerprint": fingerprints[HOME]}
    )
    assert wrong.status_code == 422, wrong.text  # not equity-uk's key: nothing kept
    assert _peer_row(home_admin, PEER) is None

    added = home_admin.post(
        "/api/v1/federation/peers/", {"url": trusts.peer.url, "fingerprint": fingerprints[PEER]}
    )
    assert added.status_code == 201, added.text
    assert (added.json()["fingerprint"], added.json()["state"]) == (fingerprints[PEER], "waiting")
    # equity-uk heard the hello: its administrator sees sag-aftra asking, not yet live.
    asking = until(lambda: _peer_row(peer_admin, HOME), seconds=30)
    assert asking and asking["state"] == "asking", asking
    theirs = peer_admin.post(
        "/api/v1/federation/peers/", {"url": trusts.home.url, "fingerprint": fingerprints[HOME]}
    )
    assert theirs.status_code == 201, theirs.text
    for admin, other in ((home_admin, PEER), (peer_admin, HOME)):
        row = until(
            lambda admin=admin, other=other: (r := _peer_row(admin, other)) and r["state"] == "live" and r,
            seconds=30,
        )
        assert row and row["fingerprint"] == fingerprints[other], row

    # Each administrator sets its own terms; equity-uk shares its own with sag-aftra.
    home_terms = _terms(home_admin, trusts.seeded[HOME]["dataset"], "SAG-AFTRA crowd, story", HOME_PRICES)
    peer_terms = _terms(peer_admin, trusts.seeded[PEER]["dataset"], "Equity UK crowd, story", PEER_PRICES)
    shared = peer_admin.put(f"/api/v1/terms/{peer_terms}/shared-with/", {"peers": [HOME]})
    assert shared.status_code == 200, shared.text
    rates = peer_admin.put("/api/v1/settings/rates/", PEER_RATES)
    assert rates.status_code == 200, rates.text

    # The studio's catalogue at home: its trust's offer and equity-uk's, each with its trust.
    assert trusts.refresh_offers() == 1
    catalogue = {
        (row["trust"], row["terms"]): row for row in studio.get("/api/v1/catalog/").json()["results"]
    }
    ours, offered = catalogue[(HOME, home_terms)], catalogue[(PEER, peer_terms)]
    assert ours["trust_name"] == "SAG-AFTRA Performers Trust" and ours["flat_fee_cents"] == 1001
    assert offered["trust_name"] == "Equity UK Performers Trust" and not offered["stale"]
    assert (offered["price_per_download_cents"], offered["price_per_generated_second_cents"]) == (7, 3)
    assert offered["currency"] == "GBP" and offered["coverage"]["licensable"] == 3

    # --- The federated request, approved at each trust on its own API -------------------------
    requested = studio.post(
        "/api/v1/leases/",
        {
            "purpose": "Crowd scene, the whole story",
            "parts": [{"trust": HOME, "terms": home_terms}, {"trust": PEER, "terms": peer_terms}],
        },
    )
    assert requested.status_code == 201, requested.text
    lease = requested.json()["id"]
    assert requested.json()["status"] == "requested"

    def arrived():
        rows = peer_admin.get("/api/v1/leases/").json()["results"]
        return next((r for r in rows if r["purpose"] == "Crowd scene, the whole story"), None)

    incoming = until(arrived, seconds=30)
    assert incoming, "equity-uk never received its part"
    peer_lease = incoming["id"]
    assert (incoming["federated_from"], incoming["status"]) == (HOME, "requested")
    # equity-uk's administrator sees it on its own page, from the studio of sag-aftra.
    page = trusts.page(PEER, "admin", f"/operations/leases/{peer_lease}/", password=ADMIN_PASSWORD)
    assert page.status_code == 200 and "Northlight Pictures" in page.text, page.status_code

    approved = peer_admin.post(f"/api/v1/leases/{peer_lease}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
    assert (approved.json()["flat_fee_cents"], approved.json()["price_per_training_run_cents"]) == (0, 0)

    def parts():
        return {p["trust"]: p for p in studio.get(f"/api/v1/leases/{lease}/").json()["parts"]}

    assert until(lambda: parts()[PEER]["status"] == "approved", seconds=30), parts()
    assert studio.get(f"/api/v1/leases/{lease}/").json()["status"] == "requested"  # home not yet
    decided = home_admin.post(f"/api/v1/leases/{lease}/approve/")
    assert decided.status_code == 200 and decided.json()["status"] == "active", decided.text
    assert {t: (p["status"], p["licensable_at_approval"]) for t, p in parts().items()} == {
        HOME: ("approved", 3),
        PEER: ("approved", 3),
    }
    minted = studio.post(f"/api/v1/leases/{lease}/tokens/", {"name": "render farm"})
    assert minted.status_code == 201, minted.text
    token, token_id = minted.json()["token"], minted.json()["id"]
    assert token.startswith("ft_")
    steps = {"1. peered, shared, requested, approved, minted": time.monotonic() - story_began}

    # --- 2. One manifest over both trusts; downloads at both gateways with the one token ------
    manifest = requests.get(
        f"{trusts.home.url}/api/v1/leases/{lease}/manifest/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert manifest.status_code == 200, manifest.text
    listed = {row["id"]: row for row in manifest.json()["assets"]}
    expected = {trusts.asset(slug, name): slug for slug in (HOME, PEER) for name in ("alice", "bob", "cleo")}
    assert {asset: row["trust"] for asset, row in listed.items()} == expected
    gateways = {
        HOME: f"{trusts.home.url}/api/v1/leases/{lease}/",
        PEER: f"{trusts.peer.url}/api/v1/leases/{peer_lease}/",
    }
    for asset, row in listed.items():
        assert row["download_url"] == f"{gateways[row['trust']]}assets/{asset}/download/", row
    assert {p["trust"]: p["status"] for p in manifest.json()["parts"]} == {
        HOME: "available",
        PEER: "available",
    }
    for asset, row in listed.items():
        data = _download_bytes(row["download_url"], token)
        assert hashlib.sha256(data).hexdigest() == row["sha256"], asset
    peer_alice, peer_bob, peer_cleo = (trusts.asset(PEER, n) for n in ("alice", "bob", "cleo"))
    url = {asset: row["download_url"] for asset, row in listed.items()}

    # --- 3. The home trust's web process down: equity-uk still verifies the token offline -----
    trusts.home.stop_web()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(trusts.home.url, timeout=5)
        data = _download_bytes(url[peer_alice], token)
        assert hashlib.sha256(data).hexdigest() == listed[peer_alice]["sha256"]
    finally:
        trusts.home.start_web()

    # --- 4. Usage reported at home: generated seconds of a peer's asset, and training runs ----
    now = datetime.now(UTC).isoformat()
    reported = requests.post(
        f"{trusts.home.url}/api/v1/leases/{lease}/usage/",
        json={
            "events": [
                {"event_key": "runs-1", "kind": "training_run", "quantity": 3, "occurred_at": now},
                {
                    "event_key": "crowd-1",
                    "kind": "generated_second",
                    "quantity": 40,
                    "occurred_at": now,
                    "trust": PEER,
                    "asset": peer_alice,
                },
                {
                    "event_key": "crowd-2",
                    "kind": "generated_second",
                    "quantity": 10,
                    "occurred_at": now,
                    "asset": trusts.asset(HOME, "bob"),
                },
            ]
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert reported.status_code == 202 and reported.json() == {"accepted": 3, "duplicates": 0}, reported.text
    # Forwarded: equity-uk records the 40 seconds against its own lease of the part, once.
    assert until(
        lambda: (
            trusts.count(PEER, "licensing.UsageEvent", lease_id=peer_lease, event_key="crowd-1", quantity=40)
            == 1
        ),
        seconds=30,
    )
    assert trusts.count(PEER, "licensing.UsageEvent", lease_id=peer_lease, kind="training_run") == 0

    # --- 5. A member of equity-uk withdraws consent: its gateway refuses that asset at once ----
    cleo = trusts.member(PEER, "cleo")
    grant = next(
        row
        for row in cleo.get("/api/v1/consents/").json()["results"]
        if row["use"] == "training" and row["state"] == "granted" and row["active"]
    )
    assert cleo.post(f"/api/v1/consents/{grant['id']}/withdraw/").status_code in (200, 201)
    assert _refused(url[peer_cleo], token) == (403, "not_licensable")

    # --- 6. A vendor's token: narrower works, wider refused, revoked with its parent ----------
    derived = studio.post(
        f"/api/v1/leases/{lease}/tokens/derive/",
        {"token": token, "vendor": "Pixel Forge VFX", "assets": [f"{PEER}:{peer_bob}"], "uses": ["training"]},
    )
    assert derived.status_code == 201, derived.text
    vendor = derived.json()["token"]
    assert _download_bytes(url[peer_bob], vendor) == b"equity-uk scan of bob"
    assert _refused(url[peer_alice], vendor) == (403, "token_not_for_this")
    for wider in (
        {"assets": [f"{PEER}:{peer_bob}", f"{PEER}:{peer_alice}"]},
        {"uses": ["training", "crowd_generation"]},
    ):
        refused = studio.post(
            f"/api/v1/leases/{lease}/tokens/derive/", {"token": vendor, "vendor": "Roto Ltd", **wider}
        )
        assert refused.status_code == 422, (wider, refused.text)
    # Widened offline: a block appended by the vendor granting alice's asset grants nothing.
    home_key = biscuit_auth.PublicKey.from_bytes(
        bytes.fromhex(published[HOME]["public_keys"][0]["key"]), biscuit_auth.Algorithm.Ed25519
    )
    parsed = biscuit_auth.Biscuit.from_base64(vendor[3:], home_key)
    widened = (
        "ft_"
        + parsed.append(
            biscuit_auth.BlockBuilder('asset({a}); use("crowd_generation");', {"a": peer_alice})
        ).to_base64()
    )
    assert _refused(url[peer_alice], widened) == (403, "token_not_for_this")

    revoked_at = time.monotonic()
    assert studio.delete(f"/api/v1/leases/{lease}/tokens/{token_id}/").status_code == 204

    def both_refused():
        # Probed on assets each token may not download anyway (403 before, 401 once revoked):
        # a probe that succeeded would be a download, metered and billed.
        return _refused(url[peer_alice], vendor)[0] == 401 and _refused(url[peer_cleo], token)[0] == 401

    assert until(both_refused, seconds=10, every=0.1)
    reached = time.monotonic() - revoked_at
    assert reached <= 5, f"the revocation reached equity-uk in {reached:.1f} s"
    assert _refused(url[peer_alice], token) == (401, "token_revoked")
    assert _refused(url[peer_bob], vendor) == (401, "token_revoked")
    derived_rows = studio.get(f"/api/v1/leases/{lease}/derived-tokens/").json()["results"]
    assert [(r["vendor"], r["state"]) for r in derived_rows] == [("Pixel Forge VFX", "revoked")]
    steps["6. revocation reached equity-uk (s)"] = round(reached, 2)

    # --- 7. Periods closed at both trusts; the settlement agreed to the cent -------------------
    home_period = _period_closed(home_admin, began)
    assert home_period["revenue_cents"] == 635 and home_period["ledger_balanced"], home_period
    window = f"{home_period['start']}/{home_period['end']}"

    def settled(admin):
        rows = admin.get("/api/v1/federation/settlements/", params={"period": window}).json()["settlements"]
        return rows if rows and all(r["state"] == "agreed" for r in rows) else None

    at_home = until(lambda: settled(home_admin), seconds=30)
    assert at_home, home_admin.get("/api/v1/federation/settlements/", params={"period": window}).json()
    at_peer = settled(peer_admin)
    assert at_peer
    figures = {
        "downloads_cents": 28,
        "generated_cents": 120,
        "flat_fee_share_cents": 501,
        "training_share_cents": 101,
        "total_cents": 750,
    }
    (ours,), (theirs,) = at_home, at_peer
    assert (ours["role"], ours["peer"], ours["lease"], ours["direction"]) == (
        "home",
        PEER,
        lease,
        f"owed to {PEER}",
    )
    assert (theirs["role"], theirs["peer"], theirs["home_lease_id"], theirs["direction"]) == (
        "part",
        HOME,
        lease,
        f"owed by {HOME}",
    )
    for row in (ours, theirs):
        assert row["ours"] == row["theirs"] == figures, row
        assert row["owed_cents"] == 750
    # The home ledger: the studio owes the whole lease, sag-aftra owes equity-uk its part.
    studio_id = studio.get(f"/api/v1/leases/{lease}/").json()["studio"]
    assert (
        trusts.shell(
            HOME,
            "from payouts import ledger; "
            f"print(ledger.balance_of('studio:{studio_id}:receivable'), "
            f"ledger.balance_of('peer:{PEER}:payable'), ledger.trial_balance())",
        )
        == "1385 -750 0"
    )

    # equity-uk closes its own period once the shares have arrived, paying its members itself.
    peer_period = _period_closed(peer_admin, began)
    assert peer_period["revenue_cents"] == 750 and peer_period["ledger_balanced"], peer_period
    assert (peer_period["admin_fee_cents"], peer_period["pension_cents"], peer_period["net_cents"]) == (
        112,
        62,
        576,
    )
    members = {name: trusts.member(PEER, name) for name in ("alice", "bob", "cleo")}
    earned = {name: person.get("/api/v1/me/earnings/").json() for name, person in members.items()}
    assert {name: (e["total_net_cents"], e["total_pension_cents"]) for name, e in earned.items()} == {
        "alice": (252, 27),
        "bob": (164, 18),
        "cleo": (160, 17),
    }
    # "Who used my data" at equity-uk: the studio of sag-aftra, and the vendor where it was one.
    used = {
        name: [
            row for row in person.get("/api/v1/me/leases/").json()["results"] if row["lease"] == peer_lease
        ]
        for name, person in members.items()
    }
    assert {
        name: [(r["studio"], r["vendors"], r["downloads_of_my_assets"], r["net_cents"]) for r in rows]
        for name, rows in used.items()
    } == {
        "alice": [("Northlight Pictures", [], 1, 252)],
        "bob": [("Northlight Pictures", ["Pixel Forge VFX"], 2, 164)],
        "cleo": [("Northlight Pictures", [], 1, 160)],
    }
    assert (
        trusts.shell(
            PEER,
            "from payouts import ledger; "
            f"print(ledger.balance_of('peer:{HOME}:receivable'), ledger.trial_balance())",
        )
        == "750 0"
    )
    steps["7. story total (s)"] = round(time.monotonic() - story_began, 2)
    print(f"\nwhole story: fixture {trusts.startup_seconds}, steps {steps}")
