"""A credit note as PDF (the trust's shared page) and as CSV, like an invoice's documents: each
line names the lease, the use and the closed period corrected, and that period's invoice."""

from django.conf import settings
from fpdf.fonts import FontFace

from trust.csv_export import csv_text
from trust.pdf import TrustPDF
from trust.templatetags.portal import money, period_label

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
    pdf = TrustPDF(f"{settings.TRUST_NAME} · credit note {note.number}")
    text = pdf.text_of
    pdf.set_title(text(f"Credit note {note.number}"))
    pdf.set_author(text(settings.TRUST_NAME))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_font(pdf.base_font, "", 10)
    pdf.set_text_color(74, 85, 104)
    pdf.cell(0, 6, text(settings.TRUST_NAME), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(20, 33, 61)
    pdf.set_font(pdf.base_font, "B", 18)
    pdf.cell(0, 11, text(f"Credit note {note.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for label, value in (
        ("Credited to", note.studio.name),
        ("Priced in", period_label(note.period.start, note.period.end)),
        ("Issued", f"{note.issued_at:%Y-%m-%d}"),
        ("Currency", f"{note.currency} (all amounts)"),
    ):
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
        table.row([text(h) for h in ("Lease, period corrected and use", "Quantity", "Unit price", "Amount")])
        for line in _lines(note):
            invoice = line["original_invoice__number"]
            table.row(
                [
                    text(
                        f"Lease #{line['lease_id']} · {line['description']}"
                        + (f" (invoice {invoice})" if invoice else "")
                    ),
                    f"{line['quantity']:,}",
                    money(line["unit_price_cents"]),
                    money(line["amount_cents"]),
                ]
            )
        row = table.row(style=FontFace(emphasis="BOLD"))
        for value in ("Total credited", "", "", money(note.total_cents)):
            row.cell(value)
    pdf.ln(5)
    pdf.set_font(pdf.base_font, "", 9)
    pdf.set_text_color(74, 85, 104)
    pdf.multi_cell(
        0,
        5,
        text(
            "Usage reported for the periods above was corrected after they closed. Their invoices stay "
            "as issued; this credit is deducted from what the studio owes (or carried to its credit), and "
            "the members' royalties, pension credits and the trust's fee are reduced in proportion."
        ),
    )
    return bytes(pdf.output())
