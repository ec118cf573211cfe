"""One rule for a token's state, for both kinds: the function, the model property, the API's
refusals and token list, and the studio and operations lease pages all say the same thing."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseToken
from tests.conftest import bearer_client
from trust import tokens
from trust.errors import Unauthorized
from trust.models import UserToken
from trust.tokens import TokenKind, TokenState

pytestmark = pytest.mark.django_db

PAST = timedelta(seconds=1)


def _revoke_token(world):
    lease_tokens.lease_token_revoke(actor=world.cast.carol, lease=world.lease_a, token=world.token_a)


def _expire_token(world):
    LeaseToken.objects.filter(pk=world.token_a.pk).update(expires_at=timezone.now() - PAST)


def _revoke_lease(world):
    licensing.lease_revoke(actor=world.cast.admin, lease=world.lease_a, reason="test")


def _end_lease(world):
    # The lease's end has passed but the expiry job has not run yet: still "active" in the row.
    Lease.objects.filter(pk=world.lease_a.pk).update(ends_at=timezone.now() - PAST)


def _expire_lease(world):
    _end_lease(world)
    assert licensing.leases_expire_due() == 1


# (how the token got there, its state, the API's answer to it: status and error code)
CASES = {
    "active": (lambda world: None, TokenState.ACTIVE, 200, None),
    "expired": (_expire_token, TokenState.EXPIRED, 401, "token_expired"),
    "revoked": (_revoke_token, TokenState.REVOKED, 401, "token_revoked"),
    "lease revoked": (_revoke_lease, TokenState.LEASE_ENDED, 410, "lease_revoked"),
    "lease past its end": (_end_lease, TokenState.LEASE_ENDED, 410, "lease_expired"),
    "lease expired": (_expire_lease, TokenState.LEASE_ENDED, 410, "lease_expired"),
}


def _token(world) -> LeaseToken:
    return LeaseToken.objects.select_related("lease").get(pk=world.token_a.pk)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_lease_tokens_state_is_one_answer_for_the_function_the_model_and_the_api(world, case):
    make, state, status, code = CASES[case]
    make(world)
    token = _token(world)

    assert lease_tokens.lease_token_state(token) == state
    assert token.state == state
    manifest = bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    assert manifest.status_code == status
    if code:
        assert manifest.json()["code"] == code


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_token_list_of_the_api_shows_the_same_state(world, as_user, case):
    make, state, _, _ = CASES[case]
    make(world)

    listed = as_user(world.cast.carol).get(f"/api/v1/leases/{world.lease_a.pk}/tokens/").json()

    assert {row["name"]: row["state"] for row in listed["results"]}["a-farm"] == state.value


def _token_row(html: str, name: str) -> str:
    rows = re.findall(r"<tr>.*?</tr>", html, flags=re.S)
    return next(row for row in rows if f">{name}</th>" in row)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_studio_lease_page_shows_the_state_the_function_gives(client, world, case):
    make, state, _, _ = CASES[case]
    make(world)
    client.force_login(world.cast.carol)

    html = client.get(reverse("studio-lease", args=[world.lease_a.pk])).content.decode()

    row = _token_row(html, "a-farm")
    assert f'<span class="badge {lease_tokens.lease_token_state(_token(world))}">{state.label}</span>' in row
    assert ("Revoke</button>" in row) == (state == TokenState.ACTIVE)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_operations_lease_page_shows_the_state_the_function_gives(client, world, case):
    make, state, _, _ = CASES[case]
    make(world)
    client.force_login(world.cast.admin)

    html = client.get(reverse("operations-lease", args=[world.lease_a.pk])).content.decode()

    assert f'<span class="badge {state.value}">{state.label}</span>' in _token_row(html, "a-farm")


def test_revocation_wins_over_an_ended_lease(world):
    _revoke_token(world)
    _revoke_lease(world)

    assert _token(world).state == TokenState.REVOKED
    refused = bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


def test_live_lease_tokens_are_the_active_ones(world):
    other, _ = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="other")
    LeaseToken.objects.filter(pk=other.pk).update(expires_at=timezone.now() - PAST)

    assert set(LeaseToken.objects.live().values_list("name", flat=True)) == {"a-farm", "b-farm"}
    _end_lease(world)
    assert set(LeaseToken.objects.live().values_list("name", flat=True)) == {"b-farm"}
    assert all(t.state == TokenState.ACTIVE for t in LeaseToken.objects.live().select_related("lease"))


# --- user tokens: the same rule without a lease -------------------------------------------------

USER_CASES = {
    "active": (lambda token: None, TokenState.ACTIVE, 200, None),
    "expired": (
        lambda token: UserToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - PAST),
        TokenState.EXPIRED,
        401,
        "token_expired",
    ),
    "revoked": (
        lambda token: tokens.user_token_revoke(token=token),
        TokenState.REVOKED,
        401,
        "token_revoked",
    ),
}


@pytest.mark.parametrize("case", USER_CASES, ids=list(USER_CASES))
def test_a_user_tokens_state_is_one_answer_for_the_function_the_model_and_the_api(cast, case):
    make, state, status, code = USER_CASES[case]
    token, secret = tokens.user_token_mint(user=cast.carol)
    make(token)
    token.refresh_from_db()

    assert tokens.token_state(token) == state
    assert token.state == state
    response = bearer_client(secret).get("/api/v1/catalog/")
    assert response.status_code == status
    if code:
        assert response.json()["code"] == code


def test_a_user_token_never_reads_as_lease_ended_and_live_ones_are_the_active_ones(cast):
    token, _ = tokens.user_token_mint(user=cast.carol)
    old, _ = tokens.user_token_mint(user=cast.carol)
    tokens.user_token_revoke(token=old)

    assert token.state == TokenState.ACTIVE
    assert list(UserToken.objects.live()) == [token]
    assert TokenState.LEASE_ENDED not in {t.state for t in UserToken.objects.all()}


def test_the_last_use_is_written_once_per_resolution(cast):
    token, secret = tokens.user_token_mint(user=cast.carol)
    tokens.user_token_authenticate(secret)
    first = UserToken.objects.get(pk=token.pk).last_used_at
    tokens.user_token_authenticate(secret)

    assert first is not None
    assert UserToken.objects.get(pk=token.pk).last_used_at == first


# --- parsing a bearer value ---------------------------------------------------------------------


def test_the_prefix_names_the_kind_and_anything_else_is_an_invalid_token():
    assert tokens.kind_of(tokens.mint_secret(TokenKind.USER)) == TokenKind.USER
    assert tokens.kind_of(tokens.mint_secret(TokenKind.LEASE)) == TokenKind.LEASE
    for value in ("garbage", "ut_", "xt_abc", ""):
        with pytest.raises(Unauthorized) as refused:
            tokens.kind_of(value)
        assert refused.value.code == "token_invalid"


def test_a_secret_is_kept_only_as_its_hash(cast):
    token, secret = tokens.user_token_mint(user=cast.carol)

    assert secret.startswith("ut_") and secret not in token.token_hash
    assert token.token_hash == tokens.hash_secret(secret)


@pytest.mark.parametrize("header", ["Bearer", "Bearer two parts", "Bearer lt_", "Bearer ñ_not_ascii"])
def test_a_malformed_bearer_header_is_refused_with_401(world, header):
    response = bearer_client().get(
        f"/api/v1/leases/{world.lease_a.pk}/manifest/", HTTP_AUTHORIZATION=header.encode().decode("latin-1")
    )

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
