"""The object store: one private bucket behind one interface, with two implementations.

`S3ObjectStore` speaks the S3 API through boto3 (AWS, MinIO, Ceph RGW, R2, moto in tests).
`LocalObjectStore` keeps objects under a directory and signs its own expiring URLs with
HMAC, served by `trust.views.local_object`. Bytes never pass through the API: uploads go to a
presigned PUT, downloads to a presigned GET.
"""

import functools
import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.urls import reverse

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadTarget:
    url: str
    method: str
    headers: dict[str, str]


@dataclass(frozen=True)
class StoredObject:
    size: int
    sha256: str


class ObjectStore(Protocol):
    def presigned_put(self, key: str, *, content_type: str, expires_in: int) -> UploadTarget: ...
    def presigned_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str: ...
    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def iter_chunks(self, key: str) -> Iterator[bytes]: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...


def measure(store: ObjectStore, key: str) -> StoredObject | None:
    """Size and SHA-256 of what is actually stored, read back in chunks; None if absent."""
    size = store.size(key)
    if size is None:
        return None
    digest = hashlib.sha256()
    read = 0
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
        read += len(chunk)
    return StoredObject(size=read, sha256=digest.hexdigest())


class S3ObjectStore:
    def __init__(self, *, bucket: str, client):
        self.bucket = bucket
        self.client = client
        self.sse = settings.S3_SSE

    def _sse_params(self) -> dict[str, str]:
        return {"ServerSideEncryption": self.sse} if self.sse else {}

    def presigned_put(self, key, *, content_type, expires_in):
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, **self._sse_params()}
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        headers = {"Content-Type": content_type}
        if self.sse:
            # Signed into the URL, so the uploader must send it: the object is encrypted at rest.
            headers["x-amz-server-side-encryption"] = self.sse
        return UploadTarget(url=url, method="PUT", headers=headers)

    def presigned_get(self, key, *, expires_in, filename=None):
        params = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def put_bytes(self, key, data, *, content_type):
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **self._sse_params()
        )

    def iter_chunks(self, key):
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def size(self, key):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=key)


class InvalidSignature(Exception):
    pass


class LocalObjectStore:
    """Objects as files under `root`; URLs signed with HMAC-SHA256 over method, key and expiry."""

    def __init__(self, *, root: Path, secret: bytes, base_url: str):
        self.root = Path(root)
        self.secret = secret
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("object key escapes the store")
        return path

    def signature(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _signed_url(self, method: str, key: str, expires_in: int, extra: dict | None = None) -> str:
        expires = int(time.time()) + int(expires_in)
        query = {"method": method, "expires": expires, "signature": self.signature(method, key, expires)}
        query.update(extra or {})
        path = reverse("local-object", kwargs={"key": key})
        return f"{self.base_url}{path}?{urlencode(query)}"

    def check_signature(self, *, method: str, key: str, expires: str, signature: str) -> None:
        """Raise InvalidSignature unless the URL was signed by us for this method and key and
        has not expired."""
        try:
            expires_at = int(expires)
        except (TypeError, ValueError) as error:
            raise InvalidSignature("malformed expiry") from error
        expected = self.signature(method, key, expires_at)
        if not hmac.compare_digest(expected, signature or ""):
            raise InvalidSignature("signature does not match")
        if time.time() > expires_at:
            raise InvalidSignature("URL has expired")

    def presigned_put(self, key, *, content_type, expires_in):
        return UploadTarget(
            url=self._signed_url("PUT", key, expires_in),
            method="PUT",
            headers={"Content-Type": content_type},
        )

    def presigned_get(self, key, *, expires_in, filename=None):
        return self._signed_url("GET", key, expires_in, {"filename": filename} if filename else None)

    def write_stream(self, key: str, stream, *, limit: int | None = None) -> int:
        """Write atomically: a reader never sees half an object."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            try:
                while chunk := stream.read(CHUNK):
                    written += len(chunk)
                    if limit is not None and written > limit:
                        raise ValueError("upload larger than allowed")
                    tmp.write(chunk)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        os.replace(tmp.name, path)
        return written

    def put_bytes(self, key, data, *, content_type):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)

    def open(self, key: str):
        return self._path(key).open("rb")

    def iter_chunks(self, key):
        with self.open(key) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def size(self, key):
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key):
        self._path(key).unlink(missing_ok=True)

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@functools.cache
def _s3_client(endpoint_url, region, access_key, secret_key):
    # Creating a boto3 client is slow (it loads service models): one per process and config.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def get_object_store() -> ObjectStore:
    """The store configured by settings: S3 when S3_BUCKET is set, else the local directory."""
    if settings.S3_BUCKET:
        client = _s3_client(
            settings.S3_ENDPOINT_URL,
            settings.S3_REGION,
            settings.S3_ACCESS_KEY_ID,
            settings.S3_SECRET_ACCESS_KEY,
        )
        return S3ObjectStore(bucket=settings.S3_BUCKET, client=client)
    secret = hashlib.sha256(b"local-object-store:" + settings.SECRET_KEY.encode()).digest()
    return LocalObjectStore(root=settings.LOCAL_OBJECT_ROOT, secret=secret, base_url=settings.PUBLIC_BASE_URL)
