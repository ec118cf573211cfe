"""`guildtrust report`: usage from a JSON-lines file, sent in batches of the trust's maximum.

Safe to run again after a crash: every event has an `event_key` (a line without one gets a key
made from its own content, the same on every run), so the trust records each event once
however often it arrives; and a journal beside the file (`FILE.sent`) remembers how many lines
the trust has acknowledged, so a re-run sends only what follows them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

# The most events the trust takes in one request (POST /usage/).
BATCH_MAX = 10_000


@dataclass
class ReportSummary:
    lines: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    already_sent: int = 0  # lines the journal says an earlier run delivered


def event_of(line: str, number: int) -> dict:
    """One line as an event; a line without `event_key` gets one derived from its content."""
    try:
        event = json.loads(line)
    except ValueError as error:
        raise UsageError(f"line {number}: not JSON ({error})") from error
    if not isinstance(event, dict):
        raise UsageError(f"line {number}: an event is a JSON object")
    if not event.get("event_key"):
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
        event["event_key"] = "jsonl:" + hashlib.sha256(canonical.encode()).hexdigest()
    return event


def _batches(path: Path, *, skip: int, size: int) -> Iterator[tuple[int, list[dict]]]:
    """(lines read so far, events) per batch, after the first `skip` non-blank lines."""
    batch, count = [], 0
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            count += 1
            if count <= skip:
                continue
            batch.append(event_of(line, number))
            if len(batch) == size:
                yield count, batch
                batch = []
    if batch:
        yield count, batch


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".sent")


def report_file(lease, path: str | os.PathLike, *, batch: int = BATCH_MAX, echo=print) -> ReportSummary:
    """Send the file's events to `lease` (a guildtrust.Lease), batch by batch, journalling each
    acknowledged batch. A refusal stops at that batch (nothing of it is recorded: reports are
    all or nothing) and is raised; the journal keeps what went before."""
    source = Path(path)
    journal = journal_path(source)
    fingerprint = f"{lease.connection.url} lease {lease.id}"
    done = 0
    if journal.exists():
        try:
            state = json.loads(journal.read_text())
            if state.get("for") == fingerprint:
                done = int(state.get("lines", 0))
        except ValueError:
            done = 0
    summary = ReportSummary(already_sent=done)
    summary.lines = done
    for lines, events in _batches(source, skip=done, size=max(1, min(batch, BATCH_MAX))):
        answer = lease.report_usage(events)
        summary.sent += len(events)
        summary.accepted += int(answer.get("accepted", 0))
        summary.duplicates += int(answer.get("duplicates", 0))
        summary.lines = lines
        temporary = journal.with_name(journal.name + ".tmp")
        temporary.write_text(json.dumps({"for": fingerprint, "lines": lines}))
        os.replace(temporary, journal)
        accepted, duplicates = answer.get("accepted", 0), answer.get("duplicates", 0)
        echo(f"sent {lines} lines: {accepted} new, {duplicates} already known")
    return summary
