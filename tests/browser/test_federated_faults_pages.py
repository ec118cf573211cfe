"""A federated lease's page at the studio's home trust when things go wrong at the other trust: the
part whose trust does not answer is marked unavailable, and a takedown notice relayed from that
trust stands beside this trust's own, names its trust, and is acknowledged and attested here.
On the demo trust; axe-clean at desktop and phone."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from federation.models import Peer
from licensing import federated
from licensing.models import Lease, LeasePart, Takedown
from tests.browser.conftest import axe_violations, describe

REMOTE_ASSET = "6f1b7a1e-9a55-4c3e-9d7a-1f6c1d1e2a3b"


def _federated_with_a_silent_peer(settings) -> tuple[Lease, Peer]:
    """The demo's active lease, given a part at equity-uk that stopped answering and one
    takedown notice relayed from it."""
    settings.TRUST_SLUG = "sag-aftra"
    now = timezone.now()
    equity = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK Performers Trust",
        currency="GBP",
        base_url="http://127.0.0.1:9",
        api_url="http://127.0.0.1:9/api/v1/",
        fingerprint="ab" * 32,
        added_by_us_at=now,
        added_by_them_at=now,
        keys_fetched_at=now,
    )
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    LeasePart.objects.create(lease=lease, peer=None, status="approved", licensable_at_approval=4)
    part = LeasePart.objects.create(
        lease=lease,
        peer=equity,
        status="approved",
        remote_lease_id=55,
        remote_terms_id=3,
        licensable_at_approval=3,
        offer={"title": "Equity crowd, training"},
    )
    federated.part_manifest(part)  # nothing listens there: the part is marked unavailable
    federated.relayed_takedown_received(
        peer=equity, home_lease_id=lease.pk, takedown_id=41, asset_id=REMOTE_ASSET, kind="voice_recording"
    )
    return lease, equity


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_the_lease_page_marks_a_silent_part_and_takes_a_relayed_takedown(
    browser, demo_trust, settings, viewport
):
    lease, equity = _federated_with_a_silent_peer(settings)
    page = browser.sign_in("studio", viewport=viewport)
    page.goto(f"/studio/leases/{lease.pk}/")

    part_row = page.locator("#part-equity-uk")
    expect(part_row).to_contain_text("unavailable")
    expect(part_row).to_contain_text("Equity UK Performers Trust has not answered since")
    warning = page.locator(".card.warning")
    notice = warning.locator("li", has_text=REMOTE_ASSET)
    expect(notice).to_contain_text("at Equity UK Performers Trust")
    notices = page.locator("section", has_text="Takedown notices").last
    expect(notices.locator("tr", has_text=REMOTE_ASSET)).to_contain_text("Equity UK Performers Trust")
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, f"federated-lease-faults-{viewport['width']}")

    notice.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".messages")).to_contain_text("acknowledged")
    relayed = Takedown.objects.get(peer=equity, remote_takedown_id=41)
    assert relayed.status == "acknowledged" and relayed.relayed_status == "issued"  # equity-uk is told next
    assert federated.pending_messages()["takedown"] == [relayed.pk]
