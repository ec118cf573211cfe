"""A member's statement for one period, as CSV and as PDF.

Both take the plain dict of `selectors.member_statement` (rows of integers and strings) and
return the file's content; views only wrap it in a response. Amounts are integer cents written
with integer arithmetic, never through a float."""

from fpdf.fonts import FontFace

from trust.csv_export import csv_text
from trust.pdf import TrustPDF
from trust.templatetags.portal import money, ref


def amount(cents: int) -> str:
    """12345 -> "123.45", -5 -> "-0.05": plain digits for a file, no thousands separators."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


def safe_filename_part(text: str) -> str:
    """Letters, digits, - and _ only: safe in a Content-Disposition header."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def filename(statement: dict, extension: str) -> str:
    """guildtrust-statement-M-0001-2026-08-01.csv: safe in a Content-Disposition header."""
    number = safe_filename_part(statement["member_number"])
    return f"guildtrust-statement-{number}-{statement['first_day']:%Y-%m-%d}.{extension}"


def _plain(cents) -> str:
    return "" if cents is None else amount(cents)


def _rate(bps) -> str:
    return "" if bps is None else f"{bps // 100}.{bps % 100:02d}%"


# "gross" is before the trust fee, everywhere: the lease revenue attributed to the member.
CSV_COLUMNS = [
    *("lease", "studio", "dataset", "version", "use"),
    *("gross", "trust_fee", "after_fee", "pension", "net"),
    *("kind", "refers_to_period"),
]
TOTAL_KEYS = ("gross_cents", "admin_fee_cents", "after_fee_cents", "pension_cents", "net_cents")


def statement_csv(statement: dict) -> str:
    """Who and when first, one line each, then one line per lease and use (the gross attributed
    to the member, before the trust fee; the trust's fee; what is left after it; pension and
    net; whether the line is an earning or an adjustment of an earlier period) and a total."""
    head = [
        ("statement", statement["trust_name"]),
        ("member_number", statement["member_number"]),
        ("member_name", statement["member_name"]),
        ("period", statement["label"]),
        ("period_first_day", f"{statement['first_day']:%Y-%m-%d}"),
        ("period_last_day", f"{statement['last_day']:%Y-%m-%d}"),
        ("currency", statement["currency"]),
        ("trust_fee_rate", _rate(statement.get("admin_fee_bps"))),
        ("pension_rate", _rate(statement.get("pension_bps"))),
    ]
    lines = [
        [
            row["lease"],
            row["studio"],
            row["dataset"],
            row["version"] if row["version"] is not None else "",
            line["use"] or "all",
            _plain(line["gross_cents"]),
            _plain(line["admin_fee_cents"]),
            amount(line["after_fee_cents"]),
            amount(line["pension_cents"]),
            amount(line["net_cents"]),
            row["kind"],
            row["refers_to_period"] or "",
        ]
        for row in statement["rows"]
        for line in row["lines"]
    ]
    total = ["total", "", "", "", ""] + [amount(statement[key]) for key in TOTAL_KEYS] + ["", ""]
    return csv_text([], [*head, [], CSV_COLUMNS, *lines, total])


def _money_or_dash(cents) -> str:
    return "—" if cents is None else money(cents)


def statement_pdf(statement: dict) -> bytes:
    """An A4 statement: trust, member, period and currency, then the lease-by-lease table with
    its total row, and what pension and net mean."""
    pdf = TrustPDF(f"{statement['trust_name']} · {statement['member_number']} · {statement['label']}")
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
    pdf.set_font(pdf.base_font, "", 9.5)
    with pdf.table(
        col_widths=(74, 25, 25, 24, 26),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(234, 238, 244)),
        line_height=6.5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row([text(h) for h in ("Lease and use", "Gross", "Trust fee", "Pension", "Net")])
        for row in statement["rows"]:
            dataset = row["dataset"] + (f" v{row['version']}" if row["version"] is not None else "")
            lease = table.row(style=FontFace(emphasis="BOLD"))
            adjusts = f"Adjustment of {row['refers_to_period']} · " if row["kind"] == "adjustment" else ""
            for value in (
                text(f"{adjusts}{ref(row['lease'], 'Lease')} · {row['studio']} · {dataset}"),
                *(money(row[k]) for k in ("gross_cents", "admin_fee_cents", "pension_cents", "net_cents")),
            ):
                lease.cell(value)
            for line in row["lines"]:
                table.row(
                    [
                        text(f"    {line['label']}"),
                        text(_money_or_dash(line["gross_cents"])),
                        text(_money_or_dash(line["admin_fee_cents"])),
                        money(line["pension_cents"]),
                        money(line["net_cents"]),
                    ]
                )
        if not statement["rows"]:
            table.row([text("No earnings in this period."), "0.00", "0.00", "0.00", "0.00"])
        total = table.row(style=FontFace(emphasis="BOLD"))
        for value in (
            "Total",
            *(money(statement[k]) for k in ("gross_cents", "admin_fee_cents", "pension_cents", "net_cents")),
        ):
            total.cell(value)
    pdf.ln(5)
    pdf.set_font(pdf.base_font, "", 9)
    pdf.set_text_color(74, 85, 104)
    fee = _rate(statement.get("admin_fee_bps")) or "its rate"
    pension = _rate(statement.get("pension_bps")) or "its rate"
    pdf.multi_cell(
        0,
        5,
        text(
            "Gross is the part of each lease's revenue that came from your data, by use (the flat fee, "
            "downloads, training runs and generated seconds), before the trust fee. The trust keeps its "
            f"fee ({fee} of gross). Pension ({pension} of what is left after the fee) is credited to the "
            "pension & health plan on your behalf; net is added to the balance the trust pays out to you. "
            "An adjustment line corrects an earlier period's usage; that period's statement is unchanged."
        ),
    )
    return bytes(pdf.output())
