"""The read replica (DATABASE_REPLICA_URL, trust.db.replica_reads) against a real hot standby
of the suite's PostgreSQL, streaming from it (deploy/postgres-standby.sh). A member's earnings,
leases and statements are read from the replica once who she is has been decided on the
primary: a replica that lags shows older figures, never lets an ended login in; a replica that
does not answer leaves the reads to the primary. The standby's replay is paused to make the
lag, then resumed."""

import json
import re
import time
from contextlib import contextmanager

import psycopg
import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connections

from payouts import selectors
from payouts.models import Period
from tests.benchmarks.bench_dashboards import load_member_history
from tests.conftest import stack_env
from tests.deploy.subprocess_env import production_env, run_python
from tests.faults.conftest import signed_in
from tests.servers import GunicornServer, PostgresStandby, RedisServer, free_port, suite_database_url
from trust.templatetags.portal import period_label
from trust.tokens import user_token_mint, user_token_revoke

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
EARNINGS = "/api/v1/me/earnings/"
LEASES = "/api/v1/me/leases/"
MEMBER_PAGES = ["/member/leases/", "/member/statements/"]
API_ON_REPLICA = [EARNINGS, LEASES]
PAGES_ON_REPLICA = ["/member/", *MEMBER_PAGES]


@pytest.fixture(scope="module")
def standby(django_db_setup):
    with PostgresStandby(primary_port=int(django_settings.DATABASES["default"]["PORT"] or 5432)) as server:
        yield server


@contextmanager
def _served(s3_server, replica_port: int):
    """gunicorn on the test database, reading from the replica at `replica_port`."""
    with RedisServer(log_name="read-replica-redis.log") as redis_server:
        env = {
            **stack_env(redis_url=redis_server.url, s3_server=s3_server),
            "DATABASE_REPLICA_URL": suite_database_url(host="127.0.0.1", port=replica_port),
            "HTTPS": "off",
            "DEBUG": "false",
        }
        with GunicornServer(env, workers=1, log_name="read-replica-gunicorn.log") as web:
            yield web


@pytest.fixture(scope="module")
def web(standby, s3_server):
    with _served(s3_server, standby.port) as server:
        yield server


@pytest.fixture
def replica(standby):
    """A connection to the standby, for the test to pause its replay and see what it holds."""
    name = django_settings.DATABASES["default"]["NAME"]
    with psycopg.connect(
        host="127.0.0.1", port=standby.port, dbname=name, user="postgres", autocommit=True
    ) as connection:
        yield connection
        connection.execute("SELECT pg_wal_replay_resume()")


def _caught_up(replica, timeout: float = 60) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (written,) = cursor.fetchone()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written]).fetchone()[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the standby did not replay up to {written} within {timeout} s")


@contextmanager
def _replay_paused(replica):
    """The standby replays nothing more until the block ends: a replica lagging behind."""
    replica.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")


def _api(web, user) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {user_token_mint(user=user)[1]}"
    return session


def _total_net_shown(session, web) -> str:
    page = session.get(web.url + "/member/", timeout=30, allow_redirects=False)
    assert page.status_code == 200, page.status_code
    return re.search(r'id="total-net">([^<]*)<', page.text).group(1)


def _member_pages(browser, web) -> str:
    """The member's leases and statements pages, as one text."""
    pages = [browser.get(web.url + path, timeout=30, allow_redirects=False) for path in MEMBER_PAGES]
    assert [page.status_code for page in pages] == [200] * len(pages)
    return "".join(page.text for page in pages)


def test_a_members_earnings_are_read_from_the_replica_and_follow_it(committed_world, web, replica):
    alice = committed_world.cast.alice
    api, browser = _api(web, alice.user), signed_in(web.url, alice.user)
    _caught_up(replica)
    before = api.get(web.url + EARNINGS, timeout=30).json()
    leases_before = api.get(web.url + LEASES, timeout=30).json()["count"]
    page_before = _total_net_shown(browser, web)
    periods_before = set(Period.objects.values_list("pk", flat=True))

    with _replay_paused(replica):
        load_member_history(committed_world, leases=3, months=2)
        on_primary = selectors.member_earnings(alice)
        assert on_primary["total_net_cents"] > before["total_net_cents"]
        # What the new history shows on the pages: its leases' purposes, its periods' labels.
        shown_later = ["History film 1"] + [
            period_label(period.start, period.end) for period in Period.objects.exclude(pk__in=periods_before)
        ]
        lagging = api.get(web.url + EARNINGS, timeout=30)
        assert lagging.status_code == 200
        assert lagging.json()["total_net_cents"] == before["total_net_cents"]
        assert lagging.json()["periods"] == before["periods"]
        assert api.get(web.url + LEASES, timeout=30).json()["count"] == leases_before
        assert _total_net_shown(browser, web) == page_before
        pages = _member_pages(browser, web)
        assert [text for text in shown_later if text in pages] == []

    _caught_up(replica)
    caught_up = api.get(web.url + EARNINGS, timeout=30).json()
    assert caught_up["total_net_cents"] == on_primary["total_net_cents"]
    assert len(caught_up["periods"]) == len(on_primary["periods"]) == len(before["periods"]) + 2
    assert api.get(web.url + LEASES, timeout=30).json()["count"] == leases_before + 3
    assert _total_net_shown(browser, web) != page_before
    pages = _member_pages(browser, web)
    assert [text for text in shown_later if text not in pages] == []


def test_refusals_are_decided_on_the_primary_while_the_replica_still_lets_in(committed_world, web, replica):
    """Every page and endpoint that reads the replica, with its replay paused: a token revoked
    and a login ended on the primary are refused at once, as are no token and the wrong role."""
    cast = committed_world.cast
    revoked_token, revoked_secret = user_token_mint(user=cast.alice.user)
    api, browser = _api(web, cast.alice.user), signed_in(web.url, cast.alice.user)
    revoked = requests.Session()
    revoked.headers["Authorization"] = f"Bearer {revoked_secret}"
    studio = _api(web, cast.carol)
    for endpoint in API_ON_REPLICA:
        assert api.get(web.url + endpoint, timeout=30).status_code == 200
        assert revoked.get(web.url + endpoint, timeout=30).status_code == 200
    _caught_up(replica)

    with _replay_paused(replica):
        user_token_revoke(token=revoked_token)
        users = get_user_model()
        users.objects.filter(pk=cast.alice.user.pk).update(is_active=False)
        (active, revoked_at) = replica.execute(
            f"SELECT u.is_active, t.revoked_at FROM {users._meta.db_table} u "
            f"JOIN {type(revoked_token)._meta.db_table} t ON t.user_id = u.id WHERE t.id = %s",
            [revoked_token.pk],
        ).fetchone()
        assert active and revoked_at is None  # the replica would still let both in
        for endpoint in API_ON_REPLICA:
            assert revoked.get(web.url + endpoint, timeout=30).status_code == 401, endpoint
            assert api.get(web.url + endpoint, timeout=30).status_code == 401, endpoint
            assert requests.get(web.url + endpoint, timeout=30).status_code == 401, endpoint
            assert studio.get(web.url + endpoint, timeout=30).status_code == 403, endpoint
        for path in PAGES_ON_REPLICA:
            page = browser.get(web.url + path, timeout=30, allow_redirects=False)
            assert page.status_code == 302 and "/accounts/login/" in page.headers["Location"], path


def test_a_replica_that_does_not_answer_leaves_the_reads_to_the_primary(committed_world, s3_server):
    alice = committed_world.cast.alice
    load_member_history(committed_world, leases=2, months=1)
    on_primary = selectors.member_earnings(alice)["total_net_cents"]
    with _served(s3_server, free_port()) as down:  # nothing listens there: a replica that is down
        answer = _api(down, alice.user).get(down.url + EARNINGS, timeout=30)
        page = signed_in(down.url, alice.user).get(down.url + "/member/", timeout=30)
        log = down.log_tail(500)
    assert answer.status_code == 200 and answer.json()["total_net_cents"] == on_primary > 0
    assert page.status_code == 200
    # Asked once: the second page, within REPLICA_RETRY_SECONDS, went to the primary at once.
    assert log.count('"event": "replica_unreachable"') == 1, log


SETTINGS_PROBE = """
import json
from django.conf import settings
from django.db import router
replica = settings.DATABASES["replica"]
print(json.dumps({
    "engine": replica["ENGINE"], "host": replica["HOST"], "port": replica["PORT"],
    "connect_timeout": replica["OPTIONS"]["connect_timeout"], "test": replica["TEST"],
    "migrates": [router.allow_migrate(alias, "payouts") for alias in ("default", "replica")],
}))
"""


def test_database_replica_url_configures_a_replica_that_is_never_migrated():
    env = production_env(DATABASE_REPLICA_URL="postgres://guildtrust@10.0.0.7:5433/guildtrust")
    result = run_python(SETTINGS_PROBE, env)
    assert result.returncode == 0, result.stderr
    configured = json.loads(result.stdout.strip().splitlines()[-1])
    assert configured.pop("test")["MIRROR"] == "default"  # test runs never make a database there
    assert configured == {
        "engine": "config.postgresql",
        "host": "10.0.0.7",
        "port": 5433,
        "connect_timeout": 2,
        "migrates": [True, False],
    }
    embedded = run_python(
        "", production_env(DATABASE_URL="sqlite:////tmp/x.sqlite3", DATABASE_REPLICA_URL="postgres://h/db")
    )
    assert embedded.returncode != 0
    assert "DATABASE_REPLICA_URL is a replica of a PostgreSQL DATABASE_URL" in embedded.stderr
