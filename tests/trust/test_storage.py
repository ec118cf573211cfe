"""The object-store interface, the same tests against both implementations: the S3 server
started by the suite and the local directory store served by Django."""

import hashlib
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from trust import storage
from trust.storage import LocalObjectStore, S3ObjectStore, get_object_store, measure

DATA = b"motion capture frames " * 1000


@pytest.fixture(params=["local", "s3"])
def store(request, settings, live_server):
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    settings.PUBLIC_BASE_URL = live_server.url
    return get_object_store()


def test_the_configured_store_is_the_one_asked_for(store, settings):
    expected = S3ObjectStore if settings.S3_BUCKET else LocalObjectStore
    assert isinstance(store, expected)


def test_presigned_put_then_presigned_get_round_trips_the_bytes(store):
    target = store.presigned_put("assets/roundtrip", content_type="application/octet-stream", expires_in=60)
    put = requests.request(target.method, target.url, data=DATA, headers=target.headers, timeout=10)
    assert put.status_code == 200, put.text
    got = requests.get(store.presigned_get("assets/roundtrip", expires_in=60), timeout=10)
    assert got.status_code == 200
    assert got.content == DATA


def test_measure_reads_back_size_and_sha256(store):
    store.put_bytes("assets/measured", DATA, content_type="application/octet-stream")
    stored = measure(store, "assets/measured")
    assert (stored.size, stored.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())


def test_measure_of_a_missing_object_is_none(store):
    assert measure(store, "assets/never-uploaded") is None


def test_delete_removes_the_object(store):
    store.put_bytes("assets/doomed", b"x", content_type="text/plain")
    store.delete("assets/doomed")
    assert store.size("assets/doomed") is None


def test_one_s3_client_per_process(s3_settings):
    assert get_object_store().client is get_object_store().client


def test_s3_upload_url_requires_server_side_encryption(s3_settings):
    store = get_object_store()
    target = store.presigned_put("assets/sse", content_type="text/plain", expires_in=60)
    assert target.headers["x-amz-server-side-encryption"] == "AES256"
    requests.put(target.url, data=b"secret", headers=target.headers, timeout=10).raise_for_status()
    head = store.client.head_object(Bucket=store.bucket, Key="assets/sse")
    assert head["ServerSideEncryption"] == "AES256"


def test_s3_download_url_states_its_lifetime(s3_settings):
    url = get_object_store().presigned_get("assets/any", expires_in=300)
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["300"]


@pytest.fixture
def local(settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    store = get_object_store()
    store.put_bytes("assets/local", DATA, content_type="application/octet-stream")
    return store


def test_local_url_with_a_forged_signature_is_refused(local):
    url = local.presigned_get("assets/local", expires_in=60).replace("signature=", "signature=0")
    response = requests.get(url, timeout=10)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"


def test_local_url_for_another_key_is_refused(local):
    url = local.presigned_get("assets/local", expires_in=60).replace("assets/local", "assets/other")
    assert requests.get(url, timeout=10).status_code == 403


def test_local_get_url_cannot_be_used_to_upload(local):
    url = local.presigned_get("assets/local", expires_in=60)
    assert requests.put(url, data=b"overwrite", timeout=10).status_code == 403
    assert local.size("assets/local") == len(DATA)


def test_local_url_is_refused_once_expired(local, monkeypatch):
    url = local.presigned_get("assets/local", expires_in=1)
    assert requests.get(url, timeout=10).status_code == 200
    # Two seconds later, as the store's clock sees it (the live server runs in this process).
    later = time.time() + 2
    monkeypatch.setattr(storage, "time", SimpleNamespace(time=lambda: later))
    response = requests.get(url, timeout=10)
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_local_signature_check_directly():
    store = LocalObjectStore(root="/nonexistent", secret=b"k", base_url="http://x")
    expires = int(time.time()) + 60
    good = store.signature("GET", "assets/a", expires)
    store.check_signature(method="GET", key="assets/a", expires=str(expires), signature=good)
    from trust.storage import InvalidSignature

    for method, key, when, sig in [
        ("PUT", "assets/a", expires, good),
        ("GET", "assets/b", expires, good),
        ("GET", "assets/a", expires + 1, good),
        ("GET", "assets/a", "soon", good),
    ]:
        with pytest.raises(InvalidSignature):
            store.check_signature(method=method, key=key, expires=str(when), signature=sig)


def test_local_keys_cannot_escape_the_store(tmp_path):
    store = LocalObjectStore(root=tmp_path / "objects", secret=b"k", base_url="http://x")
    with pytest.raises(ValueError):
        store.put_bytes("../escaped", b"x", content_type="text/plain")


def _put_parts(store, key, upload_id, chunks):
    from trust.storage import UploadedPart

    parts = []
    for number, chunk in enumerate(chunks, start=1):
        url = store.presigned_part(key, upload_id=upload_id, part_number=number, expires_in=60)
        response = requests.put(url, data=chunk, timeout=30)
        assert response.status_code == 200, response.text
        parts.append(UploadedPart(number=number, etag=response.headers["ETag"]))
    return parts


# S3 parts other than the last are 5 MiB at least.
BIG_PART = b"v" * (5 * 1024 * 1024)


def test_a_multipart_upload_joins_its_parts(store):
    upload_id = store.start_multipart("assets/video", content_type="video/mp4")
    parts = _put_parts(store, "assets/video", upload_id, [BIG_PART, b"closing frames"])
    store.complete_multipart("assets/video", upload_id=upload_id, parts=parts)
    stored = measure(store, "assets/video")
    assert stored.sha256 == hashlib.sha256(BIG_PART + b"closing frames").hexdigest()


def test_a_multipart_upload_with_a_wrong_etag_is_refused(store):
    from trust.storage import MultipartError, UploadedPart

    upload_id = store.start_multipart("assets/video2", content_type="video/mp4")
    parts = _put_parts(store, "assets/video2", upload_id, [BIG_PART, b"end"])
    with pytest.raises(MultipartError):
        store.complete_multipart(
            "assets/video2", upload_id=upload_id, parts=[parts[0], UploadedPart(number=2, etag='"0000"')]
        )
    assert store.size("assets/video2") is None


def test_a_local_part_url_cannot_be_replayed_for_another_part(local):
    upload_id = local.start_multipart("assets/v", content_type="video/mp4")
    url = local.presigned_part("assets/v", upload_id=upload_id, part_number=1, expires_in=60)
    assert requests.put(url.replace("part=1", "part=2"), data=b"x", timeout=10).status_code == 403
