"""A credit note as PDF (the trust's shared page) and as CSV, like an invoice's documents: each
line names the lease, the use and the closed period corrected, and that period's invoice."""

from django.conf import settings

from trust.csv_export import csv_text
from trust.templatetags.portal import period_label

from .invoice_documents import billing_pdf
from .models import CreditNote
from .statements import amount, safe_filename_part


def filename(note: CreditNote, extension: str) -> str:
    return f"credit-note-{safe_filename_part(note.number)}.{extension}"


def _lines(note: CreditNote) -> list[dict]:
    return list(
        note.lines.order_by("lease_id", "original_period__start", "id").values(
            "lease_id",
            "use",
            "description",
            "quantity",
            "unit_price_cents",
            "amount_cents",
            "original_period__start",
            "original_period__end",
            "original_invoice__number",
        )
    )


def credit_note_csv(note: CreditNote) -> str:
    """Who, which credit note and when first; one line per lease, period corrected and use;
    then the total credited."""
    head = [
        ("credit_note", note.number),
        ("issuer", settings.TRUST_NAME),
        ("studio", note.studio.name),
        ("priced_in_period", period_label(note.period.start, note.period.end)),
        ("issued", f"{note.issued_at:%Y-%m-%d}"),
        ("currency", note.currency),
    ]
    rows = [
        [
            line["lease_id"],
            period_label(line["original_period__start"], line["original_period__end"]),
            line["original_invoice__number"] or "",
            line["use"],
            line["description"],
            line["quantity"],
            amount(line["unit_price_cents"]),
            amount(line["amount_cents"]),
        ]
        for line in _lines(note)
    ]
    columns = [
        "lease",
        "period_corrected",
        "invoice_corrected",
        "use",
        "description",
        "quantity",
        "unit_price",
        "amount",
    ]
    tail = [["total_credited", "", "", "", "", "", "", amount(note.total_cents)]]
    return csv_text([], [*head, [], columns, *rows, *tail])


def credit_note_pdf(note: CreditNote) -> bytes:
    """An A4 credit note: issuer, studio, number, date, the lines with the periods and invoices
    they correct, and the total credited to the studio's account."""
    lines = []
    for line in _lines(note):
        invoice = line["original_invoice__number"]
        what = f"Lease #{line['lease_id']} · {line['description']}" + (
            f" (invoice {invoice})" if invoice else ""
        )
        lines.append((what, line["quantity"], line["unit_price_cents"], line["amount_cents"]))
    return billing_pdf(
        title=f"Credit note {note.number}",
        facts=[
            ("Credited to", note.studio.name),
            ("Priced in", period_label(note.period.start, note.period.end)),
            ("Issued", f"{note.issued_at:%Y-%m-%d}"),
            ("Currency", f"{note.currency} (all amounts)"),
        ],
        first_heading="Lease, period corrected and use",
        lines=lines,
        totals=[("Total credited", note.total_cents)],
        note="Usage reported for the periods above was corrected after they closed. Their invoices stay "
        "as issued; this credit is deducted from what the studio owes (or carried to its credit), and "
        "the members' royalties, pension credits and the trust's fee are reduced in proportion.",
    )
