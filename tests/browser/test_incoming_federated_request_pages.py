"""An incoming federated request on the administrator's lease pages (issue 11, "Done when": the
portal pages for incoming federated requests pass axe): equity-uk's studio asks this trust for
its part of a lease signed at equity-uk, and this trust's administrator sees it beside local
requests, says where it comes from, and approves it on the page with this trust's own rules.
On the demo trust; axe-clean at desktop and phone."""

import pytest
from django.contrib.auth import get_user_model

from federation.models import Peer
from licensing import federated, services
from licensing.models import Lease, LeaseTerms
from tests.browser.conftest import axe_violations, describe
from tests.federation.helpers import live_peer, signing_key


def _accessible(page):
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def _incoming_request(settings) -> Lease:
    """equity-uk, a live peer sharing the demo's active terms, forwards its studio's part."""
    settings.TRUST_SLUG = "sag-aftra"
    peer = live_peer("equity-uk", signing_key())
    Peer.objects.filter(pk=peer.pk).update(name="Equity UK Performers Trust")
    peer.refresh_from_db()
    admin = get_user_model().objects.get(username="admin")
    terms = LeaseTerms.objects.filter(active=True).order_by("pk").first()
    services.terms_share(actor=admin, terms=terms, peers=[peer])
    return federated.inbound_part_received(
        peer=peer,
        home_lease_id=501,
        terms_id=terms.pk,
        purpose="Crowd scene over two unions' performers",
        studio_id=7,
        studio_name="Thames Animation",
    )


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_the_administrator_sees_and_approves_an_incoming_federated_request(
    browser, demo_trust, settings, viewport
):
    lease = _incoming_request(settings)
    page = browser.sign_in("admin", viewport=viewport)

    page.goto("/operations/leases/")
    incoming = page.locator(".federated-from").filter(has_text="Thames Animation")
    assert "Federated request from Equity UK Performers Trust (equity-uk)" in incoming.inner_text()
    assert page.locator("#stat-waiting").inner_text() == "2"  # the demo's own request beside it
    _accessible(page)
    browser.screenshot(page, f"incoming-federated-leases-{viewport['width']}")

    page.goto(f"/operations/leases/{lease.pk}/")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == f"Lease #{lease.pk}: Thames Animation (studio of Equity UK Performers Trust)"
    assert "Equity UK Performers Trust" in page.locator(".federated-from").inner_text()
    # Requested by the peer's studio, not by the proxy account that records it here.
    requested = page.locator("main").inner_text()
    assert "by Thames Animation, a studio of a peer trust" in requested and "peer:" not in requested
    assert "Crowd scene over two unions' performers" in page.locator("main").inner_text()
    _accessible(page)
    browser.screenshot(page, f"incoming-federated-lease-{viewport['width']}")

    page.goto("/operations/leases/")
    page.get_by_role("link", name=f"Approve Lease #{lease.pk}…").click()
    _accessible(page)
    page.get_by_role("button", name=f"Approve Lease #{lease.pk}").click()
    page.wait_for_load_state()
    assert "approved: it is active now" in page.locator(".message.success").inner_text()
    lease.refresh_from_db()
    assert lease.status == Lease.Status.ACTIVE
    _accessible(page)
    browser.screenshot(page, f"incoming-federated-approved-{viewport['width']}")
