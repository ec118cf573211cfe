"""The member's consent pages after issue 12 in a browser, on the demo trust (Alex Rivera, login
"member"), on a desktop and at phone width: refusing a use, the three states in words, a new
text version to re-confirm under, a decision's own page with its text and receipts, and the
withdrawal page's bound on download links. Every page axe-clean."""

from django.conf import settings

from tests.browser.conftest import axe_violations, describe
from trust import services
from trust.models import Consent, Member

PHONE = {"width": 390, "height": 844}


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def _alex() -> Member:
    return Member.objects.get(user__username="member")


def _publish_new_training_text():
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    services.consent_text_publish(
        actor=admin, use="training", text="Studios may train AI models on this data and must name each model."
    )


def test_refuse_a_use_then_reconfirm_a_grant_under_a_new_text(browser, demo_trust):
    page = browser.sign_in("member")
    page.goto("/member/consent/")
    voice = page.locator('tr[data-use="voice_synthesis"]')
    assert "Not asked yet" in voice.locator("td.all-assets").inner_text()
    voice.get_by_role("button", name="Refuse Voice synthesis for all my assets").click()
    assert "Refused: Voice synthesis for all your assets." in page.locator(".messages").inner_text()
    voice = page.locator('tr[data-use="voice_synthesis"]')
    assert "Refused" in voice.locator("td.all-assets").inner_text()
    assert voice.locator("td", has_text="by your refusal for all assets").count() >= 1
    assert _alex().consents.get(use="voice_synthesis").state == Consent.State.REFUSED
    _accessible(page)
    browser.screenshot(page, "consent-refused")

    _publish_new_training_text()
    page.reload()
    training = page.locator('tr[data-use="training"] td.all-assets')
    assert "Re-confirm under version 2" in training.inner_text()
    _accessible(page)
    browser.screenshot(page, "consent-reconfirm-offered")
    training.get_by_role(
        "button", name="Re-confirm under version 2: Training AI models for all my assets"
    ).click()
    assert "Re-confirmed: Training AI models" in page.locator(".messages").inner_text()
    assert (
        "Re-confirm under version" not in page.locator('tr[data-use="training"] td.all-assets').inner_text()
    )
    new = _alex().consents.get(use="training", asset__isnull=True, reconfirms__isnull=False)
    assert new.text.version == 2


def test_a_decisions_page_shows_its_text_and_receipts(browser, demo_trust):
    grant = _alex().consents.filter(state="granted").order_by("created_at").first()
    page = browser.sign_in("member")
    page.goto("/member/consent/")
    history = page.get_by_role("region", name="Consent history and receipts")
    row = history.locator(f'tr[data-consent="{grant.pk}"]')
    assert row.get_by_role("link", name=f"Receipt of record {grant.pk} as PDF").count() == 1
    receipt = page.request.get(f"/api/v1/consents/{grant.pk}/receipt/").json()
    assert receipt["receipt"]["notice_sha256"] == grant.consent_text_sha256
    pdf = page.request.get(f"/api/v1/consents/{grant.pk}/receipt/?format=pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    row.get_by_role("link", name=f"Read the text of record {grant.pk}: version 1").click()
    assert page.url.endswith(f"/member/consent/{grant.pk}/")
    assert grant.text.text in page.locator("blockquote.consent-text").inner_text()
    assert grant.consent_text_sha256 in page.locator("main").inner_text()
    _accessible(page)
    browser.screenshot(page, "consent-record")


def test_the_consent_pages_fit_a_phone(browser, demo_trust):
    page = browser.sign_in("member", viewport=PHONE)
    page.goto("/member/consent/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    cards = page.locator(".consent-cards")
    assert "Not asked yet" in cards.inner_text() and "Granted" in cards.inner_text()
    _accessible(page)
    browser.screenshot(page, "consent-phone")

    grant = _alex().consents.get(use="training", asset__isnull=True, state="granted")
    page.goto(f"/member/consent/{grant.pk}/withdraw/")
    bound = page.locator("li.download-bound").inner_text()
    assert f"Studios' download links stop working within {settings.DOWNLOAD_URL_SECONDS} seconds" in bound
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _accessible(page)
    browser.screenshot(page, "withdraw-confirm-phone")

    page.goto(f"/member/consent/{grant.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _accessible(page)
    browser.screenshot(page, "consent-record-phone")


def test_an_administrator_publishes_a_new_text_version(browser, demo_trust):
    page = browser.sign_in("admin")
    page.get_by_role("link", name="Consent texts").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Consent texts"
    _accessible(page)
    browser.screenshot(page, "consent-texts")
    page.get_by_label("Use", exact=True).select_option("training")
    page.get_by_label("New text").fill("Studios may train AI models on this data and must name each model.")
    page.get_by_role("button", name="Publish the new version").click()
    assert "Published version 2 of the Training AI models text" in page.locator(".messages").inner_text()
    training = page.locator('tr[data-use="training"]')
    assert "Version 2" in training.inner_text()
    assert int(training.locator("td.num").inner_text()) >= 1  # Alex's grant waits for re-confirmation
    _accessible(page)

    phone = browser.sign_in("admin", viewport=PHONE)
    phone.goto("/operations/consent-texts/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _accessible(phone)
    browser.screenshot(phone, "consent-texts-phone")
