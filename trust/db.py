"""Database access the hot paths share: server-side prepared statements (the gateway's two
run on every download) and the read replica (below).

Django's psycopg backend binds parameters on the client by default: every execution sends the
whole statement text, which PostgreSQL parses and plans again. For a statement run thousands of
times a second that planning costs more than running it (the download statement: 0.24 ms to
plan, 0.09 ms to run). `prepared_cursor` binds on the server instead, and psycopg prepares a
statement once it has run `prepare_threshold` times on a connection, so later executions skip
parsing and planning. Django opens connections with `prepare_threshold=None`, which turns
preparing off for every cursor: config/settings.py sets it (5) unless DB_PREPARED_STATEMENTS is
off. Measured per download, PostgreSQL CPU: the token's statement 0.25 -> 0.055 ms, the download
statement 0.55 -> 0.09 ms. It is a Django CursorWrapper all the same: query logging,
`execute_wrapper`s and the test suite's query counts see every statement."""

import time
from contextlib import contextmanager
from contextvars import ContextVar

import structlog
from django.db import DatabaseError, connection, connections

log = structlog.get_logger(__name__)


@contextmanager
def prepared_cursor():
    """A cursor whose repeated statements PostgreSQL plans once per connection; on other
    databases the ordinary cursor. Statements must not depend on untyped parameters for their
    result types (server-side binding types each parameter from its Python value)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    # As Django's own cursor() does (health check, connection, its cursor wrapper), with the
    # server-binding cursor class; the connection's time zone is Django's (UTC), as set up.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = psycopg.Cursor(connection.connection)
    with connection._prepare_cursor(raw) as cursor:
        yield cursor


# The read replica (DATABASE_REPLICA_URL): a streaming standby of the primary, for pages that
# only show figures a moment of replication lag cannot hurt (deploy/SCALING.md, step 4).
READ_REPLICA = "replica"
_reading_from_replica: ContextVar[bool] = ContextVar("reading_from_replica", default=False)


def replica_configured() -> bool:
    return READ_REPLICA in connections.settings


# After the replica fails to answer, this process reads from the primary for this long before
# asking it again: a replica that times out must not cost every page its connect timeout.
REPLICA_RETRY_SECONDS = 30
_replica_down_until = 0.0


def _replica_answers() -> bool:
    global _replica_down_until
    if time.monotonic() < _replica_down_until:
        return False
    replica = connections[READ_REPLICA]
    try:
        # A kept connection the standby ended is dropped here (a socket poll, no round trip),
        # so an unreachable replica is found before the first read, not as the page's 500.
        replica.close_if_health_check_failed()
        replica.ensure_connection()
    except DatabaseError as error:
        _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        log.warning("replica_unreachable", error=str(error).strip(), retry_in_s=REPLICA_RETRY_SECONDS)
        return False
    return True


@contextmanager
def replica_reads():
    """The ORM's reads inside go to the read replica, when one is configured and answers (the
    primary otherwise). Only for reads a moment's lag cannot hurt: who the user is and what they
    may see must be decided before, on the primary, because an ended session, a revoked token
    or a withdrawn consent must beat any replica. Writes always go to the primary."""
    if not replica_configured() or not _replica_answers():
        yield
        return
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


class ReplicaRouter:
    """Reads inside `replica_reads()` from the replica; every other read, every write and every
    migration on the primary (the standby replays the primary's, and refuses writes)."""

    def db_for_read(self, model, **hints):
        return READ_REPLICA if _reading_from_replica.get() else None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # The same rows on both: a row read from the replica may be related to one on the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != READ_REPLICA
