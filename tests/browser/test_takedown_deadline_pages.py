"""Overdue takedowns in a browser, on the demo trust: Alex Rivera (login "member") withdrew a
consent 40 days ago and the deadline job has run; the studio's lease page and list, the
administrator's lease page and overview, and Alex's "who used my data" say so in words, axe-clean
at desktop and phone width, without sideways scrolling."""

from datetime import timedelta

import pytest
from django.db.models import F
from playwright.sync_api import expect

from licensing import deadlines
from licensing.models import Takedown
from tests.browser.conftest import axe_violations, describe
from trust import services as trust
from trust.models import Consent

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _overdue_withdrawal() -> Takedown:
    grant = Consent.objects.filter(member__user__username="member", use="capture", state="granted").first()
    trust.consent_withdraw(actor=grant.member.user, consent=grant)
    forty_days = timedelta(days=40)
    Takedown.objects.update(
        issued_at=F("issued_at") - forty_days,
        acknowledge_due_at=F("acknowledge_due_at") - forty_days,
        attest_due_at=F("attest_due_at") - forty_days,
    )
    deadlines.leases_suspend_overdue()
    return Takedown.objects.filter(lease__studio__staff__user__username="studio").order_by("pk").first()


def _looks_right(page, browser, name):
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, name)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_overdue_takedowns_are_flagged_on_the_three_sides_pages(browser, demo_trust, viewport):
    notice = _overdue_withdrawal()
    assert notice is not None, "the demo studio's lease holds an asset of the demo member"
    width = viewport["width"]

    studio = browser.sign_in("studio", viewport=viewport)
    studio.goto(f"/studio/leases/{notice.lease_id}/")
    expect(studio.locator("#tokens-suspended")).to_contain_text("tokens are suspended")
    open_notices = studio.locator("#takedowns-open")
    expect(open_notices.get_by_text("Deletion attestation overdue").first).to_be_visible()
    _looks_right(studio, browser, f"studio-lease-{width}")
    studio.goto("/studio/leases/")
    expect(studio.get_by_text("tokens suspended").first).to_be_visible()
    _looks_right(studio, browser, f"studio-leases-{width}")

    admin = browser.sign_in("admin", viewport=viewport)
    admin.goto(f"/operations/leases/{notice.lease_id}/")
    expect(admin.locator("#tokens-suspended")).to_contain_text("Tokens suspended")
    expect(admin.get_by_text("Deletion attestation overdue").first).to_be_visible()
    _looks_right(admin, browser, f"operations-lease-{width}")
    admin.goto("/operations/")
    expect(admin.locator("#takedowns-overdue")).not_to_have_text("0")
    _looks_right(admin, browser, f"operations-overview-{width}")

    member = browser.sign_in("member", viewport=viewport)
    member.goto("/member/leases/")
    expect(member.locator(f'tr[data-lease="{notice.lease_id}"] .takedown-states')).to_contain_text("Overdue")
    _looks_right(member, browser, f"member-leases-{width}")
