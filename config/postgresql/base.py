"""Django's PostgreSQL backend with a health check that costs no round trip when nothing happened.

With CONN_HEALTH_CHECKS, Django asks the server `SELECT 1` before the first query of every request
on a kept connection: one round trip of three on a download (the token, the download statement).
A connection the server has ended (restart, failover, `pg_terminate_backend`, an idle timeout)
has its termination notice or end-of-file waiting on the socket, so an idle connection whose
socket has nothing to read is one the server has not given up on: it is reused without asking.
When something is waiting, or the connection is in a state we do not expect, Django's own check
runs. A path that died without a word (no FIN, no RST) is not seen by either check before the
query; the query then fails and Django closes the connection after that request."""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        if _quiet(self.connection):
            return True
        return super().is_usable()


def _quiet(connection) -> bool:
    """Idle with nothing from the server on the socket: a zero-timeout poll, no round trip."""
    import psycopg

    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
