"""Both administrators adding each other at the same moment: our administrator's add and the
other trust's hello insert the same peer at once. One row, live, and no error either way
(it was a 500 and an IntegrityError, seen when two live trusts peered through their APIs)."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import services, signed_calls
from federation.models import Peer
from trust import keys

pytestmark = pytest.mark.django_db

DESCRIBE = services.apply_document  # as imported, whatever a test wraps it in
THEIR_KEY = keys.SigningKey(Ed25519PrivateKey.generate())
DOCUMENT = {
    "slug": "equity-uk",
    "name": "Equity UK Performers Trust",
    "currency": "GBP",
    "api": "http://127.0.0.1:9/api/v1/",
    "public_keys": [{"kid": THEIR_KEY.kid, "alg": "Ed25519", "key": THEIR_KEY.public_hex}],
}


def _as_their_hello_describes_them() -> Peer:
    """The row the other trust's hello makes when it introduces itself (unsaved)."""
    peer = Peer(slug="equity-uk")
    DESCRIBE(peer, DOCUMENT, "http://127.0.0.1:9")
    return peer


@pytest.fixture
def no_messages(monkeypatch):
    monkeypatch.setattr(signed_calls, "fetch_well_known", lambda url: DOCUMENT)
    monkeypatch.setattr(services, "_send_after_commit", lambda message, peer: None)


def test_their_hello_landing_while_our_administrator_adds_them_makes_one_live_peer(
    cast, no_messages, monkeypatch
):
    def hello_lands_meanwhile(peer, document, base_url):
        # Their hello is recorded between our look for the row and our insert.
        if not Peer.objects.filter(slug="equity-uk").exists():
            services.peer_hello_received(peer=_as_their_hello_describes_them())
        DESCRIBE(peer, document, base_url)

    monkeypatch.setattr(services, "apply_document", hello_lands_meanwhile)
    peer = services.peer_add(actor=cast.admin, url="http://127.0.0.1:9", fingerprint=THEIR_KEY.fingerprint)
    assert Peer.objects.filter(slug="equity-uk").count() == 1
    assert peer.is_live and peer.fingerprint == THEIR_KEY.fingerprint


def test_a_hello_introducing_a_trust_our_administrator_added_meanwhile_makes_it_live(cast, no_messages):
    introduced = _as_their_hello_describes_them()  # read before our administrator's add committed
    services.peer_add(actor=cast.admin, url="http://127.0.0.1:9", fingerprint=THEIR_KEY.fingerprint)
    peer = services.peer_hello_received(peer=introduced)
    assert Peer.objects.filter(slug="equity-uk").count() == 1
    assert peer.is_live and peer.fingerprint == THEIR_KEY.fingerprint
