"""Reconciliation pages in a browser: the administrator reconciles a period and opens an
account's entries; the studio reads its statement of account; a member's statements speak of
gross before the trust fee. Axe-clean at desktop and phone width, no sideways scroll."""

import pytest
from playwright.sync_api import expect

from payouts import reconciliation
from payouts.models import Account, Invoice, Period
from tests.browser.conftest import axe_violations, describe
from trust.templatetags.portal import money

VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 390, "height": 844}]


def _checked(browser, page, name: str):
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, name)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_administrator_reconciles_a_period_and_traces_an_account(browser, demo_trust, viewport):
    period = Period.objects.closed().order_by("start").first()
    figures = reconciliation.period_reconciliation(period)
    page = browser.sign_in("admin", viewport=viewport)
    page.goto(f"/operations/periods/{period.pk}/")
    page.get_by_role("link", name="Reconcile this period").click()
    expect(page.get_by_role("heading", level=1, name="Reconciliation")).to_be_visible()
    for key, figure in (
        ("invoiced", "invoiced_cents"),
        ("collected", "collected_cents"),
        ("distributed", "distributed_cents"),
        ("paid", "paid_cents"),
        ("fee", "fee_cents"),
        ("pension", "pension_cents"),
    ):
        expect(page.locator(f"#rec-{key}")).to_contain_text(money(figures[figure]))
    expect(page.locator("#rec-ledger-balanced")).to_contain_text("Ledger balanced: yes")
    _checked(browser, page, f"reconciliation-{viewport['width']}")
    page.get_by_label("Period", exact=True).select_option(
        str(Period.objects.closed().order_by("-start").first().pk)
    )
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#rec-ledger-balanced")).to_contain_text("yes")
    page.get_by_role("link", name="trust:fee_revenue").click()
    fee = Account.objects.get(code="trust:fee_revenue")
    expect(page.get_by_role("heading", level=1, name="trust:fee_revenue")).to_be_visible()
    expect(page.locator("#account-balance")).to_contain_text(money(fee.balance_cents))
    expect(page.locator("#account-entries-sum")).to_contain_text(money(fee.balance_cents))
    expect(page.locator("#account-agrees")).to_contain_text("is the sum of its entries")
    _checked(browser, page, f"ledger-account-{viewport['width']}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_studio_reads_its_statement_of_account(browser, demo_trust, viewport):
    page = browser.sign_in("studio", viewport=viewport)
    page.goto("/studio/statement/")
    expect(page.get_by_role("heading", level=1, name="Statement of account")).to_be_visible()
    studio = Invoice.objects.order_by("pk").first().studio
    statement = reconciliation.studio_statement_of_account(studio)
    assert statement["rows"] and statement["balance_cents"] == statement["receivable_cents"]
    expect(page.locator("#soa-balance")).to_contain_text(money(statement["balance_cents"]))
    expect(page.locator("#soa-rows tbody tr")).to_have_count(len(statement["rows"]))
    _checked(browser, page, f"studio-statement-{viewport['width']}")


def test_a_members_statements_say_gross_is_before_the_trust_fee(browser, demo_trust):
    page = browser.sign_in("member", viewport=VIEWPORTS[0])
    page.goto("/member/statements/")
    expect(page.get_by_role("columnheader", name="Trust fee")).to_be_visible()
    expect(
        page.get_by_text("Gross is your part of each lease's revenue, before the trust fee")
    ).to_be_visible()
    _checked(browser, page, "member-statements-gross")
