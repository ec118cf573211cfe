"""Credit notes on the invoice pages in a browser: the studio's list with the credit note, the
period and invoice it corrects and its documents; the administrator's list; axe-clean at
desktop and phone width, no sideways scroll."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payouts.models import CreditNote, CreditNoteLine, Invoice
from tests.browser.conftest import axe_violations, describe

VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 390, "height": 844}]


def _no_sideways_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"


def _a_credit_note() -> CreditNote:
    """A credit note as a close would issue it (the demo has none): on the studio's newest
    invoice's period, for two runs of its first line's lease at its price."""
    invoice = Invoice.objects.order_by("-issued_at", "-pk").first()
    line = invoice.lines.order_by("pk").first()
    now = timezone.now()
    note = CreditNote.objects.create(
        number=f"GUILDTRUST-CN-{now.year}-000001",
        year=now.year,
        sequence=1,
        studio=invoice.studio,
        period=invoice.period,
        issued_at=now,
        currency=invoice.currency,
        total_cents=2 * line.unit_price_cents,
    )
    CreditNoteLine.objects.create(
        credit_note=note,
        lease_id=line.lease_id,
        original_period=invoice.period,
        original_invoice=invoice,
        use=line.use,
        description=f"{line.description}, corrected",
        quantity=2,
        unit_price_cents=line.unit_price_cents,
        amount_cents=2 * line.unit_price_cents,
    )
    return note


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_studio_and_the_administrator_see_the_credit_notes(browser, demo_trust, viewport):
    note = _a_credit_note()
    for who, path in (("studio", "/studio/invoices/"), ("admin", "/operations/invoices/")):
        page = browser.sign_in(who, viewport=viewport)
        page.goto(path)
        expect(page.get_by_role("heading", level=2, name="Credit notes")).to_be_visible()
        row = page.locator(f'tr[data-credit-note="{note.number}"]')
        expect(row).to_contain_text(note.lines.get().original_invoice.number)
        expect(row.get_by_role("link", name=f"PDF of {note.number}")).to_be_visible()
        browser.screenshot(page, f"{who}-credit-notes-{viewport['width']}")
        assert axe_violations(page) == [], describe(axe_violations(page))
        _no_sideways_scroll(page)
