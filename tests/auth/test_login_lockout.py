"""Finding 1: password guessing is counted in the shared cache per account and per address, on
the login page and the token endpoint alike; X-Forwarded-For is believed only from as many
proxies as are configured; the password validators refuse weak passwords."""

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from trust.signin import client_address

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def _token(username: str, password: str, *, address: str = "198.51.100.7", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", **extra
    )


def test_guessing_one_account_locks_it_even_with_a_new_forwarded_address_each_time(cast):
    statuses = [
        _token("alice", f"guess-{n}", forwarded=f"203.0.113.{n}").status_code for n in range(LIMIT + 1)
    ]
    assert statuses == [401] * (LIMIT - 1) + [429, 429]
    locked = _token("alice", PASSWORD, address="192.0.2.99")  # the right password, from elsewhere
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_failed_logins"
    assert _token("bob", PASSWORD, address="192.0.2.99").status_code == 201  # other accounts unharmed


def test_guessing_many_accounts_from_one_address_locks_the_address(cast):
    for username in ("alice", "bob", "carol"):
        _token(username, "not-the-password", address="198.51.100.20")
    assert _token("dave", PASSWORD, address="198.51.100.20").status_code == 429
    assert _token("dave", PASSWORD, address="198.51.100.21").status_code == 201


def test_the_login_page_counts_failures_and_shows_why_it_refuses(cast):
    page = Client(REMOTE_ADDR="198.51.100.30")
    for n in range(LIMIT):
        response = page.post("/accounts/login/", {"username": "carol", "password": f"guess-{n}"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    right = page.post("/accounts/login/", {"username": "carol", "password": PASSWORD})
    assert right.status_code == 429 and "_auth_user_id" not in page.session
    # One count for both doors: the API refuses the account the page locked.
    assert _token("carol", PASSWORD, address="192.0.2.50").status_code == 429


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_address(request) == "10.0.0.5"


def test_forwarded_for_is_read_from_the_outermost_trusted_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote the first hop itself; the one proxy appended the address it saw.
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_address(request) == "203.0.113.9"


@pytest.mark.parametrize("weak", ["short-pw", "12345678901234", "password1234", "alice-example"])
def test_weak_passwords_are_refused_on_the_password_page(cast, weak):
    page = Client()
    page.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    response = page.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
    )
    assert response.status_code == 200  # the form again, with the reason
    assert page.post("/accounts/logout/").status_code == 302
    assert _token("alice", PASSWORD).status_code == 201  # the old password still works
