"""The portal's stories across roles, each person in their own browser: a member's consent and
earnings, a lease from request to token, and a withdrawal reaching the studio as a takedown."""

import re

from licensing.models import Lease

PURPOSE = "Background extras for 'Harbour Lights' season 3 (browser story)"


def test_a_member_grants_consent_and_the_earnings_chart_shows_the_apis_numbers(browser, demo_trust):
    page = browser.sign_in("member")
    page.goto("/member/consent/")
    page.get_by_role("button", name="Grant Voice synthesis for all my assets").click()
    assert page.get_by_role("link", name="Withdraw Voice synthesis for all my assets").is_visible()
    browser.screenshot(page, "consent-granted")

    page.goto("/member/")
    bars = page.locator("svg [data-net-cents]")
    on_chart = {
        int(bars.nth(i).get_attribute("data-period")): int(bars.nth(i).get_attribute("data-net-cents"))
        for i in range(bars.count())
    }
    api = page.request.get("/api/v1/me/earnings/").json()
    assert on_chart == {p["period"]: p["net_cents"] for p in api["periods"]}
    assert len(on_chart) == 3 and sum(on_chart.values()) == api["total_net_cents"] > 0
    browser.screenshot(page, "earnings")


def test_a_studio_requests_a_lease_an_administrator_approves_it_and_a_token_is_shown_once(
    browser, demo_trust
):
    studio = browser.sign_in("studio")
    studio.goto("/studio/")
    studio.get_by_role("link", name="Request a lease: Training & background placement, 180 days").click()
    studio.get_by_label("What will you use the data for?").fill(PURPOSE)
    studio.get_by_role("button", name="Send the request").click()
    lease = Lease.objects.get(purpose=PURPOSE)
    assert studio.url.endswith(f"/studio/leases/{lease.pk}/")
    assert "requested" in studio.locator("main").inner_text()

    admin = browser.sign_in("admin")
    admin.goto("/operations/leases/")
    assert PURPOSE in admin.locator("#waiting").locator("..").inner_text()
    admin.get_by_role("link", name=f"Approve Lease #{lease.pk}…").click()
    admin.get_by_role("button", name=f"Approve Lease #{lease.pk}").click()
    browser.screenshot(admin, "approved")
    lease.refresh_from_db()
    assert lease.status == Lease.Status.ACTIVE

    studio.reload()
    studio.get_by_label("Token name").fill("render-farm-2")
    studio.get_by_role("button", name="Mint token").click()
    secret = studio.locator("#new-token").inner_text()
    assert re.fullmatch(r"lt_\S+", secret)
    browser.screenshot(studio, "token-once")
    manifest = studio.request.get(
        f"/api/v1/leases/{lease.pk}/manifest/", headers={"Authorization": f"Bearer {secret}"}
    )
    assert manifest.status == 200 and manifest.json()["lease"] == lease.pk
    studio.goto(f"/studio/leases/{lease.pk}/")  # a reload would post the mint form again
    assert studio.locator("#new-token").count() == 0
    assert secret not in studio.content()


def test_a_member_withdraws_consent_and_the_studio_sees_the_takedown_notice(browser, demo_trust):
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    member = browser.sign_in("member")
    member.goto("/member/consent/")
    member.get_by_role("link", name="Withdraw Training AI models for all my assets").click()
    assert "royalties" in member.locator("main").inner_text().lower()
    browser.screenshot(member, "confirm-withdrawal")
    member.get_by_role("button", name="Confirm: withdraw my consent").click()
    assert member.get_by_role("button", name="Grant Training AI models for all my assets").is_visible()

    studio = browser.sign_in("studio")
    studio.goto(f"/studio/leases/{lease.pk}/")
    notice = studio.locator("#takedowns-open-heading")
    assert re.match(r"\d+ takedown notices? needs? action", notice.inner_text())
    browser.screenshot(studio, "takedown-notice")
    studio.get_by_role("button", name="Acknowledge").first.click()
    assert "acknowledged" in studio.locator("main").inner_text().lower()
