"""A payout batch in a browser, on a phone: the administrator marks the demo's batch sent, marks
the member's payment returned by the bank, marks the batch settled; the member then sees each
payout's state on their payouts page. Axe-clean and no sideways scroll at every step."""

from playwright.sync_api import expect

from payouts.models import PayoutBatch, PayoutItem
from tests.browser.conftest import axe_violations, describe
from trust.templatetags.portal import money

PHONE = {"width": 390, "height": 844}


def _checked(browser, page, name: str):
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, name)


def test_a_batch_is_sent_a_payment_returned_the_batch_settled_and_the_member_sees_it(browser, demo_trust):
    batch = PayoutBatch.objects.order_by("pk").first()
    item = PayoutItem.objects.select_related("member").get(batch=batch, member__user__username="member")
    admin = browser.sign_in("admin", viewport=PHONE)
    admin.goto(f"/operations/payouts/batches/{batch.pk}/")
    expect(admin.locator("#batch-state")).to_have_text("Created")
    _checked(browser, admin, "batch-created")
    admin.get_by_role("button", name="Mark sent").click()
    expect(admin.locator("#batch-state")).to_have_text("Sent to the bank")
    _checked(browser, admin, "batch-sent")

    number = item.member.member_number
    admin.get_by_label(f"Why the bank returned the payment to {number}").fill("account closed")
    admin.get_by_role("button", name=f"Returned payment to {number}").click()
    expect(admin.get_by_text("is marked returned")).to_be_visible()
    admin.get_by_role("button", name="Mark settled").click()
    expect(admin.locator("#batch-state")).to_have_text("Settled")
    expect(admin.get_by_role("button", name="Mark settled")).to_have_count(0)
    _checked(browser, admin, "batch-settled")

    member = browser.sign_in("member", viewport=PHONE)
    member.goto("/member/payouts/")
    row = member.locator(f'tr[data-batch="{batch.pk}"]')
    expect(row).to_contain_text(money(item.amount_cents))
    expect(row).to_contain_text("Returned by the bank")
    expect(row).to_contain_text("account closed; the amount is back in your balance")
    _checked(browser, member, "member-payouts-returned")
