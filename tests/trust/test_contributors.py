"""A member may name other members as contributors of an asset they register; each one named
must accept before the asset counts for them, and until all have, it is not licensable."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import services as licensing
from payouts import services as payouts
from payouts.models import MemberEarning
from tests.factories import grant_all
from trust import selectors, services
from trust.models import AssetContributor, AuditEvent

pytestmark = pytest.mark.django_db

DATA = b"a duet, take 3"


def _register(client, cast, shares=(("alice", "0.5"), ("bob", "0.5"))):
    """Alice registers an asset over the API naming `shares`, uploads and verifies it."""
    body = {
        "kind": "voice_recording",
        "title": "Duet take 3",
        "content_type": "audio/wav",
        "size": len(DATA),
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "contributors": [{"member": getattr(cast, who).pk, "share": share} for who, share in shares],
    }
    response = client.post("/api/v1/assets/", body, format="json")
    assert response.status_code == 201, response.content
    asset = selectors.Asset.objects.get(pk=response.json()["id"])
    services.asset_upload_bytes(actor=cast.alice.user, asset=asset, data=DATA)
    services.asset_verify(asset_id=asset.pk)
    asset.refresh_from_db()
    return asset, response.json()


def _licensable(asset) -> bool:
    return selectors.is_licensable(asset=asset, uses=["training"], at=timezone.now())


def _bobs_request(asset) -> AssetContributor:
    return AssetContributor.objects.get(asset=asset, member__user__username="bob")


@pytest.fixture
def consenting(cast):
    grant_all(cast.alice, "training")
    grant_all(cast.bob, "training")
    return cast


def test_the_registrant_has_accepted_and_the_member_named_waits(consenting, as_user):
    asset, created = _register(as_user(consenting.alice), consenting)
    assert {c["member_number"]: c["status"] for c in created["contributors"]} == {
        consenting.alice.member_number: "accepted",
        consenting.bob.member_number: "pending",
    }
    assert asset.status == asset.Status.AVAILABLE


def test_an_asset_is_not_licensable_until_every_named_contributor_accepts(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    # Bob's blanket grants would cover it, but he has not agreed it is his.
    assert not _licensable(asset)
    response = as_user(consenting.bob).post(f"/api/v1/contributions/{_bobs_request(asset).pk}/accept/")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert _licensable(asset)


def test_a_declined_share_keeps_the_asset_unlicensable_and_cannot_be_answered_again(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    bob = as_user(consenting.bob)
    url = f"/api/v1/contributions/{_bobs_request(asset).pk}"
    assert bob.post(f"{url}/decline/").json()["status"] == "declined"
    assert not _licensable(asset)
    again = bob.post(f"{url}/accept/")
    assert again.status_code == 409 and again.json()["code"] == "contribution_already_decided"
    assert _bobs_request(asset).status == AssetContributor.Status.DECLINED
    assert not _licensable(asset)


def test_only_the_member_named_may_answer(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    url = f"/api/v1/contributions/{_bobs_request(asset).pk}/accept/"
    for who in (consenting.alice, consenting.admin):
        refused = as_user(who).post(url)
        assert refused.status_code in (403, 404)
    assert as_user(consenting.alice).post(url).json()["code"] == "contribution_not_found"
    assert _bobs_request(asset).status == AssetContributor.Status.PENDING


def test_the_member_named_sees_the_request_through_the_api(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    listed = as_user(consenting.bob).get("/api/v1/contributions/?status=pending").json()
    assert [(r["asset"]["id"], r["share"], r["named_by"]) for r in listed["results"]] == [
        (str(asset.pk), "0.500000", consenting.alice.member_number)
    ]
    assert as_user(consenting.alice).get("/api/v1/contributions/?status=pending").json()["count"] == 0
    bad = as_user(consenting.bob).get("/api/v1/contributions/?status=maybe")
    assert bad.status_code == 400


def test_until_accepted_the_asset_does_not_count_as_the_named_members(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    bob = as_user(consenting.bob)
    assert str(asset.pk) not in {a["id"] for a in bob.get("/api/v1/assets/").json()["results"]}
    assert bob.get(f"/api/v1/assets/{asset.pk}/").status_code == 404
    granted = bob.post("/api/v1/consents/", {"use": "voice_synthesis", "asset": str(asset.pk)}, format="json")
    assert granted.status_code == 404
    bob.post(f"/api/v1/contributions/{_bobs_request(asset).pk}/accept/")
    assert bob.get(f"/api/v1/assets/{asset.pk}/").status_code == 200


def test_the_owner_sees_each_contributors_state(consenting, as_user):
    asset, _ = _register(as_user(consenting.alice), consenting)
    shown = as_user(consenting.alice).get(f"/api/v1/assets/{asset.pk}/").json()
    assert {c["member_number"]: c["status"] for c in shown["contributors"]}[consenting.bob.member_number] == (
        "pending"
    )


def test_answers_are_audited(consenting, as_user):
    first, _ = _register(as_user(consenting.alice), consenting)
    services.contribution_decide(actor=consenting.bob.user, contribution=_bobs_request(first), accept=True)
    event = AuditEvent.objects.filter(action="contribution.accepted").get()
    assert event.data == {"asset": str(first.pk), "member": consenting.bob.member_number, "share": "0.500000"}
    assert event.actor_id == consenting.bob.user_id
    registered = AuditEvent.objects.filter(action="asset.registered", subject_id=str(first.pk)).get()
    assert registered.data["awaiting_acceptance"] == [consenting.bob.member_number]


def test_the_trust_registers_shares_already_accepted(cast):
    from tests.factories import make_asset

    asset = make_asset(admin=cast.admin, contributors=[(cast.alice, "0.5"), (cast.bob, "0.5")])
    assert set(asset.contributors.values_list("status", flat=True)) == {"accepted"}


# --- The member's pages ---------------------------------------------------------------------


def test_the_member_named_answers_on_their_assets_page(consenting, as_user, client):
    asset, _ = _register(as_user(consenting.alice), consenting)
    client.force_login(consenting.bob.user)
    page = client.get(reverse("member-assets")).content.decode()
    assert "Named as a contributor: 1 request" in page
    assert "Duet take 3" in page and f'data-asset="{asset.pk}"' not in page  # not his asset yet
    request = _bobs_request(asset)
    answered = client.post(reverse("member-contribution-accept", args=[request.pk]), follow=True)
    assert answered.redirect_chain == [(reverse("member-assets"), 302)]
    page = answered.content.decode()
    assert "Accepted: “Duet take 3” is one of your assets now" in page
    assert f'data-asset="{asset.pk}"' in page and "Named as a contributor" not in page
    again = client.post(reverse("member-contribution-decline", args=[request.pk]), follow=True)
    assert "already accepted" in again.content.decode()
    assert _bobs_request(asset).status == AssetContributor.Status.ACCEPTED


def test_another_members_request_is_not_found_on_the_pages(consenting, as_user, client):
    asset, _ = _register(as_user(consenting.alice), consenting)
    client.force_login(consenting.alice.user)
    assert (
        client.post(reverse("member-contribution-accept", args=[_bobs_request(asset).pk])).status_code == 404
    )
    assert _bobs_request(asset).status == AssetContributor.Status.PENDING


def test_the_owner_sees_who_has_not_accepted_on_their_assets_page(consenting, as_user, client):
    asset, _ = _register(as_user(consenting.alice), consenting)
    client.force_login(consenting.alice.user)
    page = client.get(reverse("member-assets")).content.decode()
    card = page[page.index(f'data-asset="{asset.pk}"') :]
    card = card[: card.index("</article>")]
    assert consenting.bob.display_name in card and "Waiting for acceptance" in card
    assert "Until every contributor named has accepted, it is not licensable: 1 has not." in card


# --- Earnings -------------------------------------------------------------------------------


def test_a_share_not_accepted_earns_nothing_and_the_accepted_contributors_get_the_pool(world):
    """Bob's share of the shared asset, were it waiting for his answer, goes to Alice: the
    period's whole member pool is hers, and Bob has no earning."""
    AssetContributor.objects.filter(asset=world.bob_asset, member=world.cast.bob).update(
        status=AssetContributor.Status.PENDING
    )
    now = timezone.now()
    period = payouts.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "r1", "kind": "training_run", "quantity": 2, "occurred_at": now}],
    )
    closed = payouts.period_close(period_id=period.pk)
    earned = MemberEarning.objects.filter(period=period)
    assert not earned.filter(member=world.cast.bob).exists()
    assert sum(e.gross_cents for e in earned.filter(member=world.cast.alice)) == (
        closed.revenue_cents - closed.admin_fee_cents
    )


def _manifest_ids(secret, lease) -> list[str]:
    import json

    from tests.conftest import bearer_client

    response = bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/manifest/")
    return [a["id"] for a in json.loads(b"".join(response.streaming_content))["assets"]]


def test_accepting_puts_the_asset_in_an_active_leases_manifest_at_once(world, as_user):
    from licensing import tokens as lease_tokens
    from tests.conftest import bearer_client
    from trust.models import Asset

    cast = world.cast
    asset, _ = _register(as_user(cast.alice), cast)
    dataset = services.dataset_create(actor=cast.admin, slug="duets", title="Duets")
    services.dataset_add_assets(actor=cast.admin, dataset=dataset, asset_ids=[world.alice_asset.pk, asset.pk])
    services.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="Duets",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=100,
    )
    lease = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="duets")
    )
    _, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="duets")
    assert _manifest_ids(secret, lease) == [str(world.alice_asset.pk)]
    refused = bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/")
    assert refused.status_code == 403
    services.contribution_decide(actor=cast.bob.user, contribution=_bobs_request(asset), accept=True)
    assert sorted(_manifest_ids(secret, lease)) == sorted(
        str(pk)
        for pk in Asset.objects.filter(pk__in=[world.alice_asset.pk, asset.pk]).values_list("pk", flat=True)
    )
