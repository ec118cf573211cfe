"""Opaque bearer secrets: random, prefixed, shown once, stored only as a SHA-256."""

import hashlib
import secrets


def mint_secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
