"""This trust's Ed25519 signing keys: the one home for loading them, naming them and signing.

`TRUST_SIGNING_KEY` holds one or more private keys (hex of the 32-byte seed), comma-separated.
The first signs; every one is published in the well-known document, so rotating is: put a new
key first, keep the old one behind it until what it signed has expired, then drop it. On the
embedded default the key is generated once into `var/signing_key`. A key is never in the code
or the database."""

import hashlib
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "Ed25519"


def fingerprint_of(public_key_hex: str) -> str:
    """What administrators compare out of band: SHA-256 of the raw public key, in hex."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()


def kid_of(public_key_hex: str) -> str:
    """A key's name in tokens and signed calls: the start of its fingerprint."""
    return fingerprint_of(public_key_hex)[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_hex(self) -> str:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    @property
    def kid(self) -> str:
        return kid_of(self.public_hex)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_hex)


def new_private_key_hex() -> str:
    return Ed25519PrivateKey.generate().private_bytes_raw().hex()


def _parse(value: str) -> tuple[SigningKey, ...]:
    keys = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        try:
            seed = bytes.fromhex(part)
            if len(seed) != 32:
                raise ValueError
        except ValueError:
            raise ImproperlyConfigured(
                "TRUST_SIGNING_KEY must be one or more Ed25519 private keys, each 64 hex "
                "characters, comma-separated (32 random bytes in hex: `openssl rand -hex 32`)"
            ) from None
        keys.append(SigningKey(Ed25519PrivateKey.from_private_bytes(seed)))
    if not keys:
        raise ImproperlyConfigured("TRUST_SIGNING_KEY is empty")
    return tuple(keys)


@cache
def signing_keys() -> tuple[SigningKey, ...]:
    """Every live key of this trust, the signing one first."""
    return _parse(settings.TRUST_SIGNING_KEY)


def current_key() -> SigningKey:
    return signing_keys()[0]


def public_keys() -> list[dict]:
    return [{"kid": key.kid, "alg": ALGORITHM, "key": key.public_hex} for key in signing_keys()]


def public_key_object(public_key_hex: str) -> Ed25519PublicKey:
    """A peer's published key, for verifying what it signed; ValueError if it is not one."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
