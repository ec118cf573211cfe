"""A lease as a studio's code sees it: its manifest, and its assets pulled to a folder or
streamed, each verified against the manifest's SHA-256.

Guarantees, for `download` and `stream` alike:
- every byte handed over belongs to a file whose SHA-256 is checked against the manifest; a
  downloaded file reaches its final name only after it matched (it is written to a hidden
  `.NAME.part` first and renamed), and a file already there with the right hash is not fetched;
- an interrupted transfer continues from where it stopped (an HTTP range), and a presigned URL
  that expired is replaced by asking the gateway again: inside the trust's pull window that
  records no new download and does not count against the lease's cap;
- connection errors, 5xx and 429 are retried with backoff; a refusal (revoked, expired, cap
  reached) stops the pull at once, a withdrawn asset is skipped and named in the summary."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from . import errors
from .http import RETRY_STATUSES, TRANSIENT, Backoff, Connection, retry_after_seconds
from .names import file_names

CHUNK = 256 * 1024
# What a folder remembers of its pulls: the names given to assets, so a resumed pull finds them.
STATE_DIR = ".guildtrust"
# How often one asset's expired URL is replaced before giving up on it.
URL_REFRESHES = 3
# The media types the trust signs C2PA provenance for (`Lease.provenance`).
MEDIA_PREFIXES = ("image/", "audio/", "video/")
ASSET_REFUSALS = ("c2pa_unsupported_media", "asset_bytes_changed")
_LEASE_IN_URL = re.compile(r"^(?P<base>.*?)/api/v1/leases/(?P<lease>\d+)(?:/.*)?$")


def open_lease(url: str, token: str | None = None, *, lease: int | None = None, jobs: int = 8) -> Lease:
    """The lease a token opens. `url` is the trust (`https://trust.example`, then give `lease`)
    or the lease's own API URL (`https://trust.example/api/v1/leases/42/`). `token` defaults to
    the GUILDTRUST_TOKEN environment variable. Nothing is fetched until you ask."""
    token = token or os.environ.get("GUILDTRUST_TOKEN", "")
    if not token:
        raise errors.UsageError("no lease token: pass one or set GUILDTRUST_TOKEN")
    match = _LEASE_IN_URL.match(url.rstrip("/"))
    if match:
        url, lease = match["base"], lease or int(match["lease"])
    if lease is None:
        raise errors.UsageError("which lease? pass lease=ID or the lease's URL (.../api/v1/leases/ID/)")
    return Lease(Connection(url, token, jobs=jobs), int(lease))


@dataclass
class PullSummary:
    """What a pull did. `exit_code` is the command's exit status for it."""

    files: int = 0
    fetched: int = 0
    skipped: int = 0  # already there with the right SHA-256
    resumed: int = 0  # a partial file continued
    corrupt_refetched: int = 0  # a file on disk (or a transfer) that did not match, fetched again
    urls_refreshed: int = 0  # expired presigned URLs replaced through the gateway
    bytes_fetched: int = 0
    seconds: float = 0.0
    withdrawn: dict[str, str] = field(default_factory=dict)  # asset id -> message
    failed: dict[str, str] = field(default_factory=dict)  # asset id -> message
    stopped_by: errors.GuildtrustError | None = None
    unavailable_parts: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.stopped_by is not None:
            return self.stopped_by.exit_code
        if self.failed:
            return max(
                (getattr(e, "exit_code", errors.FAILED) for e in self._failures), default=errors.FAILED
            )
        if self.withdrawn:
            return errors.ASSET_WITHDRAWN
        return errors.OK

    _failures: list = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        counts = ("files", "fetched", "skipped", "resumed", "corrupt_refetched", "urls_refreshed")
        return {
            **{name: getattr(self, name) for name in counts},
            "bytes_fetched": self.bytes_fetched,
            "seconds": round(self.seconds, 3),
            "withdrawn": self.withdrawn,
            "failed": self.failed,
            "stopped_by": str(self.stopped_by) if self.stopped_by else None,
            "exit_code": self.exit_code,
        }

    def lines(self) -> list[str]:
        rate = self.bytes_fetched / self.seconds if self.seconds else 0.0
        out = [
            f"{self.files} file{'' if self.files == 1 else 's'}: {self.fetched} fetched, "
            f"{self.skipped} already there and verified"
            + (f", {self.resumed} resumed" if self.resumed else "")
            + (f", {self.corrupt_refetched} corrupt ones fetched again" if self.corrupt_refetched else ""),
            f"{_size(self.bytes_fetched)} in {self.seconds:.1f} s ({_size(rate)}/s)"
            + (f"; {self.urls_refreshed} expired URLs refreshed" if self.urls_refreshed else ""),
        ]
        for part in self.unavailable_parts:
            out.append(f"part at {part.get('trust')} unavailable now: {part.get('reason') or 'no answer'}")
        for asset_id, message in sorted(self.withdrawn.items()):
            out.append(f"not pulled, consent withdrawn: {asset_id}: {message}")
        for asset_id, message in sorted(self.failed.items()):
            out.append(f"FAILED {asset_id}: {message}")
        if self.stopped_by is not None:
            out.append(f"stopped: {self.stopped_by}")
        return out


class _Progress:
    """Bytes, files, rate and ETA on one tqdm bar; nothing when not wanted (or no tqdm)."""

    def __init__(self, *, total_bytes: int, total_files: int, enabled: bool):
        self.lock = threading.Lock()
        self.files, self.total_files = 0, total_files
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="pull", smoothing=0.1
            )
            self.bar.set_postfix_str(f"files 0/{total_files}", refresh=False)

    def bytes(self, n: int) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.update(n)

    def file_done(self, credited: int = 0) -> None:
        with self.lock:
            self.files += 1
            if self.bar is not None:
                if credited:
                    self.bar.update(credited)
                self.bar.set_postfix_str(f"files {self.files}/{self.total_files}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Stop(Exception):
    """A worker noticed that another one's refusal stopped the pull."""


class Lease:
    def __init__(self, connection: Connection, lease_id: int):
        self.connection = connection
        self.id = lease_id
        self._manifest: dict | None = None

    def __repr__(self) -> str:
        return f"<guildtrust.Lease {self.id} at {self.connection.url}>"

    # The manifest -------------------------------------------------------------------------

    @property
    def manifest(self) -> dict:
        """The lease's manifest now (fetched once; `refresh()` asks again): dataset, version,
        `assets` (id, kind, title, content_type, sha256, size, download_url, and for a
        federated lease `trust`) and, for a federated lease, `parts`."""
        if self._manifest is None:
            self.refresh()
        return self._manifest

    def refresh(self) -> dict:
        response = self.connection.call("GET", self.connection.api(f"leases/{self.id}/manifest/"))
        self._manifest = response.json()
        return self._manifest

    @property
    def assets(self) -> list[dict]:
        return self.manifest["assets"]

    def _entry(self, asset) -> dict:
        if isinstance(asset, Mapping):
            return dict(asset)
        wanted = str(asset)
        for entry in self.assets:
            if str(entry["id"]) == wanted:
                return entry
        raise errors.AssetWithdrawn(f"asset {wanted} is not in this lease's manifest", code="asset_not_found")

    # One asset's bytes -----------------------------------------------------------------------

    def _location(self, entry: Mapping) -> str:
        """A fresh presigned URL for the asset, from the gateway of the trust that holds it (its
        own `download_url`: a federated lease's assets live at several trusts)."""
        url = entry["download_url"]
        response = self.connection.call(
            "GET", url, allow_redirects=False, ok=lambda r: r.status_code in (301, 302, 303, 307, 308)
        )
        location = response.headers.get("Location", "")
        response.close()
        if not location:
            raise errors.Unavailable(f"the gateway gave no URL for asset {entry['id']}")
        return urljoin(url, location)

    def _chunks(self, entry: Mapping, offset: int, summary: PullSummary | None, stop=None) -> Iterator[bytes]:
        """The asset's bytes from `offset` on, across retries and URL refreshes: a transfer
        cut short continues with a range from the last byte received."""
        backoff: Backoff = self.connection.backoff
        url, refreshes, attempt, authorised = None, 0, 0, False
        while True:
            # A refusal elsewhere stops transfers not yet authorised; one already authorised (and
            # billed) finishes, its URL refreshes being free inside the pull window.
            if stop is not None and stop.is_set() and not authorised:
                raise _Stop()
            if url is None:
                url = self._location(entry)
                authorised = True
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                # The presigned URL carries its own signature: the lease token is not sent to storage.
                response = self.connection.session.get(url, headers=headers, stream=True, timeout=(10, 60))
            except TRANSIENT as error:
                attempt = self._again(attempt, backoff, error, entry)
                continue
            status = response.status_code
            if status in (400, 401, 403, 410):
                # An expired (or otherwise refused) presigned URL: ask the gateway for a new one.
                response.close()
                if refreshes >= URL_REFRESHES:
                    raise errors.Unavailable(
                        f"the object store refused asset {entry['id']} ({status}) after {refreshes} new URLs"
                    )
                url, refreshes = None, refreshes + 1
                if summary is not None:
                    summary.urls_refreshed += 1
                continue
            if status == 416:  # nothing after `offset`: the partial file is whole (or too long)
                response.close()
                return
            if status in RETRY_STATUSES:
                asked = retry_after_seconds(response)
                response.close()
                attempt = self._again(attempt, backoff, f"answered {status}", entry, asked)
                continue
            if status not in (200, 206):
                raise self.connection.error_of(response, url)
            # A store that ignores the range sends the whole object: drop what we already have.
            skip = offset if status == 200 else 0
            try:
                for chunk in response.iter_content(CHUNK):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk, skip = chunk[skip:], 0
                    offset += len(chunk)
                    attempt = 0  # progress: a later failure starts its retries afresh
                    yield chunk
                return
            except TRANSIENT as error:
                attempt = self._again(attempt, backoff, error, entry)
            finally:
                response.close()

    @staticmethod
    def _again(attempt: int, backoff: Backoff, why, entry, asked: float | None = None) -> int:
        if attempt >= backoff.retries:
            raise errors.Unavailable(f"asset {entry['id']}: {why}, after {attempt} retries")
        backoff.wait(attempt, asked)
        return attempt + 1

    def stream(self, asset, *, summary: PullSummary | None = None) -> Iterator[bytes]:
        """The asset's bytes, chunk by chunk, with the same retries and URL refreshes as
        `download`. Its SHA-256 is checked when the last chunk has been read: on a mismatch
        VerificationFailed is raised before the iteration ends, so a consumer that reads to
        the end never takes a bad asset for a good one."""
        entry = self._entry(asset)
        hasher = hashlib.sha256()
        for chunk in self._chunks(entry, 0, summary):
            hasher.update(chunk)
            yield chunk
        expected = entry.get("sha256")
        if expected and hasher.hexdigest() != expected:
            raise errors.VerificationFailed(
                f"asset {entry['id']}: SHA-256 {hasher.hexdigest()} is not the manifest's {expected}"
            )

    def read(self, asset) -> bytes:
        """The whole asset in memory, verified."""
        return b"".join(self.stream(asset))

    # Provenance ------------------------------------------------------------------------------

    def provenance(self, asset) -> bytes:
        """The asset's C2PA manifest, a `.c2pa` sidecar signed by the trust that holds it: whom
        the asset is held for, the consent uses granted, and training constrained to this lease.
        Read it beside the file with c2pa-python (`c2pa.Reader(media_type, file, sidecar)`).
        Images, audio and video only: another asset is refused (`c2pa_unsupported_media`)."""
        entry = self._entry(asset)
        url = entry["download_url"].removesuffix("download/") + "c2pa/"
        return self.connection.call("GET", url).content

    def save_provenance(
        self, to: str | os.PathLike, *, assets: Iterable | None = None, jobs: int = 8
    ) -> dict[str, str]:
        """Write the sidecar of each image, audio and video asset already pulled into `to` beside
        its file (`NAME.c2pa` for `NAME.png`; `NAME.png.c2pa` when two files share a stem), each
        written whole or not at all, `jobs` at a time. Returns asset id -> sidecar name; a
        refusal of the token or lease (revoked, expired) is raised, one asset's refusal (consent
        withdrawn since, a format C2PA cannot bind) skips that asset."""
        folder = Path(to)
        entries = [self._entry(a) for a in assets] if assets is not None else list(self.manifest["assets"])
        names = self._names(folder, entries)
        media = [
            e
            for e in entries
            if str(e.get("content_type", "")).startswith(MEDIA_PREFIXES)
            and (folder / names[str(e["id"])]).exists()
        ]
        stems = Counter(Path(names[str(e["id"])]).stem for e in media)

        def save(entry) -> tuple[str, str] | None:
            name = names[str(entry["id"])]
            stem = Path(name).stem
            sidecar = f"{stem}.c2pa" if stems[stem] == 1 else f"{name}.c2pa"
            try:
                data = self.provenance(entry)
            except errors.Refused as refused:
                if isinstance(refused, errors.AssetWithdrawn) or refused.code in ASSET_REFUSALS:
                    return None
                raise
            partial = folder / f".{sidecar}.part"
            partial.write_bytes(data)
            os.replace(partial, folder / sidecar)
            return str(entry["id"]), sidecar

        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="guildtrust-c2pa") as pool:
            return dict(saved for saved in pool.map(save, media) if saved is not None)

    # Pulling to a folder -------------------------------------------------------------------

    def download(
        self,
        to: str | os.PathLike,
        *,
        jobs: int = 8,
        progress: bool = False,
        assets: Iterable | None = None,
    ) -> PullSummary:
        """Pull the lease's assets (or those of `assets`) into the folder `to`, `jobs` at a
        time. Safe to interrupt and run again: verified files are skipped, partial ones are
        continued. Returns a PullSummary; raises nothing for refusals (see `stopped_by`)."""
        started = time.monotonic()
        folder = Path(to)
        folder.mkdir(parents=True, exist_ok=True)
        summary = PullSummary()
        manifest = self.manifest
        summary.unavailable_parts = [p for p in manifest.get("parts") or [] if p.get("status") != "available"]
        entries = [self._entry(a) for a in assets] if assets is not None else list(manifest["assets"])
        names = self._names(folder, entries)
        summary.files = len(entries)
        bar = _Progress(
            total_bytes=sum(int(e.get("size") or 0) for e in entries),
            total_files=len(entries),
            enabled=progress,
        )
        # `stop`: a refusal ends the pull, no new transfer starts (those under way, already
        # authorised, finish). `abort`: Ctrl-C, every transfer stops at its next chunk.
        stop, abort = threading.Event(), threading.Event()
        lock = threading.Lock()

        def pull(entry):
            try:
                target = folder / names[str(entry["id"])]
                self._pull_one(entry, target, summary, bar, lock, stop, abort)
            except _Stop:
                pass
            except errors.GuildtrustError as error:
                with lock:
                    if isinstance(error, errors.Refused) and error.stops_pull:
                        if summary.stopped_by is None:
                            summary.stopped_by = error
                        stop.set()
                    elif isinstance(error, errors.AssetWithdrawn):
                        summary.withdrawn[str(entry["id"])] = str(error)
                    else:
                        summary.failed[str(entry["id"])] = str(error)
                        summary._failures.append(error)
            except OSError as error:  # the disk: full, or not ours to write
                with lock:
                    summary.failed[str(entry["id"])] = f"{type(error).__name__}: {error}"
                    summary._failures.append(error)

        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="guildtrust")
        try:
            futures = [pool.submit(pull, entry) for entry in entries]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C (or a bug): stop every worker at its next chunk; `.part` files stay, to resume.
            stop.set()
            abort.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            summary.seconds = time.monotonic() - started
        return summary

    def _names(self, folder: Path, entries: list[dict]) -> dict[str, str]:
        """Names for `entries`, keeping those an earlier pull into `folder` gave; remembered in
        the folder before any file is fetched."""
        state = folder / STATE_DIR / "names.json"
        taken: dict[str, str] = {}
        if state.exists():
            try:
                taken = json.loads(state.read_text())["names"]
            except (ValueError, KeyError, TypeError):
                taken = {}
        names = file_names(entries, taken)
        if names != taken:
            state.parent.mkdir(exist_ok=True)
            temporary = state.with_suffix(".tmp")
            temporary.write_text(json.dumps({"lease": self.id, "names": names}, indent=1, sort_keys=True))
            os.replace(temporary, state)
        return names

    def _pull_one(self, entry, final: Path, summary: PullSummary, bar: _Progress, lock, stop, abort) -> None:
        expected, size = entry.get("sha256"), int(entry.get("size") or 0)
        if stop.is_set():
            raise _Stop()
        if final.exists():
            if expected and final.stat().st_size == size and _sha256_of(final) == expected:
                with lock:
                    summary.skipped += 1
                bar.file_done(credited=size)
                return
            # Never leave a bad file under the final name, even if the refetch fails.
            final.unlink()
            with lock:
                summary.corrupt_refetched += 1
        partial = final.with_name(f".{final.name}.part")
        for attempt in (1, 2):
            offset = partial.stat().st_size if partial.exists() else 0
            if offset > size or attempt == 2:
                partial.unlink(missing_ok=True)
                offset = 0
            hasher = hashlib.sha256()
            if offset:
                with partial.open("rb") as existing:
                    while block := existing.read(CHUNK):
                        hasher.update(block)
                with lock:
                    summary.resumed += 1
                bar.bytes(offset)
            received, out = 0, None
            try:
                for chunk in self._chunks(entry, offset, summary, stop):
                    if abort.is_set():
                        raise _Stop()
                    # Opened at the first byte: a refusal leaves no empty `.part` behind.
                    out = out or partial.open("ab")
                    out.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    bar.bytes(len(chunk))
            finally:
                if out is not None:
                    out.close()
            partial.touch()  # an empty asset has no first byte
            with lock:
                summary.bytes_fetched += received
            if not expected or hasher.hexdigest() == expected:
                os.replace(partial, final)
                with lock:
                    summary.fetched += 1
                bar.file_done()
                return
            # A partial file spoilt on disk, or a bad transfer: start again from nothing, once.
            partial.unlink(missing_ok=True)
            bar.bytes(-(offset + received))
            with lock:
                summary.corrupt_refetched += 1
        raise errors.VerificationFailed(
            f"{final.name}: SHA-256 did not match the manifest's {expected} after a fresh download"
        )

    # Usage -------------------------------------------------------------------------------------

    def report_usage(self, events: list[dict]) -> dict:
        """Send one batch of usage events (at most the trust's maximum per request); each
        needs an `event_key`, which makes sending it again harmless. Answers {accepted,
        duplicates}."""
        response = self.connection.call(
            "POST", self.connection.api(f"leases/{self.id}/usage/"), json={"events": events}
        )
        return response.json()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            hasher.update(block)
    return hasher.hexdigest()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
