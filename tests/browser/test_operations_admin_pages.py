"""The administrator's payouts, audit log, members and studios pages and the confirmation
pages in a browser: each is accessible (axe-core), fits a 390 px phone without sideways
scrolling, and its main action works end to end."""

import pytest
from playwright.sync_api import expect

from licensing.models import Lease, Studio
from payouts.models import PayoutBatch
from payouts.selectors import payout_totals
from tests.browser.conftest import axe_violations, describe
from trust.models import AuditEvent, Dataset, Member
from trust.templatetags.portal import money

PAGES = {
    "payouts": "/operations/payouts/",
    "payout-batch-new": "/operations/payouts/batches/new/",
    "payout-batches": "/operations/payouts/batches/",
    "audit": "/operations/audit/",
    "members": "/operations/members/",
    "member-enrol": "/operations/members/enrol/",
    "studios": "/operations/studios/",
    "studio-enrol": "/operations/studios/enrol/",
}


def check(page, browser, name: str) -> None:
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"
    browser.screenshot(page, name)


@pytest.mark.parametrize("name", list(PAGES))
def test_each_new_page_is_accessible_and_fits_a_phone(browser, demo_trust, name):
    wide = browser.sign_in("admin", viewport={"width": 1366, "height": 900})
    phone = browser.sign_in("admin", viewport={"width": 390, "height": 844})
    for label, page in (("wide", wide), ("phone", phone)):
        page.goto(PAGES[name])
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check(page, browser, f"{name}-{label}")


def test_detail_and_confirmation_pages_are_accessible_and_fit_a_phone(browser, demo_trust):
    studio = Studio.objects.order_by("pk").first()
    lease = Lease.objects.filter(status=Lease.Status.ACTIVE).first()
    waiting = Lease.objects.filter(status=Lease.Status.REQUESTED).first()
    dataset = Dataset.objects.order_by("pk").first()
    paths = {
        "studio": f"/operations/studios/{studio.pk}/",
        "approve": f"/operations/leases/{waiting.pk}/approve/",
        "revoke": f"/operations/leases/{lease.pk}/revoke/",
        "freeze": f"/operations/datasets/{dataset.pk}/freeze/",
    }
    for width in (1366, 390):
        page = browser.sign_in("admin", viewport={"width": width, "height": 900})
        for name, path in paths.items():
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            check(page, browser, f"{name}-{width}")


def test_creating_a_batch_confirms_then_shows_it_with_its_files(browser, demo_trust):
    totals = payout_totals()
    page = browser.sign_in("admin")
    page.get_by_role("link", name="Payouts", exact=True).click()
    expect(page.locator("#payable-members")).to_have_text(
        f"{totals['payable']['members']} member" + ("" if totals["payable"]["members"] == 1 else "s")
    )
    page.get_by_role("link", name="Create a batch…").click()
    expect(page.locator("#batch-will-pay")).to_be_visible()
    # The demo has already paid one batch; the confirmation page itself creates nothing.
    earlier = list(PayoutBatch.objects.values_list("pk", flat=True))
    page.get_by_role("button", name="Create the batch").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Payout batch #")
    batch = PayoutBatch.objects.exclude(pk__in=earlier).get()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Payout batch #{batch.pk}")
    expect(page.locator("#batch-total")).to_contain_text(money(totals["payable"]["cents"]))
    assert batch.item_count == totals["payable"]["members"]
    check(page, browser, "batch")


def test_the_audit_log_filters_and_shows_the_chain_intact(browser, demo_trust):
    page = browser.sign_in("admin")
    page.get_by_role("link", name="Audit log").first.click()
    expect(page.locator("#chain-status")).to_contain_text("Chain intact")
    page.get_by_label("Action").fill("lease.approved")
    page.get_by_role("button", name="Apply").click()
    approved = AuditEvent.objects.filter(action="lease.approved").count()
    expect(page.locator("#audit-events tbody tr")).to_have_count(approved)
    check(page, browser, "audit-filtered")


def test_enrolling_a_member_and_a_studio_in_the_browser(browser, demo_trust):
    page = browser.sign_in("admin")
    page.goto("/operations/members/enrol/")
    page.get_by_label("Member number").fill("M-90001")
    page.get_by_label("Name", exact=True).fill("Browser Bo")
    page.get_by_label("Email").fill("bo@example.org")
    page.get_by_label("Username").fill("bo")
    page.get_by_label("First password").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Enrol the member").click()
    expect(page.locator(".message.success")).to_contain_text("Browser Bo (M-90001) enrolled")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    assert Member.objects.filter(member_number="M-90001").exists()

    page.goto("/operations/studios/enrol/")
    page.get_by_label("Studio name").fill("Browser Pictures")
    page.get_by_label("Staff username").fill("bp-staff")
    page.get_by_label("Staff email").fill("staff@bp.example")
    page.get_by_label("First password").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Enrol the studio").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser Pictures")
    expect(page.locator("#staff")).to_contain_text("bp-staff")
    check(page, browser, "studio-enrolled")
