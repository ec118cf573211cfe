"""The estate pages in a browser: an administrator records a member's death on the operations
page; the estate representative the member named signs in, opens the late member's pages and
sees their consent matrix, earnings and who used their data; axe-clean at desktop and phone."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, axe_violations, describe
from trust import services as trust
from trust.models import Member, MemberDeath


def _clean(browser, page, name: str) -> None:
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
    browser.screenshot(page, name)


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_a_death_is_recorded_and_the_representative_decides_on_the_late_members_pages(
    browser, demo_trust, viewport
):
    get_user_model().objects.create_user(username="executor", password=DEMO_PASSWORD)
    sam = Member.objects.get(user__username="sam")
    trust.estate_representative_name(actor=sam.user, member=sam, username="executor")
    width = viewport["width"]

    admin = browser.sign_in("admin", viewport=viewport)
    admin.goto(f"/operations/members/{sam.pk}/death/")
    expect(admin.get_by_role("heading", level=1, name="Death and estate of Sam Okafor")).to_be_visible()
    _clean(browser, admin, f"estate-record-death-{width}")
    admin.get_by_label("Date of death").fill("2026-11-02")
    admin.get_by_label("Evidence").fill("Death certificate 2026/4411")
    admin.get_by_role("button", name="Record the death").click()
    expect(admin.get_by_text("Recorded: the death of Sam Okafor.")).to_be_visible()
    assert MemberDeath.objects.get(member=sam).evidence == "Death certificate 2026/4411"
    _clean(browser, admin, f"estate-death-recorded-{width}")

    executor = browser.sign_in("executor", viewport=viewport)
    executor.goto("/member/estates/")
    expect(executor.get_by_role("heading", level=1, name="Estate")).to_be_visible()
    _clean(browser, executor, f"estate-list-{width}")
    executor.get_by_role("button", name="Open their pages").click()
    expect(executor.get_by_text("the pages of the late Sam Okafor").first).to_be_visible()
    for path, name in (("/member/consent/", "consent"), ("/member/leases/", "leases"), ("/member/", "home")):
        executor.goto(path)
        expect(executor.get_by_text("the pages of the late Sam Okafor").first).to_be_visible()
        _clean(browser, executor, f"estate-{name}-{width}")


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}])
def test_a_member_names_their_representative(browser, demo_trust, viewport):
    get_user_model().objects.create_user(username="executor", password=DEMO_PASSWORD)
    page = browser.sign_in("member", viewport=viewport)
    page.goto("/member/estates/")
    page.get_by_label("Their sign-in name").fill("executor")
    page.get_by_role("button", name="Name your representative").click()
    expect(page.get_by_text("Named: executor decides on your consent after your death.")).to_be_visible()
    _clean(browser, page, "estate-name-representative-390")
