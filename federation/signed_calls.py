"""Trust-to-trust calls: the one home for signing a request to a peer and verifying a peer's.

A call carries `Authorization: Peer <token>`, a short-lived JWT signed with the caller's Ed25519
key (EdDSA, the key named by `kid`) whose claims bind it to this one request: the method, the
path with its query, a SHA-256 of the body, the audience trust and a single-use nonce. The
receiver refuses it when the signature, the audience, the binding, the clock skew (more than
CLOCK_SKEW_SECONDS either way) or a nonce it has already seen is wrong."""

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from trust import keys
from trust.errors import BadGateway, Forbidden, Unauthorized

from .models import Peer

SCHEME = "Peer"
CLOCK_SKEW_SECONDS = 60
TOKEN_SECONDS = 60
CALL_TIMEOUT_SECONDS = 20
WELL_KNOWN_PATH = "/.well-known/guildtrust.json"


def body_digest(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def call_token(
    *,
    audience: str,
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
    key: keys.SigningKey | None = None,
    issuer: str | None = None,
) -> str:
    """The signature of one call. `key` and `issuer` default to this trust's (tests sign as a
    peer with the peer's)."""
    issued = int(now if now is not None else time.time())
    key = key or keys.current_key()
    claims = {
        "iss": issuer or settings.TRUST_SLUG,
        "aud": audience,
        "iat": issued,
        "exp": issued + TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(18),
        "htm": method.upper(),
        "htu": path,
        "bdh": body_digest(body),
    }
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})


# Outgoing -------------------------------------------------------------------------------------


def fetch_well_known(base_url: str) -> dict:
    """A trust's public document, checked for shape: every key must be Ed25519 and named by the
    kid its own bytes give, so a document cannot alias one key under another's name."""
    url = base_url.rstrip("/") + WELL_KNOWN_PATH
    try:
        response = requests.get(url, timeout=CALL_TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise BadGateway(f"could not read {url}: {error}", code="peer_unreachable") from error
    try:
        for field in ("slug", "name", "currency", "api"):
            if not isinstance(document[field], str) or not document[field]:
                raise ValueError(field)
        published = document["public_keys"]
        if not published:
            raise ValueError("public_keys")
        for entry in published:
            if entry["alg"] != keys.ALGORITHM or entry["kid"] != keys.kid_of(entry["key"]):
                raise ValueError("public_keys")
            keys.public_key_object(entry["key"])
    except (KeyError, TypeError, ValueError) as error:
        raise BadGateway(
            f"{url} is not a Guildtrust well-known document", code="peer_document_invalid"
        ) from error
    return document


def peer_call(
    peer: Peer,
    method: str,
    path: str,
    payload: dict | None = None,
    *,
    require_live: bool = True,
    timeout: float = CALL_TIMEOUT_SECONDS,
):
    """Send one signed call to a peer and return its JSON answer. A suspended or half-added
    peering sends nothing (only the peering messages themselves pass `require_live=False`).
    `timeout` is shorter where a studio waits on the answer (a federated manifest)."""
    if require_live and not peer.is_live:
        raise Forbidden(f"peering with {peer.slug} is {peer.state_label.lower()}", code="peer_not_live")
    body = json.dumps(payload or {}, separators=(",", ":")).encode()
    url = peer.base_url.rstrip("/") + path
    token = call_token(audience=peer.slug, method=method, path=path, body=body)
    try:
        response = requests.request(
            method,
            url,
            data=body,
            headers={"Authorization": f"{SCHEME} {token}", "Content-Type": "application/json"},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise BadGateway(f"{peer.slug} did not answer: {error}", code="peer_unreachable") from error
    if response.status_code >= 500:
        raise BadGateway(f"{peer.slug} answered {response.status_code}", code="peer_unreachable")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code >= 400:
        refused = BadGateway(
            f"{peer.slug} refused the call ({response.status_code} {answer.get('code', '')}): "
            f"{answer.get('detail', '')}",
            code="peer_refused",
        )
        # What the peer answered, for callers that tell a refusal for good (404, 409, 422) from
        # one that may pass later (401 clock skew, 403 a suspension).
        refused.peer_status, refused.peer_code = response.status_code, answer.get("code", "")
        raise refused
    return answer


# Incoming -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerClaims:
    issuer: str
    kid: str
    token: str


def caller_of(authorization: str) -> CallerClaims:
    """Who a call says it comes from, before anything is verified: only to find their key."""
    scheme, _, token = authorization.partition(" ")
    if scheme != SCHEME or not token:
        raise Unauthorized("a trust-to-trust call needs `Authorization: Peer <token>`", code="not_signed")
    try:
        kid = jwt.get_unverified_header(token).get("kid", "")
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss", "")
    except jwt.PyJWTError:
        raise Unauthorized("the call's token is malformed", code="bad_signature") from None
    if not isinstance(issuer, str) or not issuer or not isinstance(kid, str):
        raise Unauthorized("the call's token names no issuer", code="bad_signature")
    return CallerClaims(issuer=issuer, kid=kid, token=token)


def verify_call(
    caller: CallerClaims, peer: Peer, *, method: str, path: str, body: bytes, now: float | None = None
):
    """Check a call against the peer's published key and this request; raise Unauthorized with
    the reason's code otherwise. The nonce is spent only once everything else holds."""
    public_key = peer.key_named(caller.kid)
    if public_key is None:
        raise Unauthorized(f"{peer.slug} has no key {caller.kid!r} known here", code="unknown_key")
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(
            caller.token,
            keys.public_key_object(public_key),
            algorithms=["EdDSA"],
            audience=settings.TRUST_SLUG,
            issuer=peer.slug,
            # Expiry is judged below with the skew window, against the same `now`.
            options={
                "require": ["iat", "exp", "jti", "aud", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise Unauthorized("the call was signed for another trust", code="wrong_audience") from None
    except jwt.PyJWTError:
        raise Unauthorized("the call's signature does not verify", code="bad_signature") from None
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int) or not isinstance(expires, int) or expires - issued > 2 * TOKEN_SECONDS:
        raise Unauthorized("the call's token has an invalid lifetime", code="bad_signature")
    if abs(now - issued) > CLOCK_SKEW_SECONDS or now > expires + CLOCK_SKEW_SECONDS:
        raise Unauthorized("the call's clock is more than 60 s off ours, or it expired", code="clock_skew")
    if (claims.get("htm"), claims.get("htu"), claims.get("bdh")) != (method.upper(), path, body_digest(body)):
        raise Unauthorized("the signature does not cover this request", code="bad_signature")
    # Remembered past the longest time the token could still pass the checks above.
    if not cache.add(
        f"peer-nonce:{peer.slug}:{claims['jti']}", 1, timeout=TOKEN_SECONDS + 3 * CLOCK_SKEW_SECONDS
    ):
        raise Unauthorized("this call was already received", code="replayed")
    return claims
