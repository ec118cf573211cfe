"""A second trust for federation tests: `equity-uk`, a whole Guildtrust in its own process with
its own PostgreSQL database and key, beside the trust under test (`sag-aftra`, this process).
`two_trusts`: both trusts as processes on the real stack, federated, with an active federated
lease (tests/federation/two_trusts.py; a module elsewhere enters `TwoTrusts` itself);
`two_seeded_trusts`: the same two trusts seeded and not yet peered (the whole-story test)."""

import os
import tempfile

import pytest
import requests
from django.conf import settings as django_settings

from tests.servers import TrustProcess, suite_database_url

PEER_ADMIN_PASSWORD = "peer-admin-password-1"


@pytest.fixture(scope="module")
def equity_uk(django_db_setup):
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("a second trust process needs PostgreSQL")
    with tempfile.TemporaryDirectory() as var_dir:
        env = {
            "DATABASE_URL": suite_database_url(
                name=django_settings.DATABASES["default"]["NAME"] + "_equity_uk"
            ),
            # The peer runs its tasks in-process and caches in its own memory: one process, no
            # queue shared with the trust under test.
            "REDIS_URL": "",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "S3_BUCKET": "",
            "GUILDTRUST_VAR_DIR": var_dir,
            "TRUST_NAME": "Equity UK Performers Trust",
            "TRUST_CURRENCY": "GBP",
        }
        with TrustProcess(slug="equity-uk", env=env, admin_password=PEER_ADMIN_PASSWORD) as peer:
            yield peer


class PeerAdmin:
    """The peer's administrator, through the peer's own API."""

    def __init__(self, trust: TrustProcess):
        self.trust = trust
        answer = requests.post(
            f"{trust.url}/api/v1/auth/token/",
            json={"username": "admin", "password": PEER_ADMIN_PASSWORD},
            timeout=60,
        )
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def get(self, path: str):
        return requests.get(f"{self.trust.url}{path}", headers=self.headers, timeout=60)

    def post(self, path: str, body: dict | None = None):
        return requests.post(f"{self.trust.url}{path}", json=body or {}, headers=self.headers, timeout=60)

    def peer(self, slug: str) -> dict | None:
        rows = self.get("/api/v1/federation/peers/").json()["results"]
        return next((row for row in rows if row["slug"] == slug), None)


@pytest.fixture(scope="module")
def equity_admin(equity_uk) -> PeerAdmin:
    return PeerAdmin(equity_uk)


def _two_trusts(**options):
    """TwoTrusts on this run's PostgreSQL and Redis. TWO_TRUSTS_REDIS_DBS ("14,15": home's,
    peer's) names the trusts' Redis databases when the two beside REDIS_URL's are another run's."""
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") or not os.environ.get("REDIS_URL"):
        pytest.skip("two trusts on the real stack need PostgreSQL and REDIS_URL")
    from tests.federation.two_trusts import TwoTrusts

    named = os.environ.get("TWO_TRUSTS_REDIS_DBS", "")
    databases = tuple(int(n) for n in named.split(",")) if named else None
    database = django_settings.DATABASES["default"]["NAME"]
    return TwoTrusts(
        database_url=suite_database_url(name=database),
        redis_url=os.environ["REDIS_URL"],
        redis_databases=databases,
        **options,
    )


@pytest.fixture(scope="module")
def two_trusts(django_db_setup):
    """sag-aftra and equity-uk on the real stack, federated, with an active federated lease
    (tests/federation/two_trusts.py). Started once per module that asks for it."""
    with _two_trusts() as trusts:
        print(f"\ntwo trusts started in {trusts.startup_seconds}")
        yield trusts


@pytest.fixture(scope="module")
def two_seeded_trusts(django_db_setup):
    """sag-aftra and equity-uk on the real stack, each with its members, assets, dataset and
    terms, and nothing between them yet: the whole-story test peers them itself."""
    with _two_trusts(story=False) as trusts:
        print(f"\ntwo trusts started in {trusts.startup_seconds}")
        yield trusts
