"""Peering between two live trusts over HTTP: a double opt-in checked against fingerprints,
suspension that both sides see, and the refusals of a wrong add."""

import pytest
import requests

from federation.models import Peer
from tests import factories
from tests.servers import free_port
from trust import keys

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def home(settings, live_server):
    """This process is `sag-aftra`, served by the live server so the peer can call back."""
    settings.TRUST_SLUG = "sag-aftra"
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.fixture
def home_admin(as_user):
    return as_user(factories.AdminFactory(username="home-admin"))


def _state(peer: dict | None) -> str | None:
    return peer and peer["state"]


def test_peering_is_a_double_opt_in_and_suspension_reaches_both(home, home_admin, equity_uk, equity_admin):
    published = requests.get(f"{equity_uk.url}/.well-known/guildtrust.json", timeout=60).json()
    assert published["slug"] == "equity-uk" and published["currency"] == "GBP"
    equity_fingerprint = keys.fingerprint_of(published["public_keys"][0]["key"])

    # A fingerprint read out wrong: nothing is kept.
    wrong = home_admin.post(
        "/api/v1/federation/peers/", {"url": equity_uk.url, "fingerprint": "ab" * 32}, format="json"
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "fingerprint_mismatch"
    assert not Peer.objects.exists()

    added = home_admin.post(
        "/api/v1/federation/peers/", {"url": equity_uk.url, "fingerprint": equity_fingerprint}, format="json"
    )
    assert added.status_code == 201, added.content
    assert added.json()["state"] == "waiting"
    # Our hello reached them: they see us asking, not yet trusted by their administrator.
    assert _state(equity_admin.peer("sag-aftra")) == "asking"
    assert equity_admin.peer("sag-aftra")["fingerprint"] == ""

    again = home_admin.post(
        "/api/v1/federation/peers/", {"url": equity_uk.url, "fingerprint": equity_fingerprint}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "peer_exists"

    # Their half: live on both sides at once.
    home_fingerprint = keys.current_key().fingerprint
    theirs = equity_admin.post(
        "/api/v1/federation/peers/", {"url": home.url, "fingerprint": home_fingerprint}
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["state"] == "live"
    peer = Peer.objects.get(slug="equity-uk")
    assert peer.state == Peer.State.LIVE

    suspended = home_admin.post(f"/api/v1/federation/peers/{peer.pk}/suspend/")
    assert suspended.status_code == 200 and suspended.json()["state"] == "suspended_by_us"
    assert _state(equity_admin.peer("sag-aftra")) == "suspended_by_them"

    resumed = home_admin.post(f"/api/v1/federation/peers/{peer.pk}/resume/")
    assert resumed.json()["state"] == "live"
    assert _state(equity_admin.peer("sag-aftra")) == "live"

    theirs_id = equity_admin.peer("sag-aftra")["id"]
    assert equity_admin.post(f"/api/v1/federation/peers/{theirs_id}/suspend/").status_code == 200
    peer.refresh_from_db()
    assert peer.state == Peer.State.SUSPENDED_BY_THEM


def test_adding_an_unreachable_url_or_ourselves_is_refused(home, home_admin):
    nowhere = home_admin.post(
        "/api/v1/federation/peers/",
        {"url": f"http://127.0.0.1:{free_port()}", "fingerprint": "ab" * 32},
        format="json",
    )
    assert nowhere.status_code == 502 and nowhere.json()["code"] == "peer_unreachable"
    ourselves = home_admin.post(
        "/api/v1/federation/peers/",
        {"url": home.url, "fingerprint": keys.current_key().fingerprint},
        format="json",
    )
    assert ourselves.status_code == 409 and ourselves.json()["code"] == "peer_is_self"
    assert not Peer.objects.exists()
