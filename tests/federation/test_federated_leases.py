"""One lease over two live trusts over HTTP: this process is `sag-aftra` (the studio's home,
served by the live server) and `equity-uk` is a whole trust in its own process. Peering,
sharing, a studio's request with a part at each trust, each trust deciding its own part on its
own API: the lease is active only once both approved, and rejected when the peer rejects."""

import pytest
import requests

from federation import keys
from federation.models import Peer
from licensing import services
from licensing.models import Lease, LeasePart

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
    theirs = equity_admin.post(
        "/api/v1/federation/peers/", {"url": home.url, "fingerprint": keys.current_key().fingerprint}
    )
    assert theirs.status_code == 201 and theirs.json()["state"] == "live", theirs.text
    equity_terms = int(equity_uk.manage("shell", "-c", EQUITY_SEED).strip().splitlines()[-1])
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
    return {"home_terms": home_terms.pk, "equity_terms": equity_terms, "home_admin": home_admin}


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
