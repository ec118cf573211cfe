"""The administrator's overview, rates, datasets and periods pages in a browser: each page is
accessible, shows its figures, and its forms do what they say."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from payouts import selectors
from payouts.models import LeaseRevenue, Period
from payouts.selectors import operations_overview
from tests.browser.conftest import axe_violations, describe
from trust.models import Asset, Dataset
from trust.templatetags.portal import money, period_label


def check(page, browser, name: str) -> None:
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, name)


def test_every_administrator_page_is_accessible_and_shows_its_figures(browser, demo_trust):
    page = browser.sign_in("admin")
    assert page.url.endswith("/operations/")
    overview = operations_overview()
    assert page.get_by_role("heading", level=1).inner_text() == "Operations overview"
    assert page.locator("#lease-requests").inner_text() == str(overview["lease_requests"]) == "1"
    assert page.locator("#ledger-state").inner_text() == "Yes"
    assert page.locator("#last-revenue").inner_text().startswith(money(overview["last_closed"].revenue_cents))
    check(page, browser, "home")

    page.get_by_role("link", name="Rates", exact=True).click()
    assert page.locator("#fee-in-force").inner_text() == "10.00%"
    check(page, browser, "rates")

    page.get_by_role("link", name="Periods", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Accounting periods"
    assert Period.objects.count() >= 4
    expect(page.locator("table.data tbody tr")).to_have_count(Period.objects.count())
    check(page, browser, "periods")

    closed = Period.objects.filter(status=Period.Status.CLOSED).order_by("-end").first()
    page.get_by_role("link", name=period_label(closed.start, closed.end)).click()
    assert page.locator("#period-revenue").inner_text().startswith(money(closed.revenue_cents))
    assert "ledger balances: yes" in page.locator("#ledger-balances").inner_text()
    check(page, browser, "period-closed")

    page.get_by_role("link", name="Datasets", exact=True).click()
    assert page.get_by_role("row", name=re.compile("Crowd & stunts 2026")).get_by_text("v1").is_visible()
    check(page, browser, "datasets")

    page.get_by_role("link", name="Crowd & stunts 2026").click()
    assert page.locator("#draft-count").inner_text() == "5"
    assert page.locator("[data-use=training][data-scope=draft]").inner_text() == "5 of 5"
    check(page, browser, "dataset")

    phone = browser.sign_in("admin", viewport={"width": 390, "height": 844})
    assert phone.locator("#lease-requests").is_visible()
    check(phone, browser, "home-phone")


def test_the_running_period_cannot_be_closed_yet_and_shows_what_it_has_accrued(browser, demo_trust):
    period = Period.objects.get(status=Period.Status.OPEN, end__gt=timezone.now())
    page = browser.sign_in("admin")
    page.goto(f"/operations/periods/{period.pk}/")
    button = page.get_by_role("button", name="Close the period and distribute its revenue")
    assert button.is_disabled()
    assert "Not yet: this period runs until" in page.locator("#close-blocked").inner_text()
    assert page.get_by_role("heading", name="Revenue accrued so far").is_visible()
    check(page, browser, "period-running")


def test_closing_the_ended_period_shows_its_result_and_a_balanced_ledger(browser, demo_trust):
    # The demo leaves last month ended but open, with the studio's usage in it, for this.
    period = Period.objects.get(status=Period.Status.OPEN, end__lte=timezone.now())
    accrued = selectors.period_accrued_revenue(period)
    assert accrued["usage_cents"] > 0
    page = browser.sign_in("admin")
    page.goto(f"/operations/periods/{period.pk}/")
    assert page.locator("#period-status").inner_text() == "Open"
    assert page.locator("#accrued-revenue").inner_text() == f"{money(accrued['revenue_cents'])} USD"
    check(page, browser, "period-open")
    page.get_by_role("button", name="Close the period and distribute its revenue").click()
    page.wait_for_load_state()
    assert page.locator("#period-status").inner_text() == "Closed"
    period.refresh_from_db()
    assert period.revenue_cents == accrued["revenue_cents"]
    assert page.locator("#period-revenue").inner_text() == f"{money(period.revenue_cents)} USD"
    assert page.locator("#period-net").inner_text() == f"{money(period.net_cents)} USD"
    assert "adds up" in page.locator("#adds-up").inner_text()
    assert "ledger balances: yes" in page.locator("#ledger-balances").inner_text()
    row = LeaseRevenue.objects.get(period=period)
    assert page.get_by_role("row", name=re.compile(f"#{row.lease_id}")).first.is_visible()
    check(page, browser, "period-just-closed")


def test_a_closing_period_shows_its_progress(browser, demo_trust):
    period = Period.objects.get(status=Period.Status.OPEN, end__lte=timezone.now())
    # What a worker half-way through the close leaves behind.
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.CLOSING,
        closing_started_at=timezone.now(),
        admin_fee_bps=1000,
        pension_bps=500,
        leases_total=4,
        leases_done=1,
    )
    page = browser.sign_in("admin")
    page.goto(f"/operations/periods/{period.pk}/")
    assert page.locator("#progress-text").inner_text() == "1 of 4 leases distributed."
    check(page, browser, "period-closing")
    # The worker goes on: the box follows without a reload, then the result replaces it.
    Period.objects.filter(pk=period.pk).update(leases_done=3)
    expect(page.locator("#progress-text")).to_have_text("3 of 4 leases distributed.", timeout=6000)
    assert page.locator("#close-progress").get_attribute("value") == "3"
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.CLOSED, leases_done=4, closed_at=timezone.now()
    )
    expect(page.locator("#period-status")).to_have_text("Closed", timeout=6000)


def test_a_close_that_stops_shows_why_and_can_be_retried(browser, demo_trust):
    period = Period.objects.get(status=Period.Status.OPEN, end__lte=timezone.now())
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.CLOSING, closing_started_at=timezone.now(), admin_fee_bps=1000, pension_bps=500
    )
    page = browser.sign_in("admin", viewport={"width": 1366, "height": 900})
    page.goto(f"/operations/periods/{period.pk}/")
    # The worker stops on a lease over the billing limit: the polling page shows it without a reload.
    reason = "lease 1 would be billed 10000000000000001000 cents in this period, above the limit"
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.FAILED, failed_at=timezone.now(), failure_reason=reason
    )
    expect(page.locator("#failure-reason")).to_have_text(reason, timeout=8000)
    assert page.locator("#period-status").inner_text() == "Failed"
    check(page, browser, "period-failed")
    narrow = browser.sign_in("admin", viewport={"width": 390, "height": 844})
    narrow.goto(f"/operations/periods/{period.pk}/")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
    check(narrow, browser, "period-failed-390")
    # The usage is corrected (here: the period's usage and approvals are all within bounds), retry.
    page.get_by_role("button", name="Retry the close").click()
    expect(page.locator("#period-status")).to_have_text("Closed", timeout=20000)
    closed = Period.objects.get(pk=period.pk)
    assert (closed.failure_reason, closed.failed_at) == ("", None)


def test_a_new_period_can_be_created_before_the_first_one(browser, demo_trust):
    earliest = Period.objects.order_by("start").first()
    end = earliest.start.date()
    start = (end - timedelta(days=1)).replace(day=1)  # the month before the first one
    page = browser.sign_in("admin")
    page.goto("/operations/periods/")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("End date").fill(end.isoformat())
    page.get_by_role("button", name="Create the period").click()
    assert page.locator("#period-status").inner_text() == "Open"
    assert "Period created." in page.locator(".messages").inner_text()
    page.goto("/operations/periods/")
    page.get_by_label("End date").fill(end.isoformat())
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_role("button", name="Create the period").click()
    assert "overlaps the period" in page.locator(".messages").inner_text()
    check(page, browser, "period-refused")


def test_a_dataset_is_created_filled_through_a_filter_and_frozen(browser, demo_trust):
    page = browser.sign_in("admin")
    page.goto("/operations/datasets/")
    page.get_by_label("Slug").fill("crowd-ready-2027")
    page.get_by_label("Title").fill("Crowd-ready 2027")
    page.get_by_label("Description").fill("Assets every contributor opened to crowd generation.")
    page.get_by_role("button", name="Create the dataset").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Crowd-ready 2027"
    assert page.locator("#draft-count").inner_text() == "0"
    check(page, browser, "dataset-new")

    page.get_by_label("Licensable now for").select_option("crowd_generation")
    candidates = page.get_by_role("search", name="Search available assets by title or contributor")
    candidates.get_by_role("button", name="Apply").click()
    offered = page.locator("input[name=assets]")
    # Waits for the filtered page (a bare count could read the page before it, as it did once).
    expect(offered).to_have_count(3)  # Sam keeps crowd generation closed: his two assets are not offered
    page.get_by_label("Alex: 3D face scan, neutral light").check()
    page.get_by_label("Jordan: voice session, 40 minutes").check()
    check(page, browser, "dataset-filtered")
    page.get_by_role("button", name="Add the chosen assets to the draft").click()
    expect(page.locator("#draft-count")).to_have_text("2")
    expect(page.locator("input[name=assets]")).to_have_count(1)  # the filter is kept; two are in now
    assert page.locator("[data-use=crowd_generation][data-scope=draft]").inner_text() == "2 of 2"

    page.get_by_role("link", name="Freeze the draft as a new version…").click()
    assert "Version 1 will hold 2 assets" in page.locator("#freeze-holds").inner_text()
    check(page, browser, "freeze-confirm")
    page.get_by_role("button", name="Freeze version 1").click()
    dataset = Dataset.objects.get(slug="crowd-ready-2027")
    version = dataset.versions.get()
    assert page.locator("#latest-version").inner_text() == "v1"
    assert page.locator("#manifest-1").inner_text() == version.manifest_sha256
    assert set(version.assets.values_list("title", flat=True)) == {
        "Alex: 3D face scan, neutral light",
        "Jordan: voice session, 40 minutes",
    }
    assert Asset.objects.filter(dataset_items__dataset=dataset).count() == 2
    check(page, browser, "dataset-frozen")


def test_new_rates_are_in_force_and_in_the_history(browser, demo_trust):
    page = browser.sign_in("admin")
    page.goto("/operations/rates/")
    page.get_by_label("Trust admin fee (basis points)").fill("1250")
    page.get_by_label("Pension & health (basis points)").fill("600")
    page.get_by_role("button", name="Set these rates from now on").click()
    assert page.locator("#fee-in-force").inner_text() == "12.50%"
    assert page.locator("#pension-in-force").inner_text() == "6.00%"
    newest = page.locator("table.data tbody tr").first
    assert (
        "12.50%" in newest.inner_text() and "6.00%" in newest.inner_text() and "admin" in newest.inner_text()
    )
    expect(page.locator("table.data tbody tr")).to_have_count(2)
    check(page, browser, "rates-set")
