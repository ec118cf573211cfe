"""Finding 2: a changed or reset password ends the user's API tokens and other sessions, and a
user can revoke all their API tokens at once ("sign out everywhere")."""

from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import bearer_client
from tests.factories import PASSWORD
from trust.models import AuditEvent

NEW_PASSWORD = "a-much-longer-new-passphrase"


def _api_token(username: str) -> str:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    return response.json()["token"]


def _signed_in(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302
    return client


def test_changing_the_password_on_the_page_revokes_api_tokens_and_other_sessions(cast):
    api = bearer_client(_api_token("carol"))
    other_device = _signed_in("carol")
    this_device = _signed_in("carol")
    assert api.get("/api/v1/catalog/").status_code == 200

    response = this_device.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    refused = api.get("/api/v1/catalog/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert other_device.get("/accounts/password_change/").status_code == 302  # back to login
    assert this_device.get("/accounts/password_change/").status_code == 200  # still signed in
    event = AuditEvent.objects.filter(action="user.tokens_revoked").get()
    assert event.data == {"reason": "password_changed", "tokens": 1}


def test_a_password_reset_or_admin_change_revokes_api_tokens(cast):
    secret = _api_token("alice")
    user = cast.alice.user
    user.set_password(NEW_PASSWORD)  # what the reset page, the admin and changepassword all do
    user.save()
    refused = bearer_client(secret).get("/api/v1/assets/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


def test_saving_a_user_without_a_new_password_keeps_their_tokens(cast):
    secret = _api_token("alice")
    cast.alice.user.email = "alice@elsewhere.test"
    cast.alice.user.save()
    assert bearer_client(secret).get("/api/v1/assets/").status_code == 200
    assert not AuditEvent.objects.filter(action="user.tokens_revoked").exists()


def test_sign_out_everywhere_through_the_api_revokes_every_user_token(cast):
    first, second = _api_token("carol"), _api_token("carol")
    others = _api_token("dave")
    response = bearer_client(first).post("/api/v1/auth/tokens/revoke-all/")
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    for secret in (first, second):
        assert bearer_client(secret).get("/api/v1/catalog/").status_code == 401
    assert bearer_client(others).get("/api/v1/catalog/").status_code == 200
    event = AuditEvent.objects.filter(action="user.tokens_revoked").get()
    assert event.data == {"reason": "sign_out_everywhere", "tokens": 2}


def test_sign_out_everywhere_is_refused_to_anonymous_and_lease_tokens(world):
    assert APIClient().post("/api/v1/auth/tokens/revoke-all/").status_code == 401
    assert bearer_client(world.secret_a).post("/api/v1/auth/tokens/revoke-all/").status_code == 403


def test_sign_out_everywhere_button_on_the_password_page(cast):
    secret = _api_token("alice")
    page = _signed_in("alice")
    assert "Revoke all my API tokens" in page.get("/accounts/password_change/").content.decode()
    response = page.post("/accounts/sign-out-everywhere/", follow=True)
    assert response.status_code == 200
    assert "1 API token(s) revoked" in response.content.decode()
    assert bearer_client(secret).get("/api/v1/assets/").status_code == 401
    assert Client().post("/accounts/sign-out-everywhere/").status_code == 302  # to login
    assert page.get("/accounts/sign-out-everywhere/").status_code == 405
