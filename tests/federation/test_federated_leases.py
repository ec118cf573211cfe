"""One lease over two live trusts over HTTP: this process is `sag-aftra` (the studio's home,
served by the live server) and `equity-uk` is a whole trust in its own process. Peering,
sharing, a studio's request with a part at each trust, each trust deciding its own part on its
own API: the lease is active only once both approved, and rejected when the peer rejects."""

import time
from datetime import timedelta

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

import guildtrust
from federation import biscuits
from federation.models import Peer
from licensing import services
from licensing.models import Lease, LeasePart
from trust import keys

pytestmark = pytest.mark.django_db(transaction=True)

# Seeds equity-uk's own members, a frozen dataset and terms shared with sag-aftra, through its
# services (the setting of the story, not what is tested); prints the terms' id.
EQUITY_SEED = """
from django.contrib.auth import get_user_model
from federation.models import Peer
from licensing import services as licensing
from tests import factories
from trust import services as trust

admin = get_user_model().objects.get(username="admin")
members = [
    factories.MemberFactory(user__username=f"equity-{n}", member_number=f"EQ-{n:04d}", display_name=f"E {n}")
    for n in range(3)
]
assets = []
for n, member in enumerate(members):
    factories.grant_all(member, "training")
    assets.append(factories.make_asset(admin=admin, contributors=[(member, "1")], data=b"equity scan %d" % n))
dataset = trust.dataset_create(actor=admin, slug="equity-crowd", title="Equity crowd")
trust.dataset_add_assets(actor=admin, dataset=dataset, asset_ids=[a.pk for a in assets])
trust.dataset_freeze(actor=admin, dataset=dataset)
terms = licensing.terms_create(
    actor=admin, dataset=dataset, title="Equity crowd, training", permitted_uses=["training"],
    duration_days=30, flat_fee_cents=50000,
)
licensing.terms_share(actor=admin, terms=terms, peers=[Peer.objects.get(slug="sag-aftra")])
print(terms.pk)
"""


@pytest.fixture
def home(settings, live_server):
    """This process is `sag-aftra`, in the peer's currency (a lease's parts share one)."""
    settings.TRUST_SLUG = "sag-aftra"
    settings.TRUST_CURRENCY = "GBP"
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


_EQUITY_SIDE: dict = {}


@pytest.fixture
def peered(home, committed_world, as_user, equity_uk, equity_admin):
    """Both administrators added each other; equity-uk shares terms; sag-aftra fetched them."""
    home_admin = as_user(committed_world.cast.admin)
    published = requests.get(f"{equity_uk.url}/.well-known/guildtrust.json", timeout=60).json()
    fingerprint = keys.fingerprint_of(published["public_keys"][0]["key"])
    added = home_admin.post(
        "/api/v1/federation/peers/", {"url": equity_uk.url, "fingerprint": fingerprint}, format="json"
    )
    assert added.status_code == 201, added.content
    # equity-uk lives for the module and keeps its side (peering, seed) from the first test;
    # this trust's database is fresh for each test.
    if equity_uk not in _EQUITY_SIDE:
        theirs = equity_admin.post(
            "/api/v1/federation/peers/", {"url": home.url, "fingerprint": keys.current_key().fingerprint}
        )
        assert theirs.status_code == 201 and theirs.json()["state"] == "live", theirs.text
        _EQUITY_SIDE[equity_uk] = int(equity_uk.manage("shell", "-c", EQUITY_SEED).strip().splitlines()[-1])
    else:
        equity_uk.manage(
            "shell",
            "-c",
            "from federation.models import Peer; "
            f"Peer.objects.filter(slug='sag-aftra').update(base_url={home.url!r})",
        )
    equity_terms = _EQUITY_SIDE[equity_uk]
    peer = Peer.objects.get(slug="equity-uk")
    assert services.peer_offers_refresh(peer=peer) == 1  # what the beat job does every minute
    home_terms = services.terms_create(
        actor=committed_world.cast.admin,
        dataset=committed_world.dataset,
        title="SAG-AFTRA crowd, training",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=70000,
    )
    return {"home_terms": home_terms.pk, "equity_terms": equity_terms, "home_admin": home_admin, "home": home}


def _request(as_user, world, peered, purpose: str):
    studio = as_user(world.cast.carol)
    answer = studio.post(
        "/api/v1/leases/",
        {
            "purpose": purpose,
            "parts": [
                {"trust": "sag-aftra", "terms": peered["home_terms"]},
                {"trust": "equity-uk", "terms": peered["equity_terms"]},
            ],
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    return studio, answer.json()["id"]


def _parts(studio, lease_id) -> tuple[str, dict]:
    shown = studio.get(f"/api/v1/leases/{lease_id}/").json()
    return shown["status"], {part["trust"]: part["status"] for part in shown["parts"]}


def _their_lease(equity_admin, home_lease_purpose: str) -> dict:
    rows = equity_admin.get("/api/v1/leases/").json()["results"]
    return next(row for row in rows if row["purpose"] == home_lease_purpose)


def test_each_trust_decides_its_part_the_lease_is_active_only_after_both_and_rejected_by_either(
    peered, committed_world, as_user, equity_admin
):
    # One test: equity-uk (a whole trust, started once per module) keeps its peering and data.
    studio, lease_id = _request(as_user, committed_world, peered, "Crowd scene, two unions")
    part = LeasePart.objects.get(lease_id=lease_id, peer__slug="equity-uk")
    assert part.forwarded_at is not None and part.remote_lease_id

    # At equity-uk: a request of "Studio A of sag-aftra", beside its own, decided by its own admin.
    theirs = _their_lease(equity_admin, "Crowd scene, two unions")
    assert theirs["id"] == part.remote_lease_id
    assert theirs["status"] == "requested" and theirs["federated_from"] == "sag-aftra"
    approved = equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text

    status, parts = _parts(studio, lease_id)
    assert status == "requested" and parts == {"sag-aftra": "requested", "equity-uk": "approved"}
    assert LeasePart.objects.get(pk=part.pk).licensable_at_approval == 3

    home_approved = peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/")
    assert home_approved.status_code == 200 and home_approved.json()["status"] == "active"
    status, parts = _parts(studio, lease_id)
    assert status == "active" and parts == {"sag-aftra": "approved", "equity-uk": "approved"}

    # Revoking the whole lease at home ends the part at equity-uk too.
    revoked = peered["home_admin"].post(
        f"/api/v1/leases/{lease_id}/revoke/", {"reason": "production cancelled"}
    )
    assert revoked.status_code == 200
    assert equity_admin.get(f"/api/v1/leases/{theirs['id']}/").json()["status"] == "revoked"
    assert _parts(studio, lease_id) == ("revoked", {"sag-aftra": "revoked", "equity-uk": "revoked"})

    # A second request: equity-uk rejects its part, so the lease is rejected.
    studio, lease_id = _request(as_user, committed_world, peered, "Voice model, two unions")
    # Home approves first: the lease waits for equity-uk.
    assert (
        peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "awaiting_parts"
    )

    theirs = _their_lease(equity_admin, "Voice model, two unions")
    rejected = equity_admin.post(
        f"/api/v1/leases/{theirs['id']}/reject/", {"reason": "members not consulted"}
    )
    assert rejected.status_code == 200, rejected.text

    status, parts = _parts(studio, lease_id)
    assert status == "rejected" and parts == {"sag-aftra": "cancelled", "equity-uk": "rejected"}
    lease = Lease.objects.get(pk=lease_id)
    assert lease.decision_reason == "equity-uk rejected its part: members not consulted"
    assert (
        studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json").status_code == 409
    )


def _until(check, *, deadline: float):
    """Poll `check` until it is truthy or `deadline` (time.monotonic) passes; its last answer."""
    while True:
        answer = check()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(0.2)


def test_one_ft_token_pulls_from_both_trusts_offline_and_its_revocation_reaches_the_peer_within_5_s(
    peered, committed_world, as_user, equity_uk, equity_admin
):
    studio, lease_id = _request(as_user, committed_world, peered, "Stunt set, two unions")
    theirs = _their_lease(equity_admin, "Stunt set, two unions")
    assert equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/").status_code == 200
    assert peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "active"

    minted = studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json")
    assert minted.status_code == 201, minted.content
    token = minted.json()["token"]
    assert token.startswith("ft_")
    bearer = {"Authorization": f"Bearer {token}"}

    # One manifest at home over both trusts, each asset with its trust and that trust's gateway.
    manifest = requests.get(
        f"{peered['home'].url}/api/v1/leases/{lease_id}/manifest/", headers=bearer, timeout=60
    )
    assert manifest.status_code == 200, manifest.text
    body = manifest.json()
    by_trust = {}
    for asset in body["assets"]:
        by_trust.setdefault(asset["trust"], []).append(asset)
    assert len(by_trust["sag-aftra"]) == 2 and len(by_trust["equity-uk"]) == 3
    assert all(
        a["download_url"].startswith(equity_uk.url + f"/api/v1/leases/{theirs['id']}/")
        for a in by_trust["equity-uk"]
    )
    assert {p["trust"]: p["status"] for p in body["parts"]} == {
        "sag-aftra": "available",
        "equity-uk": "available",
    }

    # Downloads at both gateways with the one token.
    for trust in ("sag-aftra", "equity-uk"):
        got = requests.get(
            by_trust[trust][0]["download_url"], headers=bearer, timeout=60, allow_redirects=False
        )
        assert got.status_code == 302, (trust, got.text)

    # Offline: equity-uk can no longer reach sag-aftra at all, and still verifies the token.
    equity_uk.manage(
        "shell",
        "-c",
        "from federation.models import Peer; Peer.objects.filter(slug='sag-aftra').update(base_url='http://127.0.0.1:9')",
    )
    got = requests.get(
        by_trust["equity-uk"][1]["download_url"], headers=bearer, timeout=60, allow_redirects=False
    )
    assert got.status_code == 302, got.text

    # A token of the home trust's other lease (or one signed by a key equity-uk does not know) is refused.
    stranger = keys.SigningKey(Ed25519PrivateKey.generate())
    forged = biscuits.mint(
        biscuits.LeaseGrant(
            home="sag-aftra",
            lease=lease_id,
            parts=(("equity-uk", theirs["id"]),),
            studio="x",
            uses=("training",),
            expires_at=timezone.now() + timedelta(hours=1),
        ),
        key=stranger,
    )
    refused = requests.get(
        by_trust["equity-uk"][0]["download_url"],
        headers={"Authorization": f"Bearer {forged}"},
        timeout=60,
        allow_redirects=False,
    )
    assert refused.status_code == 401 and refused.json()["code"] == "token_unknown_key"

    # Revoked at home: equity-uk refuses it within FEDERATION.md's 5 s.
    assert studio.delete(f"/api/v1/leases/{lease_id}/tokens/{minted.json()['id']}/").status_code == 204
    deadline = time.monotonic() + 5

    def refused_at_peer():
        answer = requests.get(
            by_trust["equity-uk"][2]["download_url"], headers=bearer, timeout=5, allow_redirects=False
        )
        return answer.status_code == 401 and answer.json()["code"] == "token_revoked"

    assert _until(refused_at_peer, deadline=deadline)


def test_a_vendor_token_is_narrower_at_the_peer_names_its_vendor_there_and_is_revoked_there_within_5_s(
    peered, committed_world, as_user, equity_uk, equity_admin
):
    studio, lease_id = _request(as_user, committed_world, peered, "VFX hand-off, two unions")
    theirs = _their_lease(equity_admin, "VFX hand-off, two unions")
    assert equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/").status_code == 200
    assert peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "active"
    token = studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json").json()["token"]
    manifest_url = f"{peered['home'].url}/api/v1/leases/{lease_id}/manifest/"
    theirs_listed = [
        a
        for a in requests.get(manifest_url, headers={"Authorization": f"Bearer {token}"}, timeout=60).json()[
            "assets"
        ]
        if a["trust"] == "equity-uk"
    ]
    allowed, other = theirs_listed[0], theirs_listed[1]

    # Derived at home, naming one of equity-uk's assets as the manifest gives it.
    derived = studio.post(
        f"/api/v1/leases/{lease_id}/tokens/derive/",
        {"token": token, "vendor": "Pixel Forge VFX", "assets": [f"equity-uk:{allowed['id']}"]},
        format="json",
    )
    assert derived.status_code == 201, derived.content
    vendor = {"Authorization": f"Bearer {derived.json()['token']}"}
    listed = requests.get(manifest_url, headers=vendor, timeout=60).json()["assets"]
    assert [(a["trust"], a["id"]) for a in listed] == [("equity-uk", allowed["id"])]

    # equity-uk's gateway verifies it offline: its asset, and no other.
    got = requests.get(allowed["download_url"], headers=vendor, timeout=60, allow_redirects=False)
    assert got.status_code == 302, got.text
    refused = requests.get(other["download_url"], headers=vendor, timeout=60, allow_redirects=False)
    assert refused.status_code == 403 and refused.json()["code"] == "token_not_for_this"
    recorded = equity_uk.manage(
        "shell",
        "-c",
        "from licensing.models import UsageEvent; "
        f"events = UsageEvent.objects.filter(lease_id={theirs['id']}); "
        "print(sorted(set(events.values_list('vendor', flat=True))))",
    )
    assert recorded.strip().splitlines()[-1] == "['Pixel Forge VFX']"

    # Revoked at home: equity-uk refuses it within FEDERATION.md's 5 s; the parent still works there.
    revoked = studio.post(f"/api/v1/leases/{lease_id}/derived-tokens/{derived.json()['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    deadline = time.monotonic() + 5

    def refused_at_peer():
        answer = requests.get(allowed["download_url"], headers=vendor, timeout=5, allow_redirects=False)
        return answer.status_code == 401 and answer.json()["code"] == "token_revoked"

    assert _until(refused_at_peer, deadline=deadline)
    parent = {"Authorization": f"Bearer {token}"}
    assert (
        requests.get(allowed["download_url"], headers=parent, timeout=60, allow_redirects=False).status_code
        == 302
    )


def test_the_puller_pulls_a_federated_lease_from_both_trusts_gateways_with_one_token(
    peered, committed_world, as_user, equity_admin, tmp_path
):
    """`guildtrust` follows each manifest entry's own download_url: the home trust's assets
    from its gateway, the part's from equity-uk's, all verified; a second pull fetches nothing."""
    studio, lease_id = _request(as_user, committed_world, peered, "Puller, two unions")
    theirs = _their_lease(equity_admin, "Puller, two unions")
    assert equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/").status_code == 200
    assert peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "active"
    token = studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "puller"}, format="json").json()[
        "token"
    ]

    lease = guildtrust.open_lease(peered["home"].url, token, lease=lease_id)
    summary = lease.download(tmp_path / "pull", jobs=4)

    assert summary.exit_code == 0, summary.lines()
    assert summary.fetched == 5
    assert sorted(a["trust"] for a in lease.assets) == ["equity-uk"] * 3 + ["sag-aftra"] * 2
    again = guildtrust.open_lease(peered["home"].url, token, lease=lease_id).download(tmp_path / "pull")
    assert (again.skipped, again.fetched) == (5, 0)


# At equity-uk: equity-0 withdraws training (the notice on its part is relayed to sag-aftra);
# prints the withdrawn asset's id.
EQUITY_WITHDRAW = """
from trust import services as trust
from trust.models import Consent
grant = Consent.objects.get(member__user__username="equity-0", use="training", state="granted")
trust.consent_withdraw(actor=grant.member.user, consent=grant)
print(grant.member.contributions.get().asset_id)
"""
# At equity-uk: its notices on its part {lease} issued 31 days ago, then the deadline job (time
# moved, not slept); prints the leases it suspended.
EQUITY_OVERDUE = """
from datetime import timedelta
from django.db.models import F
from licensing import deadlines
from licensing.models import Takedown
month = timedelta(days=31)
Takedown.objects.filter(lease_id={lease}).update(
    issued_at=F("issued_at") - month,
    acknowledge_due_at=F("acknowledge_due_at") - month,
    attest_due_at=F("attest_due_at") - month,
)
print(deadlines.leases_suspend_overdue())
"""
EQUITY_REGRANT = """
from trust import services as trust
from trust.models import Member
member = Member.objects.get(user__username="equity-0")
if not member.consents.filter(use="training", state="granted").exists():
    trust.consent_grant(actor=member.user, member=member, use="training")
print("ok")
"""


def test_an_overdue_notice_at_the_peer_suspends_its_part_for_the_ft_token_until_the_studio_attests_at_home(
    peered, committed_world, as_user, equity_uk, equity_admin
):
    from licensing.models import Takedown

    studio, lease_id = _request(as_user, committed_world, peered, "Overdue takedown, two unions")
    theirs = _their_lease(equity_admin, "Overdue takedown, two unions")
    assert equity_admin.post(f"/api/v1/leases/{theirs['id']}/approve/").status_code == 200
    assert peered["home_admin"].post(f"/api/v1/leases/{lease_id}/approve/").json()["status"] == "active"
    token = studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json").json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    manifest = requests.get(
        f"{peered['home'].url}/api/v1/leases/{lease_id}/manifest/", headers=bearer, timeout=60
    )
    listed = manifest.json()["assets"]

    def download(asset):
        return requests.get(asset["download_url"], headers=bearer, timeout=60, allow_redirects=False)

    try:
        withdrawn = equity_uk.manage("shell", "-c", EQUITY_WITHDRAW).strip().splitlines()[-1]
        theirs_left = next(a for a in listed if a["trust"] == "equity-uk" and a["id"] != withdrawn)
        ours = next(a for a in listed if a["trust"] == "sag-aftra")
        relayed = Takedown.objects.get(lease_id=lease_id, peer__slug="equity-uk")  # relayed at once
        assert relayed.attest_due_at - relayed.issued_at == timedelta(days=30)

        suspended = equity_uk.manage("shell", "-c", EQUITY_OVERDUE.format(lease=theirs["id"]))
        assert suspended.strip().splitlines()[-1] == f"[{theirs['id']}]"
        refused = download(theirs_left)
        assert (refused.status_code, refused.json()["code"]) == (423, "tokens_suspended")
        assert download(ours).status_code == 302  # the home part keeps serving

        # The studio attests at home; the step reaches equity-uk, which lifts its suspension.
        notice = f"/api/v1/takedowns/{relayed.pk}"
        assert studio.post(f"{notice}/acknowledge/").status_code == 200
        attested = studio.post(f"{notice}/attest/", {"statement": "Deleted everywhere."}, format="json")
        assert attested.status_code == 200, attested.content
        assert _until(lambda: download(theirs_left).status_code == 302, deadline=time.monotonic() + 10)
    finally:
        equity_uk.manage("shell", "-c", EQUITY_REGRANT)
