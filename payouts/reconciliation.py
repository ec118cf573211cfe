"""Reconciliation and statements of account: reads that tie the trust's documents to its ledger.

- `period_reconciliation(period)`: for one period, revenue invoiced vs collected, distributed
  vs paid, the trust fee, pension, the unclaimed pool, and the proof that the ledger balances
  (every transaction, every account's kept balance equal to the sum of its entries).
- `account_entries(account)`: the entries that make an account's balance (traceability).
- `studio_statement_of_account(studio)`: invoices, payments, voids and credit notes in date
  order with a running balance that ends at the studio's receivable.

Every figure is an aggregate in SQL: a fixed number of queries whatever the number of members,
leases or entries. Nothing here writes."""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from trust.templatetags.portal import period_label

from . import corrections, ledger
from .models import (
    Account,
    CreditNote,
    Invoice,
    InvoicePayment,
    LedgerCheckpoint,
    LedgerCheckpointBalance,
    LedgerEntry,
    LedgerFullProof,
    PaidOfPeriod,
    Period,
)


def studio_credit_notes(studio) -> list[dict]:
    """The studio's credit notes (payouts.corrections), as statement documents: `{"id",
    "number", "date", "amount_cents" (positive: what the studio is credited), "description",
    "period"}`. One query."""
    return [
        {
            "id": note.pk,
            "number": note.number,
            "date": timezone.localtime(note.issued_at).date(),
            "amount_cents": note.total_cents,
            "description": f"Corrections priced in {period_label(note.period.start, note.period.end)}",
            "period": note.period_id,
        }
        for note in corrections.studio_credit_notes(studio).prefetch_related(None)
    ]


def period_credit_notes_cents(period: Period) -> int:
    """The credit notes the period's close issued (for corrections of earlier periods)."""
    return _sum(CreditNote.objects.filter(period=period), "total_cents")


# --- Period reconciliation ----------------------------------------------------------------------


def _sum(queryset, field: str) -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0


def paid_of_period_cents(period: Period) -> int:
    """How much of the net the period distributed to members has since been paid out to them,
    settling each member's oldest earnings first (the rule in `payouts.paid_of_periods`, which
    records what each payout batch, returned payment and close moved of it): one SUM of the
    period's few rows. A period not closed has distributed nothing yet, so nothing of it is paid."""
    return _sum(PaidOfPeriod.objects.filter(period=period), "paid_cents")


def _checkpoint_figures(checkpoint: LedgerCheckpoint | None) -> dict | None:
    if checkpoint is None:
        return None
    return {
        "id": checkpoint.pk,
        "through_entry_id": checkpoint.through_entry_id,
        "taken_at": checkpoint.taken_at,
        "period": checkpoint.period_id,
        "verified": checkpoint.verified,
        "disagreeing_count": checkpoint.disagreeing_count,
        "unbalanced_transactions": checkpoint.unbalanced_transactions,
    }


def accounts_disagreeing(checkpoint: LedgerCheckpoint | None = None) -> list[dict]:
    """Accounts whose kept balance is not the sum of their entries, with both figures: the sum
    is the checkpoint's (every entry through its id, payouts.checkpoints) plus the entries after
    it, summed per account from the entries' primary key (a range scan however long the ledger);
    with no checkpoint, every entry. One statement, so the balances and the entries are read in
    one snapshot. (The sum cast back to bigint: PostgreSQL's is numeric, and comparing every
    account in numeric took ~60 of its 340 ms at 100k accounts, ~17 ms in bigint.)"""
    accounts, entries = Account._meta.db_table, LedgerEntry._meta.db_table
    balances = LedgerCheckpointBalance._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.code, a.balance_cents, COALESCE(c.entries_cents, 0) + COALESCE(s.summed, 0)
            FROM {accounts} a
            LEFT JOIN {balances} c ON c.account_id = a.id AND c.checkpoint_id = %s
            LEFT JOIN (SELECT account_id, CAST(SUM(amount_cents) AS BIGINT) AS summed FROM {entries}
                       WHERE id > %s GROUP BY account_id) s ON s.account_id = a.id
            WHERE a.balance_cents <> COALESCE(c.entries_cents, 0) + COALESCE(s.summed, 0)
            ORDER BY a.code
            """,
            [checkpoint.pk if checkpoint else 0, checkpoint.through_entry_id if checkpoint else 0],
        )
        return [
            {"code": code, "balance_cents": int(kept), "entries_cents": int(summed)}
            for code, kept, summed in cursor.fetchall()
        ]


def entries_after(through_entry_id: int) -> dict:
    """The entries after an entry id: how many, and how many of their transactions do not
    balance (a transaction's entries are posted together, so none straddles a checkpoint)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(SUM(n), 0), COALESCE(SUM(CASE WHEN s <> 0 THEN 1 ELSE 0 END), 0)
            FROM (SELECT COUNT(*) AS n, SUM(amount_cents) AS s FROM {LedgerEntry._meta.db_table}
                  WHERE id > %s GROUP BY transaction_id) added
            """,
            [through_entry_id],
        )
        count, unbalanced = cursor.fetchone()
    return {"entries": int(count), "unbalanced_transactions": int(unbalanced)}


def latest_checkpoint() -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.order_by("-through_entry_id").first()


def latest_full_proof() -> dict | None:
    """The latest run of the full proof (nightly, or `manage.py reconcile --full`)."""
    return (
        LedgerFullProof.objects.order_by("-finished_at", "-pk")
        .values(
            "pk",
            "finished_at",
            "balanced",
            "entries",
            "through_entry_id",
            "disagreeing_count",
            "unbalanced_transactions",
            "checkpoint_id",
            "checkpoint_rows_wrong",
        )
        .first()
    )


def ledger_proof(period: Period | None = None) -> dict:
    """Whether the trust's books balance, with the figures that prove it, from the latest
    checkpoint (`checkpoint`: its id, entry id and time; none before the first close) and the
    entries after it (`entries_after_checkpoint`): every account's kept balance summed
    (`balances_total_cents`, zero), the accounts whose kept balance is not the sum of their
    entries (`disagreeing`, none), every entry summed (`entries_total_cents`, zero: every entry
    is on an account, so it is the balances' total corrected by the disagreements, without a
    second pass), the transactions that do not balance (`unbalanced_transactions`: the
    checkpoint's and those after it, none), and, given a period, its own transactions' entries
    summed (zero). `ledger_balanced` is all of them at once. `full_proof` is the latest run of
    the proof from the first entry, which also checks the checkpoint itself."""
    checkpoint = latest_checkpoint()
    through = checkpoint.through_entry_id if checkpoint else 0
    disagreeing = accounts_disagreeing(checkpoint)
    after = entries_after(through)
    balances_total = ledger.books_total()
    proof = {
        "entries_total_cents": balances_total
        - sum(row["balance_cents"] - row["entries_cents"] for row in disagreeing),
        "balances_total_cents": balances_total,
        "disagreeing": disagreeing,
        "period_entries_cents": None,
        "checkpoint": _checkpoint_figures(checkpoint),
        "entries_after_checkpoint": after["entries"],
        "unbalanced_transactions": after["unbalanced_transactions"]
        + (checkpoint.unbalanced_transactions if checkpoint else 0),
        "full_proof": latest_full_proof(),
    }
    if period is not None:
        proof["period_entries_cents"] = _sum(
            LedgerEntry.objects.filter(transaction__period=period), "amount_cents"
        )
    proof["ledger_balanced"] = (
        proof["entries_total_cents"] == 0
        and proof["balances_total_cents"] == 0
        and not disagreeing
        and not proof["unbalanced_transactions"]
        and not proof["period_entries_cents"]
    )
    return proof


def full_proof(checkpoint: LedgerCheckpoint | None) -> dict:
    """The proof from the first entry (payouts.checkpoints records it): every entry summed per
    account against the kept balances and, through the checkpoint's entry id, against the
    checkpoint's rows (`checkpoint_rows_wrong`), in one statement (one snapshot); then every
    transaction's entries summed (`unbalanced_transactions`). Reads the whole ledger."""
    accounts, entries = Account._meta.db_table, LedgerEntry._meta.db_table
    balances = LedgerCheckpointBalance._meta.db_table
    through = checkpoint.through_entry_id if checkpoint else 0
    with _tuned_for_aggregates(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH summed AS (
                SELECT account_id, SUM(amount_cents) AS total, COUNT(*) AS entries, MAX(id) AS last_id,
                       SUM(CASE WHEN id <= %s THEN amount_cents ELSE 0 END) AS through_checkpoint
                FROM {entries} GROUP BY account_id
            ), compared AS (
                SELECT a.code, a.balance_cents AS kept, COALESCE(s.total, 0) AS total,
                       COALESCE(s.entries, 0) AS entries, COALESCE(s.last_id, 0) AS last_id,
                       CASE WHEN COALESCE(c.entries_cents, 0) <> COALESCE(s.through_checkpoint, 0)
                            THEN 1 ELSE 0 END AS checkpoint_wrong
                FROM {accounts} a
                LEFT JOIN summed s ON s.account_id = a.id
                LEFT JOIN {balances} c ON c.account_id = a.id AND c.checkpoint_id = %s
            )
            SELECT 0 AS totals, code, kept, total, 0, 0, 0 FROM compared WHERE kept <> total
            UNION ALL
            SELECT 1, NULL, COALESCE(SUM(kept), 0), COALESCE(SUM(total), 0), COALESCE(SUM(entries), 0),
                   COALESCE(MAX(last_id), 0), COALESCE(SUM(checkpoint_wrong), 0)
            FROM compared
            """,
            [through, checkpoint.pk if checkpoint else 0],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT transaction_id FROM {entries} GROUP BY transaction_id "
            "HAVING SUM(amount_cents) <> 0) unbalanced"
        )
        unbalanced = int(cursor.fetchone()[0])
    disagreeing = sorted((code, kept, total) for is_total, code, kept, total, *_ in rows if not is_total)
    (_, _, kept_total, entries_total, count, last_id, checkpoint_wrong) = next(row for row in rows if row[0])
    figures = {
        "through_entry_id": int(last_id),
        "entries": int(count),
        "entries_total_cents": int(entries_total),
        "balances_total_cents": int(kept_total),
        "disagreeing": disagreeing,
        "unbalanced_transactions": unbalanced,
        "checkpoint_rows_wrong": int(checkpoint_wrong),
    }
    figures["balanced"] = (
        not figures["entries_total_cents"]
        and not figures["balances_total_cents"]
        and not disagreeing
        and not unbalanced
        and not figures["checkpoint_rows_wrong"]
    )
    return figures


def period_movements(period: Period) -> list[dict]:
    """The period's ledger transactions summed by account kind (debits positive): how its
    revenue, fee, pension, net and the payments on its invoices moved through the books. One
    grouped query; the rows sum to zero when the period balances."""
    rows = (
        LedgerEntry.objects.filter(transaction__period=period)
        .values(kind=F("account__kind"))
        .annotate(cents=Sum("amount_cents"), accounts=Count("account_id", distinct=True))
        .order_by("kind")
    )
    return [{**row, "label": account_kind_label(row["kind"])} for row in rows]


def account_kind_label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def accounts_by_kind() -> list[dict]:
    """Every kind of account with how many there are and their balances summed: one grouped
    query over the accounts' kept balances (never the entries), whatever the number of members."""
    rows = (
        Account.objects.values("kind")
        .annotate(accounts=Count("pk"), cents=Sum("balance_cents"))
        .order_by("kind")
    )
    return [{**row, "label": account_kind_label(row["kind"])} for row in rows]


def unclaimed_pool_cents() -> int:
    """What the unclaimed royalties pool holds now (its credit balance, as a positive amount)."""
    return -ledger.balance_of(ledger.UNCLAIMED_POOL_CODE)


@contextmanager
def _tuned_for_aggregates():
    """For this transaction only: no JIT (PostgreSQL compiles a plan whose estimated cost is
    high, as these aggregates over every member and entry are, and compiling costs more than
    the scans it speeds up), and memory enough for their hash aggregates not to spill to disk."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


def period_reconciliation(period: Period) -> dict:
    """One period's money from invoice to payout, and the ledger's proof.

    - invoiced: the totals of the invoices issued for the period (voided ones included, and
      shown apart as `voided`); credited: credit notes against them; collected: payments
      recorded on them; outstanding = invoiced - voided - credited - collected.
    - revenue, fee (the trust's fee), pension and distributed (net credited to members) are the
      period's close figures; revenue = fee + pension + distributed.
    - paid: how much of `distributed` members have been paid since (oldest earnings first);
      unpaid = distributed - paid.
    - unclaimed: what the unclaimed pool holds now (it is trust-wide, not per period).
    A fixed number of aggregate queries whatever the size of the trust."""
    with _tuned_for_aggregates():
        return _period_reconciliation(period)


def _period_reconciliation(period: Period) -> dict:
    invoices = Invoice.objects.filter(period=period).aggregate(
        invoiced=Sum("total_cents"),
        voided=Sum("total_cents", filter=Q(status=Invoice.Status.VOID)),
        count=Count("pk"),
    )
    invoiced = invoices["invoiced"] or 0
    voided = invoices["voided"] or 0
    credited = period_credit_notes_cents(period)
    collected = _sum(InvoicePayment.objects.filter(invoice__period=period), "amount_cents")
    paid = paid_of_period_cents(period)
    proof = ledger_proof(period)
    return {
        "period": period.pk,
        "label": period_label(period.start, period.end),
        "start": period.start,
        "end": period.end,
        "status": period.status,
        "currency": settings.TRUST_CURRENCY,
        "invoices": invoices["count"],
        "invoiced_cents": invoiced,
        "voided_cents": voided,
        "credited_cents": credited,
        "collected_cents": collected,
        "outstanding_cents": invoiced - voided - credited - collected,
        "revenue_cents": period.revenue_cents,
        "fee_cents": period.admin_fee_cents,
        "pension_cents": period.pension_cents,
        "distributed_cents": period.net_cents,
        "paid_cents": paid,
        "unpaid_cents": period.net_cents - paid,
        "unclaimed_cents": unclaimed_pool_cents(),
        "revenue_adds_up": period.revenue_cents
        == period.admin_fee_cents + period.pension_cents + period.net_cents,
        "ledger_balanced": proof["ledger_balanced"],
        "proof": proof,
        "movements": period_movements(period),
    }


# --- Traceability: the entries behind an account's balance -------------------------------------


def account_entries(account: Account) -> QuerySet:
    """The entries that make `account`'s balance, newest first, as plain rows with their
    transaction (key, memo, period, when). The database sorts and pages them."""
    return (
        LedgerEntry.objects.filter(account=account)
        .values("pk", "amount_cents")
        .annotate(
            entry=F("pk"),
            transaction_key=F("transaction__key"),
            memo=F("transaction__memo"),
            period=F("transaction__period_id"),
            posted_at=F("transaction__created_at"),
        )
        .order_by("-transaction__created_at", "-pk")
    )


def account_entries_total(account: Account) -> dict:
    """The account's kept balance beside the sum of its entries: equal, or the books are wrong."""
    summed = _sum(LedgerEntry.objects.filter(account=account), "amount_cents")
    count = LedgerEntry.objects.filter(account=account).count()
    return {"balance_cents": account.balance_cents, "entries_cents": summed, "entries": count}


def accounts_listing(*, kind: str | None = None, code: str | None = None) -> QuerySet:
    """Accounts by code, each with its kept balance: filtered by kind and by the start of a code."""
    rows = Account.objects.order_by("code")
    if kind:
        rows = rows.filter(kind=kind)
    if code:
        rows = rows.filter(code__startswith=code)
    return rows.values("id", "code", "kind", "balance_cents")


def trust_own_accounts() -> QuerySet:
    """The trust's own accounts (bank, fee income, the unclaimed pool...: no member, studio or
    peer behind them) by code, each with its kept balance."""
    return (
        Account.objects.filter(member__isnull=True, studio__isnull=True, peer__isnull=True)
        .order_by("code")
        .values("pk", "code", "kind", "balance_cents")
    )


# --- Studio statement of account ----------------------------------------------------------------

KIND_ORDER = {"invoice": 0, "credit_note": 1, "payment": 2, "void": 3}


@dataclass
class _Document:
    kind: str
    on: date
    rank: int
    ident: int
    number: str
    description: str
    debit_cents: int
    credit_cents: int
    invoice: int | None
    period: int | None


def studio_statement_of_account(studio) -> dict:
    """The studio's account with the trust: every invoice (a debit), credit note, payment and
    void (credits) in date order, each with the running balance after it; on one day invoices
    come first, then credit notes, payments and voids. The closing balance is what the studio
    owes, and `receivable_cents` the ledger's receivable beside it (equal for a studio the trust
    invoices). Four queries whatever the number of documents."""
    tz = timezone.get_current_timezone()
    documents: list[_Document] = []
    for row in Invoice.objects.filter(studio=studio).values(
        "pk", "number", "issued_at", "total_cents", "period_id", "status", "voided_at", "void_reason"
    ):
        documents.append(
            _Document(
                "invoice",
                row["issued_at"].astimezone(tz).date(),
                KIND_ORDER["invoice"],
                row["pk"],
                row["number"],
                f"Invoice {row['number']}",
                row["total_cents"],
                0,
                row["pk"],
                row["period_id"],
            )
        )
        if row["status"] == Invoice.Status.VOID and row["voided_at"] is not None:
            reason = f": {row['void_reason']}" if row["void_reason"] else ""
            documents.append(
                _Document(
                    "void",
                    row["voided_at"].astimezone(tz).date(),
                    KIND_ORDER["void"],
                    row["pk"],
                    row["number"],
                    f"Invoice {row['number']} voided{reason}",
                    0,
                    row["total_cents"],
                    row["pk"],
                    row["period_id"],
                )
            )
    for row in InvoicePayment.objects.filter(invoice__studio=studio).values(
        "pk", "paid_at", "amount_cents", "reference", "invoice_id", "invoice__number", "invoice__period_id"
    ):
        documents.append(
            _Document(
                "payment",
                row["paid_at"],
                KIND_ORDER["payment"],
                row["pk"],
                row["reference"],
                f"Payment {row['reference']} on {row['invoice__number']}",
                0,
                row["amount_cents"],
                row["invoice_id"],
                row["invoice__period_id"],
            )
        )
    for note in studio_credit_notes(studio):
        documents.append(
            _Document(
                "credit_note",
                note["date"],
                KIND_ORDER["credit_note"],
                note["id"],
                note.get("number", ""),
                note.get("description") or f"Credit note {note.get('number', '')}",
                0,
                note["amount_cents"],
                note.get("invoice"),
                note.get("period"),
            )
        )
    documents.sort(key=lambda d: (d.on, d.rank, d.ident))
    rows, running = [], 0
    for document in documents:
        running += document.debit_cents - document.credit_cents
        rows.append(
            {
                "kind": document.kind,
                "date": document.on,
                "number": document.number,
                "description": document.description,
                "debit_cents": document.debit_cents,
                "credit_cents": document.credit_cents,
                "balance_cents": running,
                "invoice": document.invoice,
                "period": document.period,
            }
        )
    receivable = Account.objects.filter(studio=studio, kind=Account.Kind.STUDIO_RECEIVABLE)
    return {
        "studio": studio.name,
        "currency": settings.TRUST_CURRENCY,
        "rows": rows,
        "invoiced_cents": sum(d.debit_cents for d in documents),
        "credited_cents": sum(d.credit_cents for d in documents),
        "balance_cents": running,
        "receivable_cents": _sum(receivable, "balance_cents"),
    }
