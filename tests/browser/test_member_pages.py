"""The member portal in a browser, on the demo trust (Alex Rivera, login "member"): every page
accessible, its figures the API's, granting a use, and withdrawing one through the confirmation
page."""

import csv
from pathlib import Path

from playwright.sync_api import expect

from licensing.models import Lease, Takedown
from payouts import selectors as payouts
from tests.browser.conftest import axe_violations, describe
from trust.models import Consent, Member
from trust.templatetags.portal import money


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def _alex() -> Member:
    return Member.objects.get(user__username="member")


def test_home_shows_the_earnings_and_the_chart_bars_equal_the_api(browser, demo_trust):
    page = browser.sign_in("member")
    assert page.url.endswith("/member/")
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Alex Rivera"
    earnings = page.request.get("/api/v1/me/earnings/").json()
    assert page.locator("#total-net").inner_text() == f"{money(earnings['total_net_cents'])} USD"
    assert page.locator("#balance").inner_text() == f"{money(earnings['balance_cents'])} USD"
    bars = page.locator("svg.chart [data-period]")
    drawn = {
        int(bars.nth(i).get_attribute("data-period")): int(bars.nth(i).get_attribute("data-net-cents"))
        for i in range(bars.count())
    }
    assert len(earnings["periods"]) == 3
    for period in earnings["periods"]:  # every closed period, to the cent
        assert drawn[period["period"]] == period["net_cents"]
    assert set(drawn) == {period["period"] for period in earnings["periods"]}
    # Oldest to newest, left to right, each bar visible and labelled with its amount.
    xs = [float(bars.nth(i).get_attribute("x")) for i in range(bars.count())]
    assert xs == sorted(xs)
    assert [int(bars.nth(i).get_attribute("data-period")) for i in range(bars.count())] == [
        row["period"] for row in payouts.member_earnings_by_period(_alex())
    ]
    chart_text = page.locator("svg.chart").text_content()
    for period in earnings["periods"]:
        assert money(period["net_cents"]) in chart_text
    assert page.locator("svg.chart").get_attribute("role") == "img"
    breakdown = page.get_by_role("region", name="Net earnings by the uses licensed")
    assert "Training AI models + Digital replica: touch-ups, background placement" in breakdown.inner_text()
    _accessible(page)
    browser.screenshot(page, "home")


def test_home_fits_a_phone(browser, demo_trust):
    page = browser.sign_in("member", viewport={"width": 390, "height": 844})
    assert page.locator("svg.chart [data-period]").count() == 3
    # Nothing wider than the screen: no sideways scrolling of the page itself.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The chart is drawn at its own size, not shrunk: its text stays readable.
    assert page.locator("svg.chart").bounding_box()["width"] >= 300
    _accessible(page)
    browser.screenshot(page, "home-phone")


def test_assets_page_lists_my_assets(browser, demo_trust):
    page = browser.sign_in("member")
    page.get_by_role("navigation", name="Member pages").get_by_role("link", name="Assets").click()
    assert page.get_by_role("heading", level=1).inner_text() == "My assets"
    cards = page.locator("article.asset-card")
    expect(cards).to_have_count(3)  # waits for the page the click opened
    assert _alex().contributions.filter(status="accepted").count() == 3
    stunt = cards.filter(has_text="Alex & Jordan: stunt fall")
    assert "50%" in stunt.inner_text() and "Northlight Pictures" in stunt.inner_text()
    assert page.locator('.role-nav a[aria-current="page"]').inner_text() == "Assets"
    _accessible(page)
    browser.screenshot(page, "assets")


def test_who_used_my_data_shows_the_leases_and_their_total(browser, demo_trust):
    page = browser.sign_in("member")
    page.get_by_role("link", name="Who used my data").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Who used my data"
    api = page.request.get("/api/v1/me/leases/").json()["results"]
    expect(page.locator("table.member-leases tbody tr")).to_have_count(1)
    assert len(api) == 1
    assert page.locator("#leases-total-net").inner_text() == money(sum(row["net_cents"] for row in api))
    _accessible(page)
    browser.screenshot(page, "leases")


def test_statements_list_periods_and_download_a_csv(browser, demo_trust):
    page = browser.sign_in("member")
    page.get_by_role("navigation", name="Member pages").get_by_role("link", name="Statements").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Statements"
    earnings = payouts.member_earnings(_alex())
    expect(page.locator("table.data tbody tr")).to_have_count(3)
    assert len(earnings["periods"]) == 3
    newest = earnings["periods"][0]
    row = page.locator(f'tr[data-period="{newest["period"]}"]')
    assert money(newest["net_cents"]) in row.inner_text()
    _accessible(page)
    browser.screenshot(page, "statements")
    with page.expect_download() as download:
        row.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.startswith("guildtrust-statement-M-0001-")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    # Who and when first, then the table from its header line: the total's net is the page's.
    table = list(
        csv.DictReader(lines[next(i for i, line in enumerate(lines) if line.startswith("lease,")) :])
    )
    assert table[-1]["net"] == money(newest["net_cents"]).replace(",", "")


def test_grant_a_use_then_withdraw_a_grant_through_the_confirmation_page(browser, demo_trust):
    page = browser.sign_in("member")
    page.get_by_role("navigation", name="Member pages").get_by_role("link", name="Consent").click()
    assert page.get_by_role("heading", level=1).inner_text() == "My consent"
    voice = page.locator('tr[data-use="voice_synthesis"]')
    assert "Not asked yet" in voice.locator("td.all-assets").inner_text()
    _accessible(page)
    browser.screenshot(page, "consent")

    # Grant voice synthesis for all assets: the cell now says granted, and so do the assets'.
    voice.get_by_role("button", name="Grant Voice synthesis for all my assets").click()
    assert "Granted: Voice synthesis for all your assets." in page.locator(".messages").inner_text()
    voice = page.locator('tr[data-use="voice_synthesis"]')
    assert "Granted" in voice.locator("td.all-assets").inner_text()
    assert voice.locator("td", has_text="by your grant for all assets").count() == 3
    assert _alex().consents.filter(use="voice_synthesis", state="granted").count() == 1
    _accessible(page)
    browser.screenshot(page, "consent-granted")

    # Withdraw training for all assets: the confirmation page says what happens, then confirm.
    page.locator('tr[data-use="training"]').get_by_role(
        "link", name="Withdraw Training AI models for all my assets"
    ).click()
    assert page.url.endswith("/withdraw/")
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Withdraw your consent to “Training AI models”?"
    )
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    affected = page.locator(f'tr[data-lease="{lease.pk}"]')
    assert "Northlight Pictures" in affected.inner_text() and lease.purpose in affected.inner_text()
    assert "Royalties you already earned stay earned." in page.locator("main").inner_text()
    _accessible(page)
    browser.screenshot(page, "withdraw-confirm")

    # Cancel first: nothing changes.
    page.get_by_role("link", name="Cancel, keep my consent").click()
    assert page.url.endswith("/member/consent/")
    assert not Consent.objects.filter(state="withdrawn").exists()

    page.locator('tr[data-use="training"]').get_by_role(
        "link", name="Withdraw Training AI models for all my assets"
    ).click()
    earned = payouts.member_earnings(_alex())["total_net_cents"]
    page.get_by_role("button", name="Confirm: withdraw my consent").click()
    assert page.url.endswith("/member/consent/")
    messages = page.locator(".messages").inner_text()
    assert "Withdrawn: Training AI models for all your assets." in messages
    assert "3 takedown notices sent to Northlight Pictures" in messages
    assert "Withdrawn" in page.locator('tr[data-use="training"] td.all-assets').inner_text()
    assert Takedown.objects.filter(lease=lease).count() == 3
    assert payouts.member_earnings(_alex())["total_net_cents"] == earned
    _accessible(page)
    browser.screenshot(page, "consent-withdrawn")

    # The assets page now shows the assets are no longer licensed to the studio.
    page.goto("/member/assets/")
    assert "no longer licensed to them (takedown)" in page.locator("main").inner_text()
    _accessible(page)
    browser.screenshot(page, "assets-after-withdrawal")


def test_payouts_lists_the_payment_and_bank_details_change_only_with_the_password(browser, demo_trust):
    from payouts.models import PayoutItem
    from trust.models import AuditEvent

    item = PayoutItem.objects.select_related("batch").get(member=_alex())
    page = browser.sign_in("member")
    page.get_by_role("navigation").get_by_role("link", name="Payouts", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Payouts"
    payments = page.get_by_role("region", name="Payments to you")
    row = payments.get_by_role("row", name=f"Batch #{item.batch_id}")
    assert money(item.amount_cents) in row.inner_text() and "ending …3000" in row.inner_text()
    assert page.locator("#paid-total").inner_text() == f"{money(item.amount_cents)} USD"
    _accessible(page)
    browser.screenshot(page, "payouts")

    # A wrong password: refused with the reason, nothing changed.
    page.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    page.get_by_label("Your current password").fill("not-my-password")
    page.get_by_role("button", name="Change bank details").click()
    assert "the one given is not it" in page.get_by_role("alert").inner_text()
    assert "…3000" in page.locator("#bank-on-file").inner_text()
    assert _alex().payout_iban == "DE89370400440532013000"

    page.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    page.get_by_label("Your current password").fill("guildtrust-demo")
    page.get_by_role("button", name="Change bank details").click()
    assert "…4300" in page.locator("#bank-on-file").inner_text()
    assert _alex().payout_iban == "NL91ABNA0417164300"
    assert (
        AuditEvent.objects.filter(action="member.bank_account_set").latest("seq").data["iban_ends"] == "4300"
    )
    # The payment already made still names the account it went to.
    assert "ending …3000" in page.get_by_role("region", name="Payments to you").inner_text()
    _accessible(page)
    browser.screenshot(page, "payouts-bank-changed")


def test_payouts_fits_a_phone(browser, demo_trust):
    page = browser.sign_in("member", viewport={"width": 390, "height": 844})
    page.goto("/member/payouts/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.get_by_label("Your current password").is_visible()
    _accessible(page)
    browser.screenshot(page, "payouts-phone")


def test_a_member_named_as_a_contributor_accepts_on_the_assets_page(browser, demo_trust):
    from trust.models import AssetContributor

    page = browser.sign_in("member")
    page.goto("/member/assets/")
    requests = page.get_by_role("region", name="Named as a contributor: 1 request")
    assert "Named by Sam Okafor" in requests.inner_text()
    _accessible(page)
    browser.screenshot(page, "assets-contributor-request")

    requests.get_by_role("button", name="Accept “Sam & Alex: rehearsal, scene 12”").click()
    assert (
        "Accepted: “Sam & Alex: rehearsal, scene 12” is one of your assets now"
        in page.locator(".messages").inner_text()
    )
    assert page.get_by_role("heading", name="Sam & Alex: rehearsal, scene 12", level=2).count() == 1
    assert page.get_by_role("region", name="Named as a contributor: 1 request").count() == 0
    waiting = AssetContributor.objects.get(member=_alex(), asset__title="Sam & Alex: rehearsal, scene 12")
    assert waiting.status == AssetContributor.Status.ACCEPTED
    _accessible(page)
    browser.screenshot(page, "assets-contributor-accepted")
