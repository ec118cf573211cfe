"""seed_federation's refusals (the whole run between two live trusts is
tests/federation/test_make_federation.py): a fingerprint that is not the peer's key, a trust not
seeded yet, a peering made at another URL, and a server database."""

from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.utils import timezone

from federation.models import Peer
from tests import factories
from trust import keys

pytestmark = pytest.mark.django_db

PEER_URL = "http://127.0.0.1:8001"
PEER_KEY = keys.SigningKey(Ed25519PrivateKey.generate())


def _published(slug: str = "equity-uk") -> dict:
    return {
        "slug": slug,
        "name": "Equity UK Performers Data Trust",
        "currency": "USD",
        "api": f"{PEER_URL}/api/v1/",
        "public_keys": [{"kid": PEER_KEY.kid, "alg": "Ed25519", "key": PEER_KEY.public_hex}],
    }


@pytest.fixture
def demo_admin(settings):
    settings.DEBUG = True  # the command refuses a server database otherwise (the test below)
    return factories.AdminFactory(username="admin")


def _seed_federation(fingerprint: str, url: str = PEER_URL) -> None:
    with mock.patch("federation.signed_calls.fetch_well_known", return_value=_published()):
        call_command("seed_federation", peer_url=url, peer_fingerprint=fingerprint, verbosity=0)


def test_a_fingerprint_that_is_not_the_peers_key_is_refused_and_nothing_is_kept(demo_admin):
    with pytest.raises(CommandError, match="fingerprint_mismatch"):
        _seed_federation("ab" * 32)
    assert not Peer.objects.exists()


def test_a_trust_not_seeded_yet_is_told_to_seed_first(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="seed_demo"):
        _seed_federation(PEER_KEY.fingerprint)


def test_a_peer_added_at_another_url_is_not_silently_moved(demo_admin):
    Peer.objects.create(
        slug="equity-uk",
        name="Equity UK",
        currency="USD",
        base_url="http://127.0.0.1:9001",
        api_url="http://127.0.0.1:9001/api/v1/",
        public_keys=_published()["public_keys"],
        fingerprint=PEER_KEY.fingerprint,
        added_by_us_at=timezone.now(),
    )
    with pytest.raises(CommandError, match="same PORT"):
        _seed_federation(PEER_KEY.fingerprint)
    assert Peer.objects.get().base_url == "http://127.0.0.1:9001"


def test_a_server_database_is_refused(settings):
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the embedded default is where the demo belongs")
    settings.DEBUG = False
    factories.AdminFactory(username="admin")
    with pytest.raises(CommandError, match="embedded default only"):
        _seed_federation(PEER_KEY.fingerprint)
