"""The kept connection's health check (config/postgresql/base.py): a connection the server still
holds is reused without a round trip; one the server ended is replaced before the request's
first query, so that request does not fail."""

import time

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the health check is the PostgreSQL backend's")
    connection.ensure_connection()
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    yield other
    other.close()


def _last_statement_of(other, pid: int) -> str | None:
    row = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row and row[0]


def _as_a_new_request_does():
    """What request_started does before a request's first query: the check is due again."""
    connection.close_if_unusable_or_obsolete()
    connection.close_if_health_check_failed()


def test_a_healthy_kept_connection_is_reused_without_asking_the_server(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last statement before the check'")
    pid = connection.connection.info.backend_pid
    _as_a_new_request_does()
    assert connection.connection is not None and connection.connection.info.backend_pid == pid
    # Django's own check would have sent SELECT 1; this one polled the socket.
    assert _last_statement_of(postgresql, pid) == "SELECT 'the last statement before the check'"


def test_a_connection_the_server_ended_is_replaced_before_the_next_query(postgresql):
    pid = connection.connection.info.backend_pid
    assert postgresql.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    deadline = time.monotonic() + 10
    while _last_statement_of(postgresql, pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    _as_a_new_request_does()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_a_connection_in_a_transaction_is_asked(postgresql):
    """Not idle (a transaction left open): the socket says nothing about it, so the server is asked."""
    connection.connection.execute("BEGIN")
    try:
        pid = connection.connection.info.backend_pid
        connection.health_check_done = False
        connection.close_if_health_check_failed()
        assert _last_statement_of(postgresql, pid) == "SELECT 1"
    finally:
        if connection.connection is not None:
            connection.connection.execute("ROLLBACK")
