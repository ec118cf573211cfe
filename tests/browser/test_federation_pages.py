"""The federation page in a browser: this trust's fingerprint to read out, peers in every state
of the double opt-in, a suspension that works from the page; axe-clean at desktop and phone."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from federation.models import Peer
from tests.browser.conftest import axe_violations, describe
from trust import keys


def _peers() -> None:
    now = timezone.now()
    shared = {"currency": "GBP", "public_keys": [], "keys_fetched_at": now}
    rows = [
        ("equity-uk", "Equity UK Performers Trust", {"added_by_us_at": now, "added_by_them_at": now}),
        ("actra", "ACTRA Performers Trust", {"added_by_us_at": now}),
        ("meaa", "MEAA Performers Trust", {"added_by_them_at": now}),
        (
            "fia-fr",
            "FIA France",
            {"added_by_us_at": now, "added_by_them_at": now, "suspended_by_them_at": now},
        ),
    ]
    for slug, name, times in rows:
        Peer.objects.create(
            slug=slug,
            name=name,
            base_url=f"http://127.0.0.1:9/{slug}",
            api_url=f"http://127.0.0.1:9/{slug}/api/v1/",
            fingerprint=("ab" * 32) if times.get("added_by_us_at") else "",
            **shared,
            **times,
        )


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_the_federation_page_shows_every_peer_state_and_suspends(browser, demo_trust, viewport):
    _peers()
    page = browser.sign_in("admin", viewport=viewport)
    page.goto("/operations/federation/")
    expect(page.get_by_role("heading", level=1, name="Federation")).to_be_visible()
    expect(page.get_by_text(keys.current_key().fingerprint)).to_be_visible()
    for state in ("Live", "Waiting for them to add us", "Asks to peer with us", "Suspended by them"):
        expect(page.get_by_text(state, exact=True)).to_be_visible()
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, f"federation-{viewport['width']}")

    # Equity UK is the first row with a Suspend button (peers are listed by slug).
    page.locator("tr", has_text="Equity UK").get_by_role("button", name="Suspend").click()
    expect(page.get_by_text("Peering with Equity UK Performers Trust suspended.")).to_be_visible()
    expect(page.locator("tr", has_text="Equity UK").get_by_text("Suspended by us")).to_be_visible()
    assert Peer.objects.get(slug="equity-uk").suspended_by_us_at is not None


def _settlements() -> None:
    """Two settlements of the demo's lease with equity-uk for last month: one agreed, one not."""
    from datetime import UTC, datetime

    from licensing.models import Lease
    from payouts.models import Settlement

    now = timezone.now()
    equity = Peer.objects.create(
        slug="equity-uk",
        name="Equity UK Performers Trust",
        currency="GBP",
        base_url="http://127.0.0.1:9/equity-uk",
        api_url="http://127.0.0.1:9/equity-uk/api/v1/",
        fingerprint="ab" * 32,
        public_keys=[],
        keys_fetched_at=now,
        added_by_us_at=now,
        added_by_them_at=now,
    )
    leases = list(Lease.objects.order_by("pk")[:2])
    figures = {"downloads_cents": 2800, "generated_cents": 13500, "flat_fee_share_cents": 60000}
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    for lease, theirs_generated, role in ((leases[0], 13500, "home"), (leases[-1], 12000, "part")):
        Settlement.objects.create(
            period_start=start,
            period_end=end,
            peer=equity,
            role=role,
            lease=lease,
            home_lease_id=lease.pk if role == "home" else 4711,
            training_share_cents=18000,
            total_cents=94300,
            computed_at=now,
            peer_downloads_cents=2800,
            peer_generated_cents=theirs_generated,
            peer_flat_fee_share_cents=60000,
            peer_training_share_cents=18000,
            peer_total_cents=94300 - 13500 + theirs_generated,
            peer_figures_at=now,
            state="agreed" if theirs_generated == 13500 else "disagreed",
            **figures,
        )


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}])
def test_the_settlements_page_shows_both_trusts_figures_and_marks_a_disagreement(
    browser, demo_trust, viewport
):
    _settlements()
    page = browser.sign_in("admin", viewport=viewport)
    page.goto("/operations/federation/")
    page.get_by_role("link", name="Settlements with peer trusts").click()
    expect(page.get_by_role("heading", level=1, name="Settlements with peer trusts")).to_be_visible()
    expect(page.get_by_text("1 settlement disagrees")).to_be_visible()
    disagreed = page.locator("tr.disagreed")
    expect(disagreed).to_have_count(1)
    expect(disagreed.get_by_text("Differs: generated seconds, total")).to_be_visible()
    expect(page.get_by_text("owed to equity-uk")).to_be_visible()
    expect(page.get_by_text("owed by equity-uk")).to_be_visible()
    assert axe_violations(page) == [], describe(axe_violations(page))
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"scrolls sideways by {overflow}px"
    browser.screenshot(page, f"federation-settlements-{viewport['width']}")
