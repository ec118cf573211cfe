"""Lease tokens (`lt_`): what a studio's machines use to pull one lease's data. Secrets,
hashing and the state rule come from `trust.tokens`; whether the lease itself still gives
access comes from the lease selectors (`require_live`)."""

import functools
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from trust import audit
from trust.errors import Conflict, Gone, Invalid, NotFound, Unauthorized
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

from .models import Lease, LeaseToken
from .selectors import effective_end, require_live, require_studio_staff


def _lease_has_ended(lease: Lease, at: datetime) -> bool:
    try:
        require_live(lease, at=at)
    except (Gone, Conflict):
        return True
    return False


def lease_token_state(token: LeaseToken, *, at: datetime | None = None) -> TokenState:
    """The token's state at `at`, its lease's end included."""
    at = at or timezone.now()
    return token_state(token, at=at, lease_ended=_lease_has_ended(token.lease, at))


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
    secret = mint_secret(TokenKind.LEASE)
    token = LeaseToken.objects.create(
        lease=lease,
        name=name.strip(),
        token_hash=hash_secret(secret),
        created_by=actor,
        expires_at=min(now + lifetime, lease.ends_at),
    )
    audit.record(
        actor=actor,
        action="token.minted",
        subject=token,
        data={"lease": lease.pk, "name": token.name, "expires_at": token.expires_at},
    )
    return token, secret


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
    return token


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


def _instance(model, row):
    """A model instance from its concrete columns as the database returned them, through each
    field's converters as the ORM applies them."""
    fields = model._meta.concrete_fields
    values = []
    for field, value in zip(fields, row, strict=True):
        column = field.get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
            value = convert(value, column, connection)
        values.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def _token_by_hash(token_hash: str) -> LeaseToken | None:
    """The token with this hash and its lease, in one statement."""
    with connection.cursor() as cursor:
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
    refuse_unless_active(lease_token_state(token))


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
    record_use(token, at=now)
    return token


def lease_of_token(*, token: LeaseToken, lease_id) -> Lease:
    """The token's lease if it is the one asked for. A token opens one lease; asking about
    another reveals nothing about it."""
    if str(token.lease_id) != str(lease_id):
        raise NotFound("no such lease", code="lease_not_found")
    return token.lease
