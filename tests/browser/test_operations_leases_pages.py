"""The administrator's lease and terms pages in a real browser, on the demo trust: the pending
request with its coverage, approving it, one lease in full, and offering new terms."""

from playwright.sync_api import expect

from licensing.models import Lease, LeaseTerms
from licensing.selectors import approval_coverage
from tests.browser.conftest import axe_violations, describe

PHONE = {"width": 390, "height": 844}


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def test_the_pending_request_shows_its_coverage_and_approving_makes_it_active(browser, demo_trust):
    pending = Lease.objects.get(status=Lease.Status.REQUESTED)
    coverage = approval_coverage(pending.terms)
    page = browser.sign_in("admin")

    page.goto("/operations/leases/")
    assert page.get_by_role("heading", level=1).inner_text() == "Leases"
    figure = page.locator(f"#coverage-{pending.pk} .coverage-figure")
    assert f"{coverage['licensable']} of {coverage['total']}" in figure.inner_text()
    assert page.locator("#stat-waiting").inner_text() == "1"
    _accessible(page)
    browser.screenshot(page, "leases")

    page.get_by_role("link", name=f"Approve Lease #{pending.pk}…").click()
    # The confirmation says what approval pins before anything happens.
    pins = page.locator("#approval-pins").inner_text()
    assert f"{coverage['licensable']} of its {coverage['total']} assets" in pins
    _accessible(page)
    browser.screenshot(page, "approve-confirm")
    page.get_by_role("button", name=f"Approve Lease #{pending.pk}").click()
    page.wait_for_load_state()
    assert "approved: it is active now" in page.locator(".message.success").inner_text()
    active_row = page.locator(f"#lease-{pending.pk}")
    assert active_row.is_visible()
    assert "Crowd generation" in active_row.inner_text()
    assert page.locator("#stat-waiting").inner_text() == "0"
    assert page.locator("#stat-active").inner_text() == "2"
    assert active_row.get_by_role("link", name=f"Revoke Lease #{pending.pk}…").is_visible()
    _accessible(page)
    browser.screenshot(page, "leases-approved")

    pending.refresh_from_db()
    assert pending.status == Lease.Status.ACTIVE
    page.get_by_role("link", name=f"Lease #{pending.pk}", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == f"Lease #{pending.pk}: Northlight Pictures"
    assert page.locator("#manifest-hash").inner_text() == pending.version.manifest_sha256
    assert page.locator("#stat-licensable-now").inner_text() == str(coverage["licensable"])
    _accessible(page)
    browser.screenshot(page, "lease-approved")


def test_a_lease_with_history_and_a_request_read_well(browser, demo_trust):
    active = Lease.objects.get(status=Lease.Status.ACTIVE)
    pending = Lease.objects.get(status=Lease.Status.REQUESTED)
    page = browser.sign_in("admin")

    page.goto(f"/operations/leases/{active.pk}/")
    usage = page.get_by_role("region", name="Usage recorded on this lease")
    downloads = active.usage_events.filter(kind="download").count()
    assert usage.get_by_role("row", name="Download").get_by_role("cell").first.inner_text() == str(downloads)
    latest = active.tokens.order_by("-created_at").first()
    assert page.get_by_role("row", name=latest.name).is_visible()
    _accessible(page)
    browser.screenshot(page, "lease-with-usage")

    page.goto(f"/operations/leases/{pending.pk}/")
    page.get_by_text("Reject…").click()
    assert page.get_by_label("Why is it rejected? The studio sees this.").is_visible()
    assert "450.00 USD" in page.locator(".detail-cards").inner_text()
    _accessible(page)
    browser.screenshot(page, "lease-requested")


def test_new_terms_are_created_through_the_form_and_listed(browser, demo_trust):
    page = browser.sign_in("admin")
    page.goto("/operations/terms/")
    assert page.get_by_role("heading", level=1).inner_text() == "Lease terms"
    assert page.locator("table.data tbody tr").count() == LeaseTerms.objects.count()
    _accessible(page)
    browser.screenshot(page, "terms")

    form = page.locator("form.terms-form")
    form.get_by_label("Dataset").select_option(label="Crowd & stunts 2026")
    form.get_by_label("Title").fill("Stunt replicas, 60 days")
    form.get_by_label("Training AI models").check()
    form.get_by_label("Digital replica: touch-ups, background placement").check()
    form.get_by_label("Flat fee").fill("2500.75")
    form.get_by_label("Price per generated second").fill("0.04")
    form.get_by_label("Duration (days)").fill("60")
    form.get_by_label("Download cap").fill("250")
    form.get_by_role("button", name="Create and offer these terms").click()
    page.wait_for_load_state()

    terms = LeaseTerms.objects.get(title="Stunt replicas, 60 days")
    assert (terms.flat_fee_cents, terms.price_per_generated_second_cents, terms.download_cap) == (
        250_075,
        4,
        250,
    )
    row = page.locator(f"#terms-{terms.pk}")
    assert "2,500.75" in row.inner_text() and "Offered" in row.inner_text()
    assert "created and offered in the catalogue" in page.locator(".message.success").inner_text()
    _accessible(page)
    browser.screenshot(page, "terms-created")

    # A price with a fraction of a cent is refused on the form, nothing created.
    form = page.locator("form.terms-form")
    form.get_by_label("Dataset").select_option(label="Crowd & stunts 2026")
    form.get_by_label("Title").fill("Too precise")
    form.get_by_label("Training AI models").check()
    form.get_by_label("Price per download").fill("0.005")
    form.get_by_role("button", name="Create and offer these terms").click()
    page.wait_for_load_state()
    assert "Use at most two decimals" in form.inner_text()
    assert not LeaseTerms.objects.filter(title="Too precise").exists()
    _accessible(page)
    browser.screenshot(page, "terms-refused")


def test_the_lease_pages_fit_a_phone(browser, demo_trust):
    page = browser.sign_in("admin", viewport=PHONE)
    for path, name in (("/operations/leases/", "leases-phone"), ("/operations/terms/", "terms-phone")):
        page.goto(path)
        # Nothing wider than the screen except inside the scrollable table regions.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        _accessible(page)
        browser.screenshot(page, name)
    page.goto("/operations/")
    browser.screenshot(page, "operations-home-phone")


def test_a_takedown_shows_on_the_lease_and_revoking_moves_it_to_closed(browser, demo_trust):
    from trust import services as trust
    from trust.models import Consent, Member

    sam = Member.objects.get(user__username="sam")
    grant = Consent.objects.get(member=sam, use="training", state=Consent.State.GRANTED, asset=None)
    trust.consent_withdraw(actor=sam.user, consent=grant)
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    open_notices = lease.takedowns.count()
    assert open_notices == 2  # Sam's body scan and the ensemble footage
    page = browser.sign_in("admin")

    page.goto("/operations/leases/")
    assert page.locator("#stat-takedowns").inner_text() == str(open_notices)
    assert f"{open_notices} open" in page.locator(f"#lease-{lease.pk}").inner_text()
    page.get_by_role("link", name=f"Lease #{lease.pk}", exact=True).click()
    notices = page.get_by_role("region", name="Takedown notices")
    expect(notices.locator(".badge.issued")).to_have_count(open_notices)
    assert page.locator("#stat-licensable-now").inner_text() == "3"
    _accessible(page)
    browser.screenshot(page, "lease-with-takedowns")

    page.goto("/operations/leases/")
    row = page.locator(f"#lease-{lease.pk}")
    row.get_by_role("link", name=f"Revoke Lease #{lease.pk}…").click()
    assert "working token" in page.locator("#revoke-stops").inner_text()
    _accessible(page)
    page.get_by_label("Why must it end now? The studio sees this.").fill("Members withdrew training consent")
    page.get_by_role("button", name=f"Revoke Lease #{lease.pk}").click()
    page.wait_for_load_state()
    assert "revoked: its tokens stopped working at once" in page.locator(".message.success").inner_text()
    closed = page.locator(f"#lease-{lease.pk}")
    assert "Revoked" in closed.inner_text() and "Members withdrew training consent" in closed.inner_text()
    assert page.locator("#stat-active").inner_text() == "0"
    lease.refresh_from_db()
    assert lease.status == Lease.Status.REVOKED
    _accessible(page)
    browser.screenshot(page, "leases-after-revoke")
