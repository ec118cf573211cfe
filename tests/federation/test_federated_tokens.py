"""`ft_` tokens at one trust, with a peer that exists only as a Peer row and a key this test
holds: the trust verifies a token offline (the peer's base URL is dead, so any call to it would
fail), maps it to its own lease of the part, and refuses what the token does not open. At the
home trust: minting for a federated lease, revoking, and the manifest marking a silent part
unavailable."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from federation import biscuits, signed_calls
from federation.models import Peer
from licensing import federated
from licensing import tokens as lease_tokens
from licensing.models import (
    FederatedRevocation,
    InboundLeasePart,
    LeaseToken,
    PullWindow,
    RevocationCursor,
    UsageEvent,
)
from trust import keys

from .helpers import bearer, download, live_peer, make_lease_federated, signed_call, signing_key

pytestmark = pytest.mark.django_db

# --- At a part's trust (this trust is equity-uk; sag-aftra is the home) -----------------------


@pytest.fixture
def home_key():
    return signing_key()


@pytest.fixture
def part(world, settings, home_key):
    """lease_a here is equity-uk's part of sag-aftra's lease 77."""
    settings.TRUST_SLUG = "equity-uk"
    home = live_peer("sag-aftra", home_key)
    InboundLeasePart.objects.create(
        peer=home, home_lease_id=77, lease=world.lease_a, reported_status="approved"
    )
    return home


def _grant(world, *, home_lease=77, local=None, expires=None) -> biscuits.LeaseGrant:
    return biscuits.LeaseGrant(
        home="sag-aftra",
        lease=home_lease,
        parts=(("sag-aftra", home_lease), ("equity-uk", local or world.lease_a.pk)),
        studio="sag-aftra:1",
        uses=("training",),
        expires_at=expires or timezone.now() + timedelta(days=1),
    )


def test_a_token_signed_by_the_home_trust_downloads_here_without_calling_it(world, part, home_key):
    token = biscuits.mint(_grant(world), key=home_key)
    answer = download(token, world.lease_a.pk, world.alice_asset.pk)
    assert answer.status_code == 302, answer.content
    event = UsageEvent.objects.get(lease=world.lease_a, kind="download", asset=world.alice_asset)
    assert event.token_id is None  # the token has no row here; the lease is this trust's part
    manifest = bearer(token).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    assert manifest.status_code == 200
    assert {a["id"] for a in json.loads(b"".join(manifest.streaming_content))["assets"]} == {
        str(world.alice_asset.pk),
        str(world.bob_asset.pk),
    }


def test_at_a_parts_trust_the_pull_window_knows_an_ft_token_by_its_revocation_id(world, part, home_key):
    """No LeaseToken row here: the second download of an asset with the same home-signed token
    is a refresh (a URL, no event), keyed by the token's revocation id; another token is billed."""
    token = biscuits.mint(_grant(world), key=home_key)
    for _ in range(2):
        assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert UsageEvent.objects.filter(lease=world.lease_a, kind="download").count() == 1
    (revocation_id,) = biscuits.revocation_ids(token)
    assert list(PullWindow.objects.values_list("token_key", flat=True)) == [f"ft:{revocation_id}"]
    other = biscuits.mint(_grant(world), key=home_key)
    assert download(other, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert UsageEvent.objects.filter(lease=world.lease_a, kind="download").count() == 2


def test_an_ft_download_here_is_two_statements_whatever_the_live_peers(
    world, part, home_key, settings, django_assert_num_queries
):
    """The peers' keys, the lease with its part and the revocation list are asked in one
    statement with the lease, then the download's own: two round trips, as an `lt_` token's."""
    settings.PULL_WINDOW_SECONDS = 0
    other_key = signing_key()
    live_peer("actra", other_key)
    token = biscuits.mint(_grant(world), key=home_key)
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302  # counters made
    with django_assert_num_queries(2):
        assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert UsageEvent.objects.filter(lease=world.lease_a, kind="download").count() == 2
    # Signed by a live peer whose lease this is not a part of: no such lease for that token.
    foreign = biscuits.mint(_grant(world), key=other_key)
    assert download(foreign, world.lease_a.pk, world.alice_asset.pk).status_code == 404
    assert UsageEvent.objects.filter(lease=world.lease_a, kind="download").count() == 2


def test_a_token_signed_by_a_key_this_trust_does_not_know_is_refused(world, part):
    token = biscuits.mint(_grant(world), key=signing_key())
    answer = download(token, world.lease_a.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_unknown_key"
    assert not UsageEvent.objects.filter(lease=world.lease_a, kind="download").exists()


def test_a_suspended_peering_opens_nothing(world, part, home_key):
    token = biscuits.mint(_grant(world), key=home_key)
    Peer.objects.filter(pk=part.pk).update(suspended_by_us_at=timezone.now())
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 401


def test_a_token_of_one_lease_is_refused_on_another_leases_part(world, part, home_key):
    InboundLeasePart.objects.create(
        peer=part, home_lease_id=78, lease=world.lease_b, reported_status="approved"
    )
    token_77 = biscuits.mint(_grant(world), key=home_key)
    refused = download(token_77, world.lease_b.pk, world.alice_asset.pk)
    assert refused.status_code == 403 and refused.json()["code"] == "token_not_for_this"
    # A token of home lease 78 that names lease_a as its part: lease_a is 77's part here.
    lying = biscuits.mint(_grant(world, home_lease=78, local=world.lease_a.pk), key=home_key)
    refused = download(lying, world.lease_a.pk, world.alice_asset.pk)
    assert refused.status_code == 403 and refused.json()["code"] == "token_not_for_this"


def test_a_lease_that_is_no_part_of_the_tokens_home_is_not_found(world, part, home_key):
    token = biscuits.mint(_grant(world, local=world.lease_b.pk), key=home_key)
    assert download(token, world.lease_b.pk, world.alice_asset.pk).status_code == 404


def test_a_derived_token_cannot_widen_to_another_part_or_asset(world, part, home_key):
    InboundLeasePart.objects.create(
        peer=part, home_lease_id=78, lease=world.lease_b, reported_status="approved"
    )
    token = biscuits.mint(_grant(world), key=home_key)

    def public_key_for(kid):
        return home_key.public_hex

    narrow = biscuits.derive(
        token, public_key_for=public_key_for, vendor="VFX House", assets=[world.alice_asset.pk]
    )
    assert download(narrow, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert download(narrow, world.lease_a.pk, world.bob_asset.pk).status_code == 403
    # Facts an appended block adds grant nothing: a part of lease 78 named by the vendor's block.
    import biscuit_auth

    parsed = biscuit_auth.Biscuit.from_base64(
        token[3:],
        biscuit_auth.PublicKey.from_bytes(bytes.fromhex(home_key.public_hex), biscuit_auth.Algorithm.Ed25519),
    )
    widened = (
        "ft_"
        + parsed.append(
            biscuit_auth.BlockBuilder('part("equity-uk", {lease}); lease(78);', {"lease": world.lease_b.pk})
        ).to_base64()
    )
    assert download(widened, world.lease_b.pk, world.alice_asset.pk).status_code == 403


def test_an_expired_token_is_refused(world, part, home_key):
    token = biscuits.mint(_grant(world, expires=timezone.now() - timedelta(seconds=5)), key=home_key)
    answer = download(token, world.lease_a.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"


def test_a_revocation_pushed_by_the_home_trust_is_refused_here_at_once(world, part, home_key):
    token = biscuits.mint(_grant(world), key=home_key)
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    revoked = biscuits.revocation_ids(token)[0]
    rows = [{"revocation_id": revoked, "home_lease_id": 77, "revoked_at": timezone.now().isoformat()}]
    pushed = signed_call(
        "POST",
        "/api/v1/federation/inbound/revocations/",
        {"revocations": rows},
        key=home_key,
        issuer="sag-aftra",
        audience="equity-uk",
    )
    assert pushed.status_code == 200 and pushed.json() == {"accepted": 1}, pushed.content
    answer = download(token, world.lease_a.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"


def test_a_peer_cannot_revoke_tokens_of_another_trusts_leases_here(world, part, home_key):
    other_key = signing_key()
    live_peer("actra", other_key)
    token = biscuits.mint(_grant(world), key=home_key)
    rows = [
        {
            "revocation_id": biscuits.revocation_ids(token)[0],
            "home_lease_id": 77,
            "revoked_at": timezone.now().isoformat(),
        }
    ]
    pushed = signed_call(
        "POST",
        "/api/v1/federation/inbound/revocations/",
        {"revocations": rows},
        key=other_key,
        issuer="actra",
        audience="equity-uk",
    )
    assert pushed.status_code == 200 and pushed.json() == {"accepted": 0}
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302


def test_the_pull_keeps_the_home_trusts_revocations_and_moves_the_cursor(world, part, home_key, monkeypatch):
    token = biscuits.mint(_grant(world), key=home_key)
    asked = []

    def home_answers(peer, method, path, payload=None, **kwargs):
        asked.append((peer.slug, method, path))
        rows = [
            {
                "revocation_id": biscuits.revocation_ids(token)[0],
                "home_lease_id": 77,
                "revoked_at": timezone.now().isoformat(),
            }
        ]
        return {"revocations": rows, "cursor": 41}

    monkeypatch.setattr(signed_calls, "peer_call", home_answers)
    assert federated.peers_to_pull_revocations_from() == [part.pk]
    assert federated.revocations_pull(peer=part) == 1
    assert asked == [("sag-aftra", "GET", "/api/v1/federation/inbound/revocations/?since=0")]
    assert RevocationCursor.objects.get(peer=part).last_seen == 41
    assert download(token, world.lease_a.pk, world.alice_asset.pk).json()["code"] == "token_revoked"


# --- At the home trust (this trust is sag-aftra; equity-uk holds a part) -----------------------


@pytest.fixture
def federated_lease(world, settings):
    """lease_a made federated: its home part here and an approved part at equity-uk (lease 55
    there), whose trust is down."""
    settings.TRUST_SLUG = "sag-aftra"
    return make_lease_federated(world.lease_a)


def _mint(world):
    studio = APIClient()
    studio.force_authenticate(world.cast.carol)
    return studio, studio.post(f"/api/v1/leases/{world.lease_a.pk}/tokens/", {"name": "farm"}, format="json")


def test_a_federated_lease_mints_an_ft_token_kept_by_its_revocation_id_only(world, federated_lease):
    studio, minted = _mint(world)
    assert minted.status_code == 201, minted.content
    token = minted.json()["token"]
    assert token.startswith("ft_")
    row = LeaseToken.objects.get(pk=minted.json()["id"])
    assert row.revocation_id == biscuits.revocation_ids(token)[0]
    assert row.expires_at <= world.lease_a.ends_at
    verified = biscuits.authorize(
        token,
        public_key_for=lambda kid: keys.current_key().public_hex,
        trust="equity-uk",
        local_lease=55,
        now=timezone.now(),
    )
    assert (verified.home, verified.lease) == ("sag-aftra", world.lease_a.pk)
    listed = studio.get(f"/api/v1/leases/{world.lease_a.pk}/tokens/").json()["results"]
    assert [t["id"] for t in listed if t["state"] == "active"].count(row.pk) == 1


def test_the_home_manifest_marks_a_silent_part_unavailable_and_lists_its_own(world, federated_lease):
    _, minted = _mint(world)
    answer = bearer(minted.json()["token"]).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    assert answer.status_code == 200
    manifest = json.loads(b"".join(answer.streaming_content))
    assert {(a["trust"], a["id"]) for a in manifest["assets"]} == {
        ("sag-aftra", str(world.alice_asset.pk)),
        ("sag-aftra", str(world.bob_asset.pk)),
    }
    parts = {p["trust"]: p for p in manifest["parts"]}
    assert parts["sag-aftra"]["status"] == "available"
    assert parts["equity-uk"]["status"] == "unavailable" and "did not answer" in parts["equity-uk"]["reason"]


def test_revoking_at_home_refuses_the_token_here_and_lists_it_for_the_parts_trust(world, federated_lease):
    studio, minted = _mint(world)
    token = minted.json()["token"]
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    assert (
        studio.delete(f"/api/v1/leases/{world.lease_a.pk}/tokens/{minted.json()['id']}/").status_code == 204
    )
    answer = download(token, world.lease_a.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
    # equity-uk's pull: only revocations of leases with a part there, after its cursor.
    equity_key = signing_key()
    Peer.objects.filter(pk=federated_lease.pk).update(
        public_keys=[{"kid": equity_key.kid, "alg": "Ed25519", "key": equity_key.public_hex}]
    )
    path = "/api/v1/federation/inbound/revocations/?since=0"
    pulled = signed_call("GET", path, None, key=equity_key, issuer="equity-uk", audience="sag-aftra")
    assert pulled.status_code == 200, pulled.content
    body = pulled.json()
    assert [r["revocation_id"] for r in body["revocations"]] == [biscuits.revocation_ids(token)[0]]
    assert body["cursor"] == FederatedRevocation.objects.get(issuer=None).pk
    again = signed_call(
        "GET",
        f"/api/v1/federation/inbound/revocations/?since={body['cursor']}",
        None,
        key=equity_key,
        issuer="equity-uk",
        audience="sag-aftra",
    )
    assert again.json()["revocations"] == []


def test_an_ft_download_at_home_is_two_statements(
    world, federated_lease, settings, django_assert_num_queries
):
    settings.PULL_WINDOW_SECONDS = 0
    _, minted = _mint(world)
    token = minted.json()["token"]
    assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302  # counters made
    with django_assert_num_queries(2):
        assert download(token, world.lease_a.pk, world.alice_asset.pk).status_code == 302
    event = UsageEvent.objects.filter(lease=world.lease_a, kind="download").latest("id")
    assert event.token_id == minted.json()["id"]


def test_a_local_lease_still_mints_lt_tokens(world):
    _, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="local")
    assert secret.startswith("lt_")
    assert LeaseToken.objects.get(name="local").revocation_id is None
