"""Ledger checkpoints and the full proof: the writes behind the reconciliation's proof.

The ledger is append-only (migration 0019's trigger refuses UPDATE and DELETE of its entries
and transactions on PostgreSQL), so every account's entries summed through an entry id never
change. `ledger_checkpoint_write` stores those sums once per period close; the reconciliation
(payouts.reconciliation.ledger_proof) proves the books from the latest checkpoint plus the
entries after it, whatever the ledger's length. `ledger_full_proof_run` sums every entry from
the first (nightly, and `manage.py reconcile --full`), and checks the latest checkpoint's rows
too: what the checkpointed proof takes on trust."""

import logging

from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from . import reconciliation
from .models import Account, LedgerCheckpoint, LedgerCheckpointBalance, LedgerEntry, LedgerFullProof, Period

logger = logging.getLogger(__name__)

# Accounts listed in full on a checkpoint or a proof that disagrees (the count is always exact).
DISAGREEING_LISTED = 200
# How long a checkpoint waits for the postings in flight before giving up (the nightly job
# writes the one it missed): while it waits, new postings queue behind it.
CHECKPOINT_LOCK_TIMEOUT = "5s"


def _disagreeing_rows(rows) -> list[dict]:
    return [
        {"code": code, "balance_cents": int(kept), "entries_cents": int(summed)}
        for code, kept, summed in rows[:DISAGREEING_LISTED]
    ]


def ledger_checkpoint_write(*, period: Period | None = None) -> LedgerCheckpoint:
    """Write a checkpoint: every account's entries summed through the highest entry id now, in
    one INSERT ... SELECT ... GROUP BY (the previous checkpoint's sums plus the entries after
    it), then verified against the kept balances: the accounts that disagree, and the
    transactions that do not balance, are recorded on it. Returns the latest checkpoint as it
    is when nothing was posted since (or when this close has one already).

    The entries are locked against inserts (SHARE ROW EXCLUSIVE: reads go on) while it runs, so
    no posting is half-visible: every entry at or below the checkpoint's id is committed, and
    a later one gets a higher id (identity columns allocate one at a time, CACHE 1). It runs in
    a transaction of its own, holding no other lock, so it can wait but never deadlock."""
    entries, balances = LedgerEntry._meta.db_table, LedgerCheckpointBalance._meta.db_table
    accounts = Account._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{CHECKPOINT_LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {entries} IN SHARE ROW EXCLUSIVE MODE")
        # (SQLite: this transaction began IMMEDIATE, so no other writer runs beside it.)
        previous = LedgerCheckpoint.objects.order_by("-through_entry_id").first()
        if period is not None and previous is not None and previous.period_id == period.pk:
            return previous
        through = LedgerEntry.objects.aggregate(last=Max("pk"))["last"] or 0
        if previous is not None and previous.through_entry_id == through:
            return previous
        after = previous.through_entry_id if previous else 0
        checkpoint = LedgerCheckpoint.objects.create(
            through_entry_id=through, period=period, taken_at=timezone.now()
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {balances} (checkpoint_id, account_id, entries_cents)
                SELECT %s, account_id, SUM(cents) FROM (
                    SELECT account_id, entries_cents AS cents FROM {balances} WHERE checkpoint_id = %s
                    UNION ALL
                    SELECT account_id, amount_cents FROM {entries} WHERE id > %s AND id <= %s
                ) summed
                GROUP BY account_id
                """,
                [checkpoint.pk, previous.pk if previous else 0, after, through],
            )
            cursor.execute(
                f"""
                SELECT COALESCE(SUM(n), 0), COALESCE(SUM(CASE WHEN s <> 0 THEN 1 ELSE 0 END), 0)
                FROM (SELECT COUNT(*) AS n, SUM(amount_cents) AS s FROM {entries}
                      WHERE id > %s AND id <= %s GROUP BY transaction_id) added
                """,
                [after, through],
            )
            added, unbalanced = cursor.fetchone()
            cursor.execute(
                f"SELECT COUNT(*), COALESCE(SUM(entries_cents), 0) FROM {balances} WHERE checkpoint_id = %s",
                [checkpoint.pk],
            )
            account_count, total = cursor.fetchone()
            cursor.execute(
                f"""
                SELECT a.code, a.balance_cents, COALESCE(c.entries_cents, 0)
                FROM {accounts} a
                LEFT JOIN {balances} c ON c.account_id = a.id AND c.checkpoint_id = %s
                WHERE a.balance_cents <> COALESCE(c.entries_cents, 0)
                ORDER BY a.code
                """,
                [checkpoint.pk],
            )
            disagreeing = cursor.fetchall()
        checkpoint.accounts = account_count
        checkpoint.entries_after_previous = added
        checkpoint.entries_total_cents = total
        # Cumulative: a transaction that did not balance stays before every later checkpoint.
        before = previous.unbalanced_transactions if previous else 0
        checkpoint.unbalanced_transactions = unbalanced + before
        checkpoint.disagreeing_count = len(disagreeing)
        checkpoint.disagreeing = _disagreeing_rows(disagreeing)
        checkpoint.save()
    if connection.vendor == "postgresql":
        # The page joins these rows on every view: planned from their real number at once, not
        # from an estimate until autovacuum's analyze comes by. After the commit: postings wait
        # on the lock above, not on this.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {balances}")
    if not checkpoint.verified:
        logger.error(
            "ledger checkpoint %s does not verify: %s accounts disagree, %s transactions unbalanced",
            checkpoint.pk,
            checkpoint.disagreeing_count,
            checkpoint.unbalanced_transactions,
        )
    return checkpoint


def ledger_checkpoint_after_close(*, period: Period) -> LedgerCheckpoint | None:
    """The checkpoint of a close that has just committed. A lock not granted in time (a long
    posting in flight) leaves it to the nightly job (`ledger_checkpoint_if_due`): the close
    itself is done and stays so."""
    try:
        return ledger_checkpoint_write(period=period)
    except OperationalError as error:
        logger.warning("ledger checkpoint after closing period %s deferred: %s", period.pk, error)
        return None


def ledger_checkpoint_if_due() -> LedgerCheckpoint | None:
    """Write the checkpoint of the latest close if it has none (its own write was deferred)."""
    closed = Period.objects.closed().order_by("-closed_at").first()
    latest = LedgerCheckpoint.objects.order_by("-through_entry_id").first()
    if closed is None or (latest is not None and latest.taken_at >= closed.closed_at):
        return None
    return ledger_checkpoint_write(period=closed)


def ledger_full_proof_run() -> LedgerFullProof:
    """Prove the ledger from its first entry and record the result (the page shows the latest):
    every account's kept balance against the sum of all its entries, the latest checkpoint's
    rows against the entries through its id, every transaction balanced, every entry and every
    balance summed to zero. Reads every entry: nightly and by hand, never on a page."""
    started = timezone.now()
    checkpoint = LedgerCheckpoint.objects.order_by("-through_entry_id").first()
    figures = reconciliation.full_proof(checkpoint)
    proof = LedgerFullProof.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        checkpoint=checkpoint,
        disagreeing=_disagreeing_rows(figures["disagreeing"]),
        disagreeing_count=len(figures["disagreeing"]),
        **{key: value for key, value in figures.items() if key != "disagreeing"},
    )
    if not proof.balanced:
        logger.error("the full ledger proof %s does not balance", proof.pk)
    return proof
