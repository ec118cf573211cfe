"""Federated lease tokens: Biscuit tokens signed by the home trust's Ed25519 key, which every
trust of the lease verifies offline with the home trust's public key (FEDERATION.md).

The one home for what such a token says and how it is checked:
- minted (authority block, signed by the home trust): `home`, `lease` (its id at home), one
  `part(trust, lease id at that trust)` per part, `studio`, one `use` per permitted use, and a
  check that the time is before the expiry (never past the lease's end);
- derived by studio staff for a vendor, without asking any trust: an appended block names the
  `vendor` and adds checks only (fewer assets, fewer uses, an earlier expiry). Biscuit makes it
  impossible to widen: the authorizer trusts facts of the authority block alone, and every
  check of every block must pass;
- checked at a trust: the request's facts (this trust, its lease of the part, the asset, the
  uses a report claims, the time) against a policy that allows only a part of this trust;
- revoked by revocation id: every block has one, and a derived token carries its parent's, so
  revoking a token's last id refuses it and everything derived from it.

The wire form is `ft_` + Biscuit's URL-safe base64; the root key id is the signing key's kid."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import biscuit_auth as biscuit

from trust import keys

PREFIX = "ft_"
VENDOR = re.compile(r'^vendor\("((?:[^"\\]|\\.){1,200})"\);$', re.MULTILINE)
# The expiry checks every block may carry (mint's and derive's): the earliest one binds.
EXPIRY = re.compile(r"^check if time\(\$t\), \$t < (\S+);$", re.MULTILINE)
# The asset and use restrictions `derive` writes: every block's binds, so they intersect.
ASSETS = re.compile(r"^reject if asset\(\$a\), !\{(.*)\}\.contains\(\$a\);$", re.MULTILINE)
USES = re.compile(r"^reject if requested_use\(\$u\), !\{(.*)\}\.contains\(\$u\);$", re.MULTILINE)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
# Biscuit's default wall-clock limit on authorizing is 1 ms: a gateway worker that the machine
# pauses that long (a busy host) refused valid tokens ("Reached Datalog execution limits", seen
# under load in tests/benchmarks/bench_federated_gateway.py). The limits on facts and iterations
# still bound the work a crafted block can cause; time is only the backstop, and 100 ms was still
# exceeded on this 2-core machine under a full test run beside other work.
AUTHORIZE_MAX_TIME = timedelta(seconds=1)


class TokenRefused(Exception):
    """The token is malformed, signed by a key not known here, or its checks or the policy fail."""

    def __init__(self, reason: str, code: str):
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class LeaseGrant:
    home: str
    lease: int
    parts: tuple[tuple[str, int], ...]
    studio: str
    uses: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True)
class Verified:
    home: str
    lease: int
    root_kid: str
    revocation_ids: tuple[str, ...]
    vendor: str | None
    expires_at: datetime | None = None
    # What the derived blocks narrow the token to (None: not narrowed), read from their checks:
    # for showing and for refusing a wider derivation early; the checks themselves are what bind.
    assets: frozenset[str] | None = None
    uses: frozenset[str] | None = None

    @property
    def token_id(self) -> str:
        """The revocation id of the token's last block: what revoking exactly this token stores."""
        return self.revocation_ids[-1]


def root_key_id(kid: str) -> int:
    """Biscuit names a root key with a 32-bit number: the first 8 hex digits of our kid."""
    return int(kid[:8], 16)


def _private_key(key: keys.SigningKey) -> biscuit.PrivateKey:
    return biscuit.PrivateKey.from_bytes(key.private.private_bytes_raw(), biscuit.Algorithm.Ed25519)


def mint(grant: LeaseGrant, *, key: keys.SigningKey | None = None) -> str:
    key = key or keys.current_key()
    builder = biscuit.BiscuitBuilder(
        "home({home}); lease({lease}); studio({studio}); check if time($t), $t < {expires};",
        {"home": grant.home, "lease": grant.lease, "studio": grant.studio, "expires": grant.expires_at},
    )
    for trust, lease_id in grant.parts:
        builder.add_fact(biscuit.Fact("part({trust}, {lease})", {"trust": trust, "lease": lease_id}))
    for use in grant.uses:
        builder.add_fact(biscuit.Fact("use({use})", {"use": use}))
    builder.set_root_key_id(root_key_id(key.kid))
    return PREFIX + builder.build(_private_key(key)).to_base64()


def _parse(token: str, public_key_for: Callable[[int | None], str | None]) -> biscuit.Biscuit:
    if not token.startswith(PREFIX):
        raise TokenRefused("not a federated lease token", "token_malformed")

    def root(kid: int | None) -> biscuit.PublicKey:
        public_hex = public_key_for(kid)
        if public_hex is None:
            raise ValueError("unknown root key")
        return biscuit.PublicKey.from_bytes(bytes.fromhex(public_hex), biscuit.Algorithm.Ed25519)

    try:
        return biscuit.Biscuit.from_base64(token[len(PREFIX) :], root)
    except Exception as error:  # the library raises several types, and ValueError from root()
        raise TokenRefused(f"the token does not verify: {error}", "token_signature") from None


def revocation_ids(token: str) -> tuple[str, ...]:
    """A token's revocation ids without verifying it: what its issuer stores at minting."""
    return tuple(biscuit.UnverifiedBiscuit.from_base64(token[len(PREFIX) :]).revocation_ids)


@dataclass(frozen=True)
class Unverified:
    """What a token says of itself before it is verified: the root key id that finds whose key
    verifies it, and its revocation ids (a verified parse of the same token gives the same)."""

    root_key_id: int | None
    revocation_ids: tuple[str, ...]


def unverified(token: str) -> Unverified:
    """The token's own word, read without verifying it; TokenRefused if unreadable."""
    if not token.startswith(PREFIX):
        raise TokenRefused("not a federated lease token", "token_malformed")
    try:
        parsed = biscuit.UnverifiedBiscuit.from_base64(token[len(PREFIX) :])
        return Unverified(parsed.root_key_id(), tuple(parsed.revocation_ids))
    except Exception:  # the library's parse errors have no common base
        raise TokenRefused("the token is malformed", "token_malformed") from None


def unverified_root_key_id(token: str) -> int | None:
    """The root key id a token names, to find whose key verifies it; TokenRefused if unreadable."""
    return unverified(token).root_key_id


def derive(
    token: str,
    *,
    public_key_for: Callable[[int | None], str | None],
    vendor: str,
    assets: Iterable[str] | None = None,
    uses: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """A narrower token for a vendor. Each restriction is a check of the appended block, so the
    result can never do more than `token`, whatever is asked here."""
    if not 0 < len(vendor) <= 200 or '"' in vendor or "\\" in vendor:
        raise TokenRefused("name the vendor in 1 to 200 characters, without quotes", "vendor_invalid")
    parent = _parse(token, public_key_for)
    block = biscuit.BlockBuilder("vendor({vendor});", {"vendor": vendor})
    if assets is not None:
        # Every asset a request names (a download's, a usage report's) must be one of these; a
        # request naming none (the manifest) is not an asset's use.
        block.add_code("reject if asset($a), !{assets}.contains($a);", {"assets": set(map(str, assets))})
    if uses is not None:
        # Downloads claim no use; a usage report claims the uses of its events, and each must
        # be one of these.
        block.add_code("reject if requested_use($u), !{uses}.contains($u);", {"uses": set(uses)})
    if expires_at is not None:
        # The library takes UTC datetimes only.
        block.add_code("check if time($t), $t < {expires};", {"expires": expires_at.astimezone(UTC)})
    return PREFIX + parent.append(block).to_base64()


def authorize(
    token: str,
    *,
    public_key_for: Callable[[int | None], str | None],
    trust: str,
    local_lease: int,
    now: datetime,
    asset: str | None = None,
    assets: Iterable[str] = (),
    uses: Iterable[str] = (),
    revoked: Callable[[Iterable[str]], bool] = lambda ids: False,
) -> Verified:
    """Check a token for one request at `trust`, whose own lease of the part is `local_lease`.
    `public_key_for(root key id)` gives the issuing trust's public key (hex) or None;
    `revoked(ids)` says whether any of the token's revocation ids is on this trust's list.
    `asset` (a download) or `assets` (a usage report) are the assets the request names, `uses`
    the uses it claims."""
    parsed = _parse(token, public_key_for)
    revocation_ids = tuple(parsed.revocation_ids)
    if revoked(revocation_ids):
        raise TokenRefused("the token, or one it was derived from, is revoked", "token_revoked")
    authorizer = biscuit.AuthorizerBuilder(
        "trust({trust}); local_lease({lease}); time({now});"
        " allow if part($t, $l), trust($t), local_lease($l);",
        {"trust": trust, "lease": local_lease, "now": now},
    )
    for named in {*assets, *([asset] if asset is not None else [])}:
        authorizer.add_fact(biscuit.Fact("asset({asset})", {"asset": str(named)}))
    for use in uses:
        authorizer.add_fact(biscuit.Fact("requested_use({use})", {"use": use}))
        authorizer.add_code("check if use({use});", {"use": use})
    limits = authorizer.limits()
    limits.max_time = AUTHORIZE_MAX_TIME
    authorizer.set_limits(limits)
    try:
        built = authorizer.build(parsed)
        built.authorize()
        home = built.query(biscuit.Rule("h($h, $l) <- home($h), lease($l)"))[0].terms
    except biscuit.AuthorizationError as error:
        failed = str(error)
        code = "token_expired" if "time" in failed and "<" in failed else "token_not_for_this"
        raise TokenRefused(f"the token does not allow this request: {failed}", code) from None
    sources = [parsed.block_source(i) for i in range(parsed.block_count())]
    vendors = VENDOR.findall("\n".join(sources[1:]))
    expiries = [datetime.fromisoformat(text) for text in EXPIRY.findall("\n".join(sources))]
    kid = biscuit.UnverifiedBiscuit.from_base64(token[len(PREFIX) :]).root_key_id()
    derived = "\n".join(sources[1:])
    return Verified(
        home=home[0],
        lease=home[1],
        root_kid=f"{kid:08x}" if kid is not None else "",
        revocation_ids=revocation_ids,
        vendor=vendors[-1] if vendors else None,
        expires_at=min(expiries) if expiries else None,
        assets=_narrowed(ASSETS.findall(derived)),
        uses=_narrowed(USES.findall(derived)),
    )


def _narrowed(sets: list[str]) -> frozenset[str] | None:
    """The intersection of the sets the blocks' restrictions name (None when none restricts)."""
    if not sets:
        return None
    parsed = [frozenset(QUOTED.findall(text)) for text in sets]
    return frozenset.intersection(*parsed)
