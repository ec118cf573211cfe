"""The peers API and page belong to administrators: every other caller is refused and nothing
changes; a bad add answers a clear 4xx and keeps nothing."""

import pytest
from django.utils import timezone

from federation.models import Peer
from tests.conftest import bearer_client
from trust import keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer():
    now = timezone.now()
    return Peer.objects.create(
        slug="equity-uk",
        name="Equity UK",
        currency="GBP",
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        fingerprint="ab" * 32,
        added_by_us_at=now,
        added_by_them_at=now,
    )


def _callers(cast, as_user, anon, world):
    return {
        "anonymous": (anon, 401),
        "member": (as_user(cast.alice), 403),
        "studio": (as_user(cast.carol), 403),
        "no role": (as_user(cast.outsider), 403),
        "lease token": (bearer_client(world.secret_a), 403),
    }


def test_only_administrators_list_add_suspend_or_resume_peers(cast, world, as_user, anon, peer):
    for who, (client, status) in _callers(cast, as_user, anon, world).items():
        for method, path, body in [
            ("get", "/api/v1/federation/peers/", None),
            ("post", "/api/v1/federation/peers/", {"url": "http://127.0.0.1:9", "fingerprint": "ab" * 32}),
            ("post", f"/api/v1/federation/peers/{peer.pk}/suspend/", None),
            ("post", f"/api/v1/federation/peers/{peer.pk}/resume/", None),
        ]:
            response = getattr(client, method)(path, body, format="json")
            assert response.status_code == status, (who, path, response.content)
    peer.refresh_from_db()
    assert peer.suspended_by_us_at is None
    assert Peer.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "not a url", "fingerprint": "ab" * 32}, 400, "invalid"),
        ({"url": "http://127.0.0.1:9"}, 400, "invalid"),
        ({"url": "http://127.0.0.1:9", "fingerprint": "xyz"}, 422, "invalid_fingerprint"),
    ],
)
def test_a_bad_add_is_a_clear_error(cast, as_user, body, status, code):
    response = as_user(cast.admin).post("/api/v1/federation/peers/", body, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not Peer.objects.exists()


def test_suspending_an_unknown_peer_is_a_404(cast, as_user):
    response = as_user(cast.admin).post("/api/v1/federation/peers/999999/suspend/")
    assert response.status_code == 404 and response.json()["code"] == "peer_not_found"


def test_the_well_known_document_is_public_and_names_every_live_key(client, settings):
    response = client.get("/.well-known/guildtrust.json")
    assert response.status_code == 200
    document = response.json()
    assert document["slug"] == settings.TRUST_SLUG
    assert document["api"].endswith("/api/v1/")
    assert document["public_keys"] == [
        {"kid": key.kid, "alg": "Ed25519", "key": key.public_hex} for key in keys.signing_keys()
    ]


def test_the_federation_page_is_for_administrators(client, cast, peer):
    client.force_login(cast.alice.user)
    assert client.get("/operations/federation/").status_code == 403
    client.force_login(cast.admin)
    page = client.get("/operations/federation/")
    assert page.status_code == 200
    text = page.content.decode()
    assert keys.current_key().fingerprint in text
    assert "Equity UK" in text and "Live" in text


def test_adding_from_the_page_with_a_bad_fingerprint_says_why(client, cast):
    client.force_login(cast.admin)
    page = client.post(
        "/operations/federation/", {"url": "http://127.0.0.1:9", "fingerprint": "nope"}, follow=True
    )
    assert "64 hex characters" in page.content.decode()
    assert not Peer.objects.exists()
