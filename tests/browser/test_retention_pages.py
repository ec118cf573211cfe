"""Retention and destruction pages in a browser, on the demo trust: the administrator sets a
retention for one kind and runs destruction; the member (Alex Rivera, login "member") finds the
destroyed asset and its signed certificate on "Destroyed data". Desktop and phone width, every
page axe-clean."""

from datetime import timedelta

from django.utils import timezone

from tests.browser.conftest import axe_violations, describe
from trust import destruction, keys, receipts
from trust.models import Asset, AssetDestruction

PHONE = {"width": 390, "height": 844}


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def test_an_administrator_sets_retention_and_the_member_reads_the_certificate(browser, demo_trust):
    alex_asset = Asset.objects.filter(contributors__member__user__username="member").order_by("created_at")[0]
    kind = alex_asset.kind
    admin = browser.sign_in("admin")
    admin.goto("/operations/retention/")
    _accessible(admin)
    admin.locator(f'tr[data-kind="{kind}"]').get_by_role("spinbutton").fill("1")
    admin.get_by_role("button", name="Save retention").click()
    assert "Retention saved." in admin.locator(".messages").inner_text()
    assert destruction.retention_periods()[kind] == 1
    assert "now 1 day" in admin.locator(f'tr[data-kind="{kind}"]').inner_text()
    browser.screenshot(admin, "retention-saved")

    # A day and more later, the daily job runs (here by hand, at that instant).
    destruction.destroy_due(at=timezone.now() + timedelta(days=1, minutes=1))
    done = AssetDestruction.objects.get(asset=alex_asset)
    assert done.destroyed_at is not None

    admin.get_by_role("button", name="Run destruction now").click()
    assert "Destruction is running" in admin.locator(".messages").inner_text()
    latest = admin.locator(f'table.destructions tr[data-destruction="{done.pk}"]')
    assert "Retention period ended" in latest.inner_text()
    _accessible(admin)
    browser.screenshot(admin, "retention-latest")

    member = browser.sign_in("member", viewport=PHONE)
    member.goto("/member/")
    member.goto("/member/destroyed/")
    row = member.locator(f'tr[data-destruction="{done.pk}"]')
    assert alex_asset.title in row.inner_text()
    assert "Retention period ended" in row.inner_text()
    assert "1 day from registration" in member.locator("ul.retention-periods").inner_text()
    _accessible(member)
    overflow = member.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    browser.screenshot(member, "member-destroyed-phone")
    href = row.get_by_role("link", name=f"Certificate of the destruction of {alex_asset.title} as JSON")
    document = member.request.get(href.get_attribute("href")).json()
    assert receipts.verify(document, keys.public_keys())
    assert document["receipt"]["asset"]["sha256"] == alex_asset.sha256
