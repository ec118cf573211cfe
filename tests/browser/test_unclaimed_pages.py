"""The unclaimed-royalties page in a browser: the demo member's old balance in the pool, the
administrator claims it back for them once they have bank details; axe-clean at desktop and
phone width, nothing wider than the screen."""

from datetime import timedelta

import pytest
from django.db.models import F
from playwright.sync_api import expect

from payouts import ledger, unclaimed
from payouts.models import LedgerTransaction
from tests.browser.conftest import axe_violations, describe
from tests.ledger_history import ledger_history_rewritable
from trust.models import Member
from trust.templatetags.portal import money

VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 390, "height": 844}]


def _no_sideways_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_administrator_sees_the_pool_and_claims_for_a_member(browser, demo_trust, viewport, settings):
    member = Member.objects.get(user__username="member")
    iban = member.payout_iban or "DE89370400440532013000"
    # The demo's royalties, as if earned four years ago, and the member without bank details.
    Member.objects.filter(pk=member.pk).update(payout_iban="")
    # Ageing the ledger rewrites its history: the append-only trigger is lifted for it, explicitly.
    with ledger_history_rewritable():
        LedgerTransaction.objects.update(created_at=F("created_at") - timedelta(days=4 * 365))
    assert unclaimed.unclaimed_move_overdue() >= 1
    amount = unclaimed.member_unclaimed(member)["amount_cents"]
    assert amount > 0

    page = browser.sign_in("admin", viewport=viewport)
    page.goto("/operations/unclaimed/")
    expect(page.get_by_role("heading", level=1, name="Unclaimed royalties")).to_be_visible()
    expect(page.locator("#pool-total")).to_contain_text(money(-ledger.balance_of("trust:unclaimed_pool")))
    row = page.locator(f'tr[data-member="{member.member_number}"]')
    expect(row).to_contain_text(money(amount))
    expect(row.get_by_text("No bank details")).to_be_visible()
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
    browser.screenshot(page, f"operations-unclaimed-{viewport['width']}")

    Member.objects.filter(pk=member.pk).update(payout_iban=iban)
    page.reload()
    page.get_by_role("button", name=f"Claim for {member.member_number}").click()
    expect(page.get_by_text(f"{money(amount)} claimed for {member.member_number}")).to_be_visible()
    expect(page.locator("#claims-table")).to_contain_text(money(amount))
    assert unclaimed.member_unclaimed(member)["amount_cents"] == 0
    assert axe_violations(page) == [], describe(axe_violations(page))
    _no_sideways_scroll(page)
    browser.screenshot(page, f"operations-unclaimed-claimed-{viewport['width']}")
