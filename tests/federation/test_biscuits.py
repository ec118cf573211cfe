"""Federated lease tokens (Biscuit): verified offline with the home trust's public key, valid
only for a part of the lease at the trust checking it, narrowed and never widened by a vendor's
derivation, and revoked with everything derived from them."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from federation import biscuits
from trust import keys

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOME_KEY = keys.SigningKey(Ed25519PrivateKey.generate())
OTHER_KEY = keys.SigningKey(Ed25519PrivateKey.generate())
GRANT = biscuits.LeaseGrant(
    home="sag-aftra",
    lease=42,
    parts=(("sag-aftra", 42), ("equity-uk", 17)),
    studio="Northlight Studios",
    uses=("training", "generation"),
    expires_at=NOW + timedelta(days=7),
)


def home_key(kid):
    return HOME_KEY.public_hex if kid == biscuits.root_key_id(HOME_KEY.kid) else None


def check(token, *, trust="equity-uk", lease=17, now=NOW, key_for=home_key, **request):
    return biscuits.authorize(
        token, public_key_for=key_for, trust=trust, local_lease=lease, now=now, **request
    )


@pytest.fixture(scope="module")
def token():
    return biscuits.mint(GRANT, key=HOME_KEY)


def test_a_token_is_accepted_at_every_part_of_its_lease_offline(token):
    at_peer = check(token, asset="a1")
    assert (at_peer.home, at_peer.lease, at_peer.vendor) == ("sag-aftra", 42, None)
    assert check(token, trust="sag-aftra", lease=42, uses=["training"]).lease == 42
    assert token.startswith("ft_") and len(token) < 700


@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        ({"lease": 18}, "token_not_for_this"),  # a token of one lease on another lease's part
        ({"trust": "actra", "lease": 17}, "token_not_for_this"),
        ({"uses": ["voice_clone"]}, "token_not_for_this"),
        ({"now": NOW + timedelta(days=8)}, "token_expired"),
        ({"key_for": lambda kid: OTHER_KEY.public_hex}, "token_signature"),
        ({"key_for": lambda kid: None}, "token_signature"),
    ],
)
def test_a_token_is_refused_outside_what_it_grants(token, request_args, code):
    with pytest.raises(biscuits.TokenRefused) as refused:
        check(token, **request_args)
    assert refused.value.code == code


def test_a_token_signed_by_a_key_the_peer_does_not_know_is_refused():
    forged = biscuits.mint(GRANT, key=OTHER_KEY)
    with pytest.raises(biscuits.TokenRefused) as refused:
        check(forged)
    assert refused.value.code == "token_signature"


def test_a_derived_vendor_token_is_narrower_and_names_its_vendor(token):
    vendor = biscuits.derive(
        token,
        public_key_for=home_key,
        vendor="Pixel Forge VFX",
        assets=["a1", "a2"],
        uses=["training"],
        expires_at=NOW + timedelta(days=1),
    )
    assert check(vendor, asset="a1").vendor == "Pixel Forge VFX"
    assert check(vendor, asset="a2", uses=["training"]).vendor == "Pixel Forge VFX"
    for request_args in (
        {"asset": "a3"},
        {"asset": "a1", "uses": ["generation"]},
        {"asset": "a1", "uses": ["training", "generation"]},
        {"asset": "a1", "now": NOW + timedelta(days=2)},
    ):
        with pytest.raises(biscuits.TokenRefused):
            check(vendor, **request_args)


def test_deriving_cannot_widen_a_token(token):
    narrow = biscuits.derive(token, public_key_for=home_key, vendor="A", uses=["training"])
    wider = biscuits.derive(narrow, public_key_for=home_key, vendor="B", uses=["training", "generation"])
    with pytest.raises(biscuits.TokenRefused):
        check(wider, asset="a1", uses=["generation"])
    later = biscuits.derive(token, public_key_for=home_key, vendor="C", expires_at=NOW + timedelta(days=30))
    with pytest.raises(biscuits.TokenRefused) as refused:
        check(later, now=NOW + timedelta(days=8))
    assert refused.value.code == "token_expired"


def test_revoking_a_token_revokes_everything_derived_from_it(token):
    child = biscuits.derive(token, public_key_for=home_key, vendor="Pixel Forge VFX")
    grandchild = biscuits.derive(child, public_key_for=home_key, vendor="Roto Ltd")
    revoked = {check(child).token_id}
    is_revoked = revoked.intersection

    assert check(token, revoked=is_revoked).vendor is None  # the parent is untouched
    for derived in (child, grandchild):
        with pytest.raises(biscuits.TokenRefused) as refused:
            check(derived, revoked=is_revoked)
        assert refused.value.code == "token_revoked"


@pytest.mark.parametrize("junk", ["", "lt_abc", "ft_", "ft_not-base64!", "ft_" + "A" * 400])
def test_junk_is_refused_cleanly(junk):
    with pytest.raises(biscuits.TokenRefused):
        check(junk)


@settings(max_examples=40, deadline=None)
@given(
    assets=st.sets(st.sampled_from(["a1", "a2", "a3", "a4"]), min_size=1),
    uses=st.sets(st.sampled_from(["training", "generation"]), min_size=1),
    asked_asset=st.sampled_from(["a1", "a2", "a3", "a4"]),
    asked_uses=st.sets(st.sampled_from(["training", "generation", "voice_clone"])),
)
def test_a_derived_token_allows_exactly_the_intersection(token, assets, uses, asked_asset, asked_uses):
    derived = biscuits.derive(token, public_key_for=home_key, vendor="V", assets=assets, uses=uses)
    allowed = asked_asset in assets and set(asked_uses) <= uses
    try:
        check(derived, asset=asked_asset, uses=sorted(asked_uses))
        accepted = True
    except biscuits.TokenRefused:
        accepted = False
    assert accepted == allowed
