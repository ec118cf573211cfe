"""The hash-chained audit log: append in the caller's transaction, verify from the start."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's canonical JSON, which includes the hash of the event before."""
    payload = {
        "prev": event.prev_hash,
        "seq": event.seq,
        "at": event.created_at.isoformat(),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "subject": [event.subject_type, event.subject_id],
        "data": event.data,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def serialise_with_audited_writes() -> None:
    """Hold the audit head's row lock until the caller's transaction ends. Every audited write
    takes it (`record`), so they run one after another; a read that must see every audited
    write committed before it (the licensability refresh) takes it first. Inside an atomic block."""
    AuditHead.objects.select_for_update().get_or_create(pk=1)


def record(*, actor, action: str, subject, data: dict | None = None) -> AuditEvent:
    """Append one event after the current head. Runs inside the caller's transaction so the
    event exists exactly when the change it describes does."""
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor_label=str(actor) if actor is not None else "system",
            action=action,
            subject_type=subject._meta.label_lower,
            subject_id=str(subject.pk),
            # Round-trip through JSON so what we hash is exactly what the database gives back.
            data=json.loads(json.dumps(data or {}, default=str)),
            prev_hash=head.hash,
        )
        event.hash = event_hash(event)
        event.save()
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
        return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(*, batch_size: int = 2000) -> Iterator[tuple[int, ChainBreak | None]]:
    """Walk the chain in order, yielding (events checked, first break or None) per batch.
    Stops at the first break."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            break
        for event in batch:
            checked += 1
            if event.seq != expected_seq:
                yield checked, ChainBreak(expected_seq, f"event #{expected_seq} is missing")
                return
            if event.prev_hash != prev_hash:
                yield checked, ChainBreak(event.seq, "prev_hash does not match the event before")
                return
            if event_hash(event) != event.hash:
                yield checked, ChainBreak(event.seq, "contents do not match the recorded hash")
                return
            prev_hash, expected_seq = event.hash, expected_seq + 1
        last_seq = batch[-1].seq
        yield checked, None
    head = AuditHead.objects.filter(pk=1).first()
    if head and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        yield checked, ChainBreak(head.seq, "the chain ends before the recorded head: events removed")


# A verification walks the whole chain; pages reuse one for a few minutes while the head is
# unchanged, and anyone can ask for a fresh one. The management command always walks it all.
CHAIN_STATUS_SECONDS = 300


@dataclass(frozen=True)
class ChainStatus:
    checked: int
    first_break: ChainBreak | None
    verified_at: datetime

    @property
    def ok(self) -> bool:
        return self.first_break is None


def chain_status(*, fresh: bool = False) -> ChainStatus:
    """The chain's verification result: how many events were checked and the first broken
    link, if any. Cached for CHAIN_STATUS_SECONDS per chain head unless `fresh`."""
    head = AuditHead.objects.filter(pk=1).values_list("seq", "hash").first() or (0, GENESIS_HASH)
    key = f"audit:chain-status:{head[0]}:{head[1]}"
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    checked, first_break = 0, None
    for result in verify_chain():  # stops after the first break
        checked, first_break = result
    status = ChainStatus(checked=checked, first_break=first_break, verified_at=timezone.now())
    cache.set(key, status, CHAIN_STATUS_SECONDS)
    return status
