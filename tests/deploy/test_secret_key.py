"""SECRET_KEY: the code holds no usable key. The embedded default generates its own into var/
on first run and keeps it; anywhere else a missing or weak key stops startup."""

import hashlib
import stat
import time
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from config import secret_key
from tests.deploy.subprocess_env import STRONG_KEY, production_env, run_python
from trust.storage import LocalObjectStore, get_object_store

PUBLISHED_KEY = "embedded-default-insecure-key-change-me-in-production"
PRINT_KEY_DIGEST = "from django.conf import settings; import hashlib\n" + (
    "print(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())"
)


@pytest.mark.django_db
def test_a_download_url_forged_with_the_once_published_key_is_refused(client):
    store = get_object_store()
    store.put_bytes("assets/secret-scan", b"a member's face", content_type="image/png")
    # What anyone who read the old source could compute: its key, its derivation, its message.
    forger = LocalObjectStore(
        root=store.root,
        secret=hashlib.sha256(b"local-object-store:" + PUBLISHED_KEY.encode()).digest(),
        base_url="",
    )
    expires = int(time.time()) + 300
    signature = forger.signature("GET", "assets/secret-scan", expires)
    query = urlencode({"method": "GET", "expires": expires, "signature": signature})
    response = client.get(reverse("local-object", kwargs={"key": "assets/secret-scan"}) + "?" + query)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    # The same object through a URL the store signed itself is served.
    signed = store.presigned_get("assets/secret-scan", expires_in=300).removeprefix(store.base_url)
    assert b"".join(client.get(signed).streaming_content) == b"a member's face"


def test_the_embedded_default_generates_its_key_once_and_keeps_it(tmp_path):
    embedded = production_env(DATABASE_URL=None, SECRET_KEY=None, GUILDTRUST_VAR_DIR=str(tmp_path / "var"))
    first = run_python(PRINT_KEY_DIGEST, embedded)
    second = run_python(PRINT_KEY_DIGEST, embedded)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 50
    assert first.stdout == second.stdout
    # Another installation gets another key.
    other = run_python(PRINT_KEY_DIGEST, {**embedded, "GUILDTRUST_VAR_DIR": str(tmp_path / "other")})
    assert other.stdout != first.stdout


def test_the_embedded_default_key_is_never_the_published_one(tmp_path):
    embedded = production_env(DATABASE_URL=None, SECRET_KEY=None, GUILDTRUST_VAR_DIR=str(tmp_path))
    result = run_python(PRINT_KEY_DIGEST, embedded)
    assert result.stdout.strip() != hashlib.sha256(PUBLISHED_KEY.encode()).hexdigest()


@pytest.mark.parametrize(
    "key, reason",
    [
        ("", "SECRET_KEY is not set"),
        ("change-me", "9 characters long"),
        ("ab" * 40, "fewer than 5 distinct characters"),
        ("django-insecure-" + STRONG_KEY, "'django-insecure-'"),
        (PUBLISHED_KEY, "published in Guildtrust's source"),
    ],
)
def test_a_missing_or_weak_key_is_refused_with_a_message_naming_the_variable(key, reason):
    with pytest.raises(ImproperlyConfigured, match=reason) as refusal:
        secret_key.checked(key, source="SECRET_KEY")
    assert "SECRET_KEY" in str(refusal.value)


@pytest.mark.parametrize("key", [None, "change-me", PUBLISHED_KEY])
def test_outside_the_embedded_default_a_missing_or_weak_key_stops_startup(key):
    result = run_python("print('started')", production_env(SECRET_KEY=key))
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr


def test_a_weak_key_is_refused_on_the_embedded_default_too(tmp_path):
    embedded = production_env(DATABASE_URL=None, SECRET_KEY=PUBLISHED_KEY, GUILDTRUST_VAR_DIR=str(tmp_path))
    result = run_python("print('started')", embedded)
    assert result.returncode != 0 and "published in Guildtrust's source" in result.stderr


def test_a_strong_key_starts(tmp_path):
    result = run_python("print('started')", production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"
