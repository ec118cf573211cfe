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
    target = store.presigned_put("staging/roundtrip", content_type="application/octet-stream", expires_in=60)
    put = requests.request(target.method, target.url, data=DATA, headers=target.headers, timeout=10)
    assert put.status_code == 200, put.text
    got = requests.get(store.presigned_get("staging/roundtrip", expires_in=60), timeout=10)
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
    upload_id = store.start_multipart("staging/video", content_type="video/mp4")
    parts = _put_parts(store, "staging/video", upload_id, [BIG_PART, b"closing frames"])
    store.complete_multipart("staging/video", upload_id=upload_id, parts=parts)
    stored = measure(store, "staging/video")
    assert stored.sha256 == hashlib.sha256(BIG_PART + b"closing frames").hexdigest()


def test_a_multipart_upload_with_a_wrong_etag_is_refused(store):
    from trust.storage import MultipartError, UploadedPart

    upload_id = store.start_multipart("staging/video2", content_type="video/mp4")
    parts = _put_parts(store, "staging/video2", upload_id, [BIG_PART, b"end"])
    with pytest.raises(MultipartError):
        store.complete_multipart(
            "staging/video2", upload_id=upload_id, parts=[parts[0], UploadedPart(number=2, etag='"0000"')]
        )
    assert store.size("staging/video2") is None


def test_a_local_part_url_cannot_be_replayed_for_another_part(local):
    upload_id = local.start_multipart("staging/v", content_type="video/mp4")
    url = local.presigned_part("staging/v", upload_id=upload_id, part_number=1, expires_in=60)
    assert requests.put(url.replace("part=1", "part=2"), data=b"x", timeout=10).status_code == 403


def test_copy_replaces_the_destination_whole(store):
    store.put_bytes("staging/copied", DATA, content_type="application/octet-stream")
    store.put_bytes("assets/copied", b"older and different", content_type="application/octet-stream")
    store.copy("staging/copied", "assets/copied")
    assert measure(store, "assets/copied").sha256 == hashlib.sha256(DATA).hexdigest()


def test_copy_of_a_missing_source_says_so_and_writes_nothing(store):
    with pytest.raises(storage.SourceMissing):
        store.copy("staging/never-written", "assets/never-written")
    assert store.size("assets/never-written") is None


# The suite's S3 server is SeaweedFS: it checks what AWS checks, so these refusals come from the
# server itself, not from our code.


def test_s3_refuses_a_presigned_url_whose_signature_was_changed(s3_settings):
    store = get_object_store()
    store.put_bytes("assets/signed", DATA, content_type="application/octet-stream")
    url = store.presigned_get("assets/signed", expires_in=60)
    signature = parse_qs(urlparse(url).query)["X-Amz-Signature"][0]
    forged = url.replace(signature, ("1" if signature[0] == "0" else "0") + signature[1:])
    refused = requests.get(forged, timeout=10)
    assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert requests.get(url, timeout=10).content == DATA


def test_s3_refuses_a_presigned_url_for_another_key(s3_settings):
    store = get_object_store()
    store.put_bytes("assets/mine", b"mine", content_type="text/plain")
    store.put_bytes("assets/theirs", b"theirs", content_type="text/plain")
    url = store.presigned_get("assets/mine", expires_in=60).replace("assets/mine", "assets/theirs")
    assert requests.get(url, timeout=10).status_code == 403


def test_s3_refuses_an_expired_presigned_url(s3_settings):
    store = get_object_store()
    store.put_bytes("assets/brief", b"short-lived", content_type="text/plain")
    url = store.presigned_get("assets/brief", expires_in=1)
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(2.1)
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 403 and "expired" in refused.text


def test_s3_refuses_wrong_credentials_and_anonymous_reads(s3_server):
    from botocore.exceptions import ClientError

    from tests.conftest import S3_BUCKET

    s3_server.client().put_object(Bucket=S3_BUCKET, Key="assets/guarded", Body=b"guarded")
    for access_key, secret_key in [
        (s3_server.access_key, "not-the-secret"),
        ("nobody", s3_server.secret_key),
    ]:
        with pytest.raises(ClientError) as refused:
            s3_server.client(access_key=access_key, secret_key=secret_key).get_object(
                Bucket=S3_BUCKET, Key="assets/guarded"
            )
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert requests.get(f"{s3_server.endpoint_url}/{S3_BUCKET}/assets/guarded", timeout=10).status_code == 403


def test_s3_objects_written_with_sse_are_encrypted_at_rest(s3_settings, s3_server):
    import os

    assert s3_settings.S3_SSE == "AES256"
    store = get_object_store()
    # Random bytes around a marker, so the server cannot compress the marker away.
    secret_marker = b"MARKER-OF-A-FACE-SCAN-" + os.urandom(8).hex().encode()
    plain_marker = b"MARKER-OF-A-PLAIN-OBJECT-" + os.urandom(8).hex().encode()
    secret = os.urandom(4096) + secret_marker + os.urandom(4096)
    plain = os.urandom(4096) + plain_marker + os.urandom(4096)
    store.put_bytes("assets/encrypted", secret, content_type="application/octet-stream")
    store.client.put_object(Bucket=store.bucket, Key="assets/unencrypted", Body=plain)
    head = store.client.head_object(Bucket=store.bucket, Key="assets/encrypted")
    assert head["ServerSideEncryption"] == "AES256"
    assert measure(store, "assets/encrypted").sha256 == hashlib.sha256(secret).hexdigest()

    def on_disk(needle: bytes) -> bool:
        return any(needle in path.read_bytes() for path in s3_server.stored_files())

    # The unencrypted control object is found on disk, so the search does see plaintext.
    deadline = time.monotonic() + 5
    while not on_disk(plain_marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert on_disk(plain_marker)
    assert not on_disk(secret_marker)
