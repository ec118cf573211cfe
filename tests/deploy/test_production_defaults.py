"""Outside the embedded default HTTPS is on unless HTTPS=off says otherwise: secure cookies,
HSTS and the redirect to https, and `manage.py check --deploy` has nothing to say. The embedded
default stays plain HTTP. Each case starts the settings in a fresh process with its own
environment (tests/deploy/subprocess_env.py); the test run itself runs with HTTPS=off."""

import json

from tests.deploy.subprocess_env import production_env, run, run_python

PROBE = """
import json
from django.conf import settings
from django.test import Client

client = Client(SERVER_NAME="guildtrust.example.org")
answers = {}
for name, path, options in [
    ("plain", "/accounts/login/", {}),
    ("page", "/accounts/login/", {"secure": True}),
    ("api", "/api/v1/me/earnings/", {"secure": True}),
    ("health", "/healthz", {}),
    ("proxied", "/accounts/login/", {"headers": {"x-forwarded-proto": "https"}}),
]:
    response = client.get(path, **options)
    answers[name] = {
        "status": response.status_code,
        "headers": dict(response.items()),
        "secure_cookies": {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()},
    }
names = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"]
answers["settings"] = {name: getattr(settings, name) for name in names}
answers["settings"]["SECURE_PROXY_SSL_HEADER"] = settings.SECURE_PROXY_SSL_HEADER
print(json.dumps(answers))
"""


def _probe(env: dict[str, str]) -> dict:
    result = run_python(PROBE, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_prints_no_warning_outside_the_embedded_default():
    result = run(["manage.py", "check", "--deploy"], production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr and "WARNING" not in result.stdout


def test_https_is_on_by_default_outside_the_embedded_default():
    answers = _probe(production_env(TRUSTED_PROXY_COUNT="1"))
    assert answers["settings"] == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
    plain = answers["plain"]
    assert plain["status"] == 301
    assert plain["headers"]["Location"] == "https://guildtrust.example.org/accounts/login/"
    for name in ("page", "api", "proxied"):
        headers = answers[name]["headers"]
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", name
        assert "script-src 'self'" in headers["Content-Security-Policy"], name
        assert "camera=()" in headers["Permissions-Policy"], name
    assert answers["page"]["status"] == 200 and answers["api"]["status"] == 401
    # Behind a trusted proxy that terminated TLS, its X-Forwarded-Proto counts.
    assert answers["proxied"]["status"] == 200
    assert answers["page"]["secure_cookies"] == {"csrftoken": True}
    assert answers["proxied"]["secure_cookies"] == {"csrftoken": True}
    # The health probe speaks plain HTTP to the pod and is not redirected.
    assert answers["health"]["status"] == 200


def test_without_trusted_proxies_a_forwarded_proto_is_not_believed():
    answers = _probe(production_env())
    assert answers["settings"]["SECURE_PROXY_SSL_HEADER"] is None
    assert answers["proxied"]["status"] == 301


def test_https_off_serves_plain_http():
    answers = _probe(production_env(HTTPS="off"))
    assert answers["settings"] == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_PROXY_SSL_HEADER": None,
    }
    assert answers["plain"]["status"] == 200
    assert answers["plain"]["secure_cookies"] == {"csrftoken": False}
    assert "Strict-Transport-Security" not in answers["page"]["headers"]
    # The content policy does not depend on HTTPS.
    assert "script-src 'self'" in answers["plain"]["headers"]["Content-Security-Policy"]


def test_the_embedded_default_stays_plain_http(tmp_path):
    embedded = production_env(
        DATABASE_URL=None, SECRET_KEY=None, REDIS_URL=None, GUILDTRUST_VAR_DIR=str(tmp_path)
    )
    embedded["ALLOWED_HOSTS"] = "guildtrust.example.org"
    # Migrated, as `make run` leaves it: the login page asks which demo logins exist.
    migrated = run(["manage.py", "migrate", "--noinput", "-v", "0"], embedded)
    assert migrated.returncode == 0, migrated.stderr
    answers = _probe(embedded)
    assert answers["settings"]["SECURE_SSL_REDIRECT"] is False
    assert answers["settings"]["SESSION_COOKIE_SECURE"] is False
    assert answers["plain"]["status"] == 200
