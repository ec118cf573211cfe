"""S3 down: a private SeaweedFS server that each test stops.

Presigning a URL is computed locally and succeeds with the store down, so the gateway asks the
store first (a HEAD, believed for STORAGE_REACHABLE_SECONDS in the process, a window any failed
call ends): with it unreachable a download is refused with 503 `storage_unavailable` and nothing
is recorded or billed. Completing an upload answers the same
503 and leaves the asset unverified; so does registering a multipart upload."""

import hashlib
import time
import uuid

import pytest

from licensing.models import UsageEvent
from tests.conftest import S3_BUCKET, bearer_client
from tests.servers import S3Server
from trust import services as trust
from trust.errors import ServiceUnavailable
from trust.models import Asset
from trust.storage import _s3_client, get_object_store


@pytest.fixture
def store_to_stop(settings):
    """The object store is a SeaweedFS server of this test's own, which it may stop."""
    with S3Server(log_name="s3-server-to-stop.log") as server:
        server.create_bucket(S3_BUCKET)
        settings.S3_BUCKET = S3_BUCKET
        settings.S3_ENDPOINT_URL = server.endpoint_url
        settings.S3_ACCESS_KEY_ID = server.access_key
        settings.S3_SECRET_ACCESS_KEY = server.secret_key
        yield server
    _s3_client.cache_clear()


def _register(admin, member, data: bytes) -> tuple[Asset, dict]:
    return trust.asset_create(
        actor=admin,
        kind="face_scan",
        title="New scan",
        content_type="application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": member.pk, "share": "1"}],
    )


def test_with_s3_down_the_gateway_answers_503_and_records_no_download(world, store_to_stop, settings):
    asset = world.alice_asset
    get_object_store().put_bytes(asset.object_key, b"alice scan", content_type=asset.content_type)
    studio = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/"
    assert studio.get(url).status_code == 302
    recorded = UsageEvent.objects.filter(lease=world.lease_a).count()
    store_to_stop.__exit__()
    # The process believes the store for STORAGE_REACHABLE_SECONDS after it last answered.
    time.sleep(settings.STORAGE_REACHABLE_SECONDS)

    refused = studio.get(url)

    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == recorded


def test_a_storage_call_that_fails_makes_the_gateway_refuse_at_once(world, store_to_stop, settings):
    settings.STORAGE_REACHABLE_SECONDS = 3600  # only a failure can end the window here
    asset = world.alice_asset
    get_object_store().put_bytes(asset.object_key, b"alice scan", content_type=asset.content_type)
    studio = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/"
    assert studio.get(url).status_code == 302
    recorded = UsageEvent.objects.filter(lease=world.lease_a).count()
    store_to_stop.__exit__()
    with pytest.raises(ServiceUnavailable):
        get_object_store().put_bytes("another", b"x", content_type="text/plain")

    refused = studio.get(url)

    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    assert UsageEvent.objects.filter(lease=world.lease_a).count() == recorded


def test_a_refused_asset_is_refused_before_the_store_is_asked(world, store_to_stop):
    """With the store down, an asset outside the lease is still a 404, not a 503."""
    store_to_stop.__exit__()
    studio = bearer_client(world.secret_a)
    refused = studio.get(f"/api/v1/leases/{world.lease_a.pk}/assets/{uuid.uuid4()}/download/")
    assert (refused.status_code, refused.json()["code"]) == (404, "asset_not_found")


def test_with_s3_down_completing_an_upload_answers_503_and_the_asset_stays_unverified(
    world, store_to_stop, as_user
):
    asset, _ = _register(world.cast.admin, world.cast.alice, b"new scan")
    store_to_stop.__exit__()

    refused = as_user(world.cast.admin).post(f"/api/v1/assets/{asset.pk}/complete/", {}, format="json")

    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    assert Asset.objects.get(pk=asset.pk).status == Asset.Status.PENDING


def test_with_s3_down_completing_a_multipart_upload_answers_503_not_bad_parts(
    world, store_to_stop, as_user, settings
):
    settings.MULTIPART_THRESHOLD_BYTES = 4
    asset, plan = _register(world.cast.admin, world.cast.alice, b"a large take")
    assert plan["method"] == "multipart"
    store_to_stop.__exit__()

    refused = as_user(world.cast.admin).post(
        f"/api/v1/assets/{asset.pk}/complete/",
        {"parts": [{"part_number": 1, "etag": '"0123456789abcdef0123456789abcdef"'}]},
        format="json",
    )

    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    stored = Asset.objects.get(pk=asset.pk)
    assert (stored.status, stored.upload_id) == (Asset.Status.PENDING, plan["upload_id"])


def test_with_s3_down_registering_a_multipart_upload_answers_503_and_registers_nothing(
    world, store_to_stop, as_user, settings
):
    settings.MULTIPART_THRESHOLD_BYTES = 4
    store_to_stop.__exit__()
    before = Asset.objects.count()

    refused = as_user(world.cast.admin).post(
        "/api/v1/assets/",
        {
            "kind": "face_scan",
            "title": "A large take",
            "content_type": "video/mp4",
            "size": 12,
            "sha256": hashlib.sha256(b"a large take").hexdigest(),
            "contributors": [{"member": world.cast.alice.pk, "share": "1"}],
        },
        format="json",
    )

    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    assert Asset.objects.count() == before


def test_with_s3_down_verification_is_retried_and_the_asset_stays_verifying(world, store_to_stop):
    asset, _ = _register(world.cast.admin, world.cast.alice, b"new scan")
    Asset.objects.filter(pk=asset.pk).update(status=Asset.Status.VERIFYING)
    store_to_stop.__exit__()

    # The task retries ServiceUnavailable (trust/tasks.py); the asset waits meanwhile.
    with pytest.raises(ServiceUnavailable):
        trust.asset_verify(asset_id=asset.pk)

    assert Asset.objects.get(pk=asset.pk).status == Asset.Status.VERIFYING
