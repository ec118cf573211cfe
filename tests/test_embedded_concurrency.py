"""Finding 11: on the embedded default (SQLite) parallel writers wait for the write lock instead
of failing with "database is locked"."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connections, transaction

WRITERS = 6
WRITES_EACH = 8


@pytest.mark.embedded
def test_parallel_read_then_write_transactions_all_succeed_on_sqlite(tmp_path, django_db_blocker):
    default = settings.DATABASES["default"]
    if not default["ENGINE"].endswith("sqlite3"):
        pytest.skip("the embedded default is SQLite")
    alias = "concurrency_probe"
    probe = {**default, "NAME": str(tmp_path / "probe.sqlite3"), "TEST": {}}
    connections.settings[alias] = connections.configure_settings({"default": probe})["default"]
    errors: list[Exception] = []

    def writer() -> None:
        try:
            for _ in range(WRITES_EACH):
                # The shape of a usage report: read what exists, then write after it.
                with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM counter")
                    (seen,) = cursor.fetchone()
                    time.sleep(0.005)
                    cursor.execute("INSERT INTO counter (seen) VALUES (%s)", [seen])
        except Exception as error:  # any failure is the finding
            errors.append(error)
        finally:
            connections[alias].close()

    try:
        with django_db_blocker.unblock():
            with connections[alias].cursor() as cursor:
                cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, seen INTEGER)")
            threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT COUNT(*), COUNT(DISTINCT seen) FROM counter")
                rows, distinct = cursor.fetchone()
            connections[alias].close()
    finally:
        del connections.settings[alias]

    assert errors == []
    # Serialised: every writer saw every earlier write, so no two rows saw the same count.
    assert rows == distinct == WRITERS * WRITES_EACH
