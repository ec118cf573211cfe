"""The administrator's overview, rates, datasets and periods pages, on the demo trust: the
figures they show are the selectors' and the API's, every form calls its service, and no
other role sees them."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from licensing.models import Lease, UsageEvent
from payouts import ledger, selectors
from payouts.models import LeaseRevenue, Period, RateSetting
from payouts.services import rates_in_force
from trust import services as trust
from trust.consent import Use
from trust.models import Asset, Dataset, DatasetVersion, Member
from trust.selectors import consent_coverage, licensable_assets
from trust.templatetags.portal import money

DEMO = "crowd-and-stunts-2026"


@pytest.fixture
def demo(seeded_demo):
    return seeded_demo


@pytest.fixture
def admin(demo):
    return get_user_model().objects.get(username="admin")


@pytest.fixture
def as_admin(client, admin):
    client.force_login(admin)
    return client


def open_period() -> Period:
    """This month's period: open and still running."""
    return Period.objects.get(status=Period.Status.OPEN, end__gt=timezone.now())


def ended_period() -> Period:
    """Last month's period: it has ended and waits for the administrator to close it."""
    return Period.objects.get(status=Period.Status.OPEN, end__lte=timezone.now())


def last_closed() -> Period:
    return Period.objects.filter(status=Period.Status.CLOSED).order_by("-end").first()


def demo_dataset() -> Dataset:
    return Dataset.objects.get(slug=DEMO)


def pages() -> list[tuple[str, str]]:
    """Every page and action of the administrator's part, as (method, path)."""
    period, dataset = open_period(), demo_dataset()
    return [
        ("get", "/operations/"),
        ("get", "/operations/rates/"),
        ("post", "/operations/rates/"),
        ("get", "/operations/periods/"),
        ("post", "/operations/periods/"),
        ("get", f"/operations/periods/{period.pk}/"),
        ("post", f"/operations/periods/{period.pk}/close/"),
        ("get", "/operations/datasets/"),
        ("post", "/operations/datasets/"),
        ("get", f"/operations/datasets/{dataset.pk}/"),
        ("post", f"/operations/datasets/{dataset.pk}/freeze/"),
        ("post", f"/operations/datasets/{dataset.pk}/assets/"),
    ]


# Who may see the pages


def test_anonymous_visitors_are_sent_to_sign_in_on_every_page(client, demo):
    for method, url in pages():
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("username", ["member", "studio"])
def test_members_and_studio_staff_are_refused_every_page_and_action(client, demo, username):
    client.force_login(get_user_model().objects.get(username=username))
    versions, rates, periods = (
        DatasetVersion.objects.count(),
        RateSetting.objects.count(),
        Period.objects.count(),
    )
    for method, url in pages():
        data = {"admin_fee_bps": 1, "pension_bps": 1, "slug": "x", "title": "x", "start": "2020-01-01"}
        assert getattr(client, method)(url, data).status_code == 403, url
    assert (DatasetVersion.objects.count(), RateSetting.objects.count(), Period.objects.count()) == (
        versions,
        rates,
        periods,
    )
    assert open_period().status == Period.Status.OPEN


def test_unknown_period_and_dataset_are_404(as_admin):
    assert as_admin.get("/operations/periods/999999/").status_code == 404
    assert as_admin.post("/operations/periods/999999/close/").status_code == 404
    assert as_admin.get("/operations/datasets/999999/").status_code == 404
    assert as_admin.post("/operations/datasets/999999/freeze/").status_code == 404


def test_actions_refuse_a_get(as_admin):
    period, dataset = open_period(), demo_dataset()
    assert as_admin.get(f"/operations/periods/{period.pk}/close/").status_code == 405
    # Freezing's GET is its confirmation page: it changes nothing.
    versions = dataset.versions.count()
    assert as_admin.get(f"/operations/datasets/{dataset.pk}/freeze/").status_code == 200
    assert dataset.versions.count() == versions
    assert as_admin.get(f"/operations/datasets/{dataset.pk}/assets/").status_code == 405


# Overview


def test_overview_shows_what_needs_the_administrator(as_admin):
    response = as_admin.get("/operations/")
    assert response.status_code == 200
    page = response.content.decode()
    overview = selectors.operations_overview()
    waiting = Lease.objects.filter(status=Lease.Status.REQUESTED).count()
    assert waiting == overview["lease_requests"] == 1
    assert f'id="lease-requests">{waiting}<' in page
    assert 'href="/operations/leases/"' in page
    assert f'id="open-periods">{len(overview["open_periods"])}<' in page
    last = last_closed()
    assert f'id="last-revenue">{money(last.revenue_cents)} ' in page
    for cents in (last.admin_fee_cents, last.pension_cents, last.net_cents):
        assert money(cents) in page
    assert ledger.trial_balance() == 0
    assert 'id="ledger-state">Yes<' in page
    assert "trial balance 0.00 USD" in page
    owed = sum(selectors.member_balance_cents(member) for member in Member.objects.all())
    assert owed == overview["owed_cents"] > 0
    assert f'id="owed-to-members">{money(owed)} ' in page
    assert "Alex Rivera" in page
    for link in ("/operations/rates/", "/operations/datasets/", "/operations/periods/", "/admin/"):
        assert f'href="{link}"' in page


def test_overview_shows_a_closing_period_with_its_progress(as_admin):
    Period.objects.filter(pk=open_period().pk).update(
        status=Period.Status.CLOSING, leases_total=4, leases_done=1
    )
    page = as_admin.get("/operations/").content.decode()
    assert '<progress max="4" value="1"' in page
    assert "1 of 4 leases distributed" in page


# Rates


def test_rates_page_shows_the_rates_in_force_and_their_history(as_admin):
    fee, pension = rates_in_force()
    page = as_admin.get("/operations/rates/").content.decode()
    assert f'id="fee-in-force">{fee // 100}.{fee % 100:02d}%<' in page
    assert f'id="pension-in-force">{pension // 100}.{pension % 100:02d}%<' in page
    assert page.count("<tr>") - 1 == selectors.rate_history().count()  # one header row
    assert "In force now: 1000 = 10.00%." in page  # the help beside the field


def test_setting_rates_writes_a_history_row_and_puts_them_in_force(as_admin, admin):
    response = as_admin.post(
        "/operations/rates/", {"admin_fee_bps": "1250", "pension_bps": "650"}, follow=True
    )
    assert response.redirect_chain == [("/operations/rates/", 302)]
    assert rates_in_force() == (1250, 650)
    newest = selectors.rate_history().first()
    assert (newest.admin_fee_bps, newest.pension_bps, newest.set_by) == (1250, 650, admin)
    page = response.content.decode()
    assert "The new rates are in force" in page
    assert 'id="fee-in-force">12.50%<' in page


def test_a_rate_above_100_percent_is_refused_and_nothing_is_written(as_admin):
    count = RateSetting.objects.count()
    response = as_admin.post("/operations/rates/", {"admin_fee_bps": "10001", "pension_bps": "500"})
    assert response.status_code == 200
    assert "less than or equal to 10000" in response.content.decode()
    assert RateSetting.objects.count() == count


def test_rates_above_100_percent_together_are_a_form_error_and_nothing_is_written(as_admin):
    count = RateSetting.objects.count()
    response = as_admin.post("/operations/rates/", {"admin_fee_bps": "6000", "pension_bps": "4001"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "together must be at most 10000 basis points (100%), not 6000 + 4001 = 10001" in page
    assert RateSetting.objects.count() == count
    assert rates_in_force() != (6000, 4001)


# Periods


def test_periods_page_lists_every_period_with_its_figures(as_admin):
    page = as_admin.get("/operations/periods/").content.decode()
    for period in Period.objects.all():
        assert f'href="/operations/periods/{period.pk}/"' in page
        if period.status == Period.Status.CLOSED:
            assert money(period.revenue_cents) in page and money(period.net_cents) in page
    # The form suggests the month after the latest period.
    latest_end = Period.objects.order_by("-end").first().end.date()
    assert f'value="{latest_end.isoformat()}"' in page


def test_creating_a_period_makes_it_from_utc_midnight_to_utc_midnight(as_admin):
    earliest = Period.objects.order_by("start").first().start
    end = earliest.date()
    start = (end - timedelta(days=1)).replace(day=1)
    response = as_admin.post("/operations/periods/", {"start": start.isoformat(), "end": end.isoformat()})
    period = Period.objects.get(start=datetime(start.year, start.month, 1, tzinfo=UTC))
    assert period.end == datetime(end.year, end.month, end.day, tzinfo=UTC)
    assert response.status_code == 302 and response["Location"] == f"/operations/periods/{period.pk}/"


def test_an_overlapping_period_is_refused_with_its_reason(as_admin):
    count = Period.objects.count()
    period = open_period()
    response = as_admin.post(
        "/operations/periods/",
        {"start": period.start.date().isoformat(), "end": period.end.date().isoformat()},
    )
    assert response.status_code == 200
    assert "overlaps the period" in response.content.decode()
    assert Period.objects.count() == count


def test_a_closed_period_shows_its_split_and_that_its_ledger_balances(as_admin):
    period = last_closed()
    response = as_admin.get(f"/operations/periods/{period.pk}/")
    page = response.content.decode()
    assert f'id="period-revenue">{money(period.revenue_cents)} ' in page
    assert f'id="period-fee">{money(period.admin_fee_cents)} ' in page
    assert f'id="period-pension">{money(period.pension_cents)} ' in page
    assert f'id="period-net">{money(period.net_cents)} ' in page
    assert period.revenue_cents == period.admin_fee_cents + period.pension_cents + period.net_cents
    assert "adds up" in page
    assert selectors.period_ledger_is_balanced(period)
    assert "Period's ledger balances: <strong>yes</strong>" in page
    rows = LeaseRevenue.objects.filter(period=period)
    assert rows.count() >= 1
    for row in rows:
        assert f"#{row.lease_id}" in page and money(row.usage_cents) in page


def test_an_open_period_that_has_not_ended_cannot_be_closed(as_admin):
    period = open_period()
    page = as_admin.get(f"/operations/periods/{period.pk}/").content.decode()
    assert re.search(
        r'<button type="button" class="button primary" disabled aria-describedby="close-blocked">', page
    )
    assert "Not yet: this period runs until" in page
    assert f'action="/operations/periods/{period.pk}/close/"' not in page
    response = as_admin.post(f"/operations/periods/{period.pk}/close/", follow=True)
    assert "can only be closed once it has ended" in response.content.decode()
    period.refresh_from_db()
    assert period.status == Period.Status.OPEN


def test_an_open_period_shows_the_revenue_accrued_so_far(as_admin):
    period = open_period()
    lease = Lease.objects.get(status=Lease.Status.ACTIVE)
    token = lease.tokens.order_by("-created_at").first()
    UsageEvent.objects.create(
        lease=lease,
        event_key="x1",
        kind="training_run",
        quantity=3,
        occurred_at=timezone.now(),
        source="report",
        token=token,
    )
    UsageEvent.objects.create(
        lease=lease,
        event_key="x2",
        kind="generated_second",
        asset=lease.approval_assets.first(),
        quantity=125,
        occurred_at=timezone.now(),
        source="report",
        token=token,
    )
    expected = 3 * lease.price_per_training_run_cents + 125 * lease.price_per_generated_second_cents
    page = as_admin.get(f"/operations/periods/{period.pk}/").content.decode()
    assert "Revenue accrued so far" in page
    assert f'id="accrued-revenue">{money(expected)} ' in page
    assert f'id="accrued-usage">{money(expected)} ' in page
    assert f'id="accrued-flat">{money(0)} ' in page


def test_the_ended_period_can_be_closed_and_its_accrued_revenue_is_what_the_close_distributes(
    as_admin, django_capture_on_commit_callbacks
):
    period = ended_period()
    accrued = selectors.period_accrued_revenue(period)
    assert accrued["ended"] and accrued["usage_cents"] > 0
    page = as_admin.get(f"/operations/periods/{period.pk}/").content.decode()
    assert (
        "Revenue to distribute" in page and f'id="accrued-revenue">{money(accrued["revenue_cents"])} ' in page
    )
    assert f'action="/operations/periods/{period.pk}/close/"' in page and "disabled" not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(f"/operations/periods/{period.pk}/close/")
    assert response.status_code == 302 and response["Location"] == f"/operations/periods/{period.pk}/"
    period.refresh_from_db()
    assert period.status == Period.Status.CLOSED
    assert period.revenue_cents == accrued["revenue_cents"]
    page = as_admin.get(response["Location"]).content.decode()
    assert '<span class="badge closed">Closed</span>' in page
    assert "ledger balances: <strong>yes</strong>" in page


def test_a_closing_period_shows_progress_that_updates_itself(as_admin):
    period = open_period()
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.CLOSING, leases_total=3, leases_done=1, admin_fee_bps=1000, pension_bps=500
    )
    page = as_admin.get(f"/operations/periods/{period.pk}/").content.decode()
    assert 'id="closing-progress" data-poll-ms="2000"' in page
    assert 'max="3" value="1"' in page
    assert "1 of 3 leases distributed." in page
    assert "Close the period" not in page


# Datasets


def test_datasets_page_lists_draft_counts_and_latest_versions(as_admin):
    page = as_admin.get("/operations/datasets/").content.decode()
    dataset = demo_dataset()
    assert f'href="/operations/datasets/{dataset.pk}/"' in page
    assert f'<td class="num">{dataset.items.count()}</td>' in page
    assert ">v1<" in page


def test_creating_a_dataset_opens_its_page(as_admin):
    response = as_admin.post(
        "/operations/datasets/", {"slug": "voices-2027", "title": "Voices 2027", "description": "Voice work."}
    )
    dataset = Dataset.objects.get(slug="voices-2027")
    assert (dataset.title, dataset.description) == ("Voices 2027", "Voice work.")
    assert response["Location"] == f"/operations/datasets/{dataset.pk}/"


def test_a_taken_slug_is_refused_with_its_reason(as_admin):
    response = as_admin.post("/operations/datasets/", {"slug": DEMO, "title": "Again"})
    assert response.status_code == 200
    assert "exists" in response.content.decode()
    assert Dataset.objects.filter(slug=DEMO).get().title == "Crowd & stunts 2026"


def test_dataset_page_shows_draft_versions_and_consent_coverage(as_admin):
    dataset = demo_dataset()
    version = dataset.versions.get()
    page = as_admin.get(f"/operations/datasets/{dataset.pk}/").content.decode()
    for asset in dataset.assets.all():
        assert asset.title.replace("&", "&amp;") in page
    assert version.manifest_sha256 in page
    now = timezone.now()
    draft = consent_coverage(assets=Asset.objects.filter(dataset_items__dataset=dataset), at=now)
    frozen = consent_coverage(assets=Asset.objects.filter(version_items__version=version), at=now)
    total = dataset.items.count()
    for use, count in draft.items():
        assert f'data-use="{use}" data-scope="draft">{count} of {total}<' in page
        assert f'data-use="{use}" data-scope="version">{frozen[use]} of {total}<' in page
    assert draft[Use.CROWD_GENERATION] < total  # Sam keeps crowd generation closed
    # Every asset is already in the demo dataset but the footage Sam named Alex in, which waits
    # for Alex to accept: it may be added, and it is not licensable until Alex does.
    assert page.count('name="assets"') == 1 and "Sam &amp; Alex: rehearsal, scene 12" in page


def test_the_consent_filter_offers_only_assets_licensable_for_that_use(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="crowds", title="Crowds")
    url = f"/operations/datasets/{dataset.pk}/"
    page = as_admin.get(url, {"add-use": "crowd_generation"}).content.decode()
    available = Asset.objects.filter(status=Asset.Status.AVAILABLE)
    allowed = licensable_assets(assets=available, uses=["crowd_generation"], at=timezone.now())
    assert 0 < allowed.count() < available.count()
    for asset in available:
        assert (f'value="{asset.pk}"' in page) == allowed.filter(pk=asset.pk).exists(), asset.title
    page = as_admin.get(url, {"add-kind": "voice_recording"}).content.decode()
    assert page.count('name="assets"') == available.filter(kind="voice_recording").count() == 1


def test_an_unknown_filter_value_shows_every_available_asset(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="crowds", title="Crowds")
    response = as_admin.get(f"/operations/datasets/{dataset.pk}/", {"add-kind": "hologram", "add-use": "x"})
    assert response.status_code == 200
    available = Asset.objects.filter(status=Asset.Status.AVAILABLE).count()
    assert response.content.decode().count('name="assets"') == available


def test_adding_assets_puts_them_in_the_draft_and_keeps_the_filter(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="crowds", title="Crowds")
    chosen = list(Asset.objects.order_by("title").values_list("pk", flat=True)[:2])
    response = as_admin.post(
        f"/operations/datasets/{dataset.pk}/assets/",
        {"assets": [str(pk) for pk in chosen], "add-use": "training"},
    )
    assert response["Location"] == f"/operations/datasets/{dataset.pk}/?add-use=training#add-assets"
    assert set(dataset.items.values_list("asset_id", flat=True)) == set(chosen)
    page = as_admin.get(f"/operations/datasets/{dataset.pk}/").content.decode()
    assert 'id="draft-count">2<' in page


def test_adding_nothing_or_an_unknown_asset_is_refused_and_nothing_is_written(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="crowds", title="Crowds")
    url = f"/operations/datasets/{dataset.pk}/assets/"
    page = as_admin.post(url, {}, follow=True).content.decode()
    assert "Choose at least one asset to add." in page
    real = str(Asset.objects.first().pk)
    page = as_admin.post(url, {"assets": [real, "00000000-0000-0000-0000-000000000000"]}, follow=True)
    assert "no such assets" in page.content.decode()
    page = as_admin.post(url, {"assets": ["not-a-uuid"]}, follow=True)
    assert "asset ids must be UUIDs" in page.content.decode()
    assert dataset.items.count() == 0


def test_freezing_makes_a_numbered_version_with_its_manifest_hash(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="crowds", title="Crowds")
    trust.dataset_add_assets(
        actor=admin, dataset=dataset, asset_ids=list(Asset.objects.values_list("pk", flat=True)[:2])
    )
    response = as_admin.post(f"/operations/datasets/{dataset.pk}/freeze/", follow=True)
    version = dataset.versions.get()
    assert version.number == 1 and version.items.count() == 2
    page = response.content.decode()
    assert f'id="manifest-1">{version.manifest_sha256}<' in page
    assert 'id="latest-version">v1<' in page


def test_an_empty_dataset_cannot_be_frozen(as_admin, admin):
    dataset = trust.dataset_create(actor=admin, slug="empty", title="Empty")
    page = as_admin.post(f"/operations/datasets/{dataset.pk}/freeze/", follow=True).content.decode()
    assert "an empty dataset cannot be frozen" in page
    assert not dataset.versions.exists()


def test_the_period_page_and_the_api_give_the_same_books_check(as_admin, as_user, admin):
    period = last_closed()
    # A period whose stored totals no longer add up: both callers must say so, from one selector.
    Period.objects.filter(pk=period.pk).update(net_cents=period.net_cents + 1)
    page = as_admin.get(f"/operations/periods/{period.pk}/").content.decode()
    api = as_user(admin).get(f"/api/v1/periods/{period.pk}/").json()
    assert "does not add up" in page
    assert api["revenue_adds_up"] is False and api["ledger_balanced"] is True
    assert selectors.period_books_check(Period.objects.get(pk=period.pk)) == {
        "revenue_adds_up": False,
        "ledger_balanced": True,
    }
