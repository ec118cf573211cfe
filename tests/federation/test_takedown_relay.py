"""Takedown notices across trusts (FEDERATION.md, Faults): a member of a part's trust withdraws
consent; that trust refuses the download at once, issues the notice on its part and relays it to
the lease's home trust, where the studio sees it on its lease, acknowledges and attests it; each
step goes back to the issuing trust. Both sides in this process, one trust at a time, with the
other trust's calls signed by a key this test holds and its answers stubbed."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from federation import biscuits, signed_calls
from licensing import federated
from licensing.models import InboundLeasePart, LeasePart, Takedown
from tests.federation.helpers import live_peer, signed_call, signing_key
from trust import services as trust

pytestmark = pytest.mark.django_db


def _withdraw_bobs_training(world):
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))


@pytest.fixture
def sent(monkeypatch):
    """Every signed call this trust makes, answered as the other trust would."""
    calls = []

    def other_trust(peer, method, path, payload=None, **kwargs):
        calls.append((peer.slug, method, path, payload))
        if path == federated.INBOUND_TAKEDOWNS:
            return {"id": 900 + len(calls), "status": "issued"}
        return {"id": payload.get("takedown"), "status": payload.get("status")}

    monkeypatch.setattr(signed_calls, "peer_call", other_trust)
    return calls


# --- At the part's trust (this trust is equity-uk; sag-aftra is the lease's home) ---------------


@pytest.fixture
def home_key():
    return signing_key()


@pytest.fixture
def part(world, settings, home_key):
    settings.TRUST_SLUG = "equity-uk"
    home = live_peer("sag-aftra", home_key)
    InboundLeasePart.objects.create(
        peer=home, home_lease_id=77, lease=world.lease_a, reported_status="approved"
    )
    return home


def test_a_withdrawal_here_refuses_the_ft_token_at_once_and_relays_the_notice_to_the_home_trust(
    world, part, home_key, sent, django_capture_on_commit_callbacks
):
    grant = biscuits.LeaseGrant(
        home="sag-aftra",
        lease=77,
        parts=(("sag-aftra", 77), ("equity-uk", world.lease_a.pk)),
        studio="sag-aftra:1",
        uses=("training",),
        expires_at=timezone.now() + timedelta(days=1),
    )
    token = biscuits.mint(grant, key=home_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    download = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.bob_asset.pk}/download/"
    assert client.get(download).status_code == 302

    with django_capture_on_commit_callbacks(execute=True):
        _withdraw_bobs_training(world)

    refused = client.get(download)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_licensable")
    notice = Takedown.objects.get(lease=world.lease_a, asset=world.bob_asset)
    # Only the notice on the peer's lease part travels; lease_b is a local lease of this trust.
    assert Takedown.objects.filter(lease=world.lease_b, asset=world.bob_asset).exists()
    assert sent == [
        (
            "sag-aftra",
            "POST",
            federated.INBOUND_TAKEDOWNS,
            {
                "home_lease_id": 77,
                "takedown": notice.pk,
                "asset": str(world.bob_asset.pk),
                "kind": world.bob_asset.kind,
                "issued_at": notice.issued_at.isoformat(),
                "acknowledge_due_at": notice.acknowledge_due_at.isoformat(),
                "attest_due_at": notice.attest_due_at.isoformat(),
            },
        )
    ]
    notice.refresh_from_db()
    assert notice.relayed_status == "issued" and notice.relayed_at is not None
    assert federated.pending_messages()["takedown"] == []


def test_a_notice_the_home_trust_did_not_take_is_sent_again_by_the_beat_job(world, part, monkeypatch):
    def down(peer, method, path, payload=None, **kwargs):
        raise signed_calls.BadGateway("sag-aftra did not answer", code="peer_unreachable")

    monkeypatch.setattr(signed_calls, "peer_call", down)
    _withdraw_bobs_training(world)  # on_commit never runs here: as if the queue had lost it
    notice = Takedown.objects.get(lease=world.lease_a, asset=world.bob_asset)
    assert federated.pending_messages()["takedown"] == [notice.pk]
    with pytest.raises(signed_calls.BadGateway):
        federated.takedown_relay(takedown_id=notice.pk)
    assert federated.pending_messages()["takedown"] == [notice.pk]


def test_the_studios_steps_at_home_close_the_notice_here_only_forward(world, part, home_key, sent):
    _withdraw_bobs_training(world)
    notice = Takedown.objects.get(lease=world.lease_a, asset=world.bob_asset)

    def status(body, key=home_key, issuer="sag-aftra"):
        return signed_call(
            "POST",
            "/api/v1/federation/inbound/takedowns/status/",
            body,
            key=key,
            issuer=issuer,
            audience="equity-uk",
        )

    acknowledged = status({"takedown": notice.pk, "status": "acknowledged"})
    assert acknowledged.status_code == 200, acknowledged.content
    attested = status(
        {"takedown": notice.pk, "status": "deletion_attested", "attestation": "Deleted, all copies."}
    )
    assert attested.json() == {"id": notice.pk, "status": "deletion_attested"}
    late = status({"takedown": notice.pk, "status": "acknowledged"})
    assert late.json()["status"] == "deletion_attested"
    notice.refresh_from_db()
    assert notice.attestation == "Deleted, all copies." and notice.relayed_status == "deletion_attested"
    assert sent == []  # nothing echoed back to the home trust

    # Another peer may not close a notice on sag-aftra's lease; nor anyone a local lease's notice.
    other_key = signing_key()
    live_peer("actra", other_key)
    local = Takedown.objects.get(lease=world.lease_b, asset=world.bob_asset)
    for takedown in (notice, local):
        refused = status({"takedown": takedown.pk, "status": "acknowledged"}, key=other_key, issuer="actra")
        assert (refused.status_code, refused.json()["code"]) == (404, "takedown_not_found")
    refused = status({"takedown": local.pk, "status": "acknowledged"})
    assert refused.status_code == 404
    assert Takedown.objects.get(pk=local.pk).status == "issued"


def test_a_status_call_without_a_peer_signature_is_refused(world, part):
    answer = APIClient().post(
        "/api/v1/federation/inbound/takedowns/status/",
        {"takedown": 1, "status": "acknowledged"},
        format="json",
    )
    assert answer.status_code == 401


# --- At the home trust (this trust is sag-aftra; equity-uk holds a part) ------------------------


@pytest.fixture
def equity_key():
    return signing_key()


@pytest.fixture
def federated_lease(world, settings, equity_key):
    settings.TRUST_SLUG = "sag-aftra"
    equity = live_peer("equity-uk", equity_key)
    equity.name = "Equity UK Performers Trust"
    equity.save(update_fields=["name"])
    LeasePart.objects.create(lease=world.lease_a, peer=None, status="approved")
    LeasePart.objects.create(
        lease=world.lease_a, peer=equity, status="approved", remote_lease_id=55, remote_terms_id=3
    )
    return equity


REMOTE_ASSET = "6f1b7a1e-9a55-4c3e-9d7a-1f6c1d1e2a3b"


def _relay(world, key, *, issuer="equity-uk", lease=None, takedown=41):
    body = {
        "home_lease_id": lease or world.lease_a.pk,
        "takedown": takedown,
        "asset": REMOTE_ASSET,
        "kind": "voice_recording",
        "issued_at": timezone.now().isoformat(),
    }
    return signed_call(
        "POST", "/api/v1/federation/inbound/takedowns/", body, key=key, issuer=issuer, audience="sag-aftra"
    )


def test_a_relayed_notice_is_on_the_studios_lease_once_with_its_trust_named(
    world, federated_lease, equity_key
):
    first = _relay(world, equity_key)
    assert first.status_code == 200, first.content
    again = _relay(world, equity_key)
    assert again.json() == first.json() == {"id": first.json()["id"], "status": "issued"}
    assert Takedown.objects.filter(peer=federated_lease).count() == 1

    studio = APIClient()
    studio.force_authenticate(world.cast.carol)
    rows = studio.get(f"/api/v1/leases/{world.lease_a.pk}/takedowns/").json()["results"]
    assert [(r["trust"], r["asset"], r["kind"], r["status"]) for r in rows] == [
        ("equity-uk", REMOTE_ASSET, "voice_recording", "issued")
    ]
    # The lease token sees it too; another studio does not.
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {world.secret_a}")
    assert len(bearer.get(f"/api/v1/leases/{world.lease_a.pk}/takedowns/").json()["results"]) == 1
    outsider = APIClient()
    outsider.force_authenticate(world.cast.dave)
    assert outsider.get(f"/api/v1/leases/{world.lease_a.pk}/takedowns/").status_code == 404

    page = APIClient()
    page.force_login(world.cast.carol)
    html = page.get(reverse("studio-lease", args=[world.lease_a.pk])).content.decode()
    assert REMOTE_ASSET in html and "Equity UK Performers Trust" in html and "Acknowledge" in html


def test_only_a_trust_holding_a_part_of_the_lease_may_relay_a_notice_to_it(
    world, federated_lease, equity_key
):
    other_key = signing_key()
    live_peer("actra", other_key)
    refused = _relay(world, other_key, issuer="actra")
    assert (refused.status_code, refused.json()["code"]) == (404, "part_not_found")
    refused = _relay(world, equity_key, lease=world.lease_b.pk)
    assert (refused.status_code, refused.json()["code"]) == (404, "part_not_found")
    forged = _relay(world, other_key)  # equity-uk's name, another key
    assert forged.status_code == 401
    assert not Takedown.objects.filter(peer__isnull=False).exists()


def test_the_studio_acknowledges_and_attests_at_home_and_each_step_goes_back_to_the_issuing_trust(
    world, federated_lease, equity_key, sent, django_capture_on_commit_callbacks
):
    notice_id = _relay(world, equity_key, takedown=41).json()["id"]
    studio = APIClient()
    studio.force_authenticate(world.cast.carol)
    with django_capture_on_commit_callbacks(execute=True):
        acknowledged = studio.post(f"/api/v1/takedowns/{notice_id}/acknowledge/")
    assert acknowledged.status_code == 200, acknowledged.content
    with django_capture_on_commit_callbacks(execute=True):
        attested = studio.post(
            f"/api/v1/takedowns/{notice_id}/attest/", {"statement": "Deleted from the farm."}, format="json"
        )
    assert attested.status_code == 200, attested.content
    assert [(slug, path, body["takedown"], body["status"]) for slug, _, path, body in sent] == [
        ("equity-uk", federated.INBOUND_TAKEDOWN_STATUS, 41, "acknowledged"),
        ("equity-uk", federated.INBOUND_TAKEDOWN_STATUS, 41, "deletion_attested"),
    ]
    assert sent[-1][3]["attestation"] == "Deleted from the farm."
    assert Takedown.objects.get(pk=notice_id).relayed_status == "deletion_attested"
    assert federated.pending_messages()["takedown"] == []


def test_a_step_the_issuing_trust_did_not_take_waits_for_the_beat_job(world, federated_lease, equity_key):
    notice_id = _relay(world, equity_key).json()["id"]
    studio = APIClient()
    studio.force_authenticate(world.cast.carol)
    assert studio.post(f"/api/v1/takedowns/{notice_id}/acknowledge/").status_code == 200
    assert federated.pending_messages()["takedown"] == [notice_id]
