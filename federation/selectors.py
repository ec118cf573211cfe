"""Reads of federation: this trust's public identity and its peers."""

from django.conf import settings
from django.db.models import QuerySet

from trust import keys

from .models import Peer


def base_url() -> str:
    """Where this trust serves: what a peer's administrator types to add it."""
    return settings.PUBLIC_BASE_URL.rstrip("/")


def identity() -> dict:
    """The well-known document: what a peer needs to verify this trust's signatures."""
    return {
        "slug": settings.TRUST_SLUG,
        "name": settings.TRUST_NAME,
        "currency": settings.TRUST_CURRENCY,
        "api": base_url() + "/api/v1/",
        "public_keys": keys.public_keys(),
    }


def signing_fingerprint() -> str:
    """What this trust's administrator gives a peer's administrator, out of band."""
    return keys.current_key().fingerprint


def peers() -> QuerySet[Peer]:
    return Peer.objects.all()
