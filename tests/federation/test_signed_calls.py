"""Refusals of trust-to-trust calls: each wrong signature, binding, clock or nonce is a 401 with
its own code, and a suspended or unknown peer is refused before anything changes."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from federation.models import Peer
from tests.licensing.test_refusals import PEER_CALLS
from trust import keys

pytestmark = pytest.mark.django_db

PATH = "/api/v1/federation/inbound/suspension/"


def _key() -> keys.SigningKey:
    return keys.SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture
def peer_key():
    return _key()


@pytest.fixture
def peer(peer_key, settings):
    settings.TRUST_SLUG = "sag-aftra"
    now = timezone.now()
    return Peer.objects.create(
        slug="equity-uk",
        name="Equity UK",
        currency="GBP",
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        public_keys=[{"kid": peer_key.kid, "alg": "Ed25519", "key": peer_key.public_hex}],
        fingerprint=peer_key.fingerprint,
        added_by_us_at=now,
        added_by_them_at=now,
        keys_fetched_at=now,
    )


def _call(body: dict, *, key, path=PATH, method="POST", sign_body=None, sign_path=None, **token_args):
    raw = json.dumps(body).encode()
    token = signed_calls.call_token(
        audience=token_args.pop("audience", "sag-aftra"),
        method=token_args.pop("sign_method", method),
        path=sign_path or path,
        body=sign_body if sign_body is not None else raw,
        key=key,
        issuer=token_args.pop("issuer", "equity-uk"),
        **token_args,
    )
    return APIClient().generic(
        method, path, raw, content_type="application/json", HTTP_AUTHORIZATION=f"Peer {token}"
    ), token


def test_a_signed_call_from_a_live_peer_is_heard(peer, peer_key):
    response, _ = _call({"suspended": True}, key=peer_key)
    assert response.status_code == 204
    peer.refresh_from_db()
    assert peer.suspended_by_them_at is not None


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ({"key": "other"}, "unknown_key"),
        ({"audience": "another-trust"}, "wrong_audience"),
        ({"sign_body": b'{"suspended": false}'}, "bad_signature"),
        ({"sign_path": "/api/v1/federation/inbound/hello/"}, "bad_signature"),
        ({"sign_method": "PUT"}, "bad_signature"),
        ({"now": "skewed"}, "clock_skew"),
        ({"now": "expired"}, "clock_skew"),
        ({"issuer": "nobody"}, "unknown_peer"),
    ],
)
def test_a_wrong_call_is_refused_with_its_reason(peer, peer_key, tamper, code):
    args = dict(tamper)
    if args.get("key") == "other":
        args["key"] = _key()
    else:
        args["key"] = peer_key
    if args.get("now") == "skewed":
        args["now"] = time.time() + 180
    elif args.get("now") == "expired":
        args["now"] = time.time() - 3600
    response, _ = _call({"suspended": True}, **args)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    peer.refresh_from_db()
    assert peer.suspended_by_them_at is None


def test_a_key_of_the_right_name_but_other_bytes_is_refused(peer, peer_key):
    """A forger who copies the peer's kid into the header still cannot sign as the peer."""
    forger = _key()
    token = signed_calls.call_token(
        audience="sag-aftra",
        method="POST",
        path=PATH,
        body=b'{"suspended":true}',
        key=forger,
        issuer="equity-uk",
    )
    header, payload, signature = token.split(".")
    import base64

    forged_header = base64.urlsafe_b64encode(
        json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": peer_key.kid}).encode()
    ).rstrip(b"=")
    response = APIClient().post(
        PATH,
        b'{"suspended":true}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Peer {forged_header.decode()}.{payload}.{signature}",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"


def test_a_replayed_call_is_refused(peer, peer_key):
    first, token = _call({"suspended": True}, key=peer_key)
    assert first.status_code == 204
    again = APIClient().post(
        PATH,
        json.dumps({"suspended": True}).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Peer {token}",
    )
    assert again.status_code == 401
    assert again.json()["code"] == "replayed"


@pytest.mark.parametrize("authorization", [None, "Bearer lt_nothing", "Peer", "Peer not.a.token"])
def test_an_unsigned_call_is_refused(peer, authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = APIClient().post(PATH, {"suspended": True}, format="json", **extra)
    assert response.status_code == 401
    peer.refresh_from_db()
    assert peer.suspended_by_them_at is None


def test_a_peer_we_suspended_is_refused_on_federated_calls(peer, peer_key, rf):
    """Suspension stops calls both ways: a signed call that needs live peering is refused."""
    from federation.api.auth import PeerCallAuthentication

    peer.suspended_by_us_at = timezone.now()
    peer.save()
    token = signed_calls.call_token(
        audience="sag-aftra", method="GET", path="/anything/", body=b"", key=peer_key, issuer="equity-uk"
    )
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request

    request = Request(rf.get("/anything/", HTTP_AUTHORIZATION=f"Peer {token}"))
    request.parser_context = {"view": object()}
    with pytest.raises(APIException) as refused:
        PeerCallAuthentication().authenticate(request)
    assert (refused.value.status_code, refused.value.get_codes()) == (403, "peer_not_live")


def test_outgoing_calls_to_a_suspended_peer_are_not_sent(peer):
    from trust.errors import Forbidden

    peer.suspended_by_them_at = timezone.now()
    peer.save()
    with pytest.raises(Forbidden) as refused:
        signed_calls.peer_call(peer, "GET", "/api/v1/anything/")
    assert refused.value.code == "peer_not_live"


# Every inbound trust-to-trust endpoint, not only the suspension notice above: each wrong
# signature, clock or nonce, and each peer that may not call, refused before its view runs.
INBOUND = [(method, path.replace("{lease}", "1")) for method, path, _ in PEER_CALLS]
# Peering's own messages are heard from a peer whose peering is not live (yet, or any more).
PEERING_MESSAGES = {"/api/v1/federation/inbound/hello/", "/api/v1/federation/inbound/suspension/"}


def _signed(method: str, path: str, *, key, body: bytes = b"{}", sign_body=None, **token_args):
    token = signed_calls.call_token(
        audience="sag-aftra",
        method=method,
        path=path,
        body=sign_body if sign_body is not None else body,
        key=key,
        issuer=token_args.pop("issuer", "equity-uk"),
        **token_args,
    )
    data = body if method == "post" else None
    response = APIClient().generic(
        method.upper(), path, data or b"", content_type="application/json", HTTP_AUTHORIZATION=f"Peer {token}"
    )
    return response, token


@pytest.mark.parametrize(("method", "path"), INBOUND, ids=[f"{m.upper()} {p}" for m, p in INBOUND])
def test_every_inbound_call_refuses_a_wrong_signature_clock_or_nonce(peer, peer_key, method, path):
    body = b"{}" if method == "post" else b""
    wrong = {
        "unknown_key": {"key": _key()},
        "bad_signature": {"key": peer_key, "sign_body": b'{"forged": true}'},
        "clock_skew": {"key": peer_key, "now": time.time() + 180},
        "unknown_peer": {"key": peer_key, "issuer": "nobody"},
    }
    for code, args in wrong.items():
        response, _ = _signed(method, path, body=body, **args)
        assert (response.status_code, response.json()["code"]) == (401, code), (code, response.content)
    expired, _ = _signed(method, path, body=body, key=peer_key, now=time.time() - 3600)
    assert (expired.status_code, expired.json()["code"]) == (401, "clock_skew")

    first, token = _signed(method, path, body=body, key=peer_key)
    assert first.status_code != 401, first.content  # heard (its view may refuse the empty body)
    again = APIClient().generic(
        method.upper(), path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Peer {token}"
    )
    assert (again.status_code, again.json()["code"]) == (401, "replayed")


@pytest.mark.parametrize(
    ("method", "path"),
    [case for case in INBOUND if case[1] not in PEERING_MESSAGES],
    ids=[f"{m.upper()} {p}" for m, p in INBOUND if p not in PEERING_MESSAGES],
)
@pytest.mark.parametrize("suspended_by", ["us", "them"])
def test_every_federated_call_of_a_suspended_peer_is_refused(peer, peer_key, method, path, suspended_by):
    Peer.objects.filter(pk=peer.pk).update(**{f"suspended_by_{suspended_by}_at": timezone.now()})
    response, _ = _signed(method, path, body=b"{}" if method == "post" else b"", key=peer_key)
    assert (response.status_code, response.json()["code"]) == (403, "peer_not_live"), response.content
