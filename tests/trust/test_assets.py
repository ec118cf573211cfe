"""Registering, uploading and verifying assets; bad input is refused whole."""

import hashlib

import pytest
import requests

from tests.factories import make_asset
from trust import services
from trust.errors import Conflict, Forbidden
from trust.models import Asset, AssetContributor
from trust.storage import get_object_store

pytestmark = pytest.mark.django_db


def body(cast, **overrides):
    data = b"voice session"
    return {
        "kind": "voice_recording",
        "title": "session 1",
        "content_type": "audio/wav",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "contributors": [{"member": cast.alice.pk, "share": "0.7"}, {"member": cast.bob.pk, "share": "0.3"}],
        **overrides,
    }


def test_registering_returns_an_upload_target_and_an_opaque_key(cast, as_user):
    response = as_user(cast.admin).post("/api/v1/assets/", body(cast), format="json")
    assert response.status_code == 201
    created = response.json()
    asset = Asset.objects.get(pk=created["id"])
    assert asset.object_key == f"assets/{asset.pk}"
    assert created["upload"]["method"] == "PUT" and created["status"] == "pending"
    assert [c["share"] for c in created["contributors"]] == ["0.700000", "0.300000"]


@pytest.mark.parametrize(
    ("shares", "code"),
    [
        (["0.5", "0.4"], "shares_not_one"),
        (["0.5", "0.6"], "shares_not_one"),
        (["1.5", "0.5"], "bad_share"),
        (["0.3333333", "0.6666667"], "bad_share"),
        # Not shaped like a decimal at all: the request's shape is wrong (400), as the schema says.
        (["1.5", "-0.5"], "invalid"),
        (["abc", "1"], "invalid"),
    ],
)
def test_shares_must_be_decimals_summing_to_exactly_one(cast, as_user, shares, code):
    contributors = [
        {"member": cast.alice.pk, "share": shares[0]},
        {"member": cast.bob.pk, "share": shares[1]},
    ]
    response = as_user(cast.admin).post(
        "/api/v1/assets/", body(cast, contributors=contributors), format="json"
    )
    assert response.status_code == (400 if code == "invalid" else 422)
    assert response.json()["code"] == code
    assert not Asset.objects.exists() and not AssetContributor.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [{"kind": "hologram"}, {"sha256": "xyz"}, {"size": -1}, {"contributors": []}, {"title": ""}],
)
def test_malformed_registrations_are_a_clear_400(cast, as_user, overrides):
    response = as_user(cast.admin).post("/api/v1/assets/", body(cast, **overrides), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Asset.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["banana", "image/", "/png", "image png", "image/png; charset", "image/png\r\nX-Injected: 1", "a/b/c"],
)
def test_a_content_type_that_is_not_a_media_type_is_refused(cast, as_user, content_type):
    response = as_user(cast.admin).post(
        "/api/v1/assets/", body(cast, content_type=content_type), format="json"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "bad_content_type"
    assert not Asset.objects.exists()


@pytest.mark.parametrize("content_type", ["text/x-fountain; charset=utf-8", 'audio/wav; codec="pcm 16"'])
def test_a_media_type_with_parameters_is_accepted(cast, as_user, content_type):
    response = as_user(cast.admin).post(
        "/api/v1/assets/", body(cast, content_type=content_type), format="json"
    )
    assert response.status_code == 201
    assert Asset.objects.get().content_type == content_type


def test_an_unknown_contributor_is_refused(cast, as_user):
    contributors = [{"member": 999999, "share": "1"}]
    response = as_user(cast.admin).post(
        "/api/v1/assets/", body(cast, contributors=contributors), format="json"
    )
    assert response.status_code == 422 and response.json()["code"] == "unknown_member"


def test_a_member_may_register_an_asset_they_contribute_to(cast, as_user):
    response = as_user(cast.alice).post("/api/v1/assets/", body(cast), format="json")
    assert response.status_code == 201


def _registered(cast, data=b"voice session"):
    asset, _ = services.asset_create(
        actor=cast.admin,
        kind="voice_recording",
        title="t",
        content_type="audio/wav",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": cast.alice.pk, "share": "1"}],
    )
    return asset


def _complete(cast, as_user, asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(cast.admin).post(f"/api/v1/assets/{asset.pk}/complete/")
    assert response.status_code == 202
    asset.refresh_from_db()
    return asset


def test_matching_bytes_make_the_asset_available(cast, as_user, django_capture_on_commit_callbacks):
    from trust.storage import get_object_store

    asset = _registered(cast)
    get_object_store().put_bytes(asset.staging_key, b"voice session", content_type="audio/wav")
    assert _complete(cast, as_user, asset, django_capture_on_commit_callbacks).status == "available"


@pytest.mark.parametrize("stored", [b"voice sessioN", b"voice session and more", None])
def test_bytes_that_do_not_match_leave_the_asset_failed(
    cast, as_user, stored, django_capture_on_commit_callbacks
):
    from trust.storage import get_object_store

    asset = _registered(cast)
    if stored is not None:
        get_object_store().put_bytes(asset.staging_key, stored, content_type="audio/wav")
    asset = _complete(cast, as_user, asset, django_capture_on_commit_callbacks)
    assert asset.status == "failed" and asset.failure_reason


def test_a_failed_upload_can_be_retried(cast, as_user, django_capture_on_commit_callbacks):
    from trust.storage import get_object_store

    asset = _registered(cast)
    assert _complete(cast, as_user, asset, django_capture_on_commit_callbacks).status == "failed"
    get_object_store().put_bytes(asset.staging_key, b"voice session", content_type="audio/wav")
    assert _complete(cast, as_user, asset, django_capture_on_commit_callbacks).status == "available"


def test_a_large_upload_is_multipart_and_completes_with_its_etags(
    cast, as_user, settings, client, django_capture_on_commit_callbacks
):
    from urllib.parse import urlparse

    settings.MULTIPART_THRESHOLD_BYTES = 16
    settings.MULTIPART_PART_BYTES = 8
    data = b"twenty bytes of film"
    admin = as_user(cast.admin)
    created = admin.post(
        "/api/v1/assets/", body(cast, size=len(data), sha256=hashlib.sha256(data).hexdigest()), format="json"
    ).json()
    upload = created["upload"]
    assert upload["method"] == "multipart" and upload["part_size"] == 8
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    refused = admin.post(f"/api/v1/assets/{created['id']}/complete/", {}, format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "parts_required"
    etags = []
    for part in upload["parts"]:
        chunk = data[(part["part_number"] - 1) * 8 : part["part_number"] * 8]
        url = urlparse(part["url"])
        response = client.put(f"{url.path}?{url.query}", chunk, content_type="application/octet-stream")
        assert response.status_code == 200
        etags.append({"part_number": part["part_number"], "etag": response["ETag"]})
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(f"/api/v1/assets/{created['id']}/complete/", {"parts": etags}, format="json")
    assert done.status_code == 202
    asset = Asset.objects.get(pk=created["id"])
    assert asset.status == "available"
    from trust.storage import get_object_store

    # The parts were joined under the staging key and only the verified copy stays.
    assert get_object_store().size(asset.staging_key) is None
    assert get_object_store().size(asset.object_key) == len(data)


def test_a_co_contributor_who_did_not_upload_is_refused_by_the_service_itself(cast):
    asset, _ = services.asset_create(actor=cast.alice.user, **body(cast))
    with pytest.raises(Forbidden) as refused:
        services.asset_complete(actor=cast.bob.user, asset=asset)
    assert refused.value.code == "not_the_uploader"
    asset.refresh_from_db()
    assert asset.status == Asset.Status.PENDING


def test_the_api_refuses_a_non_uploader_with_the_services_answer(cast, as_user):
    asset, _ = services.asset_create(actor=cast.alice.user, **body(cast))
    named = asset.contributors.get(member=cast.bob)
    services.contribution_decide(actor=cast.bob.user, contribution=named, accept=True)
    response = as_user(cast.bob).post(f"/api/v1/assets/{asset.pk}/complete/")
    assert response.status_code == 403 and response.json()["code"] == "not_the_uploader"
    asset.refresh_from_db()
    assert asset.status == Asset.Status.PENDING


def _local_path(url: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(url)
    return f"{parts.path}?{parts.query}"


def test_a_put_after_completion_cannot_change_the_verified_bytes(
    cast, client, django_capture_on_commit_callbacks
):
    from trust.storage import get_object_store

    data = b"voice session"
    asset, plan = services.asset_create(actor=cast.admin, **body(cast))
    upload_url = _local_path(plan["url"])
    assert client.put(upload_url, data, content_type="audio/wav").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_complete(actor=cast.admin, asset=asset)
    asset.refresh_from_db()
    assert asset.status == "available"

    replaced = client.put(upload_url, b"someone else's voice", content_type="audio/wav")
    assert replaced.status_code == 409 and replaced.json()["code"] == "upload_completed"
    served = client.get(_local_path(get_object_store().presigned_get(asset.object_key, expires_in=60)))
    assert served.status_code == 200
    assert hashlib.sha256(b"".join(served.streaming_content)).hexdigest() == asset.sha256


def test_verification_moves_the_bytes_from_staging_to_the_final_key(cast, django_capture_on_commit_callbacks):
    from trust.storage import get_object_store, measure

    store = get_object_store()
    asset = _registered(cast)
    store.put_bytes(asset.staging_key, b"voice session", content_type="audio/wav")
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_complete(actor=cast.admin, asset=asset)
    assert store.size(asset.staging_key) is None
    assert measure(store, asset.object_key).sha256 == hashlib.sha256(b"voice session").hexdigest()


def test_a_verification_that_finds_its_bytes_already_moved_by_another_completes(cast, monkeypatch):
    """Two verifications of one upload (the task beside a client's retry): the other one copies
    the staging key and deletes it between this one's check and its copy."""
    from trust.models import Asset
    from trust.storage import LocalObjectStore, get_object_store, measure

    store = get_object_store()
    asset = _registered(cast)
    store.put_bytes(asset.staging_key, b"voice session", content_type="audio/wav")
    Asset.objects.filter(pk=asset.pk).update(status=Asset.Status.VERIFYING)
    real_copy = LocalObjectStore.copy

    def moved_first(self, source, destination):
        real_copy(self, source, destination)  # the other verification, done just before
        self.delete(source)
        return real_copy(self, source, destination)

    monkeypatch.setattr(LocalObjectStore, "copy", moved_first)
    services.asset_verify(asset_id=asset.pk)
    asset.refresh_from_db()
    assert asset.status == Asset.Status.AVAILABLE
    assert measure(store, asset.object_key).sha256 == hashlib.sha256(b"voice session").hexdigest()


def test_bytes_that_failed_verification_are_not_kept_under_the_final_key(
    cast, django_capture_on_commit_callbacks
):
    from trust.storage import get_object_store

    store = get_object_store()
    asset = _registered(cast)
    store.put_bytes(asset.staging_key, b"not the declared bytes", content_type="audio/wav")
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_complete(actor=cast.admin, asset=asset)
    asset.refresh_from_db()
    assert asset.status == "failed"
    assert store.size(asset.object_key) is None


def test_the_local_store_refuses_a_put_to_a_final_key(cast, client):
    from trust.storage import get_object_store

    asset = _registered(cast)
    target = get_object_store().presigned_put(asset.object_key, content_type="audio/wav", expires_in=60)
    response = client.put(_local_path(target.url), b"voice session", content_type="audio/wav")
    assert response.status_code == 403 and response.json()["code"] == "immutable_object"
    assert get_object_store().size(asset.object_key) is None


def test_on_s3_a_put_to_the_old_upload_url_cannot_change_what_is_downloaded(
    s3_settings, cast, django_capture_on_commit_callbacks
):
    data = b"face scan, verified"
    asset, plan = services.asset_create(
        actor=cast.admin,
        kind="face_scan",
        title="scan",
        content_type="image/png",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": cast.alice.pk, "share": "1"}],
    )
    put = requests.put(plan["url"], data=data, headers=plan["headers"], timeout=10)
    assert put.status_code == 200, put.text
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_complete(actor=cast.admin, asset=asset)
    asset.refresh_from_db()
    assert asset.status == "available"
    from trust.storage import get_object_store

    store = get_object_store()
    assert store.size(asset.staging_key) is None
    assert (
        store.client.head_object(Bucket=store.bucket, Key=asset.object_key)["ServerSideEncryption"]
        == "AES256"
    )

    # The presigned PUT names the staging key: whatever it still writes is never served.
    requests.put(plan["url"], data=b"replaced bytes", headers=plan["headers"], timeout=10)
    served = requests.get(store.presigned_get(asset.object_key, expires_in=60), timeout=10)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == asset.sha256


def test_on_s3_a_multipart_upload_is_verified_from_its_staging_key(
    s3_settings, cast, django_capture_on_commit_callbacks
):
    from trust.storage import get_object_store

    s3_settings.MULTIPART_THRESHOLD_BYTES = 1024
    s3_settings.MULTIPART_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part but the last
    data = b"f" * (5 * 1024 * 1024) + b"closing frames"
    asset, plan = services.asset_create(
        actor=cast.admin,
        kind="performance_footage",
        title="take 3",
        content_type="video/mp4",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": cast.alice.pk, "share": "1"}],
    )
    assert plan["method"] == "multipart" and len(plan["parts"]) == 2
    etags = []
    for part in plan["parts"]:
        n = part["part_number"]
        chunk = data[(n - 1) * plan["part_size"] : n * plan["part_size"]]
        response = requests.put(part["url"], data=chunk, timeout=30)
        assert response.status_code == 200, response.text
        etags.append({"part_number": n, "etag": response.headers["ETag"]})
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_complete(actor=cast.admin, asset=asset, parts=etags)
    asset.refresh_from_db()
    assert asset.status == "available", asset.failure_reason
    store = get_object_store()
    assert store.size(asset.staging_key) is None
    served = requests.get(store.presigned_get(asset.object_key, expires_in=60), timeout=30)
    assert hashlib.sha256(served.content).hexdigest() == asset.sha256


def test_bytes_uploaded_by_a_script_cannot_replace_verified_ones(cast):
    asset = make_asset(admin=cast.admin, contributors=[(cast.alice, "1")], data=b"verified")
    with pytest.raises(Conflict) as refused:
        services.asset_upload_bytes(actor=cast.admin, asset=asset, data=b"replaced")
    assert refused.value.code == "upload_completed"
    store = get_object_store()
    assert b"".join(store.iter_chunks(asset.object_key)) == b"verified"
    assert store.size(asset.staging_key) is None
