"""The converted portal lists in a browser: every one at 1366 px and 390 px wide, axe-core clean
and no wider than the screen, and one list's sort on a page that holds two."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, describe
from trust.models import Dataset

pytestmark = pytest.mark.browser

PAGES = {
    "studio": [("/studio/charges/", "charges")],
    "admin": [
        ("/operations/leases/", "operations-leases"),
        ("/operations/terms/", "operations-terms"),
        ("/operations/datasets/", "operations-datasets"),
        ("/operations/periods/", "operations-periods"),
    ],
    "member": [("/member/leases/", "member-leases"), ("/member/statements/", "member-statements")],
}


def _fits_and_is_accessible(page, width: int, path: str):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} overflows at {width} px"
    violations = axe_violations(page)
    assert violations == [], f"{path}: {describe(violations)}"


@pytest.mark.parametrize("width", [1366, 390])
def test_every_converted_list_fits_and_is_accessible(browser, demo_trust, width):
    dataset = Dataset.objects.order_by("pk").first()
    pages = {**PAGES, "admin": [*PAGES["admin"], (f"/operations/datasets/{dataset.pk}/", "dataset")]}
    for username, paths in pages.items():
        page = browser.sign_in(username, viewport={"width": width, "height": 900})
        for path, name in paths:
            page.goto(path)
            assert page.locator("form.filters").count() >= 1, path
            _fits_and_is_accessible(page, width, path)
            browser.screenshot(page, f"{name}-{width}")
        page.close()


def test_sorting_the_closed_leases_keeps_the_active_list_search(browser, demo_trust):
    page = browser.sign_in("admin")
    page.goto("/operations/leases/")
    page.get_by_role("textbox", name="Search active leases").fill("no such lease")
    page.get_by_role("button", name="Apply").nth(1).click()
    assert "No active lease matches" in page.locator("main").inner_text()
    page.get_by_role("region", name="Rejected, revoked and expired leases").get_by_role(
        "link", name="Status"
    ).click()
    assert "closed-sort=status" in page.url and "active-q=no+such+lease" in page.url
    assert page.get_by_role("textbox", name="Search active leases").input_value() == "no such lease"
    assert page.locator('th[aria-sort="ascending"]').inner_text().startswith("Status")
    _fits_and_is_accessible(page, 1280, "/operations/leases/")


def test_the_member_filters_who_used_their_data_by_studio(browser, demo_trust):
    page = browser.sign_in("member")
    page.goto("/member/leases/")
    rows = page.locator("table.member-leases tbody tr")
    everything = rows.count()
    page.get_by_role("textbox", name="Search studios, datasets and purposes").fill("no such studio")
    page.get_by_role("button", name="Apply").click()
    assert "No lease matches" in rows.first.inner_text()
    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(everything)
