"""The object store: one private bucket behind one interface, with two implementations.

`S3ObjectStore` speaks the S3 API through boto3 (AWS, MinIO, Ceph RGW, R2; SeaweedFS in tests).
`LocalObjectStore` keeps objects under a directory and signs its own expiring URLs with
HMAC, served by `trust.storage_views.local_object`. Bytes never pass through the API: uploads go to a
presigned PUT, downloads to a presigned GET.
"""

import functools
import hashlib
import hmac
import mimetypes
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode

import boto3
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.urls import reverse
from django.utils.text import slugify

from .errors import ServiceUnavailable

CHUNK = 1024 * 1024
# Media types the standard library does not name an extension for.
EXTRA_EXTENSIONS = {"audio/wav": ".wav", "audio/vnd.wave": ".wav", "text/x-fountain": ".fountain"}
FILENAME_STEM_MAX = 80
# What `require_reachable` asks the store about when no object is named (a HEAD of a key that
# need not exist: "not found" is an answer).
REACHABILITY_PROBE_KEY = "reachability-probe"
STORAGE_UNAVAILABLE = "storage_unavailable"
STORAGE_UNAVAILABLE_DETAIL = (
    "Object storage cannot be reached right now: nothing was recorded. Try again shortly."
)


def download_filename(*, title: str, content_type: str, fallback: str) -> str:
    """A name a browser can save an object under: the title as an ASCII slug (`fallback` when
    nothing of it survives) and the extension of its media type ("Mara, face 1" + image/png ->
    "mara-face-1.png"). Never holds a quote, a slash or anything but [a-z0-9._-]."""
    stem = slugify(title)[:FILENAME_STEM_MAX].strip("-_") or slugify(fallback) or "asset"
    media_type = content_type.split(";")[0].strip().lower()
    extension = EXTRA_EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"
    return f"{stem}{extension}"


@dataclass(frozen=True)
class UploadTarget:
    url: str
    method: str
    headers: dict[str, str]


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str


@dataclass(frozen=True)
class StoredObject:
    size: int
    sha256: str


class ObjectStore(Protocol):
    def presigned_put(self, key: str, *, content_type: str, expires_in: int) -> UploadTarget: ...
    def presigned_get(
        self, key: str, *, expires_in: int, filename: str | None = None, content_type: str | None = None
    ) -> str:
        """A GET URL; with `filename` the browser saves the object under that name, with
        `content_type` the response carries that media type."""

    def require_reachable(self, key: str = REACHABILITY_PROBE_KEY, *, believe_recent: bool = False) -> None:
        """Raise ServiceUnavailable (`storage_unavailable`) unless the store answers (for `key`)
        now; with `believe_recent`, unless it answered this process within
        STORAGE_REACHABLE_SECONDS and no call since found it unreachable. Presigning is computed
        locally and succeeds with the store down; this asks it."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def iter_chunks(self, key: str) -> Iterator[bytes]: ...
    def size(self, key: str) -> int | None: ...
    def delete(self, key: str) -> None: ...
    def copy(self, source: str, destination: str) -> None:
        """Copy an object inside the store (server-side on S3), replacing `destination` whole.
        Raises SourceMissing when `source` holds no object."""

    # Multipart, for large video: start, PUT each part to its own URL, complete with the ETags.
    def start_multipart(self, key: str, *, content_type: str) -> str: ...
    def presigned_part(self, key: str, *, upload_id: str, part_number: int, expires_in: int) -> str: ...
    def complete_multipart(self, key: str, *, upload_id: str, parts: list[UploadedPart]) -> None: ...
    def abort_multipart(self, key: str, *, upload_id: str) -> None: ...
    def check_reachable(self) -> None:
        """Raise if the store cannot be used now (the readiness probe asks)."""

    # Destruction: remove every copy under the keys (all versions, open multipart uploads, and
    # the named upload ids), then ask the store again.
    def purge(self, keys: list[str], *, upload_ids: list[str] = ()) -> "PurgeReport": ...
    def check_absent(self, keys: list[str], *, upload_ids: list[str] = ()) -> "AbsenceCheck": ...


@dataclass(frozen=True)
class PurgeReport:
    """What `purge` removed: every stored version and delete marker of the keys, and every
    multipart upload left open under them."""

    keys: tuple[str, ...]
    object_versions_removed: int
    delete_markers_removed: int
    multipart_uploads_aborted: int

    def as_dict(self) -> dict:
        return {
            "keys": list(self.keys),
            "object_versions_removed": self.object_versions_removed,
            "delete_markers_removed": self.delete_markers_removed,
            "multipart_uploads_aborted": self.multipart_uploads_aborted,
        }


@dataclass(frozen=True)
class AbsenceCheck:
    """What the store answered, asked again after a purge, for each key: how many versions its
    listing still names, whether a HEAD finds it, and how many multipart uploads are open."""

    answers: dict[str, dict]

    @property
    def all_gone(self) -> bool:
        return all(
            a["versions_listed"] == 0 and not a["head_found"] and a["multipart_uploads_open"] == 0
            for a in self.answers.values()
        )


class MultipartError(Exception):
    """The parts named do not make a complete upload (missing, unknown or mismatched ETags)."""


class SourceMissing(Exception):
    """A copy's source holds no object (never written, or moved away by another process)."""


_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _unreachable(error: Exception) -> bool:
    """A connection refused, reset or timed out, or the store answering with a 5xx."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(error, ClientError) and status >= 500


# When this process last heard the store answer, per store (endpoint, bucket): a deadline on
# the monotonic clock until which `require_reachable` believes it without asking again.
_reachable_until: dict[tuple, float] = {}


@contextmanager
def _storage_call():
    """Every call to S3 runs in this: an unreachable store is a 503 `storage_unavailable`, the
    same DomainError for the API, the pages and the tasks (which retry it). A call that finds
    the store unreachable makes this process forget that it was reachable, at once."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        if _unreachable(error):
            _reachable_until.clear()
            raise ServiceUnavailable(STORAGE_UNAVAILABLE_DETAIL, code=STORAGE_UNAVAILABLE) from error
        raise


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
    def __init__(self, *, bucket: str, client, credentials):
        self.bucket = bucket
        self.client = client
        self.credentials = credentials  # the client's own (botocore Credentials, refreshed if temporary)
        self.sse = settings.S3_SSE

    def _sse_params(self) -> dict[str, str]:
        return {"ServerSideEncryption": self.sse} if self.sse else {}

    def check_reachable(self):
        # HEAD of the bucket: the endpoint answers, the credentials work and the bucket exists.
        self.client.head_bucket(Bucket=self.bucket)

    def presigned_put(self, key, *, content_type, expires_in):
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type, **self._sse_params()}
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        headers = {"Content-Type": content_type}
        if self.sse:
            # Signed into the URL, so the uploader must send it: the object is encrypted at rest.
            headers["x-amz-server-side-encryption"] = self.sse
        return UploadTarget(url=url, method="PUT", headers=headers)

    def presigned_get(self, key, *, expires_in, filename=None, content_type=None):
        # Every download presigns one (the gateway): signed by botocore's SigV4 query signer on
        # the object's URL as the client resolves it (once per process), where the client's
        # generate_presigned_url resolves its endpoint rules and runs its event hooks on every
        # call, over half of the presigning's CPU. The same URL, the same signature rules.
        query = {}
        if filename:
            query["response-content-disposition"] = f'attachment; filename="{filename}"'
        if content_type:
            query["response-content-type"] = content_type
        url = _object_url_prefix(self.client, self.bucket) + quote(key, safe="/~")
        if query:
            url += "?" + urlencode(query, quote_via=quote)
        request = AWSRequest(method="GET", url=url)
        signer = S3SigV4QueryAuth(
            self.credentials.get_frozen_credentials(), "s3", self.client.meta.region_name, expires=expires_in
        )
        signer.add_auth(request)
        return request.url

    def require_reachable(self, key=REACHABILITY_PROBE_KEY, *, believe_recent=False):
        """A HEAD (an absent object is an answer too), 503 if unanswered. With `believe_recent`
        (the gateway), a store that answered this process within STORAGE_REACHABLE_SECONDS is
        believed without asking; any call that finds it unreachable ends that window at once."""
        identity = (self.client.meta.endpoint_url, self.bucket)
        if believe_recent and time.monotonic() < _reachable_until.get(identity, 0.0):
            return
        self.size(key)
        _reachable_until[identity] = time.monotonic() + settings.STORAGE_REACHABLE_SECONDS

    def put_bytes(self, key, data, *, content_type):
        with _storage_call():
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **self._sse_params()
            )

    def iter_chunks(self, key):
        with _storage_call():
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

    def size(self, key):
        with _storage_call():
            try:
                return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING_CODES:
                    return None
                raise

    def delete(self, key):
        with _storage_call():
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, source, destination):
        # The managed copy switches to a multipart copy past 5 GB, still without the bytes
        # leaving the server; the copy is encrypted like every other write.
        with _storage_call():
            try:
                self.client.copy(
                    {"Bucket": self.bucket, "Key": source},
                    self.bucket,
                    destination,
                    ExtraArgs=self._sse_params(),
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING_CODES:
                    raise SourceMissing(source) from error
                raise

    def start_multipart(self, key, *, content_type):
        with _storage_call():
            response = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type, **self._sse_params()
            )
        return response["UploadId"]

    def presigned_part(self, key, *, upload_id, part_number, expires_in):
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in)

    def complete_multipart(self, key, *, upload_id, parts):
        try:
            with _storage_call():
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
                )
        except ClientError as error:
            raise MultipartError(error.response.get("Error", {}).get("Message", str(error))) from error

    def abort_multipart(self, key, *, upload_id):
        with _storage_call():
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def _versions_of(self, key: str) -> tuple[list[str], list[str]]:
        """(version ids, delete-marker ids) of exactly `key` (a prefix listing also names longer
        keys). An unversioned bucket lists its one object under the version id "null"."""
        versions, markers = [], []
        paginator = self.client.get_paginator("list_object_versions")
        with _storage_call():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                versions += [v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key]
                markers += [m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key]
        return versions, markers

    def _open_uploads_of(self, key: str) -> list[str]:
        with _storage_call():
            page = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        return [u["UploadId"] for u in page.get("Uploads", []) if u["Key"] == key]

    def purge(self, keys, *, upload_ids=()):
        removed = markers_removed = aborted = 0
        for key in keys:
            versions, markers = self._versions_of(key)
            with _storage_call():
                # Deleting by version id removes the bytes for good; a plain delete on a
                # versioned bucket would only hide them behind a delete marker.
                for version_id in versions + markers:
                    self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            removed, markers_removed = removed + len(versions), markers_removed + len(markers)
            for upload_id in self._open_uploads_of(key):
                self.abort_multipart(key, upload_id=upload_id)
                aborted += 1
        return PurgeReport(
            keys=tuple(keys),
            object_versions_removed=removed,
            delete_markers_removed=markers_removed,
            multipart_uploads_aborted=aborted,
        )

    def check_absent(self, keys, *, upload_ids=()):
        answers = {}
        for key in keys:
            versions, markers = self._versions_of(key)
            answers[key] = {
                "versions_listed": len(versions) + len(markers),
                "head_found": self.size(key) is not None,
                "multipart_uploads_open": len(self._open_uploads_of(key)),
            }
        return AbsenceCheck(answers=answers)


class InvalidSignature(Exception):
    pass


class LocalObjectStore:
    """Objects as files under `root`; URLs signed with HMAC-SHA256 over method, key and expiry."""

    def __init__(self, *, root: Path, secret: bytes, base_url: str):
        self.root = Path(root)
        self.secret = secret
        self.base_url = base_url.rstrip("/")

    def check_reachable(self):
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("object key escapes the store")
        return path

    def signature(self, method: str, key: str, expires: int, part: str = "") -> str:
        message = f"{method}\n{key}\n{expires}\n{part}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _signed_url(self, method: str, key: str, expires_in: int, extra: dict | None = None) -> str:
        expires = int(time.time()) + int(expires_in)
        extra = extra or {}
        part = self.scope_of(extra)
        query = {
            "method": method,
            "expires": expires,
            "signature": self.signature(method, key, expires, part),
        }
        query.update(extra)
        path = reverse("local-object", kwargs={"key": key})
        return f"{self.base_url}{path}?{urlencode(query)}"

    @staticmethod
    def part_scope(upload_id, part_number) -> str:
        """What a part URL is signed for, so it cannot be replayed for another part or upload."""
        return f"{upload_id}:{part_number}" if upload_id else ""

    @classmethod
    def scope_of(cls, query) -> str:
        """What a URL's query is signed for beyond method, key and expiry: a multipart part, or
        the filename and media type a download answers with (so neither can be swapped)."""
        if query.get("upload_id"):
            return cls.part_scope(query.get("upload_id"), query.get("part"))
        if query.get("filename") or query.get("content_type"):
            return f"response:{query.get('filename') or ''}:{query.get('content_type') or ''}"
        return ""

    def check_signature(self, *, method: str, key: str, expires: str, signature: str, part: str = "") -> None:
        """Raise InvalidSignature unless the URL was signed by us for this method, key (and
        part) and has not expired."""
        try:
            expires_at = int(expires)
        except (TypeError, ValueError) as error:
            raise InvalidSignature("malformed expiry") from error
        expected = self.signature(method, key, expires_at, part)
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

    def presigned_get(self, key, *, expires_in, filename=None, content_type=None):
        overrides = {"filename": filename, "content_type": content_type}
        return self._signed_url("GET", key, expires_in, {k: v for k, v in overrides.items() if v})

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

    def require_reachable(self, key=REACHABILITY_PROBE_KEY, *, believe_recent=False):
        """A directory on this machine: always there."""

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

    def copy(self, source, destination):
        target = self._path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            source_file = self.open(source)
        except FileNotFoundError as error:
            raise SourceMissing(source) from error
        with source_file as handle, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            shutil.copyfileobj(handle, tmp, CHUNK)
        os.replace(tmp.name, target)

    def _parts_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ValueError("malformed upload id")
        return self.root / ".multipart" / upload_id

    def start_multipart(self, key, *, content_type):
        upload_id = uuid.uuid4().hex
        self._parts_dir(upload_id).mkdir(parents=True)
        return upload_id

    def presigned_part(self, key, *, upload_id, part_number, expires_in):
        return self._signed_url("PUT", key, expires_in, {"upload_id": upload_id, "part": part_number})

    def write_part(self, upload_id: str, part_number: int, stream, *, limit: int) -> str:
        """Store one part; returns its ETag (the MD5 of its bytes, quoted, as S3 does)."""
        parts = self._parts_dir(upload_id)
        if not parts.is_dir():
            raise ValueError("no such upload")
        digest = hashlib.md5(usedforsecurity=False)
        with tempfile.NamedTemporaryFile(dir=parts, delete=False) as tmp:
            written = 0
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    tmp.close()
                    os.unlink(tmp.name)
                    raise ValueError("part larger than allowed")
                digest.update(chunk)
                tmp.write(chunk)
        os.replace(tmp.name, parts / f"{part_number:05d}")
        etag = f'"{digest.hexdigest()}"'
        (parts / f"{part_number:05d}.etag").write_text(etag)
        return etag

    def complete_multipart(self, key, *, upload_id, parts):
        directory = self._parts_dir(upload_id)
        if not directory.is_dir():
            raise MultipartError("no such upload")
        numbers = [p.number for p in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise MultipartError("parts must be listed once each, in ascending order")
        for part in parts:
            etag_file = directory / f"{part.number:05d}.etag"
            if not etag_file.exists() or etag_file.read_text() != part.etag:
                raise MultipartError(f"part {part.number} was not uploaded with that ETag")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            for part in parts:
                with (directory / f"{part.number:05d}").open("rb") as handle:
                    shutil.copyfileobj(handle, tmp, CHUNK)
        os.replace(tmp.name, path)
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key, *, upload_id):
        shutil.rmtree(self._parts_dir(upload_id), ignore_errors=True)

    def _open_parts(self, upload_ids) -> list[Path]:
        return [self._parts_dir(u) for u in upload_ids if u and self._parts_dir(u).is_dir()]

    def purge(self, keys, *, upload_ids=()):
        # One version per key here: the file. Open multipart uploads are directories by id.
        removed = 0
        for key in keys:
            if self._path(key).exists():
                self._path(key).unlink(missing_ok=True)
                removed += 1
        open_parts = self._open_parts(upload_ids)
        for directory in open_parts:
            shutil.rmtree(directory, ignore_errors=True)
        return PurgeReport(
            keys=tuple(keys),
            object_versions_removed=removed,
            delete_markers_removed=0,
            multipart_uploads_aborted=len(open_parts),
        )

    def check_absent(self, keys, *, upload_ids=()):
        open_parts = len(self._open_parts(upload_ids))
        answers = {
            key: {
                "versions_listed": int(self._path(key).exists()),
                "head_found": self.size(key) is not None,
                "multipart_uploads_open": open_parts,
            }
            for key in keys
        }
        return AbsenceCheck(answers=answers)


@functools.cache
def _s3_session(region, access_key, secret_key):
    """The session the client takes its credentials from: the keys given, or the default chain
    (an instance role's are refreshed before they expire)."""
    return boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )


@functools.cache
def _object_url_prefix(client, bucket: str) -> str:
    """The URL of the bucket's objects up to the key, as the client builds it (endpoint,
    addressing style), read off one URL it presigns."""
    probe = "guildtrust-probe"
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": probe}, ExpiresIn=1)
    return url.split("?", 1)[0].removesuffix(probe)


@functools.cache
def _s3_client(endpoint_url, region, access_key, secret_key):
    # Creating a boto3 client is slow (it loads service models): one per process and config.
    return _s3_session(region, access_key, secret_key).client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            # An unreachable store is refused within seconds, well inside gunicorn's timeout
            # (the defaults wait 60 s per attempt).
            connect_timeout=3,
            read_timeout=20,
        ),
    )


def get_object_store() -> ObjectStore:
    """The store configured by settings: S3 when S3_BUCKET is set, else the local directory."""
    if settings.S3_BUCKET:
        identity = (settings.S3_REGION, settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY)
        client = _s3_client(settings.S3_ENDPOINT_URL, *identity)
        credentials = _s3_session(*identity).get_credentials()
        return S3ObjectStore(bucket=settings.S3_BUCKET, client=client, credentials=credentials)
    secret = hashlib.sha256(b"local-object-store:" + settings.SECRET_KEY.encode()).digest()
    return LocalObjectStore(root=settings.LOCAL_OBJECT_ROOT, secret=secret, base_url=settings.PUBLIC_BASE_URL)
