"""Federated leases in one process: a studio's request over parts at several trusts, refused
unless every part is this trust or a live peer's fresh shared offer in one currency; the parts'
decisions signed by their own trusts; and this trust as the part's trust, recording a peer's
forwarded part for its own administrators."""

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from federation.models import Peer
from licensing import federated, services
from licensing.models import InboundLeasePart, Lease, LeasePart, PeerOffer, Studio
from trust import keys

pytestmark = pytest.mark.django_db

HOME = "sag-aftra"


@pytest.fixture(autouse=True)
def _home(settings):
    settings.TRUST_SLUG = HOME


def _peer(slug: str, *, live: bool = True) -> tuple[Peer, keys.SigningKey]:
    key = keys.SigningKey(Ed25519PrivateKey.generate())
    now = timezone.now()
    peer = Peer.objects.create(
        slug=slug,
        name=f"{slug} trust",
        currency="USD",
        # Nothing listens on port 9: messages to this peer wait for the beat job.
        base_url=f"http://127.0.0.1:9/{slug}",
        api_url=f"http://127.0.0.1:9/{slug}/api/v1/",
        public_keys=[{"kid": key.kid, "alg": "Ed25519", "key": key.public_hex}],
        fingerprint=key.fingerprint,
        keys_fetched_at=now,
        added_by_us_at=now,
        added_by_them_at=now if live else None,
    )
    return peer, key


def _offer(peer: Peer, terms_id: int, *, currency: str = "USD", fetched_at=None) -> PeerOffer:
    offer = {"trust": peer.slug, "terms": terms_id, "title": f"{peer.slug} crowd", "currency": currency}
    return PeerOffer.objects.create(
        peer=peer,
        terms_id=terms_id,
        title=offer["title"],
        currency=currency,
        offer=offer,
        fetched_at=fetched_at or timezone.now(),
    )


def _signed_post(path: str, payload: dict, *, key: keys.SigningKey, issuer: str):
    body = json.dumps(payload).encode()
    token = signed_calls.call_token(
        audience=HOME, method="POST", path=path, body=body, key=key, issuer=issuer
    )
    return APIClient().post(
        path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Peer {token}"
    )


def _request(client, world, *parts, purpose="Crowd scene, two unions"):
    return client.post(
        "/api/v1/leases/",
        {"purpose": purpose, "parts": [{"trust": HOME, "terms": world.terms.pk}, *parts]},
        format="json",
    )


def test_a_federated_request_is_refused_unless_every_part_is_a_live_peers_fresh_offer_in_one_currency(
    world, as_user, settings
):
    equity, _ = _peer("equity-uk")
    _offer(equity, 7)
    _offer(equity, 8, currency="GBP")
    stale_at = timezone.now() - timedelta(seconds=settings.FEDERATION_OFFERS_STALE_SECONDS + 1)
    _offer(equity, 9, fetched_at=stale_at)
    asking, _ = _peer("actra", live=False)
    _offer(asking, 7)
    studio = as_user(world.cast.carol)
    before = Lease.objects.count()

    refusals = {
        "unknown_trust": _request(studio, world, {"trust": "nobody", "terms": 7}),
        "peer_not_live": _request(studio, world, {"trust": "actra", "terms": 7}),
        "offer_not_shared": _request(studio, world, {"trust": "equity-uk", "terms": 70}),
        "offer_stale": _request(studio, world, {"trust": "equity-uk", "terms": 9}),
        "mixed_currency": _request(studio, world, {"trust": "equity-uk", "terms": 8}),
        "duplicate_trust": _request(
            studio, world, {"trust": "equity-uk", "terms": 7}, {"trust": "equity-uk", "terms": 7}
        ),
        "home_part_required": studio.post(
            "/api/v1/leases/", {"purpose": "x", "parts": [{"trust": "equity-uk", "terms": 7}]}, format="json"
        ),
    }
    for code, answer in refusals.items():
        assert (answer.status_code, answer.json()["code"]) == (422, code), answer.content
    both = studio.post(
        "/api/v1/leases/", {"purpose": "x", "terms": world.terms.pk, "parts": []}, format="json"
    )
    assert (both.status_code, both.json()["code"]) == (422, "terms_or_parts")
    neither = studio.post("/api/v1/leases/", {"purpose": "x", "extra": 1}, format="json")
    assert (neither.status_code, neither.json()["code"]) == (422, "terms_or_parts")
    assert Lease.objects.count() == before and not LeasePart.objects.exists()

    # A suspension after the offer was fetched: refused too.
    Peer.objects.filter(pk=equity.pk).update(suspended_by_them_at=timezone.now())
    suspended = _request(studio, world, {"trust": "equity-uk", "terms": 7})
    assert suspended.status_code == 422 and suspended.json()["code"] == "peer_not_live"


def test_the_studio_sees_each_part_and_the_lease_is_active_only_once_every_part_is_approved(
    world, as_user, client
):
    equity, equity_key = _peer("equity-uk")
    _offer(equity, 7)
    studio = as_user(world.cast.carol)
    made = _request(studio, world, {"trust": "equity-uk", "terms": 7})
    assert made.status_code == 201, made.content
    lease_id = made.json()["id"]
    assert [(p["trust"], p["status"]) for p in made.json()["parts"]] == [
        (HOME, "requested"),
        ("equity-uk", "requested"),
    ]
    # The peer did not answer: the part waits for the beat job, nothing is lost.
    assert federated.pending_messages()["forward"] == [LeasePart.objects.get(peer=equity).pk]

    admin = as_user(world.cast.admin)
    approved_here = admin.post(f"/api/v1/leases/{lease_id}/approve/")
    assert approved_here.status_code == 200 and approved_here.json()["status"] == "awaiting_parts"
    assert admin.post(f"/api/v1/leases/{lease_id}/approve/").status_code == 409
    client.force_login(world.cast.admin)
    listed = client.get("/operations/leases/").content.decode()
    assert "Approved here, awaiting other trusts" in listed and f'id="awaiting-{lease_id}"' in listed
    # No token while a part waits.
    assert (
        studio.post(f"/api/v1/leases/{lease_id}/tokens/", {"name": "farm"}, format="json").status_code == 409
    )

    decision = {
        "home_lease_id": lease_id,
        "lease": 41,
        "status": "approved",
        "licensable": 12,
        "starts_at": timezone.now().isoformat(),
        "ends_at": (timezone.now() + timedelta(days=30)).isoformat(),
        "reason": "",
    }
    path = "/api/v1/federation/inbound/part-decisions/"
    answer = _signed_post(path, decision, key=equity_key, issuer="equity-uk")
    assert answer.status_code == 200, answer.content
    shown = studio.get(f"/api/v1/leases/{lease_id}/").json()
    assert shown["status"] == "active"
    assert {p["trust"]: (p["status"], p["licensable_at_approval"]) for p in shown["parts"]} == {
        HOME: ("approved", 2),
        "equity-uk": ("approved", 12),
    }
    # The same message again, or a late "requested": nothing changes.
    assert _signed_post(path, decision, key=equity_key, issuer="equity-uk").status_code == 200
    assert (
        _signed_post(path, {**decision, "status": "requested"}, key=equity_key, issuer="equity-uk").json()[
            "status"
        ]
        == "approved"
    )

    # The part's own trust revokes it: that part ends, the lease stays active.
    revoked = _signed_post(
        path, {**decision, "status": "revoked", "reason": "member"}, key=equity_key, issuer="equity-uk"
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert Lease.objects.get(pk=lease_id).status == Lease.Status.ACTIVE

    client.force_login(world.cast.carol)
    text = client.get(f"/studio/leases/{lease_id}/").content.decode()
    assert "Parts of this lease" in text and "equity-uk trust" in text and "Revoked" in text


def test_a_part_decision_from_a_trust_that_does_not_hold_the_part_is_refused(world, as_user):
    equity, equity_key = _peer("equity-uk")
    _, actra_key = _peer("actra")
    _offer(equity, 7)
    lease_id = _request(as_user(world.cast.carol), world, {"trust": "equity-uk", "terms": 7}).json()["id"]
    path = "/api/v1/federation/inbound/part-decisions/"
    decision = {"home_lease_id": lease_id, "lease": 5, "status": "rejected", "reason": "no"}

    assert _signed_post(path, decision, key=actra_key, issuer="actra").json()["code"] == "part_not_found"
    # Signed with another trust's key under equity's name, or not signed at all.
    assert _signed_post(path, decision, key=actra_key, issuer="equity-uk").status_code == 401
    assert APIClient().post(path, decision, format="json").status_code == 401
    local = _signed_post(
        path, {**decision, "home_lease_id": world.lease_a.pk}, key=equity_key, issuer="equity-uk"
    )
    assert local.status_code == 404
    assert Lease.objects.get(pk=lease_id).status == Lease.Status.REQUESTED

    # equity-uk itself rejects: the whole lease is rejected, our own part with it.
    rejected = _signed_post(path, decision, key=equity_key, issuer="equity-uk")
    assert rejected.status_code == 200
    lease = Lease.objects.get(pk=lease_id)
    assert (
        lease.status == Lease.Status.REJECTED and "equity-uk rejected its part: no" in lease.decision_reason
    )
    assert LeasePart.objects.get(lease=lease, peer=None).status == LeasePart.Status.CANCELLED
    assert as_user(world.cast.admin).post(f"/api/v1/leases/{lease_id}/approve/").status_code == 409


def test_the_lease_status_follows_its_parts():
    S, P = Lease.Status, LeasePart.Status
    assert federated.lease_status_from_parts(S.REQUESTED, [P.REQUESTED, P.APPROVED]) == S.REQUESTED
    assert federated.lease_status_from_parts(S.ACTIVE, [P.APPROVED, P.REQUESTED]) == S.AWAITING_PARTS
    assert federated.lease_status_from_parts(S.AWAITING_PARTS, [P.APPROVED, P.APPROVED]) == S.ACTIVE
    assert federated.lease_status_from_parts(S.AWAITING_PARTS, [P.APPROVED, P.REJECTED]) == S.REJECTED
    assert federated.lease_status_from_parts(S.ACTIVE, [P.APPROVED, P.EXPIRED]) == S.ACTIVE
    assert federated.lease_status_from_parts(S.REVOKED, [P.REVOKED, P.APPROVED]) == S.REVOKED


def test_a_forwarded_part_is_a_request_here_for_the_peers_studio_once(world, as_user, client):
    equity, equity_key = _peer("equity-uk")
    services.terms_share(actor=world.cast.admin, terms=world.terms, peers=[equity])
    path = "/api/v1/federation/inbound/lease-parts/"
    part = {
        "home_lease_id": 501,
        "terms": world.terms.pk,
        "purpose": "Crowd scene, two unions",
        "studio": {"id": 3, "name": "Pinewood Pictures"},
    }
    first = _signed_post(path, part, key=equity_key, issuer="equity-uk")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "requested"
    again = _signed_post(path, part, key=equity_key, issuer="equity-uk")
    assert again.json()["lease"] == first.json()["lease"]
    lease = Lease.objects.select_related("studio").get(pk=first.json()["lease"])
    assert lease.status == Lease.Status.REQUESTED
    assert (
        lease.studio.home_peer == equity
        and str(lease.studio) == "Pinewood Pictures (studio of equity-uk trust)"
    )
    assert Studio.objects.filter(home_peer=equity).count() == 1

    not_shared = _signed_post(
        path, {**part, "home_lease_id": 502, "terms": 999}, key=equity_key, issuer="equity-uk"
    )
    assert not_shared.status_code == 422 and not_shared.json()["code"] == "terms_not_shared"

    # Beside local requests on the administrators' page, labelled with its trust.
    client.force_login(world.cast.admin)
    text = client.get("/operations/leases/").content.decode()
    assert "Federated request from <strong>equity-uk trust</strong>" in text
    shown = as_user(world.cast.admin).get(f"/api/v1/leases/{lease.pk}/").json()
    assert shown["federated_from"] == "equity-uk"

    # Approved with the trust's own service; the report to the home trust waits while it is down.
    approved = as_user(world.cast.admin).post(f"/api/v1/leases/{lease.pk}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert InboundLeasePart.objects.get(lease=lease).reported_status == "requested"
    assert federated.pending_messages()["report"] == [lease.pk]

    # The home trust ends its lease: the part here is revoked.
    ended = _signed_post(
        "/api/v1/federation/inbound/lease-parts/end/",
        {"home_lease_id": 501, "reason": "rejected at equity-uk"},
        key=equity_key,
        issuer="equity-uk",
    )
    assert ended.status_code == 200 and ended.json()["status"] == "revoked"
    assert Lease.objects.get(pk=lease.pk).status == Lease.Status.REVOKED


def test_the_request_page_adds_one_offer_per_peer_trust_to_the_request(world, client):
    equity, _ = _peer("equity-uk")
    _offer(equity, 7)
    _offer(equity, 8, currency="GBP")  # another currency: not offered beside USD terms
    client.force_login(world.cast.carol)
    path = f"/studio/catalogue/{world.terms.pk}/request/"
    page = client.get(path).content.decode()
    assert "Add parts at peer trusts" in page and "<legend>From equity-uk trust</legend>" in page
    assert 'value="7"' in page and 'value="8"' not in page

    sent = client.post(path, {"purpose": "Crowd scene, two unions", "parts-equity-uk": "7"})
    assert sent.status_code == 302
    lease = Lease.objects.get(purpose="Crowd scene, two unions")
    assert sorted((part.peer.slug if part.peer else HOME) for part in lease.parts.all()) == [
        "equity-uk",
        HOME,
    ]
    local = client.post(path, {"purpose": "Only here", "parts-equity-uk": ""})
    assert local.status_code == 302 and not Lease.objects.get(purpose="Only here").parts.exists()
