"""Vendor tokens in a browser, on the demo trust with its active lease made federated: the studio
mints an `ft_` token, derives a narrower one for a VFX house on the lease page, the vendor
downloads with it, the page lists it and revokes it; the member whose asset it downloaded sees
the vendor in "who used my data". Every page axe-clean."""

from playwright.sync_api import expect

from licensing.models import Lease, LeaseAsset
from tests.browser.conftest import axe_violations, describe
from tests.federation.helpers import make_lease_federated

VENDOR = "Pixel Forge VFX"


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def test_a_vendor_token_is_derived_used_listed_revoked_and_shown_to_the_member(browser, demo_trust):
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    make_lease_federated(lease)
    # An asset of the lease that the demo member ("member", Alex) contributes to.
    asset_id = (
        LeaseAsset.objects.filter(lease=lease, asset__contributors__member__user__username="member")
        .values_list("asset_id", flat=True)
        .first()
    )
    page = browser.sign_in("studio")
    page.goto(f"/studio/leases/{lease.pk}/")
    expect(page.get_by_role("heading", name="Vendor tokens")).to_be_visible()
    expect(page.get_by_text("No vendor tokens yet.")).to_be_visible()

    page.get_by_label("Token name").fill("render-farm")
    page.get_by_role("button", name="Mint token").click()
    parent = page.locator("#new-token").inner_text()
    assert parent.startswith("ft_")

    page.get_by_label("Your lease token (ft_…)").fill(parent)
    page.get_by_label("Vendor", exact=True).fill(VENDOR)
    page.get_by_label("Only these assets (optional)").fill(str(asset_id))
    page.get_by_label("Training AI models").check()
    page.get_by_label("Lifetime in hours (optional)").fill("48")
    page.get_by_role("button", name="Derive vendor token").click()
    expect(page.get_by_text("Vendor token derived.")).to_be_visible()
    vendor_secret = page.locator("#new-vendor-token").inner_text()
    assert vendor_secret.startswith("ft_") and vendor_secret != parent
    _accessible(page)
    browser.screenshot(page, "vendor-token-derived")

    bearer = {"Authorization": "Bearer " + vendor_secret}
    download = f"/api/v1/leases/{lease.pk}/assets/{asset_id}/download/"
    assert page.request.get(download, headers=bearer, max_redirects=0).status == 302

    page.goto(f"/studio/leases/{lease.pk}/")
    assert vendor_secret not in page.content()
    row = page.locator("table.derived-tokens tbody tr").filter(has_text=VENDOR)
    expect(row).to_contain_text("render-farm")
    expect(row).to_contain_text("Training AI models")
    expect(row).to_contain_text("Active")
    assert "never" not in row.locator("td").nth(4).inner_text()  # last used: just now
    _accessible(page)
    browser.screenshot(page, "vendor-token-listed")

    member = browser.sign_in("member")
    member.goto("/member/leases/")
    expect(member.locator(f"tr[data-lease='{lease.pk}'] .via-vendors")).to_have_text(f"(via vendor {VENDOR})")
    _accessible(member)
    browser.screenshot(member, "who-used-my-data-vendor")

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked at every trust of the lease")).to_be_visible()
    expect(page.locator("table.derived-tokens tbody tr").filter(has_text=VENDOR)).to_contain_text("Revoked")
    refused = page.request.get(download, headers=bearer, max_redirects=0)
    assert refused.status == 401 and refused.json()["code"] == "token_revoked"
    parent_still = page.request.get(download, headers={"Authorization": "Bearer " + parent}, max_redirects=0)
    assert parent_still.status == 302
    _accessible(page)
    browser.screenshot(page, "vendor-token-revoked")
