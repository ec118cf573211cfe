"""The negotiators' premiums in a browser: the administrator offers terms with a production fee
and a substitution premium, the studio sees them in its catalogue and requests a lease naming
its production (refused without one). Axe-clean, at desktop and phone width."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import Lease, LeaseTerms
from tests.browser.conftest import axe_violations, describe

VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 390, "height": 844}]


def _checked(page):
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_terms_with_premiums_are_offered_and_a_studio_requests_one_naming_its_production(
    browser, demo_trust, viewport
):
    width = viewport["width"]
    title = f"Digital doubles {width}"
    admin = browser.sign_in("admin", viewport=viewport)
    admin.goto("/operations/terms/#new-terms")
    form = admin.locator("form.terms-form")
    form.get_by_label("Dataset").select_option(label="Crowd & stunts 2026")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Training AI models").check()
    form.get_by_label("Production fee").fill("500")
    form.get_by_label("Substitution premium (basis points)").fill("250")
    _checked(admin)
    browser.screenshot(admin, f"premium-terms-form-{width}")
    form.get_by_role("button", name="Create and offer these terms").click()
    admin.wait_for_load_state()
    terms = LeaseTerms.objects.get(title=title)
    assert (terms.production_fee_cents, terms.substitution_premium_bps) == (50_000, 250)
    row = admin.locator(f"#terms-{terms.pk}")
    expect(row).to_contain_text("500.00 per production")
    expect(row).to_contain_text("2.50% of substitution savings")
    _checked(admin)

    studio = browser.sign_in("studio", viewport=viewport)
    studio.goto(f"/studio/catalogue/{terms.pk}/request/")
    card = studio.locator(".terms-card")
    expect(card).to_contain_text("Production fee, once per production")
    expect(card).to_contain_text("2.50% of savings")
    expect(card).to_contain_text("charged on the costs a digital double saves you")
    studio.get_by_label("What will you use the data for?").fill(f"Stunt doubles {width}")
    studio.get_by_role("button", name="Send the request").click()
    expect(studio.locator(".messages")).to_contain_text("name the production the data is for")
    assert not Lease.objects.filter(purpose=f"Stunt doubles {width}").exists()
    _checked(studio)
    browser.screenshot(studio, f"premium-request-refused-{width}")

    studio.get_by_label("What will you use the data for?").fill(f"Stunt doubles {width}")
    studio.get_by_label("Production", exact=True).fill("  Harbour   Lights ")
    studio.get_by_role("button", name="Send the request").click()
    lease = Lease.objects.get(purpose=f"Stunt doubles {width}")
    assert studio.url.endswith(f"/studio/leases/{lease.pk}/")
    assert lease.production == "Harbour Lights"
    expect(studio.locator("#lease-production")).to_have_text("Harbour Lights")
    _checked(studio)
    browser.screenshot(studio, f"premium-requested-lease-{width}")

    # Approved, with a saving reported: both sides see the savings and the premium's rate.
    lease = licensing.lease_approve(actor=get_user_model().objects.get(username="admin"), lease=lease)
    token, _ = lease_tokens.lease_token_mint(actor=lease.requested_by, lease=lease, name="vfx")
    saving = {
        "event_key": "s1",
        "kind": "substitution_saving",
        "quantity": 1_234_500,
        "occurred_at": timezone.now(),
    }
    licensing.usage_report(token=token, lease_id=lease.pk, events=[saving])
    studio.reload()
    expect(studio.locator("#usage-substitution_saving")).to_have_text("12,345.00 saved")
    expect(studio.get_by_text("2.50% premium")).to_be_visible()
    _checked(studio)
    browser.screenshot(studio, f"premium-studio-lease-{width}")
    admin.goto(f"/operations/leases/{lease.pk}/")
    expect(admin.locator("#lease-production")).to_have_text("Harbour Lights")
    expect(admin.get_by_text("12,345.00 saved")).to_be_visible()
    expect(admin.get_by_text("500.00 USD, once per production")).to_be_visible()
    _checked(admin)
    browser.screenshot(admin, f"premium-operations-lease-{width}")
