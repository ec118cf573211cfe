"""Reconciliation of a period, worked by hand, and the ledger's proof; a studio's statement of
account; the entries behind an account's balance."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from licensing import services as licensing
from payouts import ledger, reconciliation, services
from payouts.invoices import invoice_payment_record, invoice_void
from payouts.models import (
    Account,
    Invoice,
    LedgerEntry,
)
from payouts.payout_batches import payout_batch_mark_sent, payout_item_return
from trust.models import Member

pytestmark = pytest.mark.django_db

ALICE_IBAN = "DE89370400440532013000"


@pytest.fixture
def closed(world):
    """Lease A: flat fee 1000 + 2 training runs at 100 = 1200; lease B: flat fee 1000. Revenue
    2200, trust fee 10% per lease: 120 + 100 = 220. Alice holds 0.5 + 0.6 x 0.5 = 0.8 of the
    shared assets, Bob 0.2. Lease A's 1080: Alice 864 (pension 43, net 821), Bob 216 (10, 206);
    lease B's 900: Alice 720 (36, 684), Bob 180 (9, 171). Pension 98, net 1882."""
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "r", "kind": "training_run", "quantity": 2, "occurred_at": timezone.now()}],
    )
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def _pay_and_payout(world, period):
    """Studio A pays 500 of its 1200; Alice (the only member with bank details) is paid out."""
    invoice = Invoice.objects.get(period=period, studio=world.cast.studio_a)
    invoice_payment_record(
        actor=world.cast.admin,
        invoice=invoice,
        amount_cents=500,
        paid_at=timezone.localdate(),
        reference="W1",
    )
    Member.objects.filter(pk=world.cast.alice.pk).update(payout_iban=ALICE_IBAN, payout_bic="COBADEFFXXX")
    return services.payout_batch_create(actor=world.cast.admin, minimum_cents=100)


def test_a_period_reconciled_by_hand(world, closed):
    before = reconciliation.period_reconciliation(closed)
    assert (before["invoiced_cents"], before["collected_cents"], before["paid_cents"]) == (2200, 0, 0)
    batch = _pay_and_payout(world, closed)
    assert batch.total_cents == 821 + 684
    figures = reconciliation.period_reconciliation(closed)
    assert {
        key: figures[key]
        for key in (
            "invoices",
            "invoiced_cents",
            "collected_cents",
            "outstanding_cents",
            "revenue_cents",
            "fee_cents",
            "pension_cents",
            "distributed_cents",
            "paid_cents",
            "unpaid_cents",
            "unclaimed_cents",
        )
    } == {
        "invoices": 2,
        "invoiced_cents": 2200,
        "collected_cents": 500,
        "outstanding_cents": 1700,
        "revenue_cents": 2200,
        "fee_cents": 220,
        "pension_cents": 98,
        "distributed_cents": 1882,
        "paid_cents": 1505,
        "unpaid_cents": 377,
        "unclaimed_cents": 0,
    }
    assert figures["revenue_adds_up"] and figures["ledger_balanced"]
    moved = {row["kind"]: row["cents"] for row in figures["movements"]}
    # The close and the payment, as they moved the books (the payout batch has no period).
    assert moved == {
        "studio_receivable": 2200 - 500,
        "bank": 500,
        "trust_fee_revenue": -220,
        "pension_payable": -98,
        "member_payable": -1882,
    }


def _close_a_second_period(world, closed):
    """10 more training runs on lease A, closed in a period right after `closed`."""
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "r2", "kind": "training_run", "quantity": 10, "occurred_at": timezone.now()}],
    )
    second = services.period_create(actor=world.cast.admin, start=closed.end, end=timezone.now())
    return services.period_close(period_id=second.pk)


def test_paid_settles_the_oldest_period_first(world, closed):
    """Alice is paid after a second period: the payout covers the first period's net, then the
    second's; Bob, unpaid, counts in neither."""
    second = _close_a_second_period(world, closed)
    # 10 runs at 100 = 1000, fee 100, Alice 720 of the 900: pension 36, net 684.
    assert second.revenue_cents == 1000
    Member.objects.filter(pk=world.cast.alice.pk).update(payout_iban=ALICE_IBAN, payout_bic="COBADEFFXXX")
    services.payout_batch_create(actor=world.cast.admin, minimum_cents=100)
    assert reconciliation.period_reconciliation(closed)["paid_cents"] == 1505
    assert reconciliation.period_reconciliation(second)["paid_cents"] == 684


def test_a_payment_the_bank_returned_is_not_paid(world, closed):
    """Alice's payment comes back: nothing of the period is paid until the next batch pays her
    again, and then only once; the period after it, which nobody has been paid for, stays unpaid."""
    batch = _pay_and_payout(world, closed)
    payout_batch_mark_sent(actor=world.cast.admin, batch_id=batch.pk)
    payout_item_return(
        actor=world.cast.admin, batch_id=batch.pk, member_id=world.cast.alice.pk, reason="closed"
    )
    assert reconciliation.period_reconciliation(closed)["paid_cents"] == 0
    services.payout_batch_create(actor=world.cast.admin, minimum_cents=100)
    assert reconciliation.period_reconciliation(closed)["paid_cents"] == 1505
    second = _close_a_second_period(world, closed)
    assert second.net_cents > 0
    assert reconciliation.period_reconciliation(second)["paid_cents"] == 0


def test_a_raw_write_that_unbalances_an_account_is_caught_then_fixed(world, closed):
    fee = ledger.trust_fee_revenue()
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET balance_cents = balance_cents + 7 WHERE id = %s", [fee.pk])
    figures = reconciliation.period_reconciliation(closed)
    assert figures["ledger_balanced"] is False
    assert figures["proof"]["disagreeing"] == [
        {"code": "trust:fee_revenue", "balance_cents": -220 + 7, "entries_cents": -220}
    ]
    assert figures["proof"]["balances_total_cents"] == 7
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET balance_cents = balance_cents - 7 WHERE id = %s", [fee.pk])
    assert reconciliation.period_reconciliation(closed)["ledger_balanced"] is True


def test_an_entry_written_outside_the_ledger_unbalances_the_period(world, closed):
    entry = LedgerEntry.objects.filter(transaction__period=closed).first()
    LedgerEntry.objects.create(transaction=entry.transaction, account=entry.account, amount_cents=3)
    figures = reconciliation.period_reconciliation(closed)
    assert figures["ledger_balanced"] is False
    assert figures["proof"]["period_entries_cents"] == 3
    assert figures["proof"]["entries_total_cents"] == 3
    assert figures["proof"]["unbalanced_transactions"] == 1
    # After the close's checkpoint: found among the entries summed on top of it.
    assert figures["proof"]["entries_after_checkpoint"] == 1


def test_the_unclaimed_pool_is_read_from_its_account(world, closed):
    pool = ledger.unclaimed_pool()
    payable = ledger.member_payable(world.cast.bob)
    ledger.post(key="test:unclaimed", memo="held", lines=[(payable, 377), (pool, -377)])
    assert reconciliation.period_reconciliation(closed)["unclaimed_cents"] == 377


def test_reconciliation_takes_a_fixed_number_of_queries(world, closed, django_assert_max_num_queries):
    _pay_and_payout(world, closed)
    # Eleven aggregates (credit notes one of them, the entries after the checkpoint another),
    # the latest checkpoint and full proof, and the transaction that tunes them (savepoint, two
    # settings, release).
    with django_assert_max_num_queries(17):
        reconciliation.period_reconciliation(closed)


def test_every_account_balance_is_the_sum_of_its_listed_entries(world, closed, as_user):
    _pay_and_payout(world, closed)
    admin = as_user(world.cast.admin)
    accounts = admin.get("/api/v1/ledger/accounts/", {"page_size": 100}).json()["results"]
    assert {row["code"] for row in accounts} >= {
        "trust:fee_revenue",
        "trust:bank",
        "trust:payouts_in_transit",
    }
    for account in accounts:
        entries = admin.get(f"/api/v1/ledger/accounts/{account['id']}/entries/", {"page_size": 100}).json()
        assert sum(row["amount_cents"] for row in entries["results"]) == account["balance_cents"]
    receivable = admin.get("/api/v1/ledger/accounts/", {"code": f"studio:{world.cast.studio_a.pk}:"}).json()
    (row,) = receivable["results"]
    assert row["balance_cents"] == 700
    keys = [
        e["transaction_key"]
        for e in admin.get(f"/api/v1/ledger/accounts/{row['id']}/entries/").json()["results"]
    ]
    assert keys == [
        f"invoice:{Invoice.objects.get(studio=world.cast.studio_a).pk}:payment:1",
        f"period:{closed.pk}:lease:{world.lease_a.pk}",
    ]


def test_the_reconciliation_api(world, closed, as_user):
    _pay_and_payout(world, closed)
    response = as_user(world.cast.admin).get("/api/v1/reconciliation/", {"period": closed.pk})
    assert response.status_code == 200
    body = response.json()
    assert (
        body["invoiced_cents"],
        body["collected_cents"],
        body["distributed_cents"],
        body["paid_cents"],
    ) == (
        2200,
        500,
        1882,
        1505,
    )
    assert (body["fee_cents"], body["pension_cents"], body["unclaimed_cents"]) == (220, 98, 0)
    assert body["ledger_balanced"] is True


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [({}, 400, "invalid"), ({"period": "x"}, 400, "invalid"), ({"period": 999999}, 404, "period_not_found")],
)
def test_the_reconciliation_api_refuses_a_missing_or_unknown_period(world, as_user, query, status, code):
    response = as_user(world.cast.admin).get("/api/v1/reconciliation/", query)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_an_unknown_account_is_a_404(world, as_user):
    response = as_user(world.cast.admin).get("/api/v1/ledger/accounts/999999/entries/")
    assert (response.status_code, response.json()["code"]) == (404, "account_not_found")


# --- Studio statement of account -----------------------------------------------------------------


def test_a_studio_statement_of_account_runs_to_its_receivable(world, closed, as_user):
    _pay_and_payout(world, closed)
    invoice_b = Invoice.objects.get(period=closed, studio=world.cast.studio_b)
    invoice_a = Invoice.objects.get(period=closed, studio=world.cast.studio_a)
    invoice_payment_record(
        actor=world.cast.admin,
        invoice=invoice_a,
        amount_cents=200,
        paid_at=timezone.localdate(),
        reference="W2",
    )
    body = as_user(world.cast.carol).get("/api/v1/studio/statement/").json()
    assert [(r["kind"], r["debit_cents"], r["credit_cents"], r["balance_cents"]) for r in body["rows"]] == [
        ("invoice", 1200, 0, 1200),
        ("payment", 0, 500, 700),
        ("payment", 0, 200, 500),
    ]
    assert body["rows"][0]["number"] == invoice_a.number
    assert (body["balance_cents"], body["receivable_cents"]) == (500, 500)
    invoice_void(actor=world.cast.admin, invoice=invoice_b, reason="billed in error")
    theirs = as_user(world.cast.dave).get("/api/v1/studio/statement/").json()
    assert [(r["kind"], r["balance_cents"]) for r in theirs["rows"]] == [("invoice", 1000), ("void", 0)]
    assert theirs["rows"][1]["description"] == f"Invoice {invoice_b.number} voided: billed in error"
    assert (theirs["balance_cents"], theirs["receivable_cents"]) == (0, 0)
