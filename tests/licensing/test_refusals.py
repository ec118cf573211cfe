"""Every endpoint refuses the caller who has no business there: no token, a wrong role, the
other member, the other studio, an expired token, a revoked token.

Statuses follow DESIGN: 401 no/bad/expired/revoked token, 403 a token without rights, 404
what the caller may not know exists, 410 an ended or revoked lease, 423 a lease whose tokens
are suspended for an overdue takedown."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from licensing import services as licensing
from licensing import tokens as lease_tokens
from tests.conftest import bearer_client
from tests.factories import PASSWORD
from trust.models import UserToken
from trust.tokens import user_token_mint

pytestmark = pytest.mark.django_db


def _paths(world):
    lease_a, alice_asset = world.lease_a.pk, world.alice_asset.pk
    return {
        "lease": lease_a,
        "asset": alice_asset,
        "dataset": world.dataset.pk,
        "studio": world.cast.studio_a.pk,
        "token": world.token_a.pk,
    }


# (method, path, body) of every endpoint only a trust administrator may call.
ADMIN_ONLY = [
    ("get", "/api/v1/members/", None),
    (
        "post",
        "/api/v1/members/",
        {"username": "x", "password": "long-enough-pw", "member_number": "X1", "display_name": "X"},
    ),
    ("get", "/api/v1/studios/", None),
    ("post", "/api/v1/studios/", {"name": "Rogue"}),
    ("post", "/api/v1/studios/{studio}/staff/", {"username": "y", "password": "long-enough-pw"}),
    ("get", "/api/v1/terms/", None),
    (
        "post",
        "/api/v1/terms/",
        {"dataset": "{dataset}", "title": "t", "permitted_uses": ["training"], "duration_days": 1},
    ),
    ("get", "/api/v1/datasets/", None),
    ("post", "/api/v1/datasets/", {"slug": "rogue", "title": "Rogue"}),
    ("get", "/api/v1/datasets/{dataset}/", None),
    ("post", "/api/v1/datasets/{dataset}/items/", {"assets": ["{asset}"]}),
    ("post", "/api/v1/datasets/{dataset}/versions/", None),
    ("post", "/api/v1/leases/{lease}/approve/", None),
    ("post", "/api/v1/leases/{lease}/reject/", None),
    ("post", "/api/v1/leases/{lease}/revoke/", None),
    (
        "post",
        "/api/v1/leases/{lease}/usage/corrections/",
        {"events": [{"event_key": "c", "corrects": "u", "quantity": -1}]},
    ),
    ("get", "/api/v1/settings/rates/", None),
    ("put", "/api/v1/settings/rates/", {"admin_fee_bps": 0, "pension_bps": 0}),
    ("get", "/api/v1/periods/", None),
    ("get", "/api/v1/periods/1/", None),
    ("post", "/api/v1/periods/1/close/", None),
    ("get", "/api/v1/datasets/{dataset}/versions/", None),
    ("post", "/api/v1/periods/", {"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}),
    ("get", "/api/v1/audit/", None),
    ("get", "/api/v1/payouts/batches/", None),
    ("post", "/api/v1/payouts/batches/", {"minimum_cents": 1}),
    ("get", "/api/v1/payouts/batches/1/", None),
    ("get", "/api/v1/payouts/batches/1/csv/", None),
    ("get", "/api/v1/payouts/batches/1/pain001/", None),
    ("get", "/api/v1/payouts/balances/", None),
    ("get", "/api/v1/federation/peers/", None),
    ("post", "/api/v1/federation/peers/", {"url": "http://127.0.0.1:9/", "fingerprint": "a" * 64}),
    ("post", "/api/v1/federation/peers/1/suspend/", None),
    ("post", "/api/v1/federation/peers/1/resume/", None),
    ("put", "/api/v1/terms/1/shared-with/", {"peers": []}),
    ("get", "/api/v1/federation/settlements/", None),
    ("post", "/api/v1/consent-texts/", {"use": "training", "text": "A new text."}),
    ("post", "/api/v1/members/1/death/", {"date": "2026-01-01", "evidence": "certificate 1"}),
    ("post", "/api/v1/members/1/authority/", {"authority": "union", "evidence": "court order 1"}),
    ("get", "/api/v1/datasets/{dataset}/versions/1/croissant.json", None),
    ("post", "/api/v1/invoices/1/payments/", {"amount_cents": 1, "paid_at": "2020-01-01", "reference": "r"}),
    ("post", "/api/v1/invoices/1/void/", {"reason": "r"}),
    ("post", "/api/v1/payouts/batches/1/sent/", {}),
    ("post", "/api/v1/payouts/batches/1/settled/", {}),
    ("post", "/api/v1/payouts/batches/1/returns/", {"member": 1, "reason": "account closed"}),
    ("get", "/api/v1/settings/retention/", None),
    ("put", "/api/v1/settings/retention/", {"face_scan": 1}),
    ("get", "/api/v1/unclaimed/", None),
    ("post", "/api/v1/unclaimed/claims/", {"member": 1}),
    ("post", "/api/v1/members/1/untraceable/", {"reason": "letters returned"}),
    ("delete", "/api/v1/members/1/untraceable/", None),
    ("get", "/api/v1/reconciliation/", None),
    ("get", "/api/v1/ledger/accounts/", None),
    ("get", "/api/v1/ledger/accounts/1/entries/", None),
]
MEMBER_ONLY = [
    ("get", "/api/v1/consents/", None),
    ("post", "/api/v1/consents/", {"use": "training"}),
    ("get", "/api/v1/me/earnings/", None),
    ("get", "/api/v1/me/leases/", None),
    ("get", "/api/v1/me/models/", None),
    ("get", "/api/v1/me/bank-account/", None),
    ("put", "/api/v1/me/bank-account/", {"iban": "DE89370400440532013000"}),
    ("get", "/api/v1/me/payouts/", None),
    ("get", "/api/v1/me/estate-representative/", None),
    ("put", "/api/v1/me/estate-representative/", {"username": "bob"}),
    ("post", "/api/v1/consents/1/withdraw/", None),
    ("post", "/api/v1/consents/1/reconfirm/", None),
    ("get", "/api/v1/contributions/", None),
    ("post", "/api/v1/contributions/1/accept/", None),
    ("post", "/api/v1/contributions/1/decline/", None),
    ("get", "/api/v1/me/unclaimed/", None),
    ("post", "/api/v1/me/unclaimed/claim/", None),
]
STUDIO_ONLY = [
    ("get", "/api/v1/catalog/", None),
    ("post", "/api/v1/leases/", {"terms": 1, "purpose": "p"}),
    ("post", "/api/v1/leases/{lease}/cancel/", None),
    ("get", "/api/v1/charges/", None),
    ("post", "/api/v1/takedowns/1/acknowledge/", None),
    ("post", "/api/v1/takedowns/1/attest/", {"statement": "deleted"}),
    ("get", "/api/v1/studio/statement/", None),
]
# Studio staff see their own studio's (another studio's is a 404), administrators every one.
STUDIO_OR_ADMIN = [
    ("get", "/api/v1/invoices/", None),
    ("get", "/api/v1/invoices/1/pdf/", None),
    ("get", "/api/v1/invoices/1/csv/", None),
    ("get", "/api/v1/credit-notes/", None),
    ("get", "/api/v1/credit-notes/1/pdf/", None),
    ("get", "/api/v1/credit-notes/1/csv/", None),
]
LEASE_TOKEN_ONLY = [
    ("get", "/api/v1/leases/{lease}/manifest/", None),
    ("get", "/api/v1/leases/{lease}/assets/{asset}/download/", None),
    (
        "post",
        "/api/v1/leases/{lease}/usage/",
        {
            "events": [
                {
                    "event_key": "k",
                    "kind": "training_run",
                    "quantity": 1,
                    "occurred_at": "2030-01-01T00:00:00Z",
                }
            ]
        },
    ),
    ("get", "/api/v1/leases/{lease}/croissant.json", None),
    ("get", "/api/v1/leases/{lease}/assets/{asset}/c2pa/", None),
]
ANY_LOGIN = [
    ("get", "/api/v1/assets/", None),
    ("get", "/api/v1/leases/", None),
    ("get", "/api/v1/leases/{lease}/", None),
    ("get", "/api/v1/leases/{lease}/tokens/", None),
    ("post", "/api/v1/leases/{lease}/tokens/", {"name": "n"}),
    ("delete", "/api/v1/leases/{lease}/tokens/{token}/", None),
    ("post", "/api/v1/leases/{lease}/tokens/derive/", {"token": "ft_x", "vendor": "Pixel Forge"}),
    ("get", "/api/v1/leases/{lease}/derived-tokens/", None),
    ("post", "/api/v1/leases/{lease}/derived-tokens/1/revoke/", None),
    ("get", "/api/v1/leases/{lease}/takedowns/", None),
    ("get", "/api/v1/leases/{lease}/odrl.json", None),
    ("get", "/api/v1/leases/{lease}/models/", None),
    (
        "post",
        "/api/v1/leases/{lease}/models/",
        {
            "name": "m",
            "version": "1",
            "purpose": "p",
            "dataset_versions": [{"dataset": "world", "version": 1}],
            "training_started_on": "2020-01-01",
        },
    ),
    (
        "post",
        "/api/v1/assets/",
        {
            "kind": "face_scan",
            "title": "t",
            "content_type": "image/png",
            "size": 1,
            "sha256": "a" * 64,
            "contributors": [{"member": 1, "share": "1"}],
        },
    ),
    ("get", "/api/v1/assets/{asset}/", None),
    ("post", "/api/v1/assets/{asset}/complete/", None),
    # The member's own receipts, and every one for an administrator (others: 404).
    ("get", "/api/v1/consents/1/receipt/", None),
    # A destroyed asset's contributors, and administrators (others: 404); the list is each
    # caller's own.
    ("get", "/api/v1/destructions/", None),
    ("get", "/api/v1/destructions/1/certificate/", None),
    ("delete", "/api/v1/auth/token/", None),
    ("post", "/api/v1/auth/tokens/revoke-all/", None),
]
EVERY_PROTECTED = ADMIN_ONLY + MEMBER_ONLY + STUDIO_ONLY + STUDIO_OR_ADMIN + LEASE_TOKEN_ONLY + ANY_LOGIN
# Trust-to-trust calls: a signed call of a live peer and nothing else (tests/federation/
# test_signed_calls.py tries every way a signature can be wrong).
PEER_CALLS = [
    ("post", "/api/v1/federation/inbound/hello/", {}),
    ("post", "/api/v1/federation/inbound/suspension/", {}),
    ("get", "/api/v1/federation/inbound/offers/", None),
    ("post", "/api/v1/federation/inbound/lease-parts/", {}),
    ("post", "/api/v1/federation/inbound/lease-parts/end/", {}),
    ("get", "/api/v1/federation/inbound/lease-parts/{lease}/manifest/", None),
    ("post", "/api/v1/federation/inbound/part-decisions/", {}),
    ("get", "/api/v1/federation/inbound/revocations/", None),
    ("post", "/api/v1/federation/inbound/revocations/", {}),
    ("post", "/api/v1/federation/inbound/usage/", {}),
    ("post", "/api/v1/federation/inbound/settlements/", {}),
    ("get", "/api/v1/federation/inbound/settlements/downloads/", None),
    ("post", "/api/v1/federation/inbound/takedowns/", {}),
    ("post", "/api/v1/federation/inbound/takedowns/status/", {}),
]
# Open to anyone by design: signing in, the public register, the trust's published identity.
PUBLIC = [
    ("post", "/api/v1/auth/token/"),
    ("get", "/api/v1/transparency/leases/"),
    ("get", "/api/v1/consent-texts/"),
    ("get", "/api/v1/transparency/models/"),
    ("get", "/.well-known/guildtrust.json"),
]


def _fill(value, names):
    if isinstance(value, str):
        filled = value.format(**names)
        return int(filled) if value.startswith("{") and filled.isdigit() else filled
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def call(client, world, method, path, body):
    names = _paths(world)
    return getattr(client, method)(_fill(path, names), _fill(body, names), format="json")


def _ids(cases):
    return [f"{m.upper()} {p}" for m, p, _ in cases]


@pytest.mark.parametrize(("method", "path", "body"), EVERY_PROTECTED, ids=_ids(EVERY_PROTECTED))
def test_no_token_is_refused_with_401(world, anon, method, path, body):
    response = call(anon, world, method, path, body)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path", "body"), EVERY_PROTECTED, ids=_ids(EVERY_PROTECTED))
def test_a_made_up_token_is_refused_with_401(world, method, path, body):
    for secret in ("ut_not-a-real-token", "lt_not-a-real-token", "garbage"):
        response = call(bearer_client(secret), world, method, path, body)
        assert response.status_code == 401, secret
        assert response.json()["code"] == "token_invalid"


@pytest.mark.parametrize(("method", "path", "body"), EVERY_PROTECTED, ids=_ids(EVERY_PROTECTED))
def test_an_expired_user_token_is_refused_with_401(world, method, path, body):
    token, secret = user_token_mint(user=world.cast.admin)
    UserToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = call(bearer_client(secret), world, method, path, body)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize(("method", "path", "body"), EVERY_PROTECTED, ids=_ids(EVERY_PROTECTED))
def test_a_revoked_user_token_is_refused_with_401(world, method, path, body):
    token, secret = user_token_mint(user=world.cast.admin)
    UserToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = call(bearer_client(secret), world, method, path, body)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY, ids=_ids(ADMIN_ONLY))
@pytest.mark.parametrize("who", ["alice", "carol", "outsider"])
def test_admin_endpoints_refuse_members_studios_and_outsiders(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    ADMIN_ONLY + MEMBER_ONLY + STUDIO_ONLY + STUDIO_OR_ADMIN,
    ids=_ids(ADMIN_ONLY + MEMBER_ONLY + STUDIO_ONLY + STUDIO_OR_ADMIN),
)
def test_a_lease_token_opens_no_user_endpoint(world, method, path, body):
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), MEMBER_ONLY, ids=_ids(MEMBER_ONLY))
@pytest.mark.parametrize("who", ["carol", "outsider"])
def test_member_endpoints_refuse_non_members(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "members_only"


@pytest.mark.parametrize(("method", "path", "body"), STUDIO_ONLY, ids=_ids(STUDIO_ONLY))
@pytest.mark.parametrize("who", ["alice", "outsider"])
def test_studio_endpoints_refuse_members_and_outsiders(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), STUDIO_OR_ADMIN, ids=_ids(STUDIO_OR_ADMIN))
@pytest.mark.parametrize("who", ["alice", "outsider"])
def test_invoices_refuse_members_and_outsiders(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "studio_only"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY, ids=_ids(LEASE_TOKEN_ONLY))
@pytest.mark.parametrize("who", ["admin", "carol", "alice"])
def test_lease_data_needs_a_lease_token_not_a_login(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "lease_token_required"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY, ids=_ids(LEASE_TOKEN_ONLY))
def test_another_studios_lease_token_finds_nothing(world, method, path, body):
    response = call(bearer_client(world.secret_b), world, method, path, body)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY, ids=_ids(LEASE_TOKEN_ONLY))
def test_an_expired_lease_token_is_refused_with_401(world, method, path, body):
    type(world.token_a).objects.filter(pk=world.token_a.pk).update(expires_at=timezone.now())
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY, ids=_ids(LEASE_TOKEN_ONLY))
def test_a_revoked_lease_token_is_refused_with_401(world, method, path, body):
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY[:2], ids=_ids(LEASE_TOKEN_ONLY[:2]))
def test_a_revoked_lease_is_gone(world, method, path, body):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a)
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 410
    assert response.json()["code"] == "lease_revoked"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY[:2], ids=_ids(LEASE_TOKEN_ONLY[:2]))
def test_an_ended_lease_is_gone(world, method, path, body):
    type(world.lease_a).objects.filter(pk=world.lease_a.pk).update(ends_at=timezone.now())
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 410
    assert response.json()["code"] == "lease_expired"


@pytest.mark.parametrize(("method", "path", "body"), LEASE_TOKEN_ONLY, ids=_ids(LEASE_TOKEN_ONLY))
def test_a_suspended_leases_token_is_refused_with_423(world, method, path, body):
    # An overdue takedown's suspension (licensing.deadlines) refuses every lease-token call alike.
    type(world.lease_a).objects.filter(pk=world.lease_a.pk).update(tokens_suspended_at=timezone.now())
    response = call(bearer_client(world.secret_a), world, method, path, body)
    assert response.status_code == 423
    assert response.json()["code"] == "tokens_suspended"


LEASE_BY_STAFF = [c for c in ANY_LOGIN if "{lease}" in c[1]]


@pytest.mark.parametrize(("method", "path", "body"), LEASE_BY_STAFF, ids=_ids(LEASE_BY_STAFF))
@pytest.mark.parametrize("who", ["dave", "alice", "outsider"])
def test_another_studio_cannot_see_or_touch_a_lease(world, as_user, who, method, path, body):
    response = call(as_user(getattr(world.cast, who)), world, method, path, body)
    assert response.status_code == 404
    assert response.json()["code"] == "lease_not_found"


@pytest.mark.parametrize("path", ["/api/v1/assets/{asset}/", "/api/v1/assets/{asset}/complete/"])
@pytest.mark.parametrize("who", ["bob", "carol", "outsider"])
def test_an_asset_is_invisible_to_everyone_but_its_contributors(world, as_user, who, path):
    client = as_user(getattr(world.cast, who))
    method = "post" if path.endswith("complete/") else "get"
    assert call(client, world, method, path, None).status_code == 404


def test_a_member_lists_only_assets_they_contribute_to(world, as_user):
    listed = {a["id"] for a in as_user(world.cast.bob).get("/api/v1/assets/").json()["results"]}
    assert listed == {str(world.bob_asset.pk)}


def test_a_member_cannot_register_an_asset_for_others(world, as_user):
    body = {
        "kind": "face_scan",
        "title": "t",
        "content_type": "image/png",
        "size": 1,
        "sha256": "a" * 64,
        "contributors": [{"member": world.cast.alice.pk, "share": "1"}],
    }
    response = as_user(world.cast.bob).post("/api/v1/assets/", body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_contributor"


def test_a_member_cannot_consent_for_an_asset_they_do_not_contribute_to(world, as_user):
    response = as_user(world.cast.bob).post(
        "/api/v1/consents/", {"use": "training", "asset": str(world.alice_asset.pk)}, format="json"
    )
    assert response.status_code == 404


def test_a_member_cannot_withdraw_another_members_consent(world, as_user):
    alices = world.cast.alice.consents.first()
    response = as_user(world.cast.bob).post(f"/api/v1/consents/{alices.pk}/withdraw/")
    assert response.status_code == 404
    assert world.cast.alice.consents.filter(state="withdrawn").count() == 0


@pytest.mark.parametrize("action", ["acknowledge", "attest"])
def test_another_studio_cannot_answer_a_takedown(world, as_user, action):
    from trust import services as trust

    capture = world.cast.alice.consents.get(use="capture")
    trust.consent_withdraw(actor=world.cast.alice.user, consent=capture)
    takedown = world.lease_a.takedowns.first()
    response = as_user(world.cast.dave).post(
        f"/api/v1/takedowns/{takedown.pk}/{action}/", {"statement": "deleted"}, format="json"
    )
    assert response.status_code == 404
    takedown.refresh_from_db()
    assert takedown.status == "issued"


def test_the_public_register_needs_no_token(world, anon):
    assert anon.get("/api/v1/transparency/leases/").status_code == 200


def test_a_wrong_password_gets_no_token(world, anon):
    response = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_credentials"


def test_a_user_token_can_be_revoked_by_its_holder(world, anon):
    secret = anon.post(
        "/api/v1/auth/token/", {"username": "carol", "password": PASSWORD}, format="json"
    ).json()["token"]
    client = bearer_client(secret)
    assert client.get("/api/v1/catalog/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    refused = client.get("/api/v1/catalog/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


def test_password_guessing_is_throttled(world, anon, settings):
    from django.core.cache import cache

    settings.AXES_FAILURE_LIMIT = 1000  # the lockout has tests of its own: this is the rate limit
    key = "throttle_auth_127.0.0.1"  # ScopedRateThrottle's key for the test client's address
    cache.delete(key)
    statuses = [
        anon.post(
            "/api/v1/auth/token/", {"username": "alice", "password": f"guess-{n}"}, format="json"
        ).status_code
        for n in range(35)
    ]
    cache.delete(key)
    assert statuses[:30] == [401] * 30 and statuses[-1] == 429


@pytest.mark.parametrize(
    "path", ["/api/v1/leases/99999999999999999999999/", "/api/v1/periods/99999999999999999999/"]
)
def test_an_absurd_id_is_a_404_not_a_crash(world, as_user, path):
    assert as_user(world.cast.admin).get(path).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"terms": 10**30, "purpose": "p"}, {"terms": "x", "purpose": "p"}, [], "nonsense"],
)
def test_a_nonsense_lease_request_is_a_clear_400(world, as_user, body):
    response = as_user(world.cast.carol).post("/api/v1/leases/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] in ("invalid", "parse_error")


def test_a_lease_request_naming_neither_terms_nor_parts_is_a_422(world, as_user):
    response = as_user(world.cast.carol).post("/api/v1/leases/", {"purpose": "p"}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "terms_or_parts")


def _route(path: str) -> str:
    return re.sub(r"\{[^}]+\}|(?<=/)\d+(?=/)", "{}", path)


def test_every_operation_of_the_schema_is_tried_here(world):
    """A new endpoint without its refusals fails here: every operation the OpenAPI schema lists is
    in one of the lists above."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listed = {(m, _route(p)) for m, p, _ in EVERY_PROTECTED + PEER_CALLS} | {
        (m, _route(p)) for m, p in PUBLIC
    }
    operations = {(m, _route(p)) for p, ops in schema["paths"].items() for m in ops}
    assert operations - listed == set()


@pytest.mark.parametrize(("method", "path", "body"), PEER_CALLS, ids=_ids(PEER_CALLS))
def test_trust_to_trust_calls_refuse_users_and_lease_tokens(world, anon, as_user, method, path, body):
    for client in (anon, as_user(world.cast.admin), bearer_client(world.secret_a)):
        response = call(client, world, method, path, body)
        assert response.status_code == 401, response.content
        assert response.json()["code"] == "not_signed", response.content
