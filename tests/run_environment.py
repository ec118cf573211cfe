"""The environment every test run gets before Django's settings load (a pytest plugin, named in
pyproject's addopts: conftest.py loads too late for settings).

Outside the embedded default the settings refuse to start without a strong SECRET_KEY (and a
TRUST_SIGNING_KEY) and turn HTTPS on; a test run there gets new random keys (unless set) and
plain HTTP, since the
test client and the browser tests' live server speak HTTP. Tests of the production defaults run
settings in a subprocess with an environment of their own (tests/test_deploy_settings.py)."""

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

if "DATABASE_URL" in os.environ:
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("TRUST_SIGNING_KEY", secrets.token_hex(32))
    os.environ.setdefault("HTTPS", "off")

# Under pytest-xdist (`make test` runs two workers) each worker process is a test run of its
# own: its own test database (pytest-django suffixes the name), S3 server and Celery worker, and
# here its own Redis database, below the one named, so no worker's Celery takes another's tasks.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _url = urlsplit(os.environ["REDIS_URL"])
    _database = int(_url.path.strip("/") or 0)
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{(_database - 1 - int(_worker[2:])) % 16}"))
