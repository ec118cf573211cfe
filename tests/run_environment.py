"""The environment every test run gets before Django's settings load (a pytest plugin, named in
pyproject's addopts: conftest.py loads too late for settings).

Outside the embedded default the settings refuse to start without a strong SECRET_KEY (and a
TRUST_SIGNING_KEY) and turn HTTPS on; a test run there gets new random keys (unless set) and
plain HTTP, since the
test client and the browser tests' live server speak HTTP. Tests of the production defaults run
settings in a subprocess with an environment of their own (tests/test_deploy_settings.py)."""

import os
import secrets

if "DATABASE_URL" in os.environ:
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("TRUST_SIGNING_KEY", secrets.token_hex(32))
    os.environ.setdefault("HTTPS", "off")
