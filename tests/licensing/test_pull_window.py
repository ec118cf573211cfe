"""The pull window: a token's download of an asset is billed once per PULL_WINDOW_SECONDS. A
second download of the same asset with the same token inside it (a puller refreshing an expired
URL, or resuming) gets a fresh URL, records no download event and takes nothing from the cap;
consent, revocation and expiry are checked as for any download."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from federation import biscuits
from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseDownloadCount, PullWindow, UsageEvent
from tests.conftest import bearer_client
from tests.federation.helpers import download, make_lease_federated
from trust import services as trust

pytestmark = pytest.mark.django_db


def _download(secret, lease, asset):
    return bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/")


def _billed(lease, asset=None) -> int:
    events = UsageEvent.objects.filter(lease=lease, kind=UsageEvent.Kind.DOWNLOAD)
    return events.filter(asset=asset).count() if asset is not None else events.count()


@pytest.mark.embedded
def test_a_second_download_inside_the_window_gets_a_url_and_is_not_billed(world):
    first = _download(world.secret_a, world.lease_a, world.alice_asset)
    again = _download(world.secret_a, world.lease_a, world.alice_asset)
    assert first.status_code == again.status_code == 302
    assert again["Location"]
    assert _billed(world.lease_a, world.alice_asset) == 1


@pytest.mark.embedded
def test_a_refresh_does_not_count_against_the_cap(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=1)
    statuses = [
        _download(world.secret_a, world.lease_a, world.alice_asset).status_code,
        _download(world.secret_a, world.lease_a, world.alice_asset).status_code,
        _download(world.secret_a, world.lease_a, world.bob_asset).status_code,
    ]
    assert statuses == [302, 302, 409]
    assert _billed(world.lease_a) == 1


def test_a_refresh_with_a_counter_already_made_takes_nothing_from_it(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=5)
    for _ in range(3):
        assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 1


@pytest.mark.embedded
def test_after_the_window_the_next_download_is_billed_again(world, settings):
    settings.PULL_WINDOW_SECONDS = 3600
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    PullWindow.objects.update(opened_at=timezone.now() - timedelta(seconds=3601))
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert _billed(world.lease_a, world.alice_asset) == 2


@pytest.mark.embedded
def test_another_token_of_the_same_lease_is_billed_for_its_own_download(world):
    _, other = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="second rig")
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert _download(other, world.lease_a, world.alice_asset).status_code == 302
    assert _billed(world.lease_a, world.alice_asset) == 2


@pytest.mark.embedded
def test_with_the_window_off_every_download_is_billed(world, settings):
    settings.PULL_WINDOW_SECONDS = 0
    for _ in range(3):
        assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert _billed(world.lease_a, world.alice_asset) == 3
    assert not PullWindow.objects.exists()


@pytest.mark.embedded
def test_a_withdrawn_asset_is_refused_inside_the_window(world):
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    alice = world.cast.alice
    trust.consent_withdraw(actor=alice.user, consent=alice.consents.get(use="training"))
    refused = _download(world.secret_a, world.lease_a, world.alice_asset)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_licensable"


@pytest.mark.embedded
def test_a_revoked_token_is_refused_inside_the_window(world):
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)
    refused = _download(world.secret_a, world.lease_a, world.alice_asset)
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"


def test_a_refused_download_opens_no_window(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=1)
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert _download(world.secret_a, world.lease_a, world.bob_asset).status_code == 409
    assert list(PullWindow.objects.values_list("asset_id", flat=True)) == [world.alice_asset.pk]


def test_a_federated_token_is_keyed_by_its_revocation_id_and_a_vendors_token_by_its_own(world, settings):
    """An `ft_` token has no LeaseToken row at a peer trust: the window names it by the
    revocation id every trust knows it by; a vendor's derived token has its own."""
    settings.TRUST_SLUG = "sag-aftra"
    make_lease_federated(world.lease_a)
    _, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="farm")
    (revocation_id,) = biscuits.revocation_ids(secret)
    assert download(secret, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert download(secret, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert list(PullWindow.objects.values_list("token_key", flat=True)) == [f"ft:{revocation_id}"]
    assert _billed(world.lease_a, world.alice_asset) == 1

    staff = APIClient()
    staff.force_authenticate(world.cast.carol)
    derived = staff.post(
        f"/api/v1/leases/{world.lease_a.pk}/tokens/derive/",
        {"token": secret, "vendor": "Pixel Forge VFX"},
        format="json",
    ).json()["token"]
    assert download(derived, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert _billed(world.lease_a, world.alice_asset) == 2


@pytest.mark.embedded
def test_pruning_deletes_the_windows_that_ended_and_keeps_the_open_ones(world, settings):
    settings.PULL_WINDOW_SECONDS = 3600
    for asset in (world.alice_asset, world.bob_asset):
        assert _download(world.secret_a, world.lease_a, asset).status_code == 302
    PullWindow.objects.filter(asset=world.alice_asset).update(opened_at=timezone.now() - timedelta(hours=2))

    assert licensing.pull_windows_prune() == 1
    assert licensing.pull_windows_prune() == 0
    assert list(PullWindow.objects.values_list("asset_id", flat=True)) == [world.bob_asset.pk]
    # Pruned or not, the next download after a window is billed.
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302
    assert _billed(world.lease_a, world.alice_asset) == 2
