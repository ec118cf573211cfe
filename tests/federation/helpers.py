"""Shared by the tests of `ft_` tokens at one trust: keys, a peer that exists only as a Peer row
(its base URL is dead, so any call to it fails at once), bearer clients, and lease_a of the
`world` made a federated lease with its home part here."""

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from federation.models import Peer
from licensing.models import LeasePart
from trust import keys

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: a call there fails at once


def signing_key() -> keys.SigningKey:
    return keys.SigningKey(Ed25519PrivateKey.generate())


def live_peer(slug: str, key: keys.SigningKey, **fields) -> Peer:
    """A peering both sides opted into, with `key` as the peer's published key."""
    now = timezone.now()
    row = {
        "slug": slug,
        "name": slug,
        "currency": "GBP",
        "base_url": DEAD,
        "api_url": f"{DEAD}/api/v1/",
        "public_keys": [{"kid": key.kid, "alg": "Ed25519", "key": key.public_hex}],
        "fingerprint": key.fingerprint,
        "added_by_us_at": now,
        "added_by_them_at": now,
        "keys_fetched_at": now,
    }
    return Peer.objects.create(**(row | fields))


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def download(token: str, lease_id, asset_id):
    return bearer(token).get(f"/api/v1/leases/{lease_id}/assets/{asset_id}/download/")


def make_lease_federated(lease) -> Peer:
    """`lease` (at this trust, the home: settings.TRUST_SLUG) made federated: its home part here
    and an approved part at equity-uk (lease 55 there), whose trust is down."""
    assert settings.TRUST_SLUG != "equity-uk"
    equity = live_peer("equity-uk", signing_key())
    LeasePart.objects.create(lease=lease, peer=None, status="approved")
    LeasePart.objects.create(
        lease=lease, peer=equity, status="approved", remote_lease_id=55, remote_terms_id=3
    )
    return equity


def priced_equity_part(lease, *, equity_assets: int, home_assets: int = 2, **peer_fields) -> LeasePart:
    """`lease` made federated with prices: its home part here (`home_assets` licensable at
    approval) and an approved part at equity-uk (lease 55 there, `equity_assets` licensable),
    permitting crowd generation at 7 cents a download and 3 a generated second; its trust is down."""
    equity = live_peer("equity-uk", signing_key(), currency="USD", **peer_fields)
    LeasePart.objects.create(lease=lease, peer=None, status="approved", licensable_at_approval=home_assets)
    return LeasePart.objects.create(
        lease=lease,
        peer=equity,
        status="approved",
        remote_lease_id=55,
        remote_terms_id=3,
        licensable_at_approval=equity_assets,
        starts_at=lease.starts_at,
        ends_at=lease.ends_at,
        offer={"permitted_uses": ["crowd_generation"]},
        price_per_download_cents=7,
        price_per_generated_second_cents=3,
    )


def studio_token(studio_user, lease) -> str:
    """A new lease token for `lease`, minted through the API by its studio's `studio_user`."""
    studio = APIClient()
    studio.force_authenticate(studio_user)
    return studio.post(f"/api/v1/leases/{lease.pk}/tokens/", {"name": "farm"}, format="json").json()["token"]


def signed_call(method: str, path: str, body: dict | None, *, key, issuer: str, audience: str):
    """A trust-to-trust call to this trust, signed by `issuer` with `key`."""
    raw = json.dumps(body or {}, separators=(",", ":")).encode()
    token = signed_calls.call_token(
        audience=audience, method=method, path=path, body=raw, key=key, issuer=issuer
    )
    return APIClient().generic(
        method, path, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Peer {token}"
    )
