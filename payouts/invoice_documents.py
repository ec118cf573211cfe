"""An invoice as PDF (fpdf2, the trust's shared page) and as CSV (formula-neutralised cells).
Amounts are integer cents written with integer arithmetic."""

from django.conf import settings
from fpdf.fonts import FontFace

from trust.csv_export import csv_text
from trust.pdf import TrustPDF
from trust.templatetags.portal import money, period_first_day, period_label, period_last_day

from .models import Invoice
from .statements import amount, safe_filename_part


def filename(invoice: Invoice, extension: str) -> str:
    return f"invoice-{safe_filename_part(invoice.number)}.{extension}"


def _lines(invoice: Invoice) -> list[dict]:
    return list(
        invoice.lines.order_by("lease_id", "id").values(
            "lease_id", "use", "description", "quantity", "unit_price_cents", "amount_cents"
        )
    )


def invoice_csv(invoice: Invoice) -> str:
    """Who, which invoice and when first, one line each; then one line per lease and use; then
    the total, what was paid and what is outstanding."""
    head = [
        ("invoice", invoice.number),
        ("issuer", settings.TRUST_NAME),
        ("studio", invoice.studio.name),
        ("period", period_label(invoice.period.start, invoice.period.end)),
        ("period_first_day", f"{period_first_day(invoice.period.start):%Y-%m-%d}"),
        ("period_last_day", f"{period_last_day(invoice.period.start, invoice.period.end):%Y-%m-%d}"),
        ("issued", f"{invoice.issued_at:%Y-%m-%d}"),
        ("due", f"{invoice.due_at:%Y-%m-%d}"),
        ("currency", invoice.currency),
        ("status", invoice.status),
    ]
    rows = [
        [
            line["lease_id"],
            line["use"],
            line["description"],
            line["quantity"],
            amount(line["unit_price_cents"]),
            amount(line["amount_cents"]),
        ]
        for line in _lines(invoice)
    ]
    tail = [
        ["total", "", "", "", "", amount(invoice.total_cents)],
        ["paid", "", "", "", "", amount(invoice.paid_cents)],
        ["outstanding", "", "", "", "", amount(invoice.outstanding_cents)],
    ]
    columns = ["lease", "use", "description", "quantity", "unit_price", "amount"]
    return csv_text([], [*head, [], columns, *rows, *tail])


def billing_pdf(
    *,
    title: str,
    facts: list[tuple[str, str]],
    first_heading: str,
    lines: list[tuple[str, int, int, int]],
    totals: list[tuple[str, int]],
    note: str,
) -> bytes:
    """An A4 billing document on the trust's page (an invoice, a credit note): the issuer, the
    title, its facts (label, value), a table of lines (what, quantity, unit price and amount in
    cents) closed by its totals, and a note under it."""
    pdf = TrustPDF(f"{settings.TRUST_NAME} · {title[:1].lower()}{title[1:]}")
    text = pdf.text_of
    pdf.set_title(text(title))
    pdf.set_author(text(settings.TRUST_NAME))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_font(pdf.base_font, "", 10)
    pdf.set_text_color(74, 85, 104)
    pdf.cell(0, 6, text(settings.TRUST_NAME), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(20, 33, 61)
    pdf.set_font(pdf.base_font, "B", 18)
    pdf.cell(0, 11, text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for label, value in facts:
        pdf.set_font(pdf.base_font, "B", 10)
        pdf.cell(38, 6, text(label))
        pdf.set_font(pdf.base_font, "", 10)
        pdf.cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font(pdf.base_font, "", 9.5)
    with pdf.table(
        col_widths=(84, 22, 24, 30),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 244)),
        line_height=6.5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row([text(h) for h in (first_heading, "Quantity", "Unit price", "Amount")])
        for what, quantity, unit_price_cents, amount_cents in lines:
            table.row([text(what), f"{quantity:,}", money(unit_price_cents), money(amount_cents)])
        for label, cents in totals:
            row = table.row(style=FontFace(emphasis="BOLD"))
            for value in (label, "", "", money(cents)):
                row.cell(value)
    pdf.ln(5)
    pdf.set_font(pdf.base_font, "", 9)
    pdf.set_text_color(74, 85, 104)
    pdf.multi_cell(0, 5, text(note))
    return bytes(pdf.output())


def invoice_pdf(invoice: Invoice) -> bytes:
    """An A4 invoice: issuer, studio, number, dates and currency, the lines table with its total,
    paid and outstanding, and how to pay."""
    status = "" if invoice.status == Invoice.Status.OPEN else f" ({invoice.status})"
    return billing_pdf(
        title=f"Invoice {invoice.number}{status}",
        facts=[
            ("Billed to", invoice.studio.name),
            ("Period", period_label(invoice.period.start, invoice.period.end)),
            ("Issued", f"{invoice.issued_at:%Y-%m-%d}"),
            ("Due", f"{invoice.due_at:%Y-%m-%d}"),
            ("Currency", f"{invoice.currency} (all amounts)"),
        ],
        first_heading="Lease and use",
        lines=[
            (
                f"Lease #{line['lease_id']} · {line['description']}",
                line["quantity"],
                line["unit_price_cents"],
                line["amount_cents"],
            )
            for line in _lines(invoice)
        ],
        totals=[
            ("Total", invoice.total_cents),
            ("Paid", invoice.paid_cents),
            ("Outstanding", invoice.outstanding_cents),
        ],
        note=f"Please pay by {invoice.due_at:%Y-%m-%d} to {settings.TRUST_NAME}, IBAN {settings.TRUST_IBAN}, "
        f"BIC {settings.TRUST_BIC}, quoting {invoice.number}. The lease revenue billed here is "
        "distributed to the members whose data was used, less the trust's fee and their pension "
        "credits.",
    )
