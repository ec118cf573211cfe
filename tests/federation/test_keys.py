"""Key rotation: every configured key is published, the first signs, and a peer's new key is
taken only when its document still holds a key already trusted."""

import pytest
from django.utils import timezone

from federation import services, signed_calls
from federation.models import Peer
from trust import keys
from trust.models import AuditEvent


@pytest.fixture
def two_keys(settings):
    new, old = keys.new_private_key_hex(), keys.new_private_key_hex()
    settings.TRUST_SIGNING_KEY = f"{new}, {old}"
    keys.signing_keys.cache_clear()
    yield new, old
    keys.signing_keys.cache_clear()


def test_both_keys_are_published_and_the_first_signs(client, two_keys):
    new, old = (
        keys.SigningKey(keys.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k))) for k in two_keys
    )
    published = client.get("/.well-known/guildtrust.json").json()["public_keys"]
    assert [k["kid"] for k in published] == [new.kid, old.kid]
    token = signed_calls.call_token(audience="x", method="GET", path="/", body=b"")
    assert signed_calls.caller_of(f"Peer {token}").kid == new.kid


@pytest.mark.parametrize("value", ["zz" * 32, "ab" * 16, ""])
def test_a_malformed_key_stops_with_a_clear_message(settings, value):
    from django.core.exceptions import ImproperlyConfigured

    settings.TRUST_SIGNING_KEY = value
    keys.signing_keys.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="TRUST_SIGNING_KEY"):
            keys.signing_keys()
    finally:
        keys.signing_keys.cache_clear()


def _published(*private_hex):
    entries = []
    for value in private_hex:
        key = keys.SigningKey(keys.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(value)))
        entries.append({"kid": key.kid, "alg": "Ed25519", "key": key.public_hex})
    return entries


@pytest.mark.django_db
def test_a_rotated_peer_key_is_taken_only_beside_a_trusted_one(monkeypatch):
    old, new, stranger = (keys.new_private_key_hex() for _ in range(3))
    peer = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK",
        currency="GBP",
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        public_keys=_published(old),
        fingerprint=keys.fingerprint_of(_published(old)[0]["key"]),
        added_by_us_at=timezone.now(),
    )
    document = {
        "slug": "equity-uk",
        "name": "Equity UK",
        "currency": "GBP",
        "api": "http://127.0.0.1:9/api/v1/",
    }

    # Someone who controls only the URL publishes a key set of their own: refused, audited.
    monkeypatch.setattr(
        signed_calls, "fetch_well_known", lambda url: {**document, "public_keys": _published(stranger)}
    )
    services.peer_refresh_keys(peer=peer)
    peer.refresh_from_db()
    assert peer.public_keys == _published(old)
    assert AuditEvent.objects.filter(action="peer.keys_refused").count() == 1

    # The peer rotates: new key first, the old one still beside it. Taken (after the minute's pause).
    Peer.objects.filter(pk=peer.pk).update(keys_fetched_at=timezone.now() - timezone.timedelta(minutes=2))
    peer.refresh_from_db()
    monkeypatch.setattr(
        signed_calls, "fetch_well_known", lambda url: {**document, "public_keys": _published(new, old)}
    )
    services.peer_refresh_keys(peer=peer)
    peer.refresh_from_db()
    assert peer.public_keys == _published(new, old)
    assert AuditEvent.objects.filter(action="peer.keys_rotated").count() == 1
