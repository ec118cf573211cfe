"""Invoices to studios: issued by a period's close, paid (in parts) or voided by administrators.

An invoice bills exactly what was posted to the studio's receivable: each of its leases'
revenue of the closed period (LeaseRevenue), and every settlement of a federated lease's peer
part agreed and posted since the studio's last invoice. A lease homed here owes its parts'
revenue too, but a part's settlement is only agreed after the home close (both trusts compute it
from their own meters), so it goes on the studio's next invoice rather than changing one
already issued. So invoices minus payments minus voids is always the receivable's balance."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from licensing.models import Lease
from trust import audit
from trust.errors import Conflict, Invalid
from trust.services import require_trust_admin

from . import corrections, federated, ledger
from .metering import LeaseCharges
from .models import (
    Account,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoicePayment,
    LeaseRevenue,
    Period,
    PeriodCharge,
    Settlement,
)

USE_LABELS = dict(InvoiceLine.Use.choices)
SHARED_USES = (InvoiceLine.Use.FLAT_FEE, InvoiceLine.Use.TRAINING_RUN)


def invoice_number(year: int, sequence: int) -> str:
    """GT-2026-000042: the trust's prefix, the year, and the gapless sequence of that year."""
    return f"{settings.TRUST_SLUG.upper()}-{year}-{sequence:06d}"


def bank_account() -> Account:
    return Account.objects.get_or_create(code="trust:bank", defaults={"kind": Account.Kind.BANK})[0]


def invoices_voided_account() -> Account:
    return Account.objects.get_or_create(
        code="trust:invoices_voided", defaults={"kind": Account.Kind.INVOICES_VOIDED}
    )[0]


def _lease_lines(period: Period, lease_ids: list[int]) -> dict[int, list[dict]]:
    """lease id -> its lines for the period: the period's charges summed per use and unit price
    (one query). A federated lease homed here bills at the close only its home part's share of
    the flat fee and training runs, the amount posted to the receivable; its parts' shares
    arrive with their settlements."""
    lines: dict[int, list[dict]] = defaultdict(list)
    rows = (
        PeriodCharge.objects.filter(period=period, lease_id__in=lease_ids)
        .values("lease_id", "use", "unit_price_cents")
        .annotate(quantity=Sum("quantity"))
        .order_by("lease_id", "use", "unit_price_cents")
    )
    for row in rows:
        amount = row["quantity"] * row["unit_price_cents"]
        if amount:
            lines[row["lease_id"]].append(
                {**row, "amount_cents": amount, "description": USE_LABELS.get(row["use"], row["use"])}
            )
    from .services import federated_parts_of

    for lease_id, licensable in federated_parts_of(lease_ids).items():
        whole = {line["use"]: line["amount_cents"] for line in lines[lease_id] if line["use"] in SHARED_USES}
        owed = LeaseCharges(
            whole.get(InvoiceLine.Use.FLAT_FEE, 0),
            ((InvoiceLine.Use.TRAINING_RUN, None, whole.get(InvoiceLine.Use.TRAINING_RUN, 0)),),
        )
        home = federated.part_shares(owed, licensable, home=settings.TRUST_SLUG)[settings.TRUST_SLUG]
        share = {
            InvoiceLine.Use.FLAT_FEE: home.flat_fee_cents,
            InvoiceLine.Use.TRAINING_RUN: home.training_cents,
        }
        for line in lines[lease_id]:
            if line["use"] in SHARED_USES:
                line["amount_cents"] = share[line["use"]]
                line["description"] = f"{USE_LABELS[line['use']]}: this trust's part's share"
        lines[lease_id] = [line for line in lines[lease_id] if line["amount_cents"]]
    return lines


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"


def _lock_counter(year: int) -> InvoiceCounter:
    """The year's counter, created if missing (a concurrent creation is not an error), then held
    FOR UPDATE until the issuing transaction ends."""
    InvoiceCounter.objects.bulk_create([InvoiceCounter(year=year)], ignore_conflicts=True)
    return InvoiceCounter.objects.select_for_update().get(year=year)


def issue_for_period(period: Period, *, at: datetime | None = None) -> list[Invoice]:
    """Issue one invoice per studio for a closing period, inside its close's final transaction
    (the caller holds the period FOR UPDATE). Lines: every lease's charges of the period, and
    the settlements posted since the studio's last invoice. Numbers come from the year's
    counter, locked here, so concurrent closes number one after the other without a gap. A
    studio already invoiced for the period is skipped (closing again issues nothing); studios
    standing in for a peer's studio (their home trust invoices them) and studios owing nothing
    get none. A fixed number of queries whatever the number of studios and leases."""
    now = at or timezone.now()
    revenues = list(
        LeaseRevenue.objects.filter(period=period, lease__studio__home_peer__isnull=True)
        .exclude(lease__studio__invoices__period=period)
        .values_list("lease_id", "lease__studio_id", "revenue_cents")
    )
    lease_lines = _lease_lines(period, [lease_id for lease_id, _, _ in revenues])
    by_studio: dict[int, list[dict]] = defaultdict(list)
    for lease_id, studio_id, revenue in revenues:
        lines = lease_lines.get(lease_id, [])
        if sum(line["amount_cents"] for line in lines) != revenue:
            raise ledger.Unbalanced(f"the invoice lines of lease {lease_id} do not add up to its revenue")
        by_studio[studio_id] += lines
    settled = (
        Settlement.objects.filter(
            role=Settlement.Role.HOME,
            transaction__isnull=False,
            invoice_line__isnull=True,
            lease__studio__home_peer__isnull=True,
        )
        .exclude(lease__studio__invoices__period=period)
        .values_list(
            "pk", "lease_id", "lease__studio_id", "total_cents", "peer__name", "period_start", "period_end"
        )
    )
    for pk, lease_id, studio_id, total, peer_name, start, end in settled:
        if total:
            by_studio[studio_id].append(
                {
                    "lease_id": lease_id,
                    "use": InvoiceLine.Use.PEER_PART,
                    "description": f"Part at {peer_name}, {_window(start, end)}",
                    "quantity": 1,
                    "unit_price_cents": total,
                    "amount_cents": total,
                    "settlement_id": pk,
                }
            )
    # Corrections of closed periods undone, priced by this close (payouts.corrections).
    for studio_id, lines in corrections.invoice_lines(period).items():
        by_studio[studio_id] += lines
    owing = {studio_id: lines for studio_id, lines in sorted(by_studio.items()) if lines}
    if not owing:
        return []
    payment_days = _payment_days({line["lease_id"] for lines in owing.values() for line in lines})
    counter = _lock_counter(now.year)
    invoices = []
    for studio_id, lines in owing.items():
        counter.last_sequence += 1
        days = min(payment_days[line["lease_id"]] for line in lines)
        invoices.append(
            Invoice(
                number=invoice_number(now.year, counter.last_sequence),
                year=now.year,
                sequence=counter.last_sequence,
                studio_id=studio_id,
                period=period,
                issued_at=now,
                due_at=now + timedelta(days=days),
                currency=settings.TRUST_CURRENCY,
                total_cents=sum(line["amount_cents"] for line in lines),
            )
        )
    counter.save(update_fields=["last_sequence"])
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                lease_id=line["lease_id"],
                use=line["use"],
                description=line["description"],
                quantity=line["quantity"],
                unit_price_cents=line["unit_price_cents"],
                amount_cents=line["amount_cents"],
                settlement_id=line.get("settlement_id"),
            )
            for invoice, lines in zip(invoices, owing.values(), strict=True)
            for line in lines
        ],
        batch_size=5000,
    )
    audit.record(
        actor=None,
        action="invoices.issued",
        subject=period,
        data={
            "invoices": len(invoices),
            "first": invoices[0].number,
            "last": invoices[-1].number,
            "total_cents": sum(invoice.total_cents for invoice in invoices),
        },
    )
    return invoices


def _payment_days(lease_ids) -> dict[int, int]:
    """lease id -> days to pay: its terms' payment days, or the trust's default. An invoice with
    several leases is due by the shortest."""
    default = settings.INVOICE_PAYMENT_DAYS
    return {
        lease_id: default if days is None else days
        for lease_id, days in Lease.objects.filter(pk__in=list(lease_ids)).values_list(
            "pk", "terms__payment_days"
        )
    }


@transaction.atomic
def invoice_payment_record(
    *, actor, invoice: Invoice, amount_cents: int, paid_at: date, reference: str, idempotency_key: str = ""
) -> InvoicePayment:
    """Record money a studio paid on an invoice: the bank account debited and the studio's
    receivable credited in one ledger transaction. Partial payments add up; paying more than is
    outstanding is refused (422) and nothing is written. Fully paid: the invoice is `paid`.

    With an `idempotency_key`, the same payment sent again returns the one recorded
    (`payment.replayed` is True) and writes nothing; the key reused for a different payment is
    a conflict (409). Retries queue on the invoice's lock, so two at once record one payment."""
    require_trust_admin(actor)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if idempotency_key:
        earlier = invoice.payments.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            same = (earlier.amount_cents, earlier.paid_at, earlier.reference) == (
                amount_cents,
                paid_at,
                reference,
            )
            if not same:
                raise Conflict(
                    "this Idempotency-Key was used for a different payment on this invoice",
                    code="idempotency_key_reused",
                )
            earlier.replayed = True
            return earlier
    if invoice.status == Invoice.Status.VOID:
        raise Conflict("the invoice was voided: it takes no payment", code="invoice_void")
    if amount_cents < 1:
        raise Invalid("a payment is at least one cent", code="bad_amount")
    if amount_cents > invoice.outstanding_cents:
        raise Invalid(
            f"the invoice has {invoice.outstanding_cents} cents outstanding: {amount_cents} would overpay it",
            code="over_payment",
        )
    if paid_at > timezone.localdate():
        raise Invalid("a payment cannot be dated in the future", code="paid_in_future")
    number = invoice.payments.count() + 1
    txn = ledger.post(
        key=f"invoice:{invoice.pk}:payment:{number}",
        memo=f"Payment {reference} on invoice {invoice.number}"[:300],
        lines=[(bank_account(), amount_cents), (ledger.studio_receivable(invoice.studio), -amount_cents)],
        period=invoice.period,
    )
    payment = InvoicePayment.objects.create(
        invoice=invoice,
        amount_cents=amount_cents,
        paid_at=paid_at,
        reference=reference,
        recorded_by=actor,
        transaction=txn,
        idempotency_key=idempotency_key,
    )
    payment.replayed = False
    invoice.paid_cents += amount_cents
    if invoice.paid_cents == invoice.total_cents:
        invoice.status = Invoice.Status.PAID
    invoice.save(update_fields=["paid_cents", "status"])
    audit.record(
        actor=actor,
        action="invoice.payment_recorded",
        subject=invoice,
        data={"amount_cents": amount_cents, "paid_at": paid_at.isoformat(), "reference": reference},
    )
    return payment


@transaction.atomic
def invoice_void(*, actor, invoice: Invoice, reason: str = "") -> Invoice:
    """Cancel an unpaid invoice: its total leaves the studio's receivable into the voided
    invoices account (the members' royalties stay earned). An invoice with any payment, or
    already paid or void, is refused (409)."""
    require_trust_admin(actor)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.OPEN or invoice.paid_cents:
        raise Conflict("only an open invoice with no payment can be voided", code="invoice_not_voidable")
    ledger.post(
        key=f"invoice:{invoice.pk}:void",
        memo=f"Invoice {invoice.number} voided",
        lines=[
            (invoices_voided_account(), invoice.total_cents),
            (ledger.studio_receivable(invoice.studio), -invoice.total_cents),
        ],
        period=invoice.period,
    )
    invoice.status, invoice.voided_at, invoice.void_reason = Invoice.Status.VOID, timezone.now(), reason
    invoice.save(update_fields=["status", "voided_at", "void_reason"])
    audit.record(actor=actor, action="invoice.voided", subject=invoice, data={"reason": reason})
    return invoice


# Reads ------------------------------------------------------------------------------------------


def invoices_visible_to(user):
    """Every invoice for an administrator, the studio's own for its staff, none for anyone else."""
    from licensing.selectors import studio_documents_visible_to

    return studio_documents_visible_to(
        user, Invoice.objects.select_related("studio", "period").order_by("-year", "-sequence")
    )


def is_overdue(invoice: Invoice, *, now: datetime | None = None) -> bool:
    return invoice.status == Invoice.Status.OPEN and invoice.due_at < (now or timezone.now())


def overdue(invoices):
    return invoices.filter(status=Invoice.Status.OPEN, due_at__lt=timezone.now())
