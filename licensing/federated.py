"""Federated leases (FEDERATION.md, "One lease over several trusts"): one request at the studio's
home trust, with parts at several trusts, each decided by its own trust.

At the home trust
- `federated_lease_request` records the lease (its Lease row is the home part: terms, purpose,
  approval by this trust's own `lease_approve`) and one LeasePart per part, the home part's
  included (peer empty). Each remote part is sent to its trust after commit (`part_forward`).
- `part_decision_received` records what a part's trust decided and derives the lease's status
  from its parts (`lease_status_from_parts`): `active` once every part is approved,
  `rejected` as soon as one is rejected; a part revoked or expired by its own trust ends that
  part only.
- When the lease ends at home (rejected, cancelled by the studio, revoked) every remote part
  still requested or approved is told to end (`part_send_end`).

At a part's trust
- `inbound_part_received` records a forwarded part as a local Lease in `requested` for the
  proxy studio "studio S of trust H" (Studio.home_peer), once per (home trust, home lease id);
  administrators decide it with the usual `lease_approve` / `lease_reject`.
- Every decision of such a lease is reported to the home trust (`part_report`), retried until
  the home trust acknowledges it (`InboundLeasePart.reported_status`).

Messages leave after commit through tasks that retry with backoff; the beat job
`resend_federated_lease_messages` finds whatever is still unsent (a peer down for long, the
embedded default without a worker) and sends it again. Every message is idempotent."""

import json
import logging
import uuid
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation import signed_calls
from federation.models import Peer
from trust import audit
from trust.consent import permits_generation
from trust.errors import BadGateway, Conflict, Forbidden, Gone, Invalid, NotFound
from trust.queue import enqueue_on_commit, enqueue_on_commit_or_resend

from . import deadlines, hooks
from .models import (
    FederatedRevocation,
    ForwardedUsage,
    InboundLeasePart,
    Lease,
    LeasePart,
    LeaseTerms,
    PeerOffer,
    RevocationCursor,
    Studio,
    Takedown,
    UsageEvent,
    UsageEventKey,
)
from .selectors import offers_shared_with, peer_offer_is_stale, require_studio_staff

log = logging.getLogger(__name__)

INBOUND_PARTS = "/api/v1/federation/inbound/lease-parts/"
INBOUND_PART_END = "/api/v1/federation/inbound/lease-parts/end/"
INBOUND_DECISIONS = "/api/v1/federation/inbound/part-decisions/"
INBOUND_REVOCATIONS = "/api/v1/federation/inbound/revocations/"
INBOUND_PART_MANIFEST = "/api/v1/federation/inbound/lease-parts/{home_lease_id}/manifest/"
INBOUND_USAGE = "/api/v1/federation/inbound/usage/"
# Forwarded usage leaves in batches of at most this many events per call.
USAGE_FORWARD_BATCH = 1000
INBOUND_TAKEDOWNS = "/api/v1/federation/inbound/takedowns/"
INBOUND_TAKEDOWN_STATUS = "/api/v1/federation/inbound/takedowns/status/"
PARTS_MAX = 20

Part = LeasePart.Status
# How a part's trust's own lease status reads as the part's status at home.
PART_STATUS_OF_LEASE = {
    Lease.Status.REQUESTED: Part.REQUESTED,
    Lease.Status.AWAITING_PARTS: Part.REQUESTED,
    Lease.Status.ACTIVE: Part.APPROVED,
    Lease.Status.REJECTED: Part.REJECTED,
    Lease.Status.REVOKED: Part.REVOKED,
    Lease.Status.EXPIRED: Part.EXPIRED,
    Lease.Status.CANCELLED: Part.CANCELLED,
}
# A part only moves forward: requested, then decided, then ended. A message that arrives late
# (an approval after the revocation it preceded) never undoes a later one.
_RANK = {
    Part.REQUESTED: 0,
    Part.APPROVED: 1,
    Part.REJECTED: 2,
    Part.REVOKED: 2,
    Part.EXPIRED: 2,
    Part.CANCELLED: 2,
}
# A part that was approved, even if its trust has since ended it, does not hold the lease back.
_APPROVED_ONCE = (Part.APPROVED, Part.REVOKED, Part.EXPIRED)
# Lease statuses at home after which the remote parts are told to end theirs.
_ENDING = {Lease.Status.REJECTED, Lease.Status.CANCELLED, Lease.Status.REVOKED}


# --- The home trust ---------------------------------------------------------------------------


def federated_lease_request(*, actor, purpose: str, parts: Sequence[Mapping], production: str = "") -> Lease:
    """A studio's request over parts at several trusts, `[{trust, terms}, ...]`. Refused (422,
    nothing written) unless every part names this trust or a live peer, one part per trust, a
    part at this trust among them, each peer's terms one of its shared offers as last fetched
    and not stale, all priced in the lease's currency (this trust's). A request naming only this
    trust is an ordinary local lease."""
    from . import services, tasks

    require_studio_staff(actor)
    if not parts:
        raise Invalid("name at least one part", code="parts_required")
    if len(parts) > PARTS_MAX:
        raise Invalid(f"a lease has at most {PARTS_MAX} parts", code="too_many_parts")
    slugs = [str(part["trust"]) for part in parts]
    if len(set(slugs)) != len(slugs):
        raise Invalid("name each trust once: one part per trust", code="duplicate_trust")
    home = next((part for part in parts if part["trust"] == settings.TRUST_SLUG), None)
    if home is None:
        raise Invalid(
            f"a federated lease includes a part at its home trust ({settings.TRUST_SLUG})",
            code="home_part_required",
        )
    terms = LeaseTerms.objects.filter(pk=home["terms"]).select_related("dataset").first()
    if terms is None:
        raise Invalid(f"no such terms at {settings.TRUST_SLUG}", code="unknown_terms")
    remote = [(str(part["trust"]), int(part["terms"])) for part in parts if part is not home]
    if not remote:
        return services.lease_request(actor=actor, terms=terms, purpose=purpose, production=production)
    peers = {peer.slug: peer for peer in Peer.objects.filter(slug__in=[slug for slug, _ in remote])}
    now = timezone.now()
    offers = []
    for slug, terms_id in remote:
        peer = peers.get(slug)
        if peer is None:
            raise Invalid(f"{slug!r} is neither this trust nor one of its peers", code="unknown_trust")
        if not peer.is_live:
            raise Invalid(f"peering with {slug} is {peer.state_label.lower()}", code="peer_not_live")
        offer = (
            PeerOffer.objects.select_related("peer__catalogue").filter(peer=peer, terms_id=terms_id).first()
        )
        if offer is None:
            raise Invalid(f"{slug} shares no terms {terms_id} with this trust", code="offer_not_shared")
        if peer_offer_is_stale(offer, at=now):
            raise Invalid(
                f"{slug}'s offer {terms_id} was last fetched {offer.fetched_at:%Y-%m-%d %H:%M} UTC and may "
                "have changed; request it once it is fetched again",
                code="offer_stale",
            )
        if offer.currency != terms.currency:
            raise Invalid(
                f"every part is priced in the lease's currency, {terms.currency}; {slug}'s offer is in "
                f"{offer.currency}",
                code="mixed_currency",
            )
        offers.append(offer)
    with transaction.atomic():
        lease = services.lease_request(actor=actor, terms=terms, purpose=purpose, production=production)
        LeasePart.objects.create(lease=lease, peer=None)
        created = LeasePart.objects.bulk_create(
            [
                LeasePart(lease=lease, peer=offer.peer, remote_terms_id=offer.terms_id, offer=offer.offer)
                for offer in offers
            ]
        )
        audit.record(
            actor=actor,
            action="lease.parts_requested",
            subject=lease,
            data={"parts": [{"trust": o.peer.slug, "terms": o.terms_id} for o in offers]},
        )
        for part in created:
            enqueue_on_commit(tasks.forward_lease_part, part.pk)
    return lease


def lease_status_from_parts(current: str, parts: Sequence[str]) -> str:
    """The lease's status at home from its parts' (the home part's included): unchanged once
    closed; rejected when any part was rejected (or cancelled by its trust); active when every
    part was approved; awaiting the other trusts once this trust approved its own part."""
    if current in Lease.CLOSED_STATUSES:
        return current
    if any(status in (Part.REJECTED, Part.CANCELLED) for status in parts):
        return Lease.Status.REJECTED
    if all(status in _APPROVED_ONCE for status in parts):
        return Lease.Status.ACTIVE
    if current in (Lease.Status.ACTIVE, Lease.Status.AWAITING_PARTS):
        return Lease.Status.AWAITING_PARTS
    return Lease.Status.REQUESTED


def _advance(part: LeasePart, status: str, **fields) -> bool:
    """Move `part` to `status` if that is forward; False (nothing saved) otherwise."""
    if _RANK[status] <= _RANK[part.status]:
        return False
    part.status = status
    for name, value in fields.items():
        if value is not None:
            setattr(part, name, value)
    part.save()
    return True


def _settle(lease: Lease, *, by: str = "") -> None:
    """Derive the (locked) lease's status from its parts and save it; when that ends the lease,
    end the parts that are still requested or approved."""
    statuses = list(lease.parts.values_list("status", flat=True))
    status = lease_status_from_parts(lease.status, statuses)
    if status != lease.status:
        now = timezone.now()
        lease.status = status
        fields = ["status"]
        if status == Lease.Status.REJECTED:
            rejected = lease.parts.filter(status__in=(Part.REJECTED, Part.CANCELLED)).select_related("peer")
            lease.decided_at = now
            lease.decision_reason = "; ".join(
                f"{part.peer.slug if part.peer_id else settings.TRUST_SLUG} rejected its part"
                + (f": {part.reason}" if part.reason else "")
                for part in rejected
            )
            fields += ["decided_at", "decision_reason"]
        lease.save(update_fields=fields)
        audit.record(actor=None, action=f"lease.{status}", subject=lease, data={"by": by, "parts": statuses})
    if lease.status in _ENDING:
        _end_parts(lease)


def _end_parts(lease: Lease) -> None:
    """The lease ended at home: the home part ends with it, parts never forwarded are cancelled
    here, and every forwarded part still requested or approved is told to end at its trust."""
    from . import tasks

    now = timezone.now()
    ended = Part.REVOKED if lease.status == Lease.Status.REVOKED else Part.CANCELLED
    for part in lease.parts.filter(status__in=(Part.REQUESTED, Part.APPROVED)).order_by("pk"):
        if part.peer_id is None or part.forwarded_at is None:
            _advance(part, ended if part.status == Part.APPROVED else Part.CANCELLED, decided_at=now)
        else:
            enqueue_on_commit(tasks.end_lease_part, part.pk)


HOME_PART_STATUS = {
    "approved": Part.APPROVED,
    "rejected": Part.REJECTED,
    "cancelled": Part.CANCELLED,
    "revoked": Part.REVOKED,
    "expired": Part.EXPIRED,
}


def on_lease_changed(lease: Lease, change: str) -> None:
    """The lease hook (licensing.hooks): a decision of a lease at this trust. For a federated
    lease at home, it is the home part's decision; for a part of a peer's lease, it is reported
    to the home trust."""
    from . import tasks

    if InboundLeasePart.objects.filter(lease_id=lease.pk).exists():
        enqueue_on_commit(tasks.report_lease_part, lease.pk)
        return
    home_part = LeasePart.objects.select_for_update().filter(lease_id=lease.pk, peer__isnull=True).first()
    if home_part is None:
        return  # a local lease
    licensable = lease.approval_assets.count() if change == "approved" else None
    _advance(
        home_part,
        HOME_PART_STATUS[change],
        licensable_at_approval=licensable,
        starts_at=lease.starts_at if change == "approved" else None,
        ends_at=lease.ends_at if change == "approved" else None,
        decided_at=timezone.now(),
        reason=lease.decision_reason or None,
    )
    if change == "expired":
        return  # each part runs on its own trust's clock
    _settle(lease, by=settings.TRUST_SLUG)


def part_forward(*, part_id: int) -> None:
    """Send a remote part to its trust (idempotent there by home lease id). A trust that refuses
    it for good (the terms are no longer shared, 404/409/422) rejects the part."""
    part = LeasePart.objects.select_related("lease__studio", "peer").get(pk=part_id)
    lease = part.lease
    if part.forwarded_at or part.status != Part.REQUESTED or lease.status in Lease.CLOSED_STATUSES:
        return
    payload = {
        "home_lease_id": lease.pk,
        "terms": part.remote_terms_id,
        "purpose": lease.purpose,
        "studio": {"id": lease.studio_id, "name": lease.studio.name},
    }
    try:
        answer = signed_calls.peer_call(part.peer, "POST", INBOUND_PARTS, payload)
    except BadGateway as error:
        if getattr(error, "peer_status", None) not in (404, 409, 422):
            raise
        part_decision_received(
            peer=part.peer, home_lease_id=lease.pk, status=Part.REJECTED, reason=error.detail, forwarded=True
        )
        return
    with transaction.atomic():
        LeasePart.objects.filter(pk=part.pk, forwarded_at__isnull=True).update(
            forwarded_at=timezone.now(), remote_lease_id=answer.get("lease")
        )
    if answer.get("status") not in (None, Part.REQUESTED):
        part_decision_received(peer=part.peer, home_lease_id=lease.pk, **_decision_fields(answer))


def part_send_end(*, part_id: int) -> None:
    """Tell a part's trust the lease ended at home (rejected, cancelled or revoked): it cancels
    a request there, or revokes an approved part. Its answer is the part's new status."""
    part = LeasePart.objects.select_related("lease", "peer").get(pk=part_id)
    if part.status not in (Part.REQUESTED, Part.APPROVED) or part.lease.status not in _ENDING:
        return
    reason = f"the lease was {part.lease.status} at {settings.TRUST_SLUG}"
    answer = signed_calls.peer_call(
        part.peer, "POST", INBOUND_PART_END, {"home_lease_id": part.lease_id, "reason": reason}
    )
    part_decision_received(peer=part.peer, home_lease_id=part.lease_id, **_decision_fields(answer))


def _decision_fields(data: Mapping) -> dict:
    def moment(value):
        return parse_datetime(value) if isinstance(value, str) else value

    return {
        "status": data["status"],
        "remote_lease_id": data.get("lease"),
        "licensable": data.get("licensable"),
        "starts_at": moment(data.get("starts_at")),
        "ends_at": moment(data.get("ends_at")),
        "reason": data.get("reason") or "",
        "prices": data.get("prices") or None,
    }


def part_decision_received(
    *,
    peer: Peer,
    home_lease_id: int,
    status: str,
    remote_lease_id: int | None = None,
    licensable: int | None = None,
    starts_at=None,
    ends_at=None,
    reason: str = "",
    forwarded: bool = False,
    prices: Mapping | None = None,
) -> LeasePart:
    """A part's trust tells us its decision (approved with its licensable count and its own
    start and end; rejected with a reason; later revoked or expired). Only the trust that holds
    the part may say so (else 404 `part_not_found`); a message older than what the part already
    says changes nothing. Returns the part as it now stands."""
    if status not in _RANK:
        raise Invalid(f"unknown part status {status!r}", code="bad_part_status")
    found = LeasePart.objects.filter(lease_id=home_lease_id, peer=peer).values_list("pk", flat=True).first()
    if found is None:
        raise NotFound(
            f"no lease here has a part at {peer.slug} numbered {home_lease_id}", code="part_not_found"
        )
    with transaction.atomic():
        # The lease first, then its part: the order every writer of parts takes.
        lease = Lease.objects.select_for_update().get(pk=home_lease_id)
        part = LeasePart.objects.select_for_update().get(pk=found)
        changed = _advance(
            part,
            status,
            remote_lease_id=remote_lease_id,
            licensable_at_approval=licensable if status in _APPROVED_ONCE else None,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason or None,
            decided_at=timezone.now(),
            forwarded_at=timezone.now() if forwarded and part.forwarded_at is None else None,
            **_part_prices(prices if status in _APPROVED_ONCE else None),
        )
        if changed:
            audit.record(
                actor=None,
                action=f"lease_part.{status}",
                subject=lease,
                data={"trust": peer.slug, "reason": reason, "licensable": part.licensable_at_approval},
            )
            _settle(lease, by=peer.slug)
        elif lease.status in _ENDING and part.status == Part.APPROVED:
            _end_parts(lease)  # approved after the lease ended here: end it there too
    return part


def _part_prices(prices: Mapping | None) -> dict:
    """The part's unit prices as its trust reported them, as LeasePart fields (None: unknown)."""
    prices = prices or {}
    return {
        "price_per_download_cents": prices.get("download"),
        "price_per_generated_second_cents": prices.get("generated_second"),
    }


# --- A part's trust ---------------------------------------------------------------------------


def _peer_studio(peer: Peer, studio_id: int, name: str) -> Studio:
    """The proxy studio "studio S of trust H", made once per (peer, studio id at the peer)."""
    from django.contrib.auth.models import Group

    studio = Studio.objects.filter(home_peer=peer, home_studio_id=studio_id).first()
    if studio is None:
        group = Group.objects.create(name=f"peer-studio:{peer.slug}:{studio_id}")
        studio = Studio.objects.create(name=name, group=group, home_peer=peer, home_studio_id=studio_id)
        audit.record(
            actor=None, action="studio.federated", subject=studio, data={"trust": peer.slug, "name": name}
        )
    elif studio.name != name:
        studio.name = name
        studio.save(update_fields=["name"])
    return studio


def _peer_user(peer: Peer):
    """Who requested a peer's part, as this trust records it: an account of the peer trust that
    cannot sign in (no password, inactive)."""
    User = get_user_model()
    user, made = User.objects.get_or_create(username=f"peer:{peer.slug}", defaults={"is_active": False})
    if made:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def inbound_part_received(
    *, peer: Peer, home_lease_id: int, terms_id: int, purpose: str, studio_id: int, studio_name: str
) -> Lease:
    """A live peer forwards a part of its studio's lease under terms this trust shares with it:
    recorded as a local lease in `requested` for the proxy studio, for this trust's
    administrators to decide. Sent again, the same lease is answered."""
    existing = InboundLeasePart.objects.filter(peer=peer, home_lease_id=home_lease_id).select_related("lease")
    if (inbound := existing.first()) is not None:
        return inbound.lease
    terms = offers_shared_with(peer).filter(pk=terms_id).first()
    if terms is None:
        raise Invalid(f"this trust offers no terms {terms_id} to {peer.slug}", code="terms_not_shared")
    if not purpose.strip():
        raise Invalid("say what the data is for", code="purpose_required")
    try:
        with transaction.atomic():
            studio = _peer_studio(peer, studio_id, studio_name.strip()[:200] or f"studio {studio_id}")
            lease = Lease.objects.create(
                studio=studio, terms=terms, purpose=purpose.strip(), requested_by=_peer_user(peer)
            )
            InboundLeasePart.objects.create(
                peer=peer, home_lease_id=home_lease_id, lease=lease, reported_status=Part.REQUESTED
            )
            audit.record(
                actor=None,
                action="lease.requested",
                subject=lease,
                data={
                    "studio": studio.name,
                    "terms": terms.pk,
                    "purpose": lease.purpose,
                    "federated_from": peer.slug,
                    "home_lease": home_lease_id,
                },
            )
    except IntegrityError:
        # The same part, sent twice at once: the other request recorded it.
        return existing.get().lease
    return lease


def inbound_part_end_received(*, peer: Peer, home_lease_id: int, reason: str) -> Lease:
    """The home trust ended its lease: the part here is cancelled while requested, revoked while
    active, and left alone once over. Reported back like any decision."""
    inbound = InboundLeasePart.objects.filter(peer=peer, home_lease_id=home_lease_id).first()
    if inbound is None:
        raise NotFound(f"no part of {peer.slug}'s lease {home_lease_id} here", code="part_not_found")
    with transaction.atomic():
        lease = Lease.objects.select_for_update().get(pk=inbound.lease_id)
        now = timezone.now()
        if lease.status == Lease.Status.REQUESTED:
            lease.status, lease.decided_at, lease.decision_reason = Lease.Status.CANCELLED, now, reason
            lease.save(update_fields=["status", "decided_at", "decision_reason"])
            change = "cancelled"
        elif lease.status == Lease.Status.ACTIVE:
            lease.status, lease.revoked_at, lease.decision_reason = Lease.Status.REVOKED, now, reason
            lease.save(update_fields=["status", "revoked_at", "decision_reason"])
            change = "revoked"
        else:
            return lease
        audit.record(
            actor=None, action=f"lease.{change}", subject=lease, data={"by": peer.slug, "reason": reason}
        )
        hooks.lease_changed(lease, change)
    return lease


def part_answer(lease: Lease) -> dict:
    """A part's state as its trust tells the home trust: in every report and every answer."""
    status = PART_STATUS_OF_LEASE[lease.status]
    approved = status in _APPROVED_ONCE
    return {
        "lease": lease.pk,
        "status": status,
        "licensable": lease.approval_assets.count() if approved else None,
        "starts_at": lease.starts_at.isoformat() if approved and lease.starts_at else None,
        "ends_at": lease.ends_at.isoformat() if approved and lease.ends_at else None,
        "reason": lease.decision_reason,
        # What the part's metered usage is charged at here: the home trust's settlement uses them.
        "prices": {
            "download": lease.price_per_download_cents,
            "generated_second": lease.price_per_generated_second_cents,
        }
        if approved
        else None,
    }


def part_report(*, lease_id: int) -> None:
    """Tell the home trust where its part here stands, unless it already knows."""
    inbound = InboundLeasePart.objects.select_related("peer", "lease").get(lease_id=lease_id)
    answer = part_answer(inbound.lease)
    if answer["status"] == inbound.reported_status:
        return
    signed_calls.peer_call(
        inbound.peer, "POST", INBOUND_DECISIONS, {"home_lease_id": inbound.home_lease_id, **answer}
    )
    InboundLeasePart.objects.filter(pk=inbound.pk).update(
        reported_status=answer["status"], reported_at=timezone.now()
    )


# --- The manifest of a federated lease ----------------------------------------------------------

# How long the home trust waits for a part's manifest before marking the part unavailable.
PART_MANIFEST_TIMEOUT_SECONDS = 10


def remote_parts_of(lease: Lease) -> list[LeasePart]:
    return list(
        LeasePart.objects.filter(lease=lease, peer__isnull=False).select_related("peer").order_by("pk")
    )


def part_manifest(part: LeasePart) -> tuple[dict | None, str]:
    """A remote part's manifest as its trust answers it now (a signed call): its own licensable
    assets with its own gateway URLs, or (None, why) when the part is not approved or its trust
    does not answer or refuses. Never raises for a peer's fault: the part is then unavailable."""
    if part.status != Part.APPROVED or part.remote_lease_id is None:
        return None, f"the part is {part.status} at {part.peer.slug}"
    path = INBOUND_PART_MANIFEST.format(home_lease_id=part.lease_id)
    try:
        answer = signed_calls.peer_call(part.peer, "GET", path, timeout=PART_MANIFEST_TIMEOUT_SECONDS)
    except (BadGateway, Forbidden) as error:
        _note_availability(part, error.detail)
        return None, error.detail
    if not isinstance(answer, dict) or not isinstance(answer.get("assets"), list):
        _note_availability(part, f"{part.peer.slug} answered no manifest")
        return None, f"{part.peer.slug} answered no manifest"
    _note_availability(part, "")
    return answer, ""


def _note_availability(part: LeasePart, reason: str) -> None:
    """Keep on the part since when its trust has not answered for its manifest (the studio's
    lease page says so), or clear it once it answers. A write only when that changes."""
    if reason:
        LeasePart.objects.filter(pk=part.pk, unavailable_since__isnull=True).update(
            unavailable_since=timezone.now(), unavailable_reason=reason
        )
    elif part.unavailable_since is not None:
        LeasePart.objects.filter(pk=part.pk).update(unavailable_since=None, unavailable_reason="")


def inbound_part_manifest_lease(*, peer: Peer, home_lease_id: int) -> Lease:
    """At a part's trust: the lease whose manifest the home `peer` asks for, if live (410/409
    otherwise, as for a studio asking directly)."""
    from .selectors import require_live

    inbound = InboundLeasePart.objects.filter(peer=peer, home_lease_id=home_lease_id).select_related(
        "lease__version__dataset"
    )
    found = inbound.first()
    if found is None:
        raise NotFound(f"no part of {peer.slug}'s lease {home_lease_id} here", code="part_not_found")
    require_live(found.lease)
    return found.lease


# --- Revoked federated tokens: pushed by the home trust, pulled by every part's trust -------------


def revocation_push(*, revocation_id: int, peer_id: int) -> None:
    """Tell one trust of the lease that a token of it is revoked (idempotent there)."""
    revocation = FederatedRevocation.objects.get(pk=revocation_id, issuer__isnull=True)
    peer = Peer.objects.get(pk=peer_id)
    row = {
        "revocation_id": revocation.revocation_id,
        "home_lease_id": revocation.home_lease_id,
        "revoked_at": revocation.revoked_at.isoformat(),
    }
    signed_calls.peer_call(peer, "POST", INBOUND_REVOCATIONS, {"revocations": [row]})


def revocations_pull(*, peer: Peer) -> int:
    """Fetch the home `peer`'s revocations since our cursor (a signed GET), keep those of its
    leases with a part here, and move the cursor. Returns how many ids were new here."""
    from . import tokens

    cursor, _ = RevocationCursor.objects.get_or_create(peer=peer)
    new = 0
    while True:
        answer = signed_calls.peer_call(peer, "GET", f"{INBOUND_REVOCATIONS}?since={cursor.last_seen}")
        rows = answer.get("revocations") or []
        new += tokens.revocations_received(peer=peer, revocations=rows)
        next_cursor = int(answer.get("cursor") or cursor.last_seen)
        RevocationCursor.objects.filter(pk=cursor.pk).update(last_seen=next_cursor, pulled_at=timezone.now())
        if len(rows) < tokens.REVOCATIONS_PER_PULL or next_cursor <= cursor.last_seen:
            return new
        cursor.last_seen = next_cursor


def peers_to_pull_revocations_from() -> list[int]:
    """Live peers that are the home of a lease part here still live: whose lists we pull."""
    return list(
        Peer.objects.live()
        .filter(inbound_parts__lease__status=Lease.Status.ACTIVE)
        .distinct()
        .values_list("pk", flat=True)
    )


# --- Usage reported at home for another trust's assets (FEDERATION.md, "Metering and money") -----


def forwarded_usage_split(lease: Lease, events: Sequence[Mapping], now) -> tuple[list, list | None, list]:
    """A report's events as (events kept here, their places in the report, rows to forward).
    An event naming another trust of the lease (`trust`, from the manifest) is checked here for
    shape, kind, use and its part's time window, and becomes a row (peer id, event key, kind,
    asset, quantity, occurred_at) that trust meters; its asset is checked there. A training run
    stays here whatever it names (training runs are the lease's, split across parts at the
    close), without the other trust's asset, which no row here can name. First occurrence of
    each key across both. Refused (nothing written) naming the event's index. One query, only
    for a report that names another trust."""
    from . import services
    from .selectors import effective_end

    if not any(event.get("trust") not in (None, "", settings.TRUST_SLUG) for event in events):
        return list(events), None, []
    parts = {
        part.peer.slug: part
        for part in LeasePart.objects.filter(lease=lease, peer__isnull=False).select_related("peer")
    }
    home_end, latest = effective_end(lease), now + services.CLOCK_SKEW
    home, positions, forwarded, seen = [], [], [], set()
    for index, event in enumerate(events):
        where, slug, kind, key = f"events[{index}]", event.get("trust"), event["kind"], event["event_key"]
        if key in seen:
            continue  # a key is one event: its first occurrence in the report
        seen.add(key)
        if slug in (None, "", settings.TRUST_SLUG):
            home.append(event)
            positions.append(index)
            continue
        part = parts.get(slug)
        if part is None:
            raise Invalid(f"{where}: {slug!r} holds no part of this lease", code="trust_not_in_lease")
        if kind == UsageEvent.Kind.TRAINING_RUN:
            home.append({name: value for name, value in event.items() if name not in ("asset", "trust")})
            positions.append(index)
            continue
        if kind == UsageEvent.Kind.DOWNLOAD:
            raise Invalid(
                f"{where}: downloads are metered by the gateway, not reported", code="download_not_reportable"
            )
        if kind == UsageEvent.Kind.SUBSTITUTION_SAVING:
            # Federated leases carry no premiums yet (licensing.services.lease_approve).
            raise Invalid(
                f"{where}: this lease's terms carry no substitution premium", code="no_substitution_premium"
            )
        uses = part.offer.get("permitted_uses") or lease.permitted_uses
        if not permits_generation(uses):
            raise Forbidden(f"{where}: {slug}'s part does not permit generation", code="use_not_permitted")
        if not event.get("asset"):
            raise Invalid(f"{where}: generated seconds must name the asset used", code="asset_required")
        if part.status not in _APPROVED_ONCE or part.starts_at is None:
            raise Conflict(f"{where}: the part at {slug} was never approved", code="part_not_active")
        occurred = event["occurred_at"]
        ends = [end for end in (part.ends_at, home_end) if end]
        if occurred < part.starts_at or any(occurred >= end for end in ends) or occurred > latest:
            raise Invalid(f"{where}: occurred_at lies outside the part's active time", code="outside_lease")
        asset = event["asset"] if isinstance(event["asset"], uuid.UUID) else uuid.UUID(str(event["asset"]))
        forwarded.append((part.peer_id, key, kind, asset, event["quantity"], occurred))
    return home, positions, forwarded


def forwarded_usage_insert(*, lease: Lease, rows: list[tuple], now) -> int:
    """Keep the rows `forwarded_usage_split` made, each key once per lease (keys are taken in
    UsageEventKey with the lease's other reported keys: a key is one event whichever trust it
    names), and send them to their trusts after commit. Returns how many were new. A key taken
    by a concurrent report waits for it, then counts as a duplicate."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        # One statement, the rows as one JSON text unpacked by PostgreSQL, as the home ingest does.
        batch = json.dumps(
            [
                [key, kind, str(asset), quantity, occurred.isoformat(), peer_id]
                for peer_id, key, kind, asset, quantity, occurred in rows
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH batch AS (
                    SELECT e->>0 AS event_key, e->>1 AS kind, (e->>2)::uuid AS asset_id,
                           (e->>3)::bigint AS quantity, (e->>4)::timestamptz AS occurred_at,
                           (e->>5)::bigint AS peer_id
                    FROM jsonb_array_elements(%s::jsonb) AS e
                ), fresh AS (
                    INSERT INTO {UsageEventKey._meta.db_table} (lease_id, event_key)
                    SELECT %s, event_key FROM batch
                    ON CONFLICT (lease_id, event_key) DO NOTHING
                    RETURNING event_key
                )
                INSERT INTO {ForwardedUsage._meta.db_table} (lease_id, peer_id, event_key, kind, asset_id,
                    quantity, occurred_at, recorded_at, forwarded_at, refused_reason)
                SELECT %s, b.peer_id, b.event_key, b.kind, b.asset_id, b.quantity, b.occurred_at, %s, NULL, ''
                FROM batch b JOIN fresh USING (event_key)
                RETURNING peer_id
                """,
                [batch, lease.pk, lease.pk, now],
            )
            peers = [row[0] for row in cursor.fetchall()]
    else:
        from .services import take_new_event_keys

        fresh = take_new_event_keys(lease, rows, key_of=lambda row: row[1])
        ForwardedUsage.objects.bulk_create(
            [
                ForwardedUsage(
                    lease=lease,
                    peer_id=peer_id,
                    event_key=key,
                    kind=kind,
                    asset_id=asset,
                    quantity=quantity,
                    occurred_at=occurred,
                    recorded_at=now,
                )
                for peer_id, key, kind, asset, quantity, occurred in fresh
            ],
            batch_size=1000,
        )
        peers = [row[0] for row in fresh]
    from . import tasks

    # The rows are kept: with the broker down the beat job (`pending_messages`) sends them.
    for part_id in LeasePart.objects.filter(lease=lease, peer_id__in=set(peers)).values_list("pk", flat=True):
        enqueue_on_commit_or_resend(tasks.forward_usage, part_id)
    return len(peers)


def usage_forward(*, part_id: int) -> int:
    """Send a remote part's unsent forwarded usage to its trust, a batch per call, until none is
    left. The trust answers which events it refused for good (its usage rules): those are marked
    refused with its reason and never sent again; the rest are marked forwarded (recorded there,
    or already). A whole call refused for good (404/409/422: no such part there, never active)
    marks its batch refused. A trust that does not answer raises: the rows stay unsent. Returns
    how many rows were settled (forwarded or refused)."""
    part = LeasePart.objects.select_related("peer").get(pk=part_id)
    done = 0
    while True:
        unsent = ForwardedUsage.objects.filter(
            lease_id=part.lease_id, peer_id=part.peer_id, forwarded_at__isnull=True, refused_reason=""
        ).order_by("pk")
        batch = list(
            unsent.values("pk", "event_key", "kind", "asset_id", "quantity", "occurred_at")[
                :USAGE_FORWARD_BATCH
            ]
        )
        if not batch:
            return done
        payload = {
            "home_lease_id": part.lease_id,
            "events": [
                {
                    "event_key": row["event_key"],
                    "kind": row["kind"],
                    "asset": str(row["asset_id"]),
                    "quantity": row["quantity"],
                    "occurred_at": row["occurred_at"].isoformat(),
                }
                for row in batch
            ],
        }
        ids = [row["pk"] for row in batch]
        try:
            answer = signed_calls.peer_call(part.peer, "POST", INBOUND_USAGE, payload)
        except BadGateway as error:
            if getattr(error, "peer_status", None) not in (404, 409, 410, 422):
                raise
            ForwardedUsage.objects.filter(pk__in=ids).update(refused_reason=error.detail[:2000] or "refused")
            done += len(ids)
            continue
        refused = {
            str(row.get("event_key")): f"{row.get('code', 'refused')}: {row.get('detail', '')}"[:2000]
            for row in answer.get("refused") or []
            if isinstance(row, dict)
        }
        now = timezone.now()
        with transaction.atomic():
            for key, reason in refused.items():
                ForwardedUsage.objects.filter(lease_id=part.lease_id, pk__in=ids, event_key=key).update(
                    refused_reason=reason
                )
            ForwardedUsage.objects.filter(pk__in=ids, refused_reason="").update(forwarded_at=now)
            if refused:
                audit.record(
                    actor=None,
                    action="usage.forward_refused",
                    subject=part.lease,
                    data={"trust": part.peer.slug, "events": sorted(refused)[:100], "count": len(refused)},
                )
        done += len(ids)


def inbound_usage_received(*, peer: Peer, home_lease_id: int, events: Sequence[Mapping]) -> dict:
    """At a part's trust: usage the home `peer` forwarded for its part here, under the ordinary
    usage rules of the part's lease (`services.usage_record_forwarded`). A batch the rules
    refuse is taken event by event, so one bad event refuses only itself: answered as
    `refused` [{event_key, code, detail}], for the home trust to mark and never resend.
    Idempotent by event key. 404 when the peer holds no lease with a part here by that id."""
    from . import services

    inbound = InboundLeasePart.objects.filter(peer=peer, home_lease_id=home_lease_id).select_related("lease")
    found = inbound.first()
    if found is None:
        raise NotFound(f"no part of {peer.slug}'s lease {home_lease_id} here", code="part_not_found")
    lease = found.lease
    try:
        accepted, duplicates = services.usage_record_forwarded(lease=lease, events=events)
        return {"accepted": accepted, "duplicates": duplicates, "refused": []}
    except (Invalid, Conflict, Forbidden, Gone):
        pass
    # The refusal path only: one event at a time, each under the same rules.
    accepted = duplicates = 0
    refused = []
    for event in events:
        try:
            new, again = services.usage_record_forwarded(lease=lease, events=[event])
        except (Invalid, Conflict, Forbidden, Gone) as error:
            detail = str(error.detail).replace("events[0]: ", "")
            refused.append({"event_key": event["event_key"], "code": error.code, "detail": detail})
            continue
        accepted, duplicates = accepted + new, duplicates + again
    return {"accepted": accepted, "duplicates": duplicates, "refused": refused}


# --- Takedown notices across trusts ------------------------------------------------------------
# A member of a part's trust withdraws consent: that trust refuses the download at once and issues
# the notice on its part (an ordinary local notice), then relays it to the lease's home trust,
# where the studio sees it on its lease beside the home trust's own notices, acknowledges it and
# attests deletion; each step goes back to the issuing trust, so both keep the same notice.

_TAKEDOWN_RANK = {
    Takedown.Status.ISSUED: 0,
    Takedown.Status.ACKNOWLEDGED: 1,
    Takedown.Status.DELETION_ATTESTED: 2,
}


def on_takedowns_changed(takedowns: Sequence[Takedown]) -> None:
    """The takedown hook (licensing.hooks): a notice issued here on a part of a peer's lease is
    relayed to the home trust; a step the studio took on a notice relayed here goes back to the
    trust that issued it. After commit, retried (`tasks.relay_takedown`), and sent again by the
    beat job (`pending_messages`) if the queue was down."""
    from . import tasks

    local_leases = {t.lease_id for t in takedowns if t.peer_id is None}
    parts_here = set(
        InboundLeasePart.objects.filter(lease_id__in=local_leases).values_list("lease_id", flat=True)
        if local_leases
        else ()
    )
    for takedown in takedowns:
        if takedown.peer_id is not None or takedown.lease_id in parts_here:
            # Never refused for a queue that is down: the beat job relays what is unsent.
            enqueue_on_commit_or_resend(tasks.relay_takedown, takedown.pk)


def takedown_relay(*, takedown_id: int) -> None:
    """Tell the other trust what it does not know yet of one notice: the home trust a notice
    issued here (once), or the issuing trust the step the studio took here. Idempotent there."""
    takedown = Takedown.objects.select_related("peer").get(pk=takedown_id)
    now = timezone.now()
    if takedown.peer_id is None:
        if takedown.relayed_status:
            return  # the home trust has it
        inbound = InboundLeasePart.objects.select_related("peer").get(lease_id=takedown.lease_id)
        payload = {
            "home_lease_id": inbound.home_lease_id,
            "takedown": takedown.pk,
            "asset": str(takedown.asset_id),
            "kind": takedown.asset_kind,
            "issued_at": takedown.issued_at.isoformat(),
            # This trust's deadlines: the studio sees them at home; this trust enforces them.
            "acknowledge_due_at": takedown.acknowledge_due_at.isoformat(),
            "attest_due_at": takedown.attest_due_at.isoformat(),
        }
        answer = signed_calls.peer_call(inbound.peer, "POST", INBOUND_TAKEDOWNS, payload)
        Takedown.objects.filter(pk=takedown.pk, relayed_status="").update(
            relayed_status=answer.get("status") or Takedown.Status.ISSUED, relayed_at=now
        )
        return
    if takedown.relayed_status == takedown.status:
        return  # the issuing trust has this step
    payload = {
        "takedown": takedown.remote_takedown_id,
        "status": takedown.status,
        "acknowledged_at": takedown.acknowledged_at.isoformat() if takedown.acknowledged_at else None,
        "attested_at": takedown.attested_at.isoformat() if takedown.attested_at else None,
        "attestation": takedown.attestation,
    }
    signed_calls.peer_call(takedown.peer, "POST", INBOUND_TAKEDOWN_STATUS, payload)
    Takedown.objects.filter(pk=takedown.pk, status=takedown.status).update(
        relayed_status=takedown.status, relayed_at=now
    )


def relayed_takedown_received(
    *,
    peer: Peer,
    home_lease_id: int,
    takedown_id: int,
    asset_id,
    kind: str,
    issued_at=None,
    acknowledge_due_at=None,
    attest_due_at=None,
) -> Takedown:
    """At the home trust: `peer` issued a takedown notice on its part of our lease
    `home_lease_id`. Recorded once (by the peer's notice id) against the lease, for the studio to
    acknowledge and attest here, with the issuing trust's deadlines (a peer that sends none: the
    lease's own days from the issue time). Only a trust holding a part of that lease may send one
    (404 `part_not_found`)."""
    if not LeasePart.objects.filter(lease_id=home_lease_id, peer=peer).exists():
        raise NotFound(
            f"no lease here has a part at {peer.slug} numbered {home_lease_id}", code="part_not_found"
        )
    existing = Takedown.objects.filter(peer=peer, remote_takedown_id=takedown_id)
    if (found := existing.first()) is not None:
        return found
    issued_at = min(issued_at or timezone.now(), timezone.now())
    own_acknowledge, own_attest = deadlines.takedown_deadlines(Lease.objects.get(pk=home_lease_id), issued_at)
    acknowledge_due_at = max(acknowledge_due_at or own_acknowledge, issued_at)
    attest_due_at = max(attest_due_at or own_attest, acknowledge_due_at)
    try:
        with transaction.atomic():
            takedown = Takedown.objects.create(
                lease_id=home_lease_id,
                issued_at=issued_at,
                acknowledge_due_at=acknowledge_due_at,
                attest_due_at=attest_due_at,
                peer=peer,
                remote_takedown_id=takedown_id,
                remote_asset_id=asset_id,
                remote_asset_kind=kind,
                relayed_status=Takedown.Status.ISSUED,
                relayed_at=timezone.now(),
            )
            audit.record(
                actor=None,
                action="takedown.issued",
                subject=takedown,
                data={
                    "lease": home_lease_id,
                    "asset": str(asset_id),
                    "trust": peer.slug,
                    "notice": takedown_id,
                },
            )
    except IntegrityError:
        return existing.get()  # the same notice, relayed twice at once
    return takedown


def takedown_status_received(
    *,
    peer: Peer,
    takedown_id: int,
    status: str,
    acknowledged_at=None,
    attested_at=None,
    attestation: str = "",
) -> Takedown:
    """At the issuing trust: the studio acknowledged a notice of ours, or attested deletion, at the
    home trust `peer`. Only forward (a late message changes nothing), and only for a notice on a
    part of that peer's lease (404 `takedown_not_found` otherwise)."""
    if status not in _TAKEDOWN_RANK:
        raise Invalid(f"unknown takedown status {status!r}", code="bad_takedown_status")
    found = Takedown.objects.filter(
        pk=takedown_id, peer__isnull=True, lease__inbound_part__peer=peer
    ).values_list("pk", flat=True)
    if not found:
        raise NotFound(
            f"no takedown notice {takedown_id} on a part of {peer.slug}'s leases", code="takedown_not_found"
        )
    with transaction.atomic():
        takedown = Takedown.objects.select_for_update().get(pk=found[0])
        if _TAKEDOWN_RANK[status] <= _TAKEDOWN_RANK[takedown.status]:
            return takedown
        now = timezone.now()
        takedown.status = status
        takedown.acknowledged_at = takedown.acknowledged_at or acknowledged_at or now
        if status == Takedown.Status.DELETION_ATTESTED:
            takedown.attested_at, takedown.attestation = attested_at or now, attestation.strip()
        takedown.relayed_status, takedown.relayed_at = status, now
        takedown.save()
        if status == Takedown.Status.DELETION_ATTESTED:
            deadlines.lease_restore_if_attested(lease_id=takedown.lease_id, actor=None)
        audit.record(
            actor=None,
            action=f"takedown.{status}",
            subject=takedown,
            data={"by": peer.slug, "statement": takedown.attestation},
        )
    return takedown


# --- Sending again what is still unsent ---------------------------------------------------------


def pending_messages() -> dict[str, list[int]]:
    """What the beat job sends again: remote parts never forwarded, forwarded parts of a lease
    that ended here still standing there, parts here whose decision the home trust has not
    acknowledged, remote parts with forwarded usage still unsent, and takedown notices (or their
    steps) the other trust has not taken. Each as ids, from five queries."""
    live_peers = Peer.objects.live()
    forward = LeasePart.objects.filter(
        peer__in=live_peers,
        forwarded_at__isnull=True,
        status=Part.REQUESTED,
        lease__status__in=(Lease.Status.REQUESTED, Lease.Status.AWAITING_PARTS),
    )
    end = LeasePart.objects.filter(
        peer__in=live_peers,
        forwarded_at__isnull=False,
        status__in=(Part.REQUESTED, Part.APPROVED),
        lease__status__in=_ENDING,
    )
    unreported = Q()
    for lease_status, part_status in PART_STATUS_OF_LEASE.items():
        if part_status != Part.REQUESTED:
            unreported |= Q(lease__status=lease_status) & ~Q(reported_status=part_status)
    report = InboundLeasePart.objects.filter(unreported, peer__in=live_peers)
    unsent_usage = LeasePart.objects.filter(
        peer__in=live_peers,
        lease__forwarded_usage__peer_id=F("peer_id"),
        lease__forwarded_usage__forwarded_at__isnull=True,
        lease__forwarded_usage__refused_reason="",
    ).distinct()
    # Notices issued here on a peer's lease that its home trust has not taken, and steps the
    # studio took on relayed notices that their issuing trust has not taken.
    takedowns = Takedown.objects.filter(
        Q(peer__isnull=True, relayed_status="", lease__inbound_part__peer__in=live_peers)
        | (Q(peer__in=live_peers) & ~Q(status=F("relayed_status")))
    )
    return {
        "forward": list(forward.values_list("pk", flat=True)),
        "end": list(end.values_list("pk", flat=True)),
        "report": list(report.values_list("lease_id", flat=True)),
        "usage": list(unsent_usage.values_list("pk", flat=True)),
        "takedown": list(takedowns.values_list("pk", flat=True)),
    }
