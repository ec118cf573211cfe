"""Lease lifecycle, tokens, the gateway, usage reports and takedowns."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from licensing import services
from licensing.models import Lease, LeaseToken, UsageEvent
from tests.conftest import bearer_client, json_body
from trust import services as trust
from trust.errors import Conflict

pytestmark = pytest.mark.django_db


def test_approval_pins_the_latest_version_and_starts_the_clock(world):
    lease = world.lease_a
    assert lease.status == Lease.Status.ACTIVE
    assert lease.version.number == 1
    assert lease.ends_at - lease.starts_at == timedelta(days=30)
    assert set(lease.approval_assets.all()) == {world.alice_asset, world.bob_asset}


def test_a_decided_lease_cannot_be_decided_again(world):
    with pytest.raises(Conflict):
        services.lease_approve(actor=world.cast.admin, lease=world.lease_a)
    with pytest.raises(Conflict):
        services.lease_reject(actor=world.cast.admin, lease=world.lease_a)


def test_approval_is_refused_when_nothing_is_consented(world):
    trust.consent_withdraw(actor=world.cast.alice.user, consent=world.cast.alice.consents.get(use="capture"))
    request = services.lease_request(actor=world.cast.carol, terms=world.terms, purpose="again")
    with pytest.raises(Conflict, match="consented"):
        services.lease_approve(actor=world.cast.admin, lease=request)
    assert Lease.objects.get(pk=request.pk).status == Lease.Status.REQUESTED


def test_rejected_and_inactive_terms_over_http(world, as_user):
    carol, admin = as_user(world.cast.carol), as_user(world.cast.admin)
    lease = carol.post("/api/v1/leases/", {"terms": world.terms.pk, "purpose": "p"}, format="json").json()
    rejected = admin.post(f"/api/v1/leases/{lease['id']}/reject/", {"reason": "no"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    services.terms_set_active(actor=world.cast.admin, terms=world.terms, active=False)
    refused = carol.post("/api/v1/leases/", {"terms": world.terms.pk, "purpose": "p"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "terms_inactive"


def test_a_token_never_outlives_its_lease(world, as_user):
    response = as_user(world.cast.carol).post(
        f"/api/v1/leases/{world.lease_a.pk}/tokens/", {"name": "long", "lifetime_days": 365}, format="json"
    )
    assert response.status_code == 201
    assert LeaseToken.objects.get(pk=response.json()["id"]).expires_at == world.lease_a.ends_at


def test_a_token_is_stored_only_as_a_hash(world):
    assert world.secret_a not in {t.token_hash for t in LeaseToken.objects.all()}
    assert world.token_a.token_hash == __import__("hashlib").sha256(world.secret_a.encode()).hexdigest()


def test_the_manifest_links_to_the_gateway_not_to_storage(world):
    manifest = json_body(bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/"))
    assert manifest["version"] == 1 and len(manifest["assets"]) == 2
    for asset in manifest["assets"]:
        assert asset["download_url"].endswith(
            f"/api/v1/leases/{world.lease_a.pk}/assets/{asset['id']}/download/"
        )


def _download(world, asset):
    return bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/")


def test_a_download_records_one_event_and_redirects(world):
    response = _download(world, world.alice_asset)
    assert response.status_code == 302
    events = UsageEvent.objects.filter(lease=world.lease_a, kind="download")
    assert [(e.asset_id, e.quantity, e.source) for e in events] == [(world.alice_asset.pk, 1, "gateway")]


def test_the_download_url_never_outlives_the_token(world, s3_settings):
    LeaseToken.objects.filter(pk=world.token_a.pk).update(expires_at=timezone.now() + timedelta(seconds=40))
    location = _download(world, world.alice_asset)["Location"]
    assert 35 <= int(parse_qs(urlparse(location).query)["X-Amz-Expires"][0]) <= 40


def test_an_s3_download_url_lives_60_seconds_by_default(world, s3_settings):
    """So a withdrawal reaches every studio's links within a minute (DOWNLOAD_URL_SECONDS)."""
    location = _download(world, world.alice_asset)["Location"]
    assert int(parse_qs(urlparse(location).query)["X-Amz-Expires"][0]) == 60


def test_a_refused_download_records_nothing(world):
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
    response = _download(world, world.bob_asset)
    assert response.status_code == 403 and response.json()["code"] == "not_licensable"
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


def test_the_download_cap_is_enforced(world, settings):
    settings.PULL_WINDOW_SECONDS = 0  # every download of the same asset is billed
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=2)
    assert [_download(world, world.alice_asset).status_code for _ in range(3)] == [302, 302, 409]
    assert UsageEvent.objects.filter(lease=world.lease_a, kind="download").count() == 2


def test_an_asset_outside_the_pinned_version_is_not_found(world):
    from tests.factories import make_asset

    stranger = make_asset(admin=world.cast.admin, contributors=[(world.cast.alice, "1")], data=b"later")
    assert _download(world, stranger).status_code == 404


def _usage(world, *events):
    return bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": list(events)}, format="json"
    )


def _event(key="k1", **overrides):
    return {
        "event_key": key,
        "kind": "training_run",
        "quantity": 1,
        "occurred_at": timezone.now().isoformat(),
        **overrides,
    }


def test_usage_is_idempotent_by_event_key(world):
    assert _usage(world, _event("a"), _event("b"), _event("a")).json() == {"accepted": 2, "duplicates": 1}
    assert _usage(world, _event("a"), _event("c")).json() == {"accepted": 1, "duplicates": 1}
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == 3


def test_usage_for_a_use_the_terms_do_not_permit_is_refused(world):
    response = _usage(world, _event(kind="generated_second", asset=str(world.alice_asset.pk), quantity=30))
    assert response.status_code == 403 and response.json()["code"] == "use_not_permitted"


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ({"kind": "download"}, 422, "download_not_reportable"),
        ({"quantity": 0}, 400, "invalid"),
        ({"quantity": "many"}, 400, "invalid"),
        ({"occurred_at": "yesterday"}, 400, "invalid"),
        ({"occurred_at": "2001-01-01T00:00:00Z"}, 422, "outside_lease"),
        ({"asset": "00000000-0000-0000-0000-000000000000"}, 422, "asset_not_in_lease"),
    ],
)
def test_a_bad_event_refuses_the_whole_report(world, event, status, code):
    response = _usage(world, _event("good"), _event("bad", **event))
    assert response.status_code == status
    assert response.json()["code"] == code
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


def test_withdrawal_issues_one_takedown_per_active_lease(world):
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="capture"))
    notices = sorted(
        (t.lease_id, t.asset_id) for lease in (world.lease_a, world.lease_b) for t in lease.takedowns.all()
    )
    assert notices == sorted([(world.lease_a.pk, world.bob_asset.pk), (world.lease_b.pk, world.bob_asset.pk)])


def test_a_takedown_is_acknowledged_then_attested(world, as_user):
    trust.consent_withdraw(actor=world.cast.bob.user, consent=world.cast.bob.consents.get(use="training"))
    takedown = world.lease_a.takedowns.get()
    carol = as_user(world.cast.carol)
    early = carol.post(f"/api/v1/takedowns/{takedown.pk}/attest/", {"statement": "gone"}, format="json")
    assert early.status_code == 409
    assert carol.post(f"/api/v1/takedowns/{takedown.pk}/acknowledge/").json()["status"] == "acknowledged"
    done = carol.post(
        f"/api/v1/takedowns/{takedown.pk}/attest/", {"statement": "deleted from all stores"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "deletion_attested"


def test_a_revoked_lease_keeps_its_usage_but_refuses_tokens(world, as_user):
    _usage(world, _event("before"))
    revoked = as_user(world.cast.admin).post(f"/api/v1/leases/{world.lease_a.pk}/revoke/", {}, format="json")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == 1
    assert _download(world, world.alice_asset).status_code == 410


def test_ended_leases_are_expired_by_the_scheduled_job(world):
    from licensing.tasks import expire_leases

    Lease.objects.filter(pk=world.lease_a.pk).update(ends_at=timezone.now())
    assert expire_leases.delay().get() == 1
    assert expire_leases.delay().get() == 0
    assert Lease.objects.get(pk=world.lease_a.pk).status == Lease.Status.EXPIRED


def test_the_register_names_only_members_who_opted_in(world, anon):
    from trust.models import Member

    Member.objects.filter(pk=world.cast.bob.pk).update(listed_publicly=True)
    entries = anon.get("/api/v1/transparency/leases/").json()["results"]
    assert {e["studio"] for e in entries} == {"Studio A", "Studio B"}
    assert all(e["member_count"] == 2 and e["listed_members"] == ["Bob"] for e in entries)
