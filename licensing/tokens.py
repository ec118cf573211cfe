"""Lease tokens: what a studio's machines use to pull one lease's data. Secrets, hashing and
the state rule come from `trust.tokens`; whether the lease itself still gives access comes from
the lease selectors (`require_live`).

Two kinds. A local lease's token is an opaque `lt_` secret checked in this trust's database. A
federated lease's token is an `ft_` Biscuit signed by the lease's home trust
(`federation.biscuits`): every trust of the lease verifies it offline with the home trust's
published key (no call to the home trust), maps it to its own lease of the part, then applies
its own checks (part live, consent, cap) and its own revocation list (`FederatedRevocation`,
pushed by the home trust and pulled from it every few seconds)."""

import dataclasses
import functools
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from federation import biscuits
from federation.models import Peer
from trust import audit, keys
from trust.consent import GENERATION_USES, TRAINING_USE, in_use_order
from trust.db import prepared_cursor
from trust.errors import Conflict, Forbidden, Gone, Invalid, NotFound, Unauthorized
from trust.queue import enqueue_on_commit
from trust.selectors import is_trust_admin
from trust.tokens import (
    TokenKind,
    TokenState,
    hash_secret,
    kind_of,
    mint_secret,
    record_use,
    refuse_unless_active,
    token_state,
)

from .models import (
    DerivedToken,
    FederatedRevocation,
    InboundLeasePart,
    Lease,
    LeasePart,
    LeaseToken,
    UsageEvent,
)
from .selectors import effective_end, lease_licensable_now, require_live, require_studio_staff


def _lease_has_ended(lease: Lease, at: datetime) -> bool:
    try:
        require_live(lease, at=at)
    except (Gone, Conflict):
        return True
    return False


def lease_token_state(token: LeaseToken, *, at: datetime | None = None) -> TokenState:
    """The token's state at `at`, its lease's end included."""
    at = at or timezone.now()
    return token_state(
        token,
        at=at,
        lease_ended=_lease_has_ended(token.lease, at),
        lease_suspended=token.lease.tokens_suspended_at is not None,
    )


@transaction.atomic
def lease_token_mint(
    *, actor, lease: Lease, name: str, lifetime: timedelta | None = None
) -> tuple[LeaseToken, str]:
    """An `lt_` token for the studio's machines; the secret is returned once. It never
    outlives the lease."""
    require_studio_staff(actor, lease.studio)
    lease = Lease.objects.select_for_update().get(pk=lease.pk)
    require_live(lease)
    if not name.strip():
        raise Invalid("name the token so it can be told apart", code="name_required")
    now = timezone.now()
    lifetime = lifetime or timedelta(days=settings.LEASE_TOKEN_DEFAULT_DAYS)
    if lifetime <= timedelta(0):
        raise Invalid("a token's lifetime must be positive", code="bad_lifetime")
    expires_at = min(now + lifetime, lease.ends_at)
    parts = _federated_parts(lease)
    revocation_id = None
    if parts:
        # Biscuit times are whole seconds: round down, so the token never outlives the lease.
        expires_at = expires_at.replace(microsecond=0)
        secret = biscuits.mint(
            biscuits.LeaseGrant(
                home=settings.TRUST_SLUG,
                lease=lease.pk,
                parts=parts,
                studio=f"{settings.TRUST_SLUG}:{lease.studio_id}",
                uses=tuple(lease.permitted_uses),
                expires_at=expires_at,
            )
        )
        revocation_id = biscuits.revocation_ids(secret)[0]
    else:
        secret = mint_secret(TokenKind.LEASE)
    token = LeaseToken.objects.create(
        lease=lease,
        name=name.strip(),
        token_hash=hash_secret(secret),
        created_by=actor,
        expires_at=expires_at,
        revocation_id=revocation_id,
    )
    audit.record(
        actor=actor,
        action="token.minted",
        subject=token,
        data={
            "lease": lease.pk,
            "name": token.name,
            "expires_at": token.expires_at,
            "federated": bool(parts),
        },
    )
    return token, secret


def _federated_parts(lease: Lease) -> tuple[tuple[str, int], ...]:
    """(trust, that trust's lease id) of every part of a federated lease, this trust's first;
    empty for a local lease. A live federated lease has every part approved, with its id there."""
    rows = list(
        LeasePart.objects.filter(lease=lease).order_by("pk").values_list("peer__slug", "remote_lease_id")
    )
    if not rows:
        return ()
    return tuple((slug, remote) if slug else (settings.TRUST_SLUG, lease.pk) for slug, remote in rows)


@transaction.atomic
def lease_token_revoke(*, actor, lease: Lease, token: LeaseToken) -> LeaseToken:
    """Refused everywhere from the next request on: tokens are checked in the database on
    every call, never cached. Revoking a revoked token changes nothing. The lease's studio
    staff, or an administrator."""
    if not is_trust_admin(actor):
        require_studio_staff(actor, lease.studio)
    token = LeaseToken.objects.select_for_update().filter(pk=token.pk, lease=lease).first()
    if token is None:
        raise NotFound("no such token", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = timezone.now(), actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(actor=actor, action="token.revoked", subject=token, data={"lease": lease.pk})
        if token.revocation_id:
            _revoke_federated(lease=lease, revocation_id=token.revocation_id, at=token.revoked_at)
    return token


def _revoke_federated(*, lease: Lease, revocation_id: str, at: datetime) -> None:
    """List the id as revoked here (this trust's own gateway refuses it from now on) and push it
    to every other trust of the lease after commit; they also pull this list every few seconds."""
    from . import tasks

    revocation = FederatedRevocation.objects.create(
        issuer=None, revocation_id=revocation_id, home_lease_id=lease.pk, revoked_at=at
    )
    peers = LeasePart.objects.filter(lease=lease, peer__isnull=False).values_list("peer_id", flat=True)
    for peer_id in peers:
        enqueue_on_commit(tasks.push_revocation, revocation.pk, peer_id)


def may_report_after_the_end(token: LeaseToken) -> bool:
    """Whether a token of an ended lease may still report usage for the time the lease was
    live: the lease was approved and then expired or was revoked by the trust, and the token
    was not revoked by the studio and had not expired by itself before the lease ended. What
    the report may carry (usage dated inside the live window, in a period still open) is the
    usage service's rule."""
    lease = token.lease
    end = effective_end(lease)
    return (
        token.revoked_at is None
        and lease.status in Lease.APPROVED_STATUSES
        and end is not None
        and token.expires_at >= end
    )


@functools.cache
def _token_with_lease_sql() -> str:
    """SELECT of a token and its lease, every concrete column of both, by token hash: what
    `select_related("lease")` compiles, written out once per process (every lease-token call
    runs it, and compiling it cost about as much as running it)."""
    quote = connection.ops.quote_name
    columns = [f"t.{quote(f.column)}" for f in LeaseToken._meta.concrete_fields]
    columns += [f"l.{quote(f.column)}" for f in Lease._meta.concrete_fields]
    lease_column, hash_column = (LeaseToken._meta.get_field(name).column for name in ("lease", "token_hash"))
    return (
        f"SELECT {', '.join(columns)} FROM {quote(LeaseToken._meta.db_table)} t "
        f"JOIN {quote(Lease._meta.db_table)} l ON l.{quote(Lease._meta.pk.column)} = t.{quote(lease_column)} "
        f"WHERE t.{quote(hash_column)} = %s"
    )


@functools.cache
def _loading(model) -> tuple[list[str], list[tuple]]:
    """The model's concrete attribute names, and for each column the converters the ORM applies
    to it (most have none), worked out once per process: asking every field on every request
    cost more than the query."""
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        converters.append((column, tuple(found)))
    return [f.attname for f in fields], converters


def _instance(model, row):
    """A model instance from its concrete columns as the database returned them, through each
    field's converters as the ORM applies them."""
    attnames, converters = _loading(model)
    values = list(row)
    for index, (column, found) in enumerate(converters):
        for convert in found:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, attnames, values)


def _token_by_hash(token_hash: str) -> LeaseToken | None:
    """The token with this hash and its lease, in one prepared statement."""
    with prepared_cursor() as cursor:
        cursor.execute(_token_with_lease_sql(), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(LeaseToken._meta.concrete_fields)
    token = _instance(LeaseToken, row[:split])
    token.lease = _instance(Lease, row[split:])
    return token


def lease_token_check(secret: str) -> None:
    """Refused (401) when `secret` is no `lt_` token the trust issued, or one revoked or
    expired; a token of an ended lease passes (the lease's 410 is for the lease's own calls)."""
    token = _token_by_hash(hash_secret(secret)) if kind_of(secret) == TokenKind.LEASE else None
    if token is None:
        raise Unauthorized("unknown token", code="token_invalid")
    state = lease_token_state(token)
    if state != TokenState.SUSPENDED:  # a call of people's refuses every lease token alike (403)
        refuse_unless_active(state)


def lease_token_authenticate(secret: str, *, for_usage_report: bool = False) -> LeaseToken:
    """The token for `secret`, refused (401) when unknown, revoked or expired, and (410) when
    its lease has ended or been revoked. With `for_usage_report` (the usage endpoint only), a
    token of an ended lease passes when `may_report_after_the_end` says so: usage that happened
    while the lease was live is still billed; manifests and downloads keep their 410."""
    # Just the lease: every lease-token call needs it; a manifest reads its version after.
    token = _token_by_hash(hash_secret(secret)) if kind_of(secret) == TokenKind.LEASE else None
    if token is None:
        raise Unauthorized("unknown token", code="token_invalid")
    now = timezone.now()
    state = lease_token_state(token, at=now)
    if state == TokenState.LEASE_ENDED and not (for_usage_report and may_report_after_the_end(token)):
        require_live(token.lease, at=now)  # the lease's own refusal: 410 revoked or expired
    refuse_unless_active(state)
    if token.lease.tokens_suspended_at is not None:
        refuse_unless_active(TokenState.SUSPENDED)  # usage of an ended lease too, until attested
    record_use(token, at=now)
    return token


def pull_window_key(token) -> str:
    """The name the gateway's pull window (PullWindow) keys a token by: `lt:<id>` for an `lt_`
    token; `ft:<revocation id>` for an `ft_` token, at its home trust as at a peer where it has
    no LeaseToken row (a vendor's derived token is its last block's id: a window of its own)."""
    if isinstance(token, FederatedAccess):
        return f"ft:{token.verified.token_id}"
    return f"lt:{token.pk}"


def lease_of_token(*, token: LeaseToken, lease_id) -> Lease:
    """The token's lease if it is the one asked for. A token opens one lease; asking about
    another reveals nothing about it."""
    if str(token.lease_id) != str(lease_id):
        raise NotFound("no such lease", code="lease_not_found")
    return token.lease


# Federated lease tokens (`ft_`) -----------------------------------------------------------------


@dataclass(frozen=True)
class FederatedAccess:
    """What an `ft_` token opens at this trust, verified: this trust's lease of the part. It
    stands where a LeaseToken stands for the gateway, the manifest and usage reports (`lease`,
    `lease_id`, `pk`, `expires_at`); `pk` is the token's row at the home trust, None elsewhere."""

    lease: Lease
    verified: biscuits.Verified
    pk: int | None
    expires_at: datetime
    # Kept for this request only, to ask the token again about what its body names (a usage
    # report's assets and uses); never stored or logged.
    secret: str = dataclasses.field(default="", repr=False)
    public_hex: str = dataclasses.field(default="", repr=False)

    @property
    def lease_id(self) -> int:
        return self.lease.pk

    @property
    def vendor(self) -> str | None:
        return self.verified.vendor

    @property
    def derived(self) -> bool:
        """A vendor's token: one or more blocks appended to the minted token."""
        return len(self.verified.revocation_ids) > 1


_REFUSALS = {
    "token_revoked": (Unauthorized, "token_revoked"),
    "token_expired": (Unauthorized, "token_expired"),
    "token_not_for_this": (Forbidden, "token_not_for_this"),
}


class FederatedLeaseAsked(NamedTuple):
    """What verifying an `ft_` token for one lease needs, read in one statement."""

    live_peers: list[Peer]
    lease: Lease | None
    inbound_part: InboundLeasePart | None  # at a part's trust: whose lease it is a part of
    at_home: bool  # the lease is a federated lease's home part (this trust issued its tokens)
    revoked: bool  # one of the ids is listed as revoked by the lease's issuer
    home_token: LeaseToken | None  # at home: the minted token of the first revocation id


@functools.cache
def _federated_lease_sql(id_count: int) -> str:
    """The statement behind `_federated_lease`, written out once per process and number of
    revocation ids (prepared on PostgreSQL). One row per live peer (a trust has a handful), or
    one row with none. The live peers are `Peer.objects.live()`, compiled from its home."""
    quote = connection.ops.quote_name

    def columns(alias, model):
        return [f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields]

    live_sql, live_params = Peer.objects.live().query.sql_with_params()
    if live_params:  # written out once per process: it must not carry a request's values
        raise TypeError("the live peers' filter took parameters; bind them with the statement's")
    listed = ", ".join(["%s"] * id_count)
    revocations, parts = quote(FederatedRevocation._meta.db_table), quote(LeasePart._meta.db_table)
    selected = [
        *columns("l", Lease),
        *columns("ip", InboundLeasePart),
        *columns("t", LeaseToken),
        *columns("p", Peer),
        f"EXISTS (SELECT 1 FROM {parts} hp WHERE hp.lease_id = l.id AND hp.peer_id IS NULL)",
        f"CASE WHEN ip.id IS NULL THEN EXISTS (SELECT 1 FROM {revocations} r WHERE r.issuer_id IS NULL "
        f"AND r.revocation_id IN ({listed})) ELSE EXISTS (SELECT 1 FROM {revocations} r "
        f"WHERE r.issuer_id = ip.peer_id AND r.revocation_id IN ({listed})) END",
    ]
    return (
        f"SELECT {', '.join(selected)} FROM (SELECT 1 AS asked) AS asked "
        f"LEFT JOIN {quote(Lease._meta.db_table)} l ON l.id = %s "
        f"LEFT JOIN {quote(InboundLeasePart._meta.db_table)} ip ON ip.lease_id = l.id "
        f"LEFT JOIN {quote(LeaseToken._meta.db_table)} t ON ip.id IS NULL AND t.revocation_id = %s "
        f"LEFT JOIN ({live_sql}) p ON 1 = 1"
    )


def _federated_lease(*, lease_id, revocation_ids: Sequence[str]) -> FederatedLeaseAsked:
    """The lease an `ft_` token asks for, its part, whether the token is revoked, the home's
    token row and every live peer's keys: one round trip where four ORM queries were."""
    ids = list(revocation_ids)
    with prepared_cursor() as cursor:
        cursor.execute(_federated_lease_sql(len(ids)), [*ids, *ids, int(lease_id), ids[0]])
        rows = cursor.fetchall()
    ends = list(
        itertools.accumulate(
            len(m._meta.concrete_fields) for m in (Lease, InboundLeasePart, LeaseToken, Peer)
        )
    )
    first = rows[0]
    lease = _instance(Lease, first[: ends[0]]) if first[0] is not None else None
    part = _instance(InboundLeasePart, first[ends[0] : ends[1]]) if first[ends[0]] is not None else None
    token = _instance(LeaseToken, first[ends[1] : ends[2]]) if first[ends[1]] is not None else None
    if lease is not None and part is not None:
        lease.inbound_part = part
    peers = [_instance(Peer, row[ends[2] : ends[3]]) for row in rows if row[ends[2]] is not None]
    at_home, revoked = first[ends[3]], first[ends[3] + 1]
    return FederatedLeaseAsked(peers, lease, part, bool(at_home), bool(revoked), token)


def _issuer_of(root_key_id: int | None, live_peers: Iterable[Peer]) -> tuple[Peer | None, str]:
    """Whose key signed a token, by the root key id it names: this trust's own keys, then those
    of live peers (a suspended peering opens nothing). Returns (peer or None for us, key hex)."""
    if root_key_id is not None:
        for key in keys.signing_keys():
            if biscuits.root_key_id(key.kid) == root_key_id:
                return None, key.public_hex
        for peer in live_peers:
            for published in peer.public_keys:
                if biscuits.root_key_id(published.get("kid", "0")) == root_key_id:
                    return peer, published["key"]
    raise Unauthorized("the token is signed by a key this trust does not know", code="token_unknown_key")


def federated_token_authenticate(
    secret: str, *, lease_id, asset_id=None, for_usage_report: bool = False
) -> FederatedAccess:
    """Verify an `ft_` token offline for one request on this trust's lease `lease_id`: signed by
    this trust or a live peer (by the token's root key id), naming this trust's part (that
    lease) of that trust's lease, not expired, none of its revocation ids on this trust's list,
    and (for a download) allowing `asset_id`. Then the lease itself must be live, as for `lt_`
    tokens (usage reports after the end follow `usage_report`'s own rule). 401 for a bad,
    unknown-key, expired or revoked token; 403 for a token that does not open this; 404 when
    `lease_id` is no federated lease here."""
    try:
        claimed = biscuits.unverified(secret)
    except biscuits.TokenRefused as refused:
        raise Unauthorized(refused.reason, code="token_invalid") from None
    asked = _federated_lease(lease_id=lease_id, revocation_ids=claimed.revocation_ids)
    issuer, public_hex = _issuer_of(claimed.root_key_id, asked.live_peers)
    lease = asked.lease
    if issuer is None:
        lease = lease if asked.at_home else None
        home_lease_id = lease.pk if lease else None
    else:
        part = asked.inbound_part
        lease = lease if part is not None and part.peer_id == issuer.pk else None
        home_lease_id = part.home_lease_id if lease else None
    if lease is None:
        raise NotFound("no such lease", code="lease_not_found")
    now = timezone.now()
    verified = _authorized(
        secret,
        public_hex=public_hex,
        lease=lease,
        now=now,
        asset=str(asset_id) if asset_id is not None else None,
        # Asked with the lease, for its issuer: the ids the token claims are the ids it has.
        revoked=lambda ids: asked.revoked,
    )
    home = issuer.slug if issuer else settings.TRUST_SLUG
    if verified.home != home or verified.lease != home_lease_id:
        raise Forbidden("this token is for another lease", code="token_not_for_this")
    if not (for_usage_report and lease.status in Lease.APPROVED_STATUSES):
        require_live(lease, at=now)
    if lease.tokens_suspended_at is not None:
        # This trust's own part is suspended for an overdue takedown of its own (licensing.deadlines).
        refuse_unless_active(TokenState.SUSPENDED)
    row = asked.home_token if issuer is None else None
    if row is not None:
        if len(verified.revocation_ids) > 1:
            record_use(_derived_token_seen(lease=lease, parent=row, verified=verified), at=now)
        else:
            record_use(row, at=now)
    return FederatedAccess(
        lease=lease,
        verified=verified,
        pk=row.pk if row else None,
        expires_at=verified.expires_at or now,
        secret=secret,
        public_hex=public_hex,
    )


def _authorized(
    secret: str,
    *,
    public_hex: str,
    lease: Lease,
    now: datetime,
    asset: str | None = None,
    assets: Iterable[str] = (),
    uses: Iterable[str] = (),
    revoked=lambda ids: False,
) -> biscuits.Verified:
    """The token checked by `federation.biscuits.authorize` at this trust for its lease `lease`,
    with the issuer's key `public_hex`; its refusals as this trust's errors (401, 403)."""
    try:
        return biscuits.authorize(
            secret,
            public_key_for=lambda kid: (
                public_hex if kid is not None and kid == _root_of(public_hex) else None
            ),
            trust=settings.TRUST_SLUG,
            local_lease=lease.pk,
            now=now,
            asset=asset,
            assets=assets,
            uses=uses,
            revoked=revoked,
        )
    except biscuits.TokenRefused as refused:
        error, code = _REFUSALS.get(refused.code, (Unauthorized, "token_invalid"))
        raise error(refused.reason, code=code) from None


def _root_of(public_hex: str) -> int:
    return biscuits.root_key_id(keys.kid_of(public_hex))


# Revocation lists between trusts ------------------------------------------------------------------

REVOCATIONS_PER_PULL = 1000


def revocations_for_peer(*, peer: Peer, since: int) -> dict:
    """At the home trust: revoked ids of `ft_` tokens of leases with a part at `peer`, after the
    cursor `since` (a row id here), oldest first; `cursor` is where the next pull starts."""
    rows = list(
        FederatedRevocation.objects.filter(
            issuer__isnull=True,
            pk__gt=since,
            home_lease_id__in=LeasePart.objects.filter(peer=peer).values("lease_id"),
        )
        .order_by("pk")
        .values("pk", "revocation_id", "home_lease_id", "revoked_at")[:REVOCATIONS_PER_PULL]
    )
    return {
        "revocations": [
            {
                "revocation_id": row["revocation_id"],
                "home_lease_id": row["home_lease_id"],
                "revoked_at": row["revoked_at"].isoformat(),
            }
            for row in rows
        ],
        "cursor": rows[-1]["pk"] if rows else since,
    }


def revocations_received(*, peer: Peer, revocations: list[dict]) -> int:
    """At a part's trust: the home `peer` says these ids are revoked. Kept only for leases of
    that peer with a part here (a peer cannot fill our list with another's ids: each row is
    keyed by its issuer). Idempotent; returns how many were new."""
    from django.utils.dateparse import parse_datetime

    ours = set(
        peer.inbound_parts.filter(
            home_lease_id__in={int(r["home_lease_id"]) for r in revocations}
        ).values_list("home_lease_id", flat=True)
    )
    rows = [
        FederatedRevocation(
            issuer=peer,
            revocation_id=str(r["revocation_id"])[:200],
            home_lease_id=int(r["home_lease_id"]),
            revoked_at=parse_datetime(str(r["revoked_at"])) or timezone.now(),
        )
        for r in revocations
        if int(r["home_lease_id"]) in ours
    ]
    before = FederatedRevocation.objects.filter(issuer=peer).count()
    FederatedRevocation.objects.bulk_create(rows, ignore_conflicts=True)
    return FederatedRevocation.objects.filter(issuer=peer).count() - before


# Vendor tokens: sub-licences derived from a federated lease's `ft_` token -----------------------------

# What may be said to name an asset of another trust's part: `<trust slug>:<asset id>`, as the
# home manifest lists it (`trust` and `id`).
ASSET_SEPARATOR = ":"


def _parent_token(lease: Lease, secret: str, *, now: datetime) -> tuple[LeaseToken, biscuits.Verified, str]:
    """The minted token `secret` descends from (itself, or the root of a derived token) and what
    `secret` allows, verified as a request at this trust would be, and this trust's key that
    signed it. The body's token: its refusals are the input's (422), not the caller's."""
    if not secret.startswith(TokenKind.FEDERATED):
        raise Invalid(
            "only a federated lease's token (ft_) can be derived: an lt_ token is an opaque secret "
            "that carries no restrictions a vendor's token could narrow",
            code="not_derivable",
        )
    try:
        try:
            root_key_id = biscuits.unverified_root_key_id(secret)
        except biscuits.TokenRefused as refused:
            raise Unauthorized(refused.reason, code="token_invalid") from None
        issuer, public_hex = _issuer_of(root_key_id, Peer.objects.live())
        if issuer is not None:
            raise Forbidden("signed by another trust", code="token_not_for_this")
        verified = _authorized(
            secret,
            public_hex=public_hex,
            lease=lease,
            now=now,
            revoked=lambda ids: FederatedRevocation.objects.filter(
                issuer__isnull=True, revocation_id__in=ids
            ).exists(),
        )
    except (Unauthorized, Forbidden) as refused:
        code = {"token_revoked": "parent_revoked", "token_expired": "parent_expired"}
        raise Invalid(
            f"the parent token is not a live token of this lease: {refused.detail}",
            code=code.get(refused.code, "parent_invalid"),
        ) from None
    parent = LeaseToken.objects.filter(lease=lease, revocation_id=verified.revocation_ids[0]).first()
    if parent is None or verified.home != settings.TRUST_SLUG or verified.lease != lease.pk:
        raise Invalid("the parent token is not a token of this lease", code="parent_invalid")
    return parent, verified, public_hex


def _asset_ids_for_derivation(
    lease: Lease, assets: Iterable[str], narrowed: frozenset[str] | None
) -> list[str]:
    """The asset ids a vendor's token may name, checked: this trust's own assets (a bare id, or
    qualified with this trust's slug) licensable in the lease now; another part's assets
    qualified with its trust's slug, which only that trust can check (its gateway refuses what it
    does not license there, whatever the token says); and all within the parent's own list."""
    others = set(
        LeasePart.objects.filter(lease=lease, peer__isnull=False).values_list("peer__slug", flat=True)
    )
    own, ids = set(), []
    for text in assets:
        trust, _, bare = text.rpartition(ASSET_SEPARATOR)
        try:
            asset_id = str(uuid.UUID(bare))
        except ValueError:
            raise Invalid(f"{text!r} is not an asset id", code="asset_invalid") from None
        if trust in ("", settings.TRUST_SLUG):
            own.add(asset_id)
        elif trust not in others:
            raise Invalid(f"{trust!r} holds no part of this lease", code="asset_not_in_lease")
        ids.append(asset_id)
    licensable = {
        str(pk) for pk in lease_licensable_now(lease).filter(pk__in=own).values_list("pk", flat=True)
    }
    missing = sorted(own - licensable)
    if missing:
        raise Invalid(f"asset {missing[0]} is not licensable in this lease now", code="asset_not_in_lease")
    if narrowed is not None and not set(ids) <= narrowed:
        wider = sorted(set(ids) - narrowed)[0]
        raise Invalid(f"the parent token does not open asset {wider}", code="wider_than_parent")
    if not ids:
        raise Invalid("name at least one asset, or none to keep the parent's", code="assets_empty")
    return sorted(set(ids))


def _uses_for_derivation(lease: Lease, uses: Iterable[str], narrowed: frozenset[str] | None) -> list[str]:
    uses = in_use_order(uses)
    if not uses:
        raise Invalid("name at least one use, or none to keep the parent's", code="uses_empty")
    outside = [use for use in uses if use not in lease.permitted_uses]
    if outside:
        raise Invalid(f"the lease does not permit {outside[0]!r}", code="use_not_in_lease")
    if narrowed is not None and not set(uses) <= narrowed:
        wider = next(use for use in uses if use not in narrowed)
        raise Invalid(f"the parent token does not allow {wider!r}", code="wider_than_parent")
    return uses


@transaction.atomic
def lease_token_derive(
    *,
    actor,
    lease: Lease,
    parent_secret: str,
    vendor: str,
    assets: Sequence[str] | None = None,
    uses: Sequence[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[DerivedToken, str]:
    """A vendor's token derived from `parent_secret` (a live `ft_` token of this federated lease,
    minted or itself derived): the parent's Biscuit with a block naming `vendor` and narrowing
    `assets`, `uses` and life (None keeps the parent's). Refused (422) when it would be wider
    than the parent in anything: the Biscuit could not be widened anyway (its checks bind), so
    this refuses what would be silently inert. The secret is returned once; only its revocation
    id is kept. The lease's studio staff only."""
    require_studio_staff(actor, lease.studio)
    require_live(lease)
    now = timezone.now()
    parent, verified, public_hex = _parent_token(lease, parent_secret, now=now)
    vendor = vendor.strip()
    if assets is not None:
        assets = _asset_ids_for_derivation(lease, assets, verified.assets)
    if uses is not None:
        uses = _uses_for_derivation(lease, uses, verified.uses)
    parent_expiry = verified.expires_at or parent.expires_at
    if expires_at is not None:
        # Biscuit times are whole seconds: round down, so the token never outlives what was asked.
        expires_at = expires_at.replace(microsecond=0)
        if expires_at <= now:
            raise Invalid("the vendor's token must expire in the future", code="expiry_in_past")
        if expires_at >= parent_expiry:
            raise Invalid(
                f"the vendor's token must expire before its parent ({parent_expiry.isoformat()})",
                code="expiry_not_before_parent",
            )
    try:
        secret = biscuits.derive(
            parent_secret,
            public_key_for=lambda kid: public_hex,
            vendor=vendor,
            assets=assets,
            uses=uses,
            expires_at=expires_at,
        )
    except biscuits.TokenRefused as refused:
        raise Invalid(refused.reason, code=refused.code) from None
    if len(verified.revocation_ids) > 1:
        _derived_token_seen(lease=lease, parent=parent, verified=verified)  # an offline parent, now known
    token = DerivedToken.objects.create(
        lease=lease,
        parent=parent,
        parent_revocation_id=verified.token_id,
        vendor=vendor,
        revocation_id=biscuits.revocation_ids(secret)[-1],
        assets=assets
        if assets is not None
        else (sorted(verified.assets) if verified.assets is not None else None),
        uses=uses
        if uses is not None
        else (in_use_order(verified.uses) if verified.uses is not None else None),
        expires_at=expires_at or parent_expiry,
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="token.derived",
        subject=token,
        data={
            "lease": lease.pk,
            "parent": parent.pk,
            "vendor": vendor,
            "assets": len(token.assets) if token.assets is not None else "all",
            "uses": token.uses if token.uses is not None else "all",
            "expires_at": token.expires_at,
        },
    )
    return token, secret


def _listed(narrowed: frozenset[str] | None, order) -> list[str] | None:
    """A restriction as stored: a list in order, or None for "all the parent allows"."""
    return None if narrowed is None else order(narrowed)


def _derived_token_seen(*, lease: Lease, parent: LeaseToken, verified: biscuits.Verified) -> DerivedToken:
    """The row of a derived token this trust verified, made on first sight when it was derived
    offline (no `created_by`): what the vendor named itself and what its blocks narrow to."""
    row = DerivedToken.objects.filter(revocation_id=verified.token_id).first()
    if row is not None:
        return row
    DerivedToken.objects.bulk_create(
        [
            DerivedToken(
                lease=lease,
                parent=parent,
                parent_revocation_id=verified.revocation_ids[-2],
                vendor=(verified.vendor or "")[:200],
                revocation_id=verified.token_id,
                assets=_listed(verified.assets, sorted),
                uses=_listed(verified.uses, in_use_order),
                expires_at=verified.expires_at or parent.expires_at,
            )
        ],
        ignore_conflicts=True,  # two first uses at once: one row
    )
    return DerivedToken.objects.get(revocation_id=verified.token_id)


@transaction.atomic
def derived_token_revoke(*, actor, lease: Lease, token: DerivedToken) -> DerivedToken:
    """Refused by every trust of the lease from now on, with every token derived from it: its
    revocation id goes on the lease's federated revocation list (pushed to the parts' trusts,
    pulled by them). Its parent is untouched. The lease's studio staff, or an administrator;
    revoking twice changes nothing."""
    if not is_trust_admin(actor):
        require_studio_staff(actor, lease.studio)
    token = DerivedToken.objects.select_for_update().filter(pk=token.pk, lease=lease).first()
    if token is None:
        raise NotFound("no such derived token", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = timezone.now(), actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(
            actor=actor,
            action="token.revoked",
            subject=token,
            data={"lease": lease.pk, "vendor": token.vendor, "derived_from": token.parent_id},
        )
        if not FederatedRevocation.objects.filter(
            issuer__isnull=True, revocation_id=token.revocation_id
        ).exists():
            _revoke_federated(lease=lease, revocation_id=token.revocation_id, at=token.revoked_at)
    return token


def derived_tokens_with_state(lease: Lease, rows: Iterable[DerivedToken]) -> list[DerivedToken]:
    """`rows` (derived tokens of `lease`) each with `state` and `revoked_since`: a token is revoked
    when it, its minted parent or any token between was (the Biscuit carries every ancestor's
    id). Two queries for any number of rows: the lease's revoked ids, its derived tokens' lineage."""
    rows = list(rows)
    if not rows:
        return rows
    revoked = dict(
        FederatedRevocation.objects.filter(issuer__isnull=True, home_lease_id=lease.pk).values_list(
            "revocation_id", "revoked_at"
        )
    )
    derived_from = dict(
        DerivedToken.objects.filter(lease=lease).values_list("revocation_id", "parent_revocation_id")
    )
    now = timezone.now()
    ended = _lease_has_ended(lease, now)
    for row in rows:
        lineage, current = [], row.revocation_id
        while current is not None and current not in lineage:
            lineage.append(current)
            current = derived_from.get(current)
        lineage.append(row.parent_revocation_id)
        times = [revoked[rid] for rid in lineage if rid in revoked]
        if row.revoked_at is not None:
            times.append(row.revoked_at)
        row.revoked_since = min(times) if times else None
        as_of_now = SimpleNamespace(revoked_at=row.revoked_since, expires_at=row.expires_at)
        row.state = token_state(as_of_now, at=now, lease_ended=ended)
    return rows


def derived_tokens_of(lease: Lease):
    return lease.derived_tokens.select_related("parent").order_by("-created_at", "-pk")


def usage_allowed_by_token(access: FederatedAccess, rows: Sequence[tuple]) -> None:
    """A derived token asked again, by its own checks, about what a usage report's `rows`
    (event_key, kind, asset, quantity, occurred_at) name: every asset, and the use of every kind
    (training runs: training; generated seconds: any generation use the lease and the token both
    allow). Refused (403) otherwise. A minted token allows what its lease allows, which the usage
    rules check already."""
    if not access.derived:
        return
    named = sorted({str(row[2]) for row in rows if row[2] is not None})
    kinds = {row[1] for row in rows}

    def allows(**request) -> bool:
        try:
            _authorized(
                access.secret, public_hex=access.public_hex, lease=access.lease, now=timezone.now(), **request
            )
        except (Unauthorized, Forbidden):
            return False
        return True

    if named and not allows(assets=named):
        outside = [a for a in named if access.verified.assets is not None and a not in access.verified.assets]
        which = f"asset {outside[0]}" if outside else "every asset the report names"
        raise Forbidden(f"this vendor's token does not open {which}", code="token_not_for_this")
    if UsageEvent.Kind.TRAINING_RUN in kinds and not allows(uses=[TRAINING_USE.value]):
        raise Forbidden("this vendor's token does not allow training", code="use_not_permitted")
    if UsageEvent.Kind.GENERATED_SECOND in kinds:
        generation = [use for use in in_use_order(access.lease.permitted_uses) if use in GENERATION_USES]
        if not any(allows(uses=[use]) for use in generation):
            raise Forbidden("this vendor's token does not allow generation", code="use_not_permitted")
