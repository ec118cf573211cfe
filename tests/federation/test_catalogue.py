"""Federated offers: administrators share terms with chosen peers, a peer answers only what it
shares with the caller, and a studio's catalogue shows local and live peers' offers together,
each with its trust, a stale one labelled as such."""

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from federation.models import Peer
from licensing import services
from licensing.models import LeaseTerms, PeerCatalogue, PeerOffer
from tests.conftest import bearer_client
from trust import keys

pytestmark = pytest.mark.django_db


def _peer(slug: str, key: keys.SigningKey | None = None, **times) -> Peer:
    now = timezone.now()
    times = times or {"added_by_us_at": now, "added_by_them_at": now}
    published = [{"kid": key.kid, "alg": "Ed25519", "key": key.public_hex}] if key else []
    return Peer.objects.create(
        slug=slug,
        name=f"{slug} trust",
        currency="GBP",
        base_url=f"http://127.0.0.1:9/{slug}",
        api_url=f"http://127.0.0.1:9/{slug}/api/v1/",
        public_keys=published,
        fingerprint=key.fingerprint if key else "ab" * 32,
        keys_fetched_at=now,
        **times,
    )


def _offer_of(peer: Peer, terms_id: int, title: str, *, fetched_at=None) -> PeerOffer:
    offer = {
        "trust": peer.slug,
        "terms": terms_id,
        "id": terms_id,
        "title": title,
        "permitted_uses": ["training"],
        "duration_days": 30,
        "flat_fee_cents": 100_000,
        "price_per_download_cents": 5,
        "price_per_training_run_cents": 0,
        "price_per_generated_second_cents": 0,
        "download_cap": None,
        "currency": "GBP",
        "active": True,
        "created_at": "2026-11-01T00:00:00+00:00",
        "dataset": {
            "id": 1,
            "slug": "crowd",
            "title": "Crowd",
            "latest_version": 2,
            "asset_count": 40,
            "kinds": {},
        },
        "coverage": {"version": 2, "total": 40, "licensable": 31, "per_use": {"training": 31}},
    }
    return PeerOffer.objects.create(
        peer=peer,
        terms_id=terms_id,
        title=title,
        currency="GBP",
        offer=offer,
        fetched_at=fetched_at or timezone.now(),
    )


def test_sharing_terms_names_only_peers_we_added(world, as_user):
    cast = world.cast
    equity = _peer("equity-uk")
    asking = _peer("actra", added_by_them_at=timezone.now())
    admin = as_user(cast.admin)
    path = f"/api/v1/terms/{world.terms.pk}/shared-with/"

    shared = admin.put(path, {"peers": ["equity-uk"]}, format="json")
    assert shared.status_code == 200 and shared.json()["shared_with"] == ["equity-uk"]

    refused = admin.put(path, {"peers": ["equity-uk", "actra"]}, format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "peer_not_added"
    unknown = admin.put(path, {"peers": ["nobody"]}, format="json")
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_peer"
    assert list(world.terms.shared_with.all()) == [equity]
    assert asking not in world.terms.shared_with.all()

    for client in (as_user(cast.carol), as_user(cast.alice), bearer_client(world.secret_a), APIClient()):
        assert client.put(path, {"peers": []}, format="json").status_code in (401, 403)
    assert list(world.terms.shared_with.all()) == [equity]


def _signed_get(path: str, *, key: keys.SigningKey, issuer: str):
    token = signed_calls.call_token(
        audience="sag-aftra", method="GET", path=path, body=b"", key=key, issuer=issuer
    )
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Peer {token}")


def test_a_peer_is_answered_only_the_offers_shared_with_it(world, settings):
    settings.TRUST_SLUG = "sag-aftra"
    equity_key = keys.SigningKey(Ed25519PrivateKey.generate())
    actra_key = keys.SigningKey(Ed25519PrivateKey.generate())
    equity = _peer("equity-uk", equity_key)
    _peer("actra", actra_key)
    other = LeaseTerms.objects.create(
        dataset=world.dataset,
        title="Not shared",
        permitted_uses=["training"],
        duration_days=9,
        currency="USD",
    )
    withdrawn = LeaseTerms.objects.create(
        dataset=world.dataset, title="Withdrawn", permitted_uses=["training"], duration_days=9, currency="USD"
    )
    services.terms_share(actor=world.cast.admin, terms=world.terms, peers=[equity])
    services.terms_share(actor=world.cast.admin, terms=withdrawn, peers=[equity])
    services.terms_set_active(actor=world.cast.admin, terms=withdrawn, active=False)

    path = "/api/v1/federation/inbound/offers/"
    answer = _signed_get(path, key=equity_key, issuer="equity-uk")
    assert answer.status_code == 200, answer.content
    offers = answer.json()["offers"]
    assert [offer["terms"] for offer in offers] == [world.terms.pk]
    assert offers[0]["trust"] == "sag-aftra"
    assert offers[0]["coverage"]["total"] == 2 and offers[0]["coverage"]["licensable"] == 2
    assert other.pk not in {offer["terms"] for offer in offers}

    assert _signed_get(path, key=actra_key, issuer="actra").json()["offers"] == []
    assert APIClient().get(path).status_code == 401
    Peer.objects.filter(slug="equity-uk").update(suspended_by_them_at=timezone.now())
    assert _signed_get(path, key=equity_key, issuer="equity-uk").status_code == 403


def test_the_catalogue_lists_local_and_live_peer_offers_with_their_trust(world, as_user, settings):
    settings.TRUST_SLUG = "sag-aftra"
    equity = _peer("equity-uk")
    suspended = _peer(
        "actra",
        added_by_us_at=timezone.now(),
        added_by_them_at=timezone.now(),
        suspended_by_us_at=timezone.now(),
    )
    _offer_of(equity, 7, "Equity crowd, 30 days")
    _offer_of(suspended, 8, "Hidden while suspended")
    old = timezone.now() - timedelta(seconds=settings.FEDERATION_OFFERS_STALE_SECONDS + 1)
    _offer_of(equity, 9, "Equity voices, fetched long ago", fetched_at=old)

    rows = as_user(world.cast.carol).get("/api/v1/catalog/").json()["results"]
    by_title = {row["title"]: row for row in rows}
    assert by_title[world.terms.title]["trust"] == "sag-aftra" and not by_title[world.terms.title]["stale"]
    assert by_title["Equity crowd, 30 days"]["trust"] == "equity-uk"
    assert by_title["Equity crowd, 30 days"]["currency"] == "GBP"
    assert by_title["Equity crowd, 30 days"]["stale"] is False
    assert by_title["Equity voices, fetched long ago"]["stale"] is True
    assert "Hidden while suspended" not in by_title

    # The last fetch failed: every offer of that peer is labelled stale, none dropped silently.
    PeerCatalogue.objects.create(peer=equity, attempted_at=timezone.now(), error="peer did not answer")
    rows = as_user(world.cast.carol).get("/api/v1/catalog/").json()["results"]
    assert {row["title"]: row["stale"] for row in rows if row["trust"] == "equity-uk"} == {
        "Equity crowd, 30 days": True,
        "Equity voices, fetched long ago": True,
    }


def test_the_studio_catalogue_page_shows_peer_offers_with_their_trust(world, client, settings):
    settings.TRUST_SLUG = "sag-aftra"
    equity = _peer("equity-uk")
    _offer_of(equity, 7, "Equity crowd, 30 days")
    old = timezone.now() - timedelta(seconds=settings.FEDERATION_OFFERS_STALE_SECONDS + 1)
    _offer_of(equity, 9, "Equity voices", fetched_at=old)
    client.force_login(world.cast.carol)
    text = client.get("/studio/").content.decode()
    assert "Offers of peer trusts" in text
    assert "Offered by <strong>equity-uk trust</strong>" in text
    assert "1,000.00 GBP" in text
    assert text.count("Stale: last fetched") == 1
    filtered = client.get("/studio/?q=voices").content.decode()
    assert "Equity voices" in filtered and "Equity crowd" not in filtered


def test_a_fetch_that_fails_keeps_the_offers_and_records_why(world, settings):
    from trust.errors import BadGateway

    equity = _peer("equity-uk")
    _offer_of(equity, 7, "Equity crowd, 30 days")
    with pytest.raises(BadGateway):
        services.peer_offers_refresh(peer=equity)  # nothing listens on 127.0.0.1:9
    assert PeerOffer.objects.filter(peer=equity).count() == 1
    assert PeerCatalogue.objects.get(peer=equity).error
    json.dumps(PeerOffer.objects.get().offer)  # what we keep is plain JSON
