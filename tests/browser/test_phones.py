"""Every page on a phone (390 px): nothing wider than the screen, axe-core clean, labels without
stray colons; the header menu folds behind a button that works from the keyboard; tables and
the consent grid become cards; the public register fits a 1366 px screen without clipping.

The page lists are checked against the URL configuration: a portal page added without being
listed here fails `test_every_portal_page_is_listed`, so no page escapes the phone check."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from licensing.models import Lease, LeaseTerms, Studio
from payouts.models import Account, Invoice, PayoutBatch, Period
from tests.browser.conftest import axe_violations, describe
from trust.models import Consent, Dataset

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

# Pages of each role with no id in their path.
ROLE_PAGES = {
    "member": [
        "/member/",
        "/member/assets/",
        "/member/consent/",
        "/member/leases/",
        "/member/statements/",
        "/member/payouts/",
        "/member/estates/",
        "/member/destroyed/",
    ],
    "studio": ["/studio/", "/studio/leases/", "/studio/charges/", "/studio/invoices/", "/studio/statement/"],
    "admin": [
        "/operations/",
        "/operations/leases/",
        "/operations/terms/",
        "/operations/rates/",
        "/operations/datasets/",
        "/operations/periods/",
        "/operations/payouts/",
        "/operations/payouts/batches/",
        "/operations/payouts/batches/new/",
        "/operations/invoices/",
        "/operations/audit/",
        "/operations/members/",
        "/operations/members/enrol/",
        "/operations/studios/",
        "/operations/studios/enrol/",
        "/operations/federation/",
        "/operations/federation/settlements/",
        "/operations/consent-texts/",
        "/operations/retention/",
        "/operations/unclaimed/",
        "/operations/reconciliation/",
    ],
}
PUBLIC_PAGES = [
    "/",
    "/transparency/",
    "/accounts/login/",
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/done/",
]
ACCOUNT_PAGES = ["/accounts/password_change/", "/accounts/password_change/done/"]

# URL names that are not pages people read: form posts, file downloads, redirects.
NOT_PAGES = {
    "logout",
    "sign-out-everywhere",
    "portal-landing",
    "member-statement-csv",
    "member-statement-pdf",
    "operations-payout-batch-csv",
    "operations-payout-batch-pain001",
    "studio-token-mint",
    "studio-token-derive",
    "studio-derived-token-revoke",
    "member-contribution-accept",
    "member-contribution-decline",
    "member-consent-reconfirm",
    "studio-token-revoke",
    "studio-takedown-acknowledge",
    "studio-takedown-attest",
    "operations-period-close",
    "operations-lease-reject",
    "operations-terms-activate",
    "operations-terms-deactivate",
    "operations-dataset-assets",
    "operations-peer-suspend",
    "operations-peer-resume",
    "member-estate-open",
    "member-estate-close",
    "studio-invoice-document",
    "operations-invoice-document",
    "operations-invoice-payment",
    "operations-invoice-void",
    "operations-payout-batch-sent",
    "operations-payout-batch-settled",
    "operations-payout-batch-return",
    "operations-retention-run",
    "studio-credit-note-document",
    "operations-credit-note-document",
    "operations-unclaimed-claim",
    "operations-member-untraceable",
    "operations-member-traceable",
}
# Pages with ids in their path, visited below with ids from the demo trust.
DETAIL_PAGES = {
    "member-consent-withdraw",
    "member-consent-record",
    "studio-request-lease",
    "studio-lease",
    "studio-lease-cancel",
    "operations-lease",
    "operations-period",
    "operations-dataset",
    "operations-dataset-freeze",
    "operations-lease-approve",
    "operations-lease-revoke",
    "operations-payout-batch",
    "operations-studio",
    "operations-terms-share",
    "operations-member-death",
    "studio-invoice",
    "operations-invoice",
    "password_reset_confirm",
    "operations-account",
}
PORTAL_PREFIXES = ("member/", "studio/", "operations/", "accounts/", "transparency/")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


def _detail_pages() -> dict[str, list[str]]:
    active = Lease.objects.filter(status=Lease.Status.ACTIVE).first()
    requested = Lease.objects.filter(status=Lease.Status.REQUESTED).first()
    period = Period.objects.filter(status=Period.Status.CLOSED).first()
    now = timezone.now()
    # The demo keeps one period ended but not closed (accrued revenue, Close enabled) and the
    # running one (Close disabled, with its reason).
    ended_period = Period.objects.filter(status=Period.Status.OPEN, end__lte=now).first()
    running_period = Period.objects.filter(status=Period.Status.OPEN, end__gt=now).first()
    batch = PayoutBatch.objects.order_by("pk").first()
    studio = Studio.objects.order_by("pk").first()
    grant = Consent.objects.filter(member__user__username="member", state=Consent.State.GRANTED).first()
    terms = LeaseTerms.objects.filter(active=True).first()
    dataset = Dataset.objects.first()
    invoice = Invoice.objects.order_by("pk").first()
    return {
        "member": [f"/member/consent/{grant.pk}/withdraw/", f"/member/consent/{grant.pk}/"],
        "studio": [
            f"/studio/leases/{active.pk}/",
            f"/studio/leases/{requested.pk}/cancel/",
            f"/studio/catalogue/{terms.pk}/request/",
            f"/studio/invoices/{invoice.pk}/",
        ],
        "admin": [
            f"/operations/leases/{active.pk}/",
            f"/operations/leases/{requested.pk}/",
            f"/operations/periods/{period.pk}/",
            f"/operations/periods/{ended_period.pk}/",
            f"/operations/periods/{running_period.pk}/",
            f"/operations/datasets/{dataset.pk}/",
            f"/operations/datasets/{dataset.pk}/freeze/",
            f"/operations/leases/{requested.pk}/approve/",
            f"/operations/leases/{active.pk}/revoke/",
            f"/operations/payouts/batches/{batch.pk}/",
            f"/operations/studios/{studio.pk}/",
            f"/operations/terms/{terms.pk}/share/",
            f"/operations/members/{grant.member_id}/death/",
            f"/operations/invoices/{invoice.pk}/",
            f"/operations/ledger/accounts/{Account.objects.get(code='trust:fee_revenue').pk}/",
        ],
    }


def _fits_the_phone(page, path: str):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width} px wide on a 390 px phone"
    found = axe_violations(page)
    assert found == [], f"{path}: {describe(found)}"
    colons = page.eval_on_selector_all(
        "main label", "labels => labels.map(l => l.textContent.trim()).filter(t => t.endsWith(':'))"
    )
    assert colons == [], f"{path} has labels ending in a colon: {colons}"


def _visit_all(browser, page, paths: list[str], name: str):
    for index, path in enumerate(paths):
        response = page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        _fits_the_phone(page, path)
        browser.screenshot(page, f"{name}-{index:02d}-phone")


def test_every_portal_page_is_listed():
    listed = set(PUBLIC_PAGES + ACCOUNT_PAGES + sum(ROLE_PAGES.values(), []))
    for route, name in _routes(get_resolver().url_patterns):
        if not route.startswith(PORTAL_PREFIXES) or name in NOT_PAGES:
            continue
        if "<" in route:
            assert name in DETAIL_PAGES, f"{route} ({name}) is not checked on a phone"
        else:
            assert "/" + route in listed, f"/{route} ({name}) is not checked on a phone"


@pytest.mark.parametrize("who", ["member", "studio", "admin"])
def test_every_page_of_a_role_fits_a_phone(browser, demo_trust, who):
    page = browser.sign_in(who, viewport=PHONE)
    _visit_all(browser, page, ROLE_PAGES[who] + _detail_pages()[who] + ACCOUNT_PAGES, who)


def test_public_and_password_pages_fit_a_phone(browser, demo_trust):
    page = browser.open(viewport=PHONE)
    user = get_user_model().objects.get(username="member")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    _visit_all(browser, page, PUBLIC_PAGES, "public")
    # The emailed link redirects to its set-password form.
    _visit_all(browser, page, [f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/"], "reset")
    assert page.url.endswith("/set-password/")
    response = page.goto("/no-such-page/")
    assert response.status == 404
    _fits_the_phone(page, "the 404 page")


def test_the_menu_folds_behind_a_button_that_works_from_the_keyboard(browser, demo_trust):
    page = browser.sign_in("admin", viewport=PHONE)
    toggle = page.get_by_role("button", name="Menu")
    leases = page.get_by_role("navigation").get_by_role("link", name="Leases")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not leases.is_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert leases.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, "menu-open-phone")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not leases.is_visible()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Menu"
    toggle.click()
    leases.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Leases")


def test_on_a_wide_screen_the_menu_button_is_not_shown(browser, demo_trust):
    page = browser.sign_in("admin", viewport=DESKTOP)
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="Leases").is_visible()


def test_the_consent_grid_is_one_card_per_asset_on_a_phone(browser, demo_trust):
    page = browser.sign_in("member", viewport=PHONE)
    page.goto("/member/consent/")
    assets = page.locator("table.consent-matrix thead th.asset-col").count()
    assert assets >= 1
    assert not page.locator("table.consent-matrix").is_visible()
    cards = page.locator(".consent-card")
    assert cards.count() == assets + 1  # all my assets, then each asset
    first = cards.nth(1)
    assert first.is_visible()
    assert first.get_by_role("heading", level=2).inner_text().strip() != "All my assets"
    assert (
        first.locator(".consent-uses > li").count() == page.locator("table.consent-matrix tbody tr").count()
    )
    browser.screenshot(page, "consent-cards-phone")


def test_table_rows_become_cards_with_their_key_columns_on_a_phone(browser, demo_trust):
    page = browser.sign_in("studio", viewport=PHONE)
    page.goto("/studio/leases/")
    row = page.locator("table.data tbody tr").first
    assert row.is_visible()
    status = row.locator("td[data-label='Status']")
    assert (
        status.is_visible() and status.bounding_box()["x"] + status.bounding_box()["width"] <= PHONE["width"]
    )
    assert page.locator("table.data").get_attribute("role") == "table"
    browser.screenshot(page, "lease-cards-phone")


def test_the_transparency_register_fits_a_desktop_screen_without_clipping(browser, demo_trust):
    page = browser.open(viewport=DESKTOP)
    page.goto("/transparency/")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    clipped = page.eval_on_selector(".table-wrap", "wrap => wrap.scrollWidth - wrap.clientWidth")
    assert clipped <= 0, f"the register scrolls sideways by {clipped} px at 1366 px"
    assert axe_violations(page) == [], describe(axe_violations(page))
    browser.screenshot(page, "register-desktop")


def test_federated_lease_pages_fit_a_phone(browser, demo_trust, settings):
    """A live peer's offer to add on the request page, a federated lease's parts on the studio's
    and the administrator's lease pages, and a peer's part labelled among the requests."""
    from federation.models import Peer
    from licensing import federated
    from licensing.models import PeerOffer
    from licensing.selectors import offer_document

    now = timezone.now()
    peer = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK Performers Trust",
        currency=settings.TRUST_CURRENCY,
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        fingerprint="ab" * 32,
        added_by_us_at=now,
        added_by_them_at=now,
        keys_fetched_at=now,
    )
    terms = LeaseTerms.objects.filter(active=True).first()
    offer = {**offer_document(terms), "trust": peer.slug, "title": "Equity crowd, training"}
    PeerOffer.objects.create(
        peer=peer,
        terms_id=terms.pk,
        title=offer["title"],
        currency=terms.currency,
        offer=offer,
        fetched_at=now,
    )
    lease = federated.federated_lease_request(
        actor=get_user_model().objects.get(username="studio"),
        purpose="Crowd scene, two unions",
        parts=[{"trust": settings.TRUST_SLUG, "terms": terms.pk}, {"trust": peer.slug, "terms": terms.pk}],
    )
    terms.shared_with.add(peer)
    theirs = federated.inbound_part_received(
        peer=peer, home_lease_id=7, terms_id=terms.pk, purpose="Voices", studio_id=3, studio_name="Pinewood"
    )
    studio = browser.sign_in("studio", viewport=PHONE)
    _visit_all(
        browser,
        studio,
        ["/studio/", f"/studio/catalogue/{terms.pk}/request/", f"/studio/leases/{lease.pk}/"],
        "federated-studio",
    )
    admin = browser.sign_in("admin", viewport=PHONE)
    _visit_all(
        browser,
        admin,
        ["/operations/leases/", f"/operations/leases/{lease.pk}/", f"/operations/leases/{theirs.pk}/"],
        "federated-admin",
    )
