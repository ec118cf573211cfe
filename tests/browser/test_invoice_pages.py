"""Invoice pages in a browser: the studio's list and an invoice (overdue flagged), the
administrator's invoice with the payment form; axe-clean at desktop and phone."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payouts.models import Invoice
from tests.browser.conftest import axe_violations, describe
from trust.templatetags.portal import money

VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 390, "height": 844}]


def _no_sideways_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_studio_sees_its_invoices_and_the_overdue_one(browser, demo_trust, viewport):
    oldest = Invoice.objects.filter(status="open").order_by("sequence").first()
    Invoice.objects.update(due_at=timezone.now() + timedelta(days=10))
    Invoice.objects.filter(pk=oldest.pk).update(due_at=timezone.now() - timedelta(days=3))
    page = browser.sign_in("studio", viewport=viewport)
    page.goto("/studio/invoices/")
    expect(page.get_by_role("heading", level=1, name="Invoices")).to_be_visible()
    expect(page.locator("#overdue-count")).to_contain_text("1 invoice overdue")
    expect(page.locator(f'tr[data-invoice="{oldest.number}"]').get_by_text("Overdue")).to_be_visible()
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
    browser.screenshot(page, f"studio-invoices-{viewport['width']}")
    page.get_by_role("link", name=oldest.number).click()
    expect(page.get_by_role("heading", level=1, name=f"Invoice {oldest.number}")).to_be_visible()
    expect(page.locator("#invoice-overdue")).to_be_visible()
    expect(page.get_by_role("button", name="Record the payment")).to_have_count(0)
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
    browser.screenshot(page, f"studio-invoice-{viewport['width']}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_administrator_records_a_partial_payment(browser, demo_trust, viewport):
    invoice = Invoice.objects.filter(status="open").order_by("sequence").first()
    page = browser.sign_in("admin", viewport=viewport)
    page.goto(f"/operations/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", level=1, name=f"Invoice {invoice.number}")).to_be_visible()
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
    browser.screenshot(page, f"operations-invoice-{viewport['width']}")
    page.get_by_label("Amount received").fill("1.00")
    page.get_by_label("Bank reference").fill("WIRE-77")
    page.get_by_role("button", name="Record the payment").click()
    expect(
        page.get_by_text(f"Payment of 1.00 {invoice.currency} recorded on {invoice.number}.")
    ).to_be_visible()
    paid_before = invoice.paid_cents
    invoice.refresh_from_db()
    assert invoice.paid_cents == paid_before + 100
    expect(page.locator("#invoice-paid")).to_have_text(money(invoice.paid_cents))
    page.goto("/operations/invoices/")
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
