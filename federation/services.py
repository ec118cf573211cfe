"""Every write of federation: peering as a double opt-in, suspension both ways. Each runs in a
transaction with its audit event; messages to the peer leave after commit, through tasks that
retry while the peer does not answer."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trust import audit, keys
from trust.errors import Conflict, Forbidden, Invalid
from trust.selectors import is_trust_admin

from . import signed_calls
from .models import Peer

INBOUND_HELLO = "/api/v1/federation/inbound/hello/"
INBOUND_SUSPENSION = "/api/v1/federation/inbound/suspension/"


def _require_admin(actor) -> None:
    if not is_trust_admin(actor):
        raise Forbidden("only a trust administrator may manage peers", code="admin_only")


def _normalised_fingerprint(fingerprint: str) -> str:
    value = fingerprint.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise Invalid("the fingerprint is the 64 hex characters of a SHA-256", code="invalid_fingerprint")
    return value


def apply_document(peer: Peer, document: dict, base_url: str) -> None:
    peer.name, peer.currency = document["name"], document["currency"]
    peer.api_url, peer.base_url = document["api"], base_url.rstrip("/")
    peer.public_keys = [{"kid": k["kid"], "alg": k["alg"], "key": k["key"]} for k in document["public_keys"]]
    peer.keys_fetched_at = timezone.now()


def _row_of(peer: Peer) -> Peer:
    """The peer's row, locked: inserted from `peer` (an unsaved one, as its document describes it)
    unless a row of that slug exists. Both administrators adding each other at once make our
    administrator's add and their hello insert the same slug together: one inserts, the other
    takes that row (ON CONFLICT DO NOTHING), never an IntegrityError."""
    if peer.pk is None:
        Peer.objects.bulk_create([peer], ignore_conflicts=True)
        return Peer.objects.select_for_update().get(slug=peer.slug)
    return Peer.objects.select_for_update().get(pk=peer.pk)


def peer_add(*, actor, url: str, fingerprint: str) -> Peer:
    """Our half of the double opt-in: read the peer's well-known document, keep its keys only if
    one matches the fingerprint its administrator gave ours out of band, then say hello."""
    _require_admin(actor)
    expected = _normalised_fingerprint(fingerprint)
    document = signed_calls.fetch_well_known(url)
    if document["slug"] == settings.TRUST_SLUG:
        raise Conflict("that URL is this trust itself", code="peer_is_self")
    if expected not in {keys.fingerprint_of(k["key"]) for k in document["public_keys"]}:
        raise Invalid(
            f"no key of {document['slug']} has the fingerprint given; check it with their administrator",
            code="fingerprint_mismatch",
        )
    with transaction.atomic():
        candidate = Peer(slug=document["slug"])
        apply_document(candidate, document, url)
        peer = _row_of(candidate)
        if peer.added_by_us_at:
            raise Conflict(f"{peer.slug} is already a peer", code="peer_exists")
        apply_document(peer, document, url)
        peer.fingerprint, peer.added_by_us_at = expected, timezone.now()
        peer.save()
        audit.record(
            actor=actor,
            action="peer.added",
            subject=peer,
            data={"url": peer.base_url, "fingerprint": expected},
        )
        _send_after_commit("hello", peer)
    return peer


def peer_hello_received(*, peer: Peer) -> Peer:
    """Their half: a verified hello (or the answer to ours saying they added us). A trust we
    never added is kept as asking, with the keys its own document published, until our
    administrator adds it with the fingerprint."""
    with transaction.atomic():
        peer = _row_of(peer)
        if peer.added_by_them_at is None:
            peer.added_by_them_at = timezone.now()
            peer.save(update_fields=["added_by_them_at"])
            audit.record(actor=None, action="peer.added_us", subject=peer, data={"url": peer.base_url})
    return peer


def _set_suspended(*, actor, peer: Peer, suspended: bool) -> Peer:
    _require_admin(actor)
    with transaction.atomic():
        peer = Peer.objects.select_for_update().get(pk=peer.pk)
        if peer.added_by_us_at is None:
            raise Conflict(f"add {peer.slug} before suspending or resuming it", code="peer_not_added")
        if bool(peer.suspended_by_us_at) == suspended:
            return peer
        peer.suspended_by_us_at = timezone.now() if suspended else None
        peer.save(update_fields=["suspended_by_us_at"])
        audit.record(actor=actor, action="peer.suspended" if suspended else "peer.resumed", subject=peer)
        _send_after_commit("suspension", peer)
    return peer


def peer_suspend(*, actor, peer: Peer) -> Peer:
    """Stops every federated call with this peer both ways, at once: ours here, theirs when the
    message arrives (and each call they make is refused here meanwhile)."""
    return _set_suspended(actor=actor, peer=peer, suspended=True)


def peer_resume(*, actor, peer: Peer) -> Peer:
    return _set_suspended(actor=actor, peer=peer, suspended=False)


def peer_suspension_received(*, peer: Peer, suspended: bool) -> Peer:
    with transaction.atomic():
        peer = Peer.objects.select_for_update().get(pk=peer.pk)
        if bool(peer.suspended_by_them_at) != suspended:
            peer.suspended_by_them_at = timezone.now() if suspended else None
            peer.save(update_fields=["suspended_by_them_at"])
            audit.record(
                actor=None, action="peer.suspended_us" if suspended else "peer.resumed_us", subject=peer
            )
    return peer


def peer_send_hello(*, peer_id: int) -> None:
    """Tell the peer we added it. Its answer says whether it had already added us: whichever
    side adds second completes the handshake for both, even if the first hello was lost."""
    peer = Peer.objects.get(pk=peer_id)
    answer = signed_calls.peer_call(
        peer, "POST", INBOUND_HELLO, {"base_url": settings.PUBLIC_BASE_URL}, require_live=False
    )
    if answer.get("added_you") is True:
        peer_hello_received(peer=peer)


def peer_send_suspension(*, peer_id: int) -> None:
    peer = Peer.objects.get(pk=peer_id)
    signed_calls.peer_call(
        peer, "POST", INBOUND_SUSPENSION, {"suspended": bool(peer.suspended_by_us_at)}, require_live=False
    )


def _send_after_commit(message: str, peer: Peer) -> None:
    from . import tasks

    task = {"hello": tasks.send_hello, "suspension": tasks.send_suspension}[message]
    transaction.on_commit(lambda: task.delay(peer.pk))


KEY_REFRESH_SECONDS = 60


def peer_refresh_keys(*, peer: Peer) -> Peer:
    """A call names a key we do not hold: the peer may have rotated. Re-read its document (at
    most once a minute) and take the new set only if it still holds a key we trusted, so
    whoever controls the URL alone cannot swap in keys of their own."""
    if peer.keys_fetched_at and (timezone.now() - peer.keys_fetched_at).total_seconds() < KEY_REFRESH_SECONDS:
        return peer
    document = signed_calls.fetch_well_known(peer.base_url)
    trusted = {k["key"] for k in peer.public_keys}
    published = {k["key"] for k in document["public_keys"]}
    with transaction.atomic():
        peer = Peer.objects.select_for_update().get(pk=peer.pk)
        if document["slug"] != peer.slug or not trusted & published:
            peer.keys_fetched_at = timezone.now()
            peer.save(update_fields=["keys_fetched_at"])
            audit.record(
                actor=None, action="peer.keys_refused", subject=peer, data={"published": sorted(published)}
            )
            return peer
        changed = trusted != published
        apply_document(peer, document, peer.base_url)
        peer.save()
        if changed:
            audit.record(
                actor=None,
                action="peer.keys_rotated",
                subject=peer,
                data={"kids": [k["kid"] for k in peer.public_keys]},
            )
    return peer
