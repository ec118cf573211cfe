"""Pages anyone may see, and signing in and out."""

from tests.browser.conftest import axe_violations, describe


def test_front_page_and_register_are_public_and_accessible(browser, demo_trust):
    page = browser.open()
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Your likeness")
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, "front")
    page.get_by_role("link", name="See who leased what").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Transparency register"
    assert page.locator("table.data tbody tr").count() >= 1
    assert axe_violations(page) == [], describe(axe_violations(page))


def test_login_page_names_the_demo_logins_on_the_embedded_default(browser, settings, demo_trust):
    settings.SHOW_DEMO_LOGINS = True
    page = browser.open()
    page.goto("/accounts/login/")
    assert "guildtrust-demo" in page.locator("#demo-logins").locator("..").inner_text()
    assert axe_violations(page) == [], describe(axe_violations(page))
    settings.SHOW_DEMO_LOGINS = False
    page.reload()
    assert page.locator("#demo-logins").count() == 0


def test_a_wrong_password_is_refused_with_a_message(browser, demo_trust):
    page = browser.open()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("member")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" in page.url
    assert "correct username and password" in page.locator(".errorlist").inner_text()
