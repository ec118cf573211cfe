"""The ledger proved from a checkpoint: each close writes one (every account's entries summed
through an entry id, verified against the kept balances), the reconciliation proves the books
from it and the entries after it, and the full proof from the first entry checks what the
checkpoint takes on trust. The ledger's rows are append-only (a PostgreSQL trigger)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from payouts import checkpoints, ledger, reconciliation, services
from payouts.models import (
    Account,
    LedgerCheckpoint,
    LedgerCheckpointBalance,
    LedgerEntry,
    LedgerTransaction,
)

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the append-only trigger is PostgreSQL's (SQLite has none)",
)


@pytest.fixture
def closed(world):
    """A period closed with the world's two leases: its close wrote the first checkpoint."""
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def _raw_balance_change(account: Account, cents: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Account._meta.db_table} SET balance_cents = balance_cents + %s WHERE id = %s",
            [cents, account.pk],
        )


def _raw_delete(model, pk: int) -> None:
    """A DELETE as SQL (the ORM's own refuses first: other rows PROTECT a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = %s", [pk])


def _entries_summed(through: int) -> dict[int, int]:
    rows = LedgerEntry.objects.filter(pk__lte=through).values("account_id")
    rows = rows.annotate(total=Sum("amount_cents"))
    return {row["account_id"]: row["total"] for row in rows}


def test_a_close_writes_a_verified_checkpoint_of_every_account(world, closed):
    checkpoint = LedgerCheckpoint.objects.get()
    assert checkpoint.period_id == closed.pk
    assert checkpoint.through_entry_id == LedgerEntry.objects.aggregate(last=Max("pk"))["last"]
    assert checkpoint.verified and checkpoint.disagreeing == []
    rows = dict(checkpoint.balances.values_list("account_id", "entries_cents"))
    assert rows == _entries_summed(checkpoint.through_entry_id)
    assert checkpoint.accounts == len(rows) > 0 and checkpoint.entries_total_cents == 0


def test_the_proof_starts_from_the_checkpoint_and_sums_the_entries_after_it(world, closed):
    fee, bank = ledger.trust_fee_revenue(), ledger.studio_receivable(world.cast.studio_a)
    ledger.post(key="test:after", memo="after the close", lines=[(bank, 50), (fee, -50)])
    proof = reconciliation.ledger_proof()
    checkpoint = LedgerCheckpoint.objects.get()
    assert proof["checkpoint"]["id"] == checkpoint.pk
    assert proof["checkpoint"]["through_entry_id"] == checkpoint.through_entry_id
    assert proof["entries_after_checkpoint"] == 2
    assert proof["ledger_balanced"] is True and proof["disagreeing"] == []


def test_a_balance_tampered_with_after_the_checkpoint_is_caught(world, closed):
    fee = ledger.trust_fee_revenue()
    kept = ledger.balance(fee)
    _raw_balance_change(fee, 7)
    proof = reconciliation.ledger_proof()
    assert proof["entries_after_checkpoint"] == 0
    assert proof["ledger_balanced"] is False
    assert proof["disagreeing"] == [{"code": fee.code, "balance_cents": kept + 7, "entries_cents": kept}]


def test_a_transaction_that_does_not_balance_after_the_checkpoint_is_caught(world, closed):
    fee, bank = ledger.trust_fee_revenue(), ledger.studio_receivable(world.cast.studio_a)
    txn = LedgerTransaction.objects.create(key="test:raw", memo="written outside ledger.post")
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account=bank, amount_cents=5),
            LedgerEntry(transaction=txn, account=fee, amount_cents=-3),
        ]
    )
    proof = reconciliation.ledger_proof()
    assert proof["unbalanced_transactions"] == 1 and proof["ledger_balanced"] is False


def test_the_next_checkpoint_adds_the_entries_after_the_previous_one(world, closed):
    first = LedgerCheckpoint.objects.get()
    fee, bank = ledger.trust_fee_revenue(), ledger.studio_receivable(world.cast.studio_a)
    ledger.post(key="test:next", memo="after the close", lines=[(bank, 50), (fee, -50)])
    second = checkpoints.ledger_checkpoint_write()
    assert second.through_entry_id > first.through_entry_id and second.entries_after_previous == 2
    rows = dict(second.balances.values_list("account_id", "entries_cents"))
    assert rows == _entries_summed(second.through_entry_id)
    assert second.verified
    # Nothing posted since: the latest checkpoint stands, none is written twice.
    assert checkpoints.ledger_checkpoint_write() == second


def test_a_checkpoint_records_the_disagreement_it_finds_when_written(world, closed):
    fee = ledger.trust_fee_revenue()
    _raw_balance_change(fee, 7)
    ledger.post(
        key="test:later", memo="later", lines=[(ledger.studio_receivable(world.cast.studio_a), 1), (fee, -1)]
    )
    written = checkpoints.ledger_checkpoint_write()
    assert written.verified is False and written.disagreeing_count == 1
    assert written.disagreeing[0]["code"] == fee.code
    assert reconciliation.ledger_proof()["checkpoint"]["verified"] is False


def test_the_full_proof_of_a_sound_ledger_balances(world, closed):
    proof = checkpoints.ledger_full_proof_run()
    assert proof.balanced and proof.checkpoint == LedgerCheckpoint.objects.get()
    assert proof.entries == LedgerEntry.objects.count() and proof.checkpoint_rows_wrong == 0
    assert reconciliation.ledger_proof()["full_proof"]["pk"] == proof.pk


def test_the_full_proof_tells_a_checkpoint_row_altered_from_a_balance_altered(world, closed):
    fee = ledger.trust_fee_revenue()
    row = LedgerCheckpointBalance.objects.get(account=fee)
    LedgerCheckpointBalance.objects.filter(pk=row.pk).update(entries_cents=row.entries_cents + 9)
    # The checkpointed proof sees a disagreement, but not whose: the balance or the checkpoint.
    assert reconciliation.ledger_proof()["ledger_balanced"] is False
    full = checkpoints.ledger_full_proof_run()
    assert full.balanced is False
    assert full.checkpoint_rows_wrong == 1 and full.disagreeing_count == 0


def test_the_full_proof_catches_a_checkpoint_row_and_a_balance_altered_together(world, closed):
    # Altered alike, they agree with each other: the checkpointed proof cannot see it; only
    # summing the entries from the first shows both are wrong.
    fee = ledger.trust_fee_revenue()
    row = LedgerCheckpointBalance.objects.get(account=fee)
    LedgerCheckpointBalance.objects.filter(pk=row.pk).update(entries_cents=row.entries_cents + 9)
    _raw_balance_change(fee, 9)
    checkpointed = reconciliation.ledger_proof()
    assert checkpointed["disagreeing"] == []
    full = checkpoints.ledger_full_proof_run()
    assert full.balanced is False and full.checkpoint_rows_wrong == 1
    assert full.disagreeing == [
        {"code": fee.code, "balance_cents": row.entries_cents + 9, "entries_cents": row.entries_cents}
    ]


def test_the_page_shows_the_checkpoint_and_the_latest_full_proof(world, closed, client):
    client.force_login(world.cast.admin)
    checkpoint = LedgerCheckpoint.objects.get()
    page = client.get("/operations/reconciliation/").content.decode()
    assert f'Proved from checkpoint <span class="mono">#{checkpoint.pk}</span>' in page
    assert f"#{checkpoint.through_entry_id}</span> summed per account" in page
    assert "manage.py reconcile --full" in page
    call_command("reconcile", "--full", verbosity=0, stdout=StringIO())
    page = client.get("/operations/reconciliation/").content.decode()
    assert f"checkpoint #{checkpoint.pk} checked" in page and '<span class="badge ok">balanced</span>' in page


def test_the_api_says_which_proof_it_shows(world, closed, as_user):
    figures = as_user(world.cast.admin).get("/api/v1/reconciliation/", {"period": closed.pk}).json()
    checkpoint = LedgerCheckpoint.objects.get()
    assert figures["proof"]["checkpoint"]["id"] == checkpoint.pk
    assert figures["proof"]["entries_after_checkpoint"] == 0 and figures["proof"]["full_proof"] is None


def test_the_reconcile_command_fails_on_books_that_do_not_balance(world, closed):
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "the ledger balances" in out.getvalue()
    _raw_balance_change(ledger.trust_fee_revenue(), 7)
    with pytest.raises(CommandError, match="does not balance"):
        call_command("reconcile", stdout=StringIO())
    with pytest.raises(CommandError, match="does not balance"):
        call_command("reconcile", "--full", stdout=StringIO())


def test_a_deferred_checkpoint_is_written_by_the_nightly_job(world, closed):
    LedgerCheckpoint.objects.all().delete()
    written = checkpoints.ledger_checkpoint_if_due()
    assert written is not None and written.period_id == closed.pk and written.verified
    assert checkpoints.ledger_checkpoint_if_due() is None


@on_postgresql
@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_a_ledger_entry(world, closed, change):
    entry = LedgerEntry.objects.filter(transaction__period=closed).first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        if change == "update":
            LedgerEntry.objects.filter(pk=entry.pk).update(amount_cents=entry.amount_cents + 1)
        else:
            _raw_delete(LedgerEntry, entry.pk)
    assert LedgerEntry.objects.get(pk=entry.pk).amount_cents == entry.amount_cents


@on_postgresql
@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_a_ledger_transaction(world, closed, change):
    txn = LedgerTransaction.objects.filter(period=closed).first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        if change == "update":
            LedgerTransaction.objects.filter(pk=txn.pk).update(memo="rewritten")
        else:
            _raw_delete(LedgerTransaction, txn.pk)
    assert LedgerTransaction.objects.get(pk=txn.pk).memo == txn.memo


@on_postgresql
def test_a_checkpoint_waits_for_postings_in_flight_then_leaves_it_to_the_nightly_job(
    world, monkeypatch, caplog
):
    # No close in this test's transaction: its checkpoint's lock would be held until the test ends.
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_LOCK_TIMEOUT", "200ms")
    # Another session in the middle of a posting: entries inserted, not yet committed.
    posting = connections.create_connection("default")
    try:
        with posting.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
            cursor.execute("BEGIN")
            cursor.execute(f"LOCK TABLE {LedgerEntry._meta.db_table} IN ROW EXCLUSIVE MODE")
            assert checkpoints.ledger_checkpoint_after_close(period=period) is None
            cursor.execute("ROLLBACK")
    finally:
        posting.close()
    assert "deferred" in caplog.text
    assert not LedgerCheckpoint.objects.exists()
    # The posting done, the checkpoint is written.
    assert checkpoints.ledger_checkpoint_after_close(period=period).period_id == period.pk


def test_a_checkpoint_the_postings_held_off_is_a_clear_command_error(world, closed, monkeypatch):
    from django.db import OperationalError

    from payouts import checkpoints

    def held(**_):
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(checkpoints, "ledger_checkpoint_write", held)
    with pytest.raises(CommandError, match="no checkpoint written.*run it again"):
        call_command("reconcile", "--checkpoint", stdout=StringIO())
