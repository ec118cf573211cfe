"""For the few tests and benchmarks that rewrite the ledger's history on purpose (age its
transactions, undo a close): the append-only triggers of payouts' migration 0019 lifted for the
duration, explicitly, and put back. Never for the application: a correction is a new posting."""

from contextlib import contextmanager

from django.db import connection

TRIGGERS = (
    ("payouts_ledgerentry", "ledger_entry_append_only"),
    ("payouts_ledgertransaction", "ledger_transaction_append_only"),
)


def _set_triggers(cursor, state: str) -> None:
    for table, trigger in TRIGGERS:
        cursor.execute(f"ALTER TABLE {table} {state} TRIGGER {trigger}")


@contextmanager
def ledger_history_rewritable():
    """Within: UPDATE and DELETE of ledger entries and transactions allowed (PostgreSQL; SQLite
    has no such trigger)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as own:
        _set_triggers(own, "DISABLE")
    try:
        yield
    finally:
        with connection.cursor() as own:
            _set_triggers(own, "ENABLE")
