"""Bearer tokens, every kind: `ut_` user API tokens (here), `lt_` lease tokens and `ft_`
federated lease tokens (`licensing.tokens`, which builds on this module).

One home for what a token is: an opaque random secret with its kind in the prefix, stored only
as a SHA-256, with one rule for its state (active, expired, revoked, or its lease ended) that
the API auth classes, the gateway, the admin and the pages all ask.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .errors import Forbidden, Locked, Unauthorized

# A token's last use is written at most this often: authentication should not write on every hit.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenKind(StrEnum):
    """The prefix says which kind a secret is, before any lookup."""

    USER = "ut_"
    LEASE = "lt_"
    # A federated lease's token: not a random secret but a Biscuit signed by the lease's home
    # trust, verified offline by every trust of the lease (licensing.tokens, federation.biscuits).
    FEDERATED = "ft_"


class TokenState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    # A lease token whose lease was revoked or reached its end: it opens nothing any more.
    LEASE_ENDED = "lease_ended", "Lease ended"
    # A lease token whose lease has a takedown notice past its attestation deadline: refused
    # (423 `tokens_suspended`) until the studio attests deletion (licensing.deadlines).
    SUSPENDED = "suspended", "Suspended"


class TokenQuerySet(models.QuerySet):
    """Shared by both token models."""

    def live(self, *, at: datetime | None = None):
        """Tokens neither revoked nor expired at `at` (lease tokens also narrow to live leases)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=at or timezone.now())


def mint_secret(kind: TokenKind) -> str:
    return f"{kind.value}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def kind_of(secret: str) -> TokenKind:
    """The kind a bearer value claims by its prefix; anything else is refused (401)."""
    for kind in TokenKind:
        if secret.startswith(kind.value) and len(secret) > len(kind.value):
            return kind
    raise Unauthorized("unknown token", code="token_invalid")


def parse_authorization(header: bytes) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header; None when the header is absent
    or another scheme, refused (401) when it says Bearer but is malformed."""
    parts = header.split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise Unauthorized("malformed Authorization header", code="token_invalid")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise Unauthorized("unknown token", code="token_invalid") from None


def token_state(
    token, *, at: datetime | None = None, lease_ended: bool = False, lease_suspended: bool = False
) -> TokenState:
    """THE state of a token of either kind at `at`. Revocation wins over everything; a lease
    token whose lease has ended reads as that even when its own expiry has also passed; a
    suspension only matters to a token that would otherwise work."""
    at = at or timezone.now()
    if token.revoked_at is not None:
        return TokenState.REVOKED
    if lease_ended:
        return TokenState.LEASE_ENDED
    if token.expires_at <= at:
        return TokenState.EXPIRED
    if lease_suspended:
        return TokenState.SUSPENDED
    return TokenState.ACTIVE


def refuse_unless_active(state: TokenState) -> None:
    """The 401 for a revoked or expired token, the 423 for a suspended lease's token. A token of
    an ended lease is refused by the lease itself (410), so the caller asks the lease first."""
    if state == TokenState.REVOKED:
        raise Unauthorized("this token was revoked", code="token_revoked")
    if state == TokenState.EXPIRED:
        raise Unauthorized("this token has expired", code="token_expired")
    if state == TokenState.SUSPENDED:
        raise Locked(
            "this lease's tokens are suspended: a takedown notice passed its deadline for attesting "
            "deletion; they work again as soon as the studio attests it",
            code="tokens_suspended",
        )


def record_use(token, *, at: datetime) -> None:
    """Remember the last use, at most once per LAST_USED_RESOLUTION."""
    if token.last_used_at is None or at - token.last_used_at > LAST_USED_RESOLUTION:
        type(token).objects.filter(pk=token.pk).update(last_used_at=at)
        token.last_used_at = at


def _user_tokens():
    # trust.models imports this module for TokenQuerySet and TokenState.
    from .models import UserToken

    return UserToken


@transaction.atomic
@transaction.atomic
def user_token_mint(*, user):
    """A fresh `ut_` token; the secret is returned once and only its hash kept. Audited, as
    every token mint is (DESIGN: audit and transparency)."""
    from . import audit  # trust.models imports this module; the audit log imports trust.models

    secret = mint_secret(TokenKind.USER)
    token = _user_tokens().objects.create(
        user=user,
        token_hash=hash_secret(secret),
        expires_at=timezone.now() + timedelta(hours=settings.USER_TOKEN_LIFETIME_HOURS),
    )
    audit.record(actor=user, action="user_token.minted", subject=token, data={"expires_at": token.expires_at})
    return token, secret


@transaction.atomic
def user_token_revoke(*, token, actor=None) -> None:
    """Refused from the next request on (tokens are checked in the database, never cached).
    The token's owner (the default actor) or an administrator; every revocation is audited."""
    # trust.models imports this module, and the audit log and selectors import trust.models.
    from . import audit
    from .selectors import is_trust_admin

    actor = actor or token.user
    if actor.pk != token.user_id and not is_trust_admin(actor):
        raise Forbidden("only the token's owner or an administrator can revoke it", code="not_your_token")
    revoked = (
        _user_tokens().objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
    if revoked:
        audit.record(actor=actor, action="user_token.revoked", subject=token, data={"user": token.user_id})


def user_token_authenticate(secret: str):
    """The live `ut_` token for `secret`; refused (401) when unknown, revoked or expired. Read
    from the database on every call, so a revocation holds on every worker at once."""
    token = (
        _user_tokens().objects.select_related("user").filter(token_hash=hash_secret(secret)).first()
        if kind_of(secret) == TokenKind.USER
        else None
    )
    if token is None or not token.user.is_active:
        raise Unauthorized("unknown token", code="token_invalid")
    now = timezone.now()
    refuse_unless_active(token_state(token, at=now))
    record_use(token, at=now)
    return token


@transaction.atomic
def user_tokens_revoke_all(*, user, actor, reason: str) -> int:
    """Every live `ut_` token of `user` revoked in one statement ("sign out everywhere", or a
    password that changed); audited with the count. Returns how many were revoked."""
    from . import audit  # audit imports the models, which import this module

    revoked = _user_tokens().objects.live().filter(user=user).update(revoked_at=timezone.now())
    audit.record(
        actor=actor, action="user.tokens_revoked", subject=user, data={"reason": reason, "tokens": revoked}
    )
    return revoked


def revoke_user_tokens_on_password_change(sender, instance, created: bool, **kwargs) -> None:
    """post_save of the user model. `set_password` leaves the raw password on the instance until
    its save completes, so every way a password changes (the change and reset pages, the admin,
    `changepassword`) ends the user's API tokens. Other sessions end by Django's own session hash."""
    if created or getattr(instance, "_password", None) is None:
        return
    if _user_tokens().objects.live().filter(user=instance).exists():
        user_tokens_revoke_all(user=instance, actor=instance, reason="password_changed")
