"""The double opt-in rule, asked through the one selector, and the consent API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_asset
from trust import consent as vocabulary
from trust import selectors, services
from trust.errors import Conflict
from trust.models import Asset, Consent

pytestmark = pytest.mark.django_db


def licensable(asset, *uses, at=None):
    return selectors.is_licensable(asset=asset, uses=uses, at=at or timezone.now())


@pytest.fixture
def shared_asset(cast):
    return make_asset(admin=cast.admin, contributors=[(cast.alice, "0.5"), (cast.bob, "0.5")])


def grant(member, use, asset=None):
    return services.consent_grant(actor=member.user, member=member, use=use, asset=asset)


def test_nothing_is_licensable_without_consent(shared_asset):
    assert not licensable(shared_asset, "training")


def test_capture_alone_is_not_enough(cast, shared_asset):
    grant(cast.alice, "capture")
    grant(cast.bob, "capture")
    assert not licensable(shared_asset, "training")


def test_a_use_grant_without_capture_is_not_enough(cast, shared_asset):
    grant(cast.alice, "training")
    grant(cast.bob, "training")
    assert not licensable(shared_asset, "training")


def test_every_contributor_must_opt_in_twice(cast, shared_asset):
    for use in ("capture", "training"):
        grant(cast.alice, use)
    grant(cast.bob, "capture")
    assert not licensable(shared_asset, "training")
    grant(cast.bob, "training", asset=shared_asset)
    assert licensable(shared_asset, "training")
    assert not licensable(shared_asset, "training", "voice_synthesis")


def test_a_grant_on_one_asset_does_not_cover_another(cast, shared_asset):
    other = make_asset(admin=cast.admin, contributors=[(cast.alice, "1")], data=b"other")
    grant(cast.alice, "capture", asset=other)
    grant(cast.alice, "training", asset=other)
    assert licensable(other, "training")
    assert not licensable(shared_asset, "training")


def test_withdrawal_ends_licensing_now_but_keeps_history(cast, shared_asset):
    for member in (cast.alice, cast.bob):
        grant(member, "capture")
        grant(member, "training")
    before = timezone.now()
    training = Consent.objects.get(member=cast.bob, use="training")
    withdrawal = services.consent_withdraw(actor=cast.bob.user, consent=training)
    assert not licensable(shared_asset, "training")
    assert licensable(shared_asset, "training", at=before)
    training.refresh_from_db()
    assert training.state == "granted"  # the grant is never rewritten
    assert withdrawal.supersedes_id == training.pk and withdrawal.state == "withdrawn"


def test_withdrawing_twice_is_a_conflict(cast):
    consent = grant(cast.alice, "capture")
    services.consent_withdraw(actor=cast.alice.user, consent=consent)
    with pytest.raises(Conflict):
        services.consent_withdraw(actor=cast.alice.user, consent=consent)


def test_a_grant_records_terms_version_and_text_hash(cast):
    consent = grant(cast.alice, "voice_synthesis")
    assert consent.terms_version == consent.text.terms_version
    assert consent.consent_text_sha256 == consent.text.sha256
    assert consent.consent_text_sha256 == vocabulary.notice_sha256(
        terms_version=consent.terms_version, text="Studios may synthesise speech in this voice."
    )


def test_an_unverified_asset_is_never_licensable(cast):
    for use in ("capture", "training"):
        grant(cast.alice, use)
    pending, _ = services.asset_create(
        actor=cast.admin,
        kind="script",
        title="draft",
        content_type="text/plain",
        size=3,
        sha256="a" * 64,
        contributors=[{"member": cast.alice.pk, "share": "1"}],
    )
    assert pending.status == Asset.Status.PENDING
    assert not licensable(pending, "training")


def test_the_api_grants_lists_and_withdraws(cast, as_user):
    client = as_user(cast.alice)
    created = client.post("/api/v1/consents/", {"use": "capture"}, format="json")
    assert created.status_code == 201 and created.json()["active"] is True
    again = client.post("/api/v1/consents/", {"use": "capture"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_granted"
    withdrawn = client.post(f"/api/v1/consents/{created.json()['id']}/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    history = client.get("/api/v1/consents/").json()["results"]
    assert [(c["state"], c["active"]) for c in history] == [("granted", False), ("withdrawn", False)]


def test_an_unknown_use_is_a_clear_400(cast, as_user):
    response = as_user(cast.alice).post("/api/v1/consents/", {"use": "everything"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "use" in response.json()["errors"]


def test_a_grant_made_after_a_moment_does_not_count_at_that_moment(cast, shared_asset):
    earlier = timezone.now() - timedelta(seconds=1)
    for member in (cast.alice, cast.bob):
        grant(member, "capture")
        grant(member, "training")
    assert not licensable(shared_asset, "training", at=earlier)
