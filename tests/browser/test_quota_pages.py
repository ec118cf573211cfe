"""Quotas by consent category in a browser, on the demo trust: Alex (login "member") caps
replica-passive use of one asset at 600 generated seconds per lease, the studio reports 450 of
them; the studio's lease page shows 150 left, Alex's consent page shows 450 used and 150 left.
On a desktop and at phone width, axe-clean, nothing wider than the phone."""

from django.contrib.auth import get_user_model
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseAsset
from tests.browser.conftest import axe_violations, describe
from trust import services as trust
from trust.models import AssetContributor, Member

PHONE = {"width": 390, "height": 844}


def _clean_and_fits(page, *, phone: bool):
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    if phone:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{page.url} is {width} px wide on a 390 px phone"


def _alex_caps_and_the_studio_uses_450_seconds() -> tuple[Lease, object]:
    alex = Member.objects.get(user__username="member")
    lease = Lease.objects.filter(
        status=Lease.Status.ACTIVE, permitted_uses__contains=["replica_passive"]
    ).first()
    asset_id = (
        AssetContributor.objects.accepted()
        .filter(member=alex, asset_id__in=LeaseAsset.objects.filter(lease=lease).values("asset_id"))
        .values_list("asset_id", flat=True)
        .first()
    )
    asset = alex.contributions.get(asset_id=asset_id).asset
    trust.consent_grant(
        actor=alex.user, member=alex, use="replica_passive", asset=asset, cap_quantity=600, cap_per="lease"
    )
    lease.refresh_from_db()
    token, _ = lease_tokens.lease_token_mint(
        actor=get_user_model().objects.get(username="studio"), lease=lease, name="quota-test"
    )
    event = {
        "event_key": "quota-browser-1",
        "kind": "generated_second",
        "asset": asset.pk,
        "quantity": 450,
        "occurred_at": timezone.now(),
    }
    assert licensing.usage_report(token=token, lease_id=lease.pk, events=[event]) == (1, 0)
    return lease, asset


def test_the_studio_sees_the_quota_left_on_its_lease_page(browser, demo_trust):
    lease, asset = _alex_caps_and_the_studio_uses_450_seconds()
    for phone in (False, True):
        page = browser.sign_in("studio", viewport=PHONE if phone else None)
        page.goto(f"/studio/leases/{lease.pk}/")
        quotas = page.get_by_role("region", name="Quotas on this lease")
        row = quotas.locator("tbody tr", has_text=str(asset.pk))
        assert "600 generated seconds per lease" in row.inner_text()
        assert row.locator(".quota-left").inner_text() == "150"
        assert "Alex" not in page.locator("section.quotas").inner_text()
        _clean_and_fits(page, phone=phone)
        browser.screenshot(page, f"studio-quota-left{'-phone' if phone else ''}")


def test_the_member_sees_use_against_their_caps(browser, demo_trust):
    lease, asset = _alex_caps_and_the_studio_uses_450_seconds()
    for phone in (False, True):
        page = browser.sign_in("member", viewport=PHONE if phone else None)
        page.goto("/member/consent/")
        caps = page.get_by_role("region", name="My capped grants")
        row = caps.locator("tbody tr", has_text=f"Lease {lease.pk}")
        assert asset.title in row.inner_text() and "600 generated seconds per lease" in row.inner_text()
        assert row.locator(".cap-left").inner_text() == "150"
        assert "450" in row.inner_text()
        _clean_and_fits(page, phone=phone)
        browser.screenshot(page, f"member-caps{'-phone' if phone else ''}")


def test_the_member_grants_a_use_with_a_cap_from_the_consent_page(browser, demo_trust):
    for phone in (True,):
        page = browser.sign_in("member", viewport=PHONE if phone else None)
        page.goto("/member/consent/")
        form = page.locator("form.cap-form")
        form.get_by_label("Use").select_option("voice_synthesis")
        form.get_by_label("At most").fill("300")
        form.get_by_label("per year").check()
        _clean_and_fits(page, phone=phone)
        form.get_by_role("button", name="Grant with this cap").click()
        assert (
            "Granted with a cap: Voice synthesis for all your assets, at most 300 generated seconds per year."
            in (page.locator(".messages").inner_text())
        )
        row = page.get_by_role("region", name="My capped grants").locator(
            "tbody tr", has_text="Voice synthesis"
        )
        assert "300 generated seconds per year" in row.inner_text()
        assert row.locator(".cap-left").inner_text() == "300"
        _clean_and_fits(page, phone=phone)
        browser.screenshot(page, "member-cap-granted-phone")
