"""The studio portal in a browser, on the demo trust: every page accessible, its figures the API's,
and the token story from mint to revoke."""

import re

from playwright.sync_api import expect

from licensing.models import Lease, Takedown
from licensing.selectors import approval_coverage, catalogue_terms
from tests.browser.conftest import axe_violations, describe
from trust import services as trust
from trust.models import Member
from trust.templatetags.portal import money


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def _active_lease() -> Lease:
    return Lease.objects.get(status=Lease.Status.ACTIVE)


def test_the_catalogue_shows_offers_and_a_use_filter_narrows_them(browser, demo_trust):
    page = browser.sign_in("studio")
    assert page.url.endswith("/studio/")
    assert page.get_by_role("heading", level=1).inner_text() == "Catalogue"
    cards = page.locator(".terms-card")
    assert cards.count() == catalogue_terms().count() == 2
    crowd_terms = catalogue_terms().get(title="Crowd generation, 30 days")
    coverage = approval_coverage(crowd_terms)
    crowd_card = cards.filter(has_text="Crowd generation, 30 days")
    # Sam keeps crowd generation closed: his assets are not covered.
    assert f"{coverage['licensable']} of {coverage['total']}" in crowd_card.locator(".coverage").inner_text()
    assert coverage["licensable"] == 3 and coverage["total"] == 5
    _accessible(page)
    browser.screenshot(page, "catalogue")

    page.get_by_label("Permitted use", exact=True).select_option("crowd_generation")
    page.get_by_role("button", name="Apply").click()
    expect(cards).to_have_count(1)
    assert cards.first.get_by_role("heading", level=2).inner_text() == "Crowd generation, 30 days"
    assert page.locator("#catalogue-count").inner_text() == "1 of 2 terms match."
    _accessible(page)

    page.get_by_label("Permitted use", exact=True).select_option("")
    page.get_by_label("Asset kind", exact=True).select_option("script")
    page.get_by_role("button", name="Apply").click()
    expect(cards).to_have_count(0)
    assert "No terms on offer match these filters" in page.locator("main").inner_text()
    _accessible(page)
    browser.screenshot(page, "catalogue-empty")


def test_the_catalogue_search_box_and_sort_order(browser, demo_trust):
    page = browser.sign_in("studio")
    cards = page.locator(".terms-card")
    page.get_by_role("textbox", name="Search titles and datasets").fill("Crowd generation, 30 days")
    page.get_by_role("button", name="Apply").click()
    expect(cards).to_have_count(1)
    assert cards.first.get_by_role("heading", level=2).inner_text() == "Crowd generation, 30 days"
    page.get_by_role("textbox", name="Search titles and datasets").fill("")
    page.get_by_label("Sort by").select_option("-price")
    page.get_by_role("button", name="Apply").click()
    fees = [t.flat_fee_cents for t in catalogue_terms().order_by("-flat_fee_cents", "title")]
    shown = [
        catalogue_terms().get(title=title).flat_fee_cents for title in cards.locator("h2").all_inner_texts()
    ]
    assert shown == fees
    _accessible(page)
    browser.screenshot(page, "catalogue-sorted")


def test_the_lease_list_searches_sorts_and_fits_a_phone(browser, demo_trust):
    for width, name in ((1366, "leases-list"), (390, "leases-list-phone")):
        page = browser.sign_in("studio", viewport={"width": width, "height": 900})
        page.goto("/studio/leases/")
        rows = page.locator("table.data tbody tr")
        assert (
            rows.count()
            == Lease.objects.filter(
                studio__name__isnull=False, studio__staff__user__username="studio"
            ).count()
        )
        page.get_by_role("link", name="Status").click()
        assert page.locator('th[aria-sort="ascending"]').inner_text().startswith("Status")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        _accessible(page)
        browser.screenshot(page, name)
        page.get_by_role("textbox", name="Search leases").fill("no such purpose at all")
        page.get_by_role("button", name="Apply").click()
        assert "No lease matches" in page.locator("main").inner_text()
        page.close()


def test_the_catalogue_and_a_lease_fit_a_phone(browser, demo_trust):
    page = browser.sign_in("studio", viewport={"width": 390, "height": 844})
    assert page.locator(".terms-card").count() == 2
    # Nothing wider than the screen: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _accessible(page)
    browser.screenshot(page, "catalogue-phone")
    page.goto(f"/studio/leases/{_active_lease().pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    browser.screenshot(page, "lease-phone")


def test_a_studio_requests_a_lease_and_lands_on_its_page(browser, demo_trust):
    page = browser.sign_in("studio")
    page.get_by_role("link", name="Request a lease: Training & background placement, 180 days").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Request a lease"
    assert "1,200.00 USD" in page.locator(".terms-card").inner_text()
    _accessible(page)
    browser.screenshot(page, "request")

    page.get_by_label("What will you use the data for?").fill("Background fill for 'Harbour Lights' season 3")
    page.get_by_role("button", name="Send the request").click()
    lease = Lease.objects.get(purpose="Background fill for 'Harbour Lights' season 3")
    assert page.url.endswith(f"/studio/leases/{lease.pk}/")
    assert lease.status == "requested"
    assert "the trust will decide" in page.locator(".messages").inner_text()
    assert page.locator(".page-head .badge").inner_text() == "Requested"
    _accessible(page)
    browser.screenshot(page, "requested-lease")

    page.get_by_role("navigation").get_by_role("link", name="Leases").click()
    row = page.locator("table.data tbody tr").filter(has_text="season 3")
    assert "Requested" in row.inner_text()
    assert page.locator("table.data tbody tr").count() == Lease.objects.count() == 3
    _accessible(page)
    browser.screenshot(page, "leases")


def test_a_minted_token_is_shown_once_works_and_stops_working_when_revoked(browser, demo_trust):
    lease = _active_lease()
    page = browser.sign_in("studio")
    page.goto("/studio/leases/")
    page.get_by_role("link", name=f"Lease #{lease.pk}", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Lease #{lease.pk}:")
    assert page.locator("#licensable-now").inner_text() == "5"
    _accessible(page)
    browser.screenshot(page, "lease")

    page.get_by_label("Token name").fill("ci-puller")
    page.get_by_label("Lifetime in days (optional)").fill("3")
    page.get_by_role("button", name="Mint token").click()
    secret = page.locator("#new-token").inner_text()
    assert re.fullmatch(r"lt_[A-Za-z0-9_-]{20,}", secret)
    assert "it will not be shown again" in page.locator(".new-token").inner_text()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    _accessible(page)
    browser.screenshot(page, "token-minted")

    page.goto(f"/studio/leases/{lease.pk}/")
    assert page.locator("#new-token").count() == 0
    assert secret not in page.content()

    manifest_url = f"/api/v1/leases/{lease.pk}/manifest/"
    bearer = {"Authorization": "Bearer " + secret}
    answer = page.request.get(manifest_url, headers=bearer)
    assert answer.status == 200
    assert len(answer.json()["assets"]) == int(page.locator("#licensable-now").inner_text())

    row = page.locator("table.data tbody tr").filter(has_text="ci-puller")
    row.get_by_role("button", name="Revoke").click()
    assert "revoked" in page.locator(".messages").inner_text()
    assert "Revoked" in page.locator("table.data tbody tr").filter(has_text="ci-puller").inner_text()
    refused = page.request.get(manifest_url, headers=bearer)
    assert refused.status == 401 and refused.json()["code"] == "token_revoked"
    _accessible(page)
    browser.screenshot(page, "token-revoked")


def test_a_takedown_is_acknowledged_and_its_deletion_attested(browser, demo_trust):
    jordan = Member.objects.get(user__username="jordan")
    trust.consent_withdraw(actor=jordan.user, consent=jordan.consents.get(use="training", state="granted"))
    lease = _active_lease()
    open_notices = Takedown.objects.filter(lease=lease).count()
    assert open_notices == 3  # Jordan's voice session, the stunt fall and the crowd scene

    page = browser.sign_in("studio")
    page.goto("/studio/leases/")
    assert "3 to act on" in page.locator("table.data tbody tr").filter(has_text="Harbour Lights").inner_text()
    page.goto(f"/studio/leases/{lease.pk}/")
    warning = page.locator(".card.warning")
    assert warning.get_by_role("heading", level=2).inner_text() == "3 takedown notices need action"
    assert page.locator("#licensable-now").inner_text() == "2"
    _accessible(page)
    browser.screenshot(page, "takedowns-issued")

    warning.get_by_role("button", name="Acknowledge").first.click()
    assert "acknowledged" in page.locator(".messages").inner_text()
    page.locator(".card.warning").get_by_label("Deletion statement").fill(
        "Deleted from the render farm, its caches and our backups."
    )
    _accessible(page)
    browser.screenshot(page, "takedown-acknowledged")
    page.locator(".card.warning").get_by_role("button", name="Attest deletion").click()
    assert "Deletion attested" in page.locator(".messages").inner_text()
    assert page.locator(".card.warning").get_by_role("heading", level=2).inner_text() == (
        "2 takedown notices need action"
    )
    assert Takedown.objects.filter(lease=lease, status="deletion_attested").count() == 1
    assert "our backups" in page.locator("section", has_text="Takedown notices").last.inner_text()
    _accessible(page)


def test_the_charges_page_shows_the_totals_of_the_charges_api(browser, demo_trust):
    page = browser.sign_in("studio")
    page.get_by_role("navigation").get_by_role("link", name="Charges").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Charges"
    api = page.request.get("/api/v1/charges/").json()["results"]
    assert len(api) == 3
    assert page.locator("#charges-total").inner_text() == money(sum(p["total_cents"] for p in api))
    lines = [line for period in api for line in period["leases"]]
    shown = [t.inner_text() for t in page.locator("table.charges tbody td:last-child").all()]
    assert shown == [money(line["total_cents"]) for line in lines]
    page.get_by_label("Period").select_option(str(api[0]["period"]))
    page.get_by_role("button", name="Apply").click()
    assert page.locator("#charges-filtered-total").inner_text() == money(api[0]["total_cents"])
    _accessible(page)
    browser.screenshot(page, "charges")
