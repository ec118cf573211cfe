"""A member's statement for one period, as CSV and as PDF.

Both take the plain dict of `selectors.member_statement` (rows of integers and strings) and
return the file's content; views only wrap it in a response. Amounts are integer cents written
with integer arithmetic, never through a float."""

import csv
import io
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from trust.csv_export import safe_cell
from trust.templatetags.portal import money, ref

# A Unicode font where the system has one (Debian's fonts-dejavu-core), so names outside
# Latin-1 print; otherwise the PDF core font, with such characters replaced.
UNICODE_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]


def amount(cents: int) -> str:
    """12345 -> "123.45", -5 -> "-0.05": plain digits for a file, no thousands separators."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


def filename(statement: dict, extension: str) -> str:
    """guildtrust-statement-M-0001-2026-08-01.csv: safe in a Content-Disposition header."""
    number = "".join(c if c.isalnum() or c in "-_" else "-" for c in statement["member_number"])
    return f"guildtrust-statement-{number}-{statement['first_day']:%Y-%m-%d}.{extension}"


def statement_csv(statement: dict) -> str:
    """Who and when first, one line each, then the earnings lease by lease and a total line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for key, value in (
        ("statement", statement["trust_name"]),
        ("member_number", statement["member_number"]),
        ("member_name", statement["member_name"]),
        ("period", statement["label"]),
        ("period_first_day", f"{statement['first_day']:%Y-%m-%d}"),
        ("period_last_day", f"{statement['last_day']:%Y-%m-%d}"),
        ("currency", statement["currency"]),
    ):
        writer.writerow([key, safe_cell(value)])
    writer.writerow([])
    writer.writerow(["lease", "studio", "dataset", "version", "gross", "pension", "net"])
    for row in statement["rows"]:
        writer.writerow(
            [
                row["lease"],
                safe_cell(row["studio"]),
                safe_cell(row["dataset"]),
                row["version"] if row["version"] is not None else "",
                amount(row["gross_cents"]),
                amount(row["pension_cents"]),
                amount(row["net_cents"]),
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            "",
            "",
            amount(statement["gross_cents"]),
            amount(statement["pension_cents"]),
            amount(statement["net_cents"]),
        ]
    )
    return out.getvalue()


class _StatementPDF(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.base_font = "Helvetica"
        if all(path.exists() for path in UNICODE_FONTS):
            self.add_font("DejaVu", "", str(UNICODE_FONTS[0]))
            self.add_font("DejaVu", "B", str(UNICODE_FONTS[1]))
            self.base_font = "DejaVu"

    def text_of(self, value) -> str:
        text = "" if value is None else str(value)
        if self.base_font == "Helvetica":
            text = text.replace("–", "-").encode("latin-1", "replace").decode("latin-1")
        return text

    def footer(self):
        self.set_y(-15)
        self.set_font(self.base_font, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, self.text_of(f"{self.footer_text} · page {self.page_no()}/{{nb}}"), align="C")


def statement_pdf(statement: dict) -> bytes:
    """An A4 statement: trust, member, period and currency, then the lease-by-lease table with
    its total row, and what pension and net mean."""
    pdf = _StatementPDF(f"{statement['trust_name']} · {statement['member_number']} · {statement['label']}")
    text = pdf.text_of
    pdf.set_title(text(f"Statement {statement['label']} for {statement['member_name']}"))
    pdf.set_author(text(statement["trust_name"]))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    pdf.set_font(pdf.base_font, "", 10)
    pdf.set_text_color(74, 85, 104)
    pdf.cell(0, 6, text(statement["trust_name"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(20, 33, 61)
    pdf.set_font(pdf.base_font, "B", 18)
    pdf.cell(0, 11, text(f"Royalty statement: {statement['label']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(pdf.base_font, "", 10)
    for label, value in (
        ("Member", statement["member_name"]),
        ("Member number", statement["member_number"]),
        ("Period", statement["label"]),
        ("Currency", f"{statement['currency']} (all amounts)"),
    ):
        pdf.set_font(pdf.base_font, "B", 10)
        pdf.cell(38, 6, text(label))
        pdf.set_font(pdf.base_font, "", 10)
        pdf.cell(0, 6, text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    headings = ("Lease", "Studio", "Dataset", "Gross", "Pension", "Net")
    pdf.set_font(pdf.base_font, "", 9.5)
    with pdf.table(
        col_widths=(20, 42, 40, 24, 24, 24),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 244)),
        line_height=6.5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row([text(h) for h in headings])
        for row in statement["rows"]:
            dataset = row["dataset"] + (f" v{row['version']}" if row["version"] is not None else "")
            table.row(
                [
                    ref(row["lease"], "Lease"),
                    text(row["studio"]),
                    text(dataset),
                    money(row["gross_cents"]),
                    money(row["pension_cents"]),
                    money(row["net_cents"]),
                ]
            )
        if not statement["rows"]:
            table.row(["", text("No earnings in this period."), "", "0.00", "0.00", "0.00"])
        total = table.row(style=FontFace(emphasis="BOLD"))
        for value in (
            "",
            "Total",
            "",
            *(money(statement[k]) for k in ("gross_cents", "pension_cents", "net_cents")),
        ):
            total.cell(value)
    pdf.ln(5)
    pdf.set_font(pdf.base_font, "", 9)
    pdf.set_text_color(74, 85, 104)
    pdf.multi_cell(
        0,
        5,
        text(
            "Gross is your share of each lease's revenue after the trust's administration fee. "
            "Pension is credited to the pension & health plan on your behalf; net is added to "
            "the balance the trust pays out to you."
        ),
    )
    return bytes(pdf.output())
