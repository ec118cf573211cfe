"""Pages anyone may see, signing in and out, and passwords."""

import re

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


def test_a_forgotten_password_is_reset_through_the_emailed_link(browser, demo_trust, mailoutbox):
    page = browser.open()
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.get_by_label("Email").fill("member@union.example")
    page.get_by_role("button", name="Send the link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    assert axe_violations(page) == [], describe(axe_violations(page))
    (mail,) = mailoutbox
    link = re.search(r"https?://\S+/accounts/reset/\S+", mail.body).group(0)
    page.goto(link)
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.get_by_label("New password", exact=True).fill("a-new-long-passphrase")
    page.get_by_label("New password confirmation").fill("a-new-long-passphrase")
    page.get_by_role("button", name="Set password").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Password set"
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, "reset-done")
    signed_in = browser.sign_in("member", "a-new-long-passphrase")
    assert signed_in.url.endswith("/member/")


def test_a_member_changes_their_password_and_signs_out(browser, demo_trust):
    page = browser.sign_in("member")
    page.get_by_role("link", name="Password").click()
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.get_by_label("Old password").fill("guildtrust-demo")
    page.get_by_label("New password", exact=True).fill("another-long-passphrase")
    page.get_by_label("New password confirmation").fill("another-long-passphrase")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Password changed"
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("link", name="Sign in").first.is_visible()
    page.goto("/member/")
    assert "/accounts/login/" in page.url


def test_error_pages_are_accessible(browser, demo_trust):
    page = browser.sign_in("studio")
    assert page.goto("/member/").status == 403
    assert axe_violations(page) == [], describe(axe_violations(page))
    assert page.goto("/studio/leases/999999/").status == 404
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, "not-found")
