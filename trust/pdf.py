"""The trust's PDF documents (statements, consent receipts) share one page: A4, a Unicode font
where the system has one, and a footer line with the page number."""

from pathlib import Path

from fpdf import FPDF

# A Unicode font where the system has one (Debian's fonts-dejavu-core), so names outside
# Latin-1 print; otherwise the PDF core font, with such characters replaced.
UNICODE_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]


class TrustPDF(FPDF):
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
            text = text.replace("–", "-").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
        return text

    def footer(self):
        self.set_y(-15)
        self.set_font(self.base_font, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, self.text_of(f"{self.footer_text} · page {self.page_no()}/{{nb}}"), align="C")
