"""Registering, uploading and verifying assets; bad input is refused whole."""

import hashlib

import pytest

from trust import services
from trust.errors import Forbidden
from trust.models import Asset, AssetContributor

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
        (["1.5", "-0.5"], "bad_share"),
        (["abc", "1"], "bad_share"),
        (["0.3333333", "0.6666667"], "bad_share"),
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
    assert response.status_code == 422
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
    get_object_store().put_bytes(asset.object_key, b"voice session", content_type="audio/wav")
    assert _complete(cast, as_user, asset, django_capture_on_commit_callbacks).status == "available"


@pytest.mark.parametrize("stored", [b"voice sessioN", b"voice session and more", None])
def test_bytes_that_do_not_match_leave_the_asset_failed(
    cast, as_user, stored, django_capture_on_commit_callbacks
):
    from trust.storage import get_object_store

    asset = _registered(cast)
    if stored is not None:
        get_object_store().put_bytes(asset.object_key, stored, content_type="audio/wav")
    asset = _complete(cast, as_user, asset, django_capture_on_commit_callbacks)
    assert asset.status == "failed" and asset.failure_reason


def test_a_failed_upload_can_be_retried(cast, as_user, django_capture_on_commit_callbacks):
    from trust.storage import get_object_store

    asset = _registered(cast)
    assert _complete(cast, as_user, asset, django_capture_on_commit_callbacks).status == "failed"
    get_object_store().put_bytes(asset.object_key, b"voice session", content_type="audio/wav")
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
    assert Asset.objects.get(pk=created["id"]).status == "available"


def test_a_co_contributor_who_did_not_upload_is_refused_by_the_service_itself(cast):
    asset, _ = services.asset_create(actor=cast.alice.user, **body(cast))
    with pytest.raises(Forbidden) as refused:
        services.asset_complete(actor=cast.bob.user, asset=asset)
    assert refused.value.code == "not_the_uploader"
    asset.refresh_from_db()
    assert asset.status == Asset.Status.PENDING


def test_the_api_refuses_a_non_uploader_with_the_services_answer(cast, as_user):
    asset, _ = services.asset_create(actor=cast.alice.user, **body(cast))
    response = as_user(cast.bob).post(f"/api/v1/assets/{asset.pk}/complete/")
    assert response.status_code == 403 and response.json()["code"] == "not_the_uploader"
    asset.refresh_from_db()
    assert asset.status == Asset.Status.PENDING
