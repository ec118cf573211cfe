"""Usage dated while a lease was live is still accepted after the lease expires or is revoked by
the trust (until its period closes); usage dated outside that window, and reports with a token
the studio revoked, are refused. Manifests and downloads keep their 410."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseToken, UsageEvent
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def _report(world, key: str, occurred_at):
    return bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/",
        {"events": [{"event_key": key, "kind": "training_run", "quantity": 2, "occurred_at": occurred_at}]},
        format="json",
    )


def _while_live(world):
    return world.lease_a.starts_at + timedelta(milliseconds=1)


def test_usage_from_before_a_trust_revocation_is_accepted_after_it(world):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="breach")
    response = _report(world, "before-revocation", _while_live(world))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert UsageEvent.objects.filter(lease=world.lease_a, event_key="before-revocation").exists()


def test_usage_dated_after_the_revocation_is_refused(world):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="breach")
    response = _report(world, "after-revocation", timezone.now())
    assert response.status_code == 422
    assert response.json()["code"] == "outside_lease"
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


def test_the_manifest_and_downloads_stay_gone_for_the_same_token(world):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="breach")
    client = bearer_client(world.secret_a)
    manifest = client.get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    download = client.get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/")
    assert (manifest.status_code, manifest.json()["code"]) == (410, "lease_revoked")
    assert (download.status_code, download.json()["code"]) == (410, "lease_revoked")


def _expire_an_hour_ago(world):
    """The lease ran from two hours ago to one hour ago, and the expiry job has run."""
    now = timezone.now()
    Lease.objects.filter(pk=world.lease_a.pk).update(
        starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
    )
    assert licensing.leases_expire_due() == 1
    return now - timedelta(minutes=90)


def test_usage_from_the_live_window_is_accepted_after_the_lease_expires(world):
    while_live = _expire_an_hour_ago(world)
    response = _report(world, "before-expiry", while_live)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_usage_after_the_expiry_is_refused(world):
    _expire_an_hour_ago(world)
    response = _report(world, "after-expiry", timezone.now() - timedelta(minutes=30))
    assert response.status_code == 422
    assert response.json()["code"] == "outside_lease"


def test_a_token_the_studio_revoked_cannot_report_after_the_lease_ends(world):
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="breach")
    response = _report(world, "revoked-token", _while_live(world))
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert not UsageEvent.objects.exists()


def test_a_token_that_expired_before_the_lease_ended_cannot_report(world):
    LeaseToken.objects.filter(pk=world.token_a.pk).update(
        expires_at=_while_live(world) + timedelta(milliseconds=1)
    )
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="breach")
    response = _report(world, "stale-token", _while_live(world))
    assert response.status_code == 410
    assert response.json()["code"] == "lease_revoked"
    assert not UsageEvent.objects.exists()
