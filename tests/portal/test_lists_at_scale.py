"""The remaining portal lists at scale: studio charges, the operations lease lists, terms,
periods and datasets, a dataset's draft and candidates, who used my data and statements. Each
searches, sorts, pages, exports the whole filtered list where it offers a CSV, and reads the
same number of queries however many rows there are."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing import services as licensing
from licensing.models import Lease
from payouts import services as payouts
from payouts.models import LeaseRevenue, Period
from trust import services as trust
from trust.models import Asset

pytestmark = pytest.mark.django_db

MANY = 55  # more than one page of 50


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def many_leases(world):
    """MANY more approved leases for Studio A (purposes "Film 00".."Film 54"), then a closed
    period holding them all, so charges and who-used-my-data both run past one page."""
    for n in range(MANY):
        licensing.lease_approve(
            actor=world.cast.admin,
            lease=licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose=f"Film {n:02d}"),
        )
    now = timezone.now()
    period = payouts.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    payouts.period_close(period_id=period.pk)
    return world


# --- Studio charges -------------------------------------------------------------------------


def test_studio_charges_page_sort_and_export_the_whole_list(client, many_leases):
    carol = _login(client, many_leases.cast.carol)
    lines = LeaseRevenue.objects.filter(lease__studio=many_leases.cast.studio_a).count()
    assert lines == MANY + 1
    first = carol.get(reverse("studio-charges"))
    assert first.context["listing"].total == lines and len(first.context["listing"].rows) == 50
    assert len(carol.get(reverse("studio-charges"), {"page": 2}).context["listing"].rows) == lines - 50
    by_lease = carol.get(reverse("studio-charges"), {"sort": "-lease"}).context["listing"].rows
    assert by_lease[0]["lease_id"] == Lease.objects.filter(studio=many_leases.cast.studio_a).latest("pk").pk
    rows = _csv(carol.get(reverse("studio-charges"), {"format": "csv"}))
    assert rows[0][:4] == ["period", "from", "until", "lease"] and len(rows) == lines + 1
    assert str(many_leases.lease_b.pk) not in [row[3] for row in rows[1:]]  # Studio B's lease


def test_studio_charges_search_narrows_to_a_dataset(client, many_leases):
    carol = _login(client, many_leases.cast.carol)
    assert carol.get(reverse("studio-charges"), {"q": "world"}).context["listing"].total == MANY + 1
    nothing = carol.get(reverse("studio-charges"), {"q": "hologram"})
    assert nothing.context["listing"].total == 0 and "No charge matches" in nothing.content.decode()


def test_studio_charges_read_a_flat_number_of_queries(client, many_leases, django_assert_max_num_queries):
    carol = _login(client, many_leases.cast.carol)
    with django_assert_max_num_queries(14):
        assert carol.get(reverse("studio-charges"), {"page": 2, "sort": "total"}).status_code == 200


# --- Who used my data -----------------------------------------------------------------------


def test_who_used_my_data_pages_sorts_and_exports(client, many_leases):
    alice = _login(client, many_leases.cast.alice.user)
    total = Lease.objects.filter(status="active").count()  # every lease holds Alice's assets
    first = alice.get(reverse("member-leases"))
    # 25 leases a page (the totals above the list are every lease's).
    assert first.context["listing"].total == total and len(first.context["listing"].rows) == 25
    assert len(alice.get(reverse("member-leases"), {"page": 3}).context["listing"].rows) == total - 50
    found = alice.get(reverse("member-leases"), {"q": "film 07"}).context["listing"].rows
    assert [row["purpose"] for row in found] == ["Film 07"]
    by_studio = alice.get(reverse("member-leases"), {"sort": "-studio"}).context["listing"].rows
    assert by_studio[0]["studio_name"] == "Studio B"
    rows = _csv(alice.get(reverse("member-leases"), {"q": "studio a", "format": "csv"}))
    assert rows[0][:2] == ["lease", "studio"] and len(rows) == MANY + 2
    assert {row[1] for row in rows[1:]} == {"Studio A"}


def test_who_used_my_data_api_keeps_its_shape(many_leases, as_user):
    api = as_user(many_leases.cast.alice.user).get("/api/v1/me/leases/", {"page": 2}).json()
    assert api["count"] == MANY + 2 and len(api["results"]) == MANY + 2 - 50
    row = api["results"][0]
    assert set(row) >= {"lease", "studio", "dataset", "version", "uses", "my_assets", "net_cents"}
    assert len(row["my_assets"]) == 2 and row["version"] == 1


def test_who_used_my_data_reads_a_flat_number_of_queries(client, many_leases, django_assert_max_num_queries):
    alice = _login(client, many_leases.cast.alice.user)
    # 11: the page's takedown states are one grouped query more (payouts.selectors.member_lease_takedowns).
    with django_assert_max_num_queries(11):
        assert alice.get(reverse("member-leases"), {"sort": "net"}).status_code == 200


# --- The operations lease lists -------------------------------------------------------------


@pytest.fixture
def admin_client(client, world):
    return _login(client, world.cast.admin)


def test_the_three_lease_lists_page_and_sort_independently(admin_client, many_leases):
    for n in range(MANY):
        licensing.lease_request(actor=many_leases.cast.dave, terms=many_leases.terms, purpose=f"Ask {n:02d}")
    page = admin_client.get(reverse("operations-leases"), {"active-page": 2, "waiting-sort": "-requested"})
    assert page.context["active_list"].total == MANY + 2
    assert len(page.context["active_list"].rows) == MANY + 2 - 50
    assert page.context["waiting"][0][0].purpose == "Ask 54"
    assert len(page.context["waiting"]) == 50 and page.context["waiting_list"].page.number == 1
    html = page.content.decode()
    assert (
        'href="?waiting-sort=-requested&amp;active-sort=lease"' in html
    )  # sorting one list keeps the other's
    assert 'name="active-page" value="2"' in html  # the waiting list's search keeps the active page


def test_the_active_and_closed_lease_lists_search_and_export(admin_client, many_leases):
    licensing.lease_revoke(actor=many_leases.cast.admin, lease=many_leases.lease_b, reason="Breach")
    leases = reverse("operations-leases")
    found = admin_client.get(leases, {"active-q": "film 3"}).context["active_list"].rows
    assert sorted(row["purpose"] for row in found) == [f"Film 3{n}" for n in range(10)]
    assert [
        row["pk"] for row in admin_client.get(leases, {"closed-q": "breach"}).context["closed_list"].rows
    ] == [many_leases.lease_b.pk]
    rows = _csv(admin_client.get(leases, {"format": "csv", "list": "active"}))
    assert len(rows) == MANY + 2 and rows[0][:3] == ["lease", "studio", "terms"]
    closed = _csv(admin_client.get(leases, {"format": "csv", "list": "closed", "closed-status": "revoked"}))
    assert [row[0] for row in closed[1:]] == [str(many_leases.lease_b.pk)]


def test_the_lease_lists_read_a_flat_number_of_queries(
    admin_client, many_leases, django_assert_max_num_queries
):
    other = licensing.terms_create(
        actor=many_leases.cast.admin,
        dataset=many_leases.dataset,
        title="Other",
        permitted_uses=["training", "crowd_generation"],
        duration_days=5,
    )
    for terms in (many_leases.terms, many_leases.terms, other):
        licensing.lease_request(actor=many_leases.cast.dave, terms=terms, purpose="Asked")
    # 8: the session and its login, the three lists' totals, the requests' and the active page
    # (no lease is closed yet), the requests' coverage (one grouped statement for both terms),
    # open takedowns and the leases awaiting a peer.
    with django_assert_max_num_queries(8):
        assert admin_client.get(reverse("operations-leases"), {"active-sort": "studio"}).status_code == 200


# --- Terms, periods, datasets ---------------------------------------------------------------


def test_terms_search_sort_and_pages(admin_client, world, django_assert_max_num_queries):
    for n in range(MANY):
        licensing.terms_create(
            actor=world.cast.admin,
            dataset=world.dataset,
            title=f"Offer {n:02d}",
            permitted_uses=["training"],
            duration_days=10 + n,
            flat_fee_cents=n,
        )
    terms = reverse("operations-terms")
    assert admin_client.get(terms).context["listing"].total == MANY + 1
    assert len(admin_client.get(terms, {"page": 2}).context["listing"].rows) == MANY + 1 - 50
    assert [t.title for t in admin_client.get(terms, {"q": "offer 12"}).context["listing"].rows] == [
        "Offer 12"
    ]
    assert admin_client.get(terms, {"sort": "-duration"}).context["listing"].rows[0].title == "Offer 54"
    with django_assert_max_num_queries(12):
        assert admin_client.get(terms, {"page": 2}).status_code == 200


def test_periods_filter_sort_pages_and_export(admin_client, world, django_assert_max_num_queries):
    start = timezone.now() + timedelta(days=400)
    Period.objects.bulk_create(
        Period(
            start=start + timedelta(days=n),
            end=start + timedelta(days=n + 1),
            status=Period.Status.CLOSED,
            revenue_cents=n,
        )
        for n in range(MANY)
    )
    Period.objects.create(start=start - timedelta(days=1), end=start)  # one open
    periods = reverse("operations-periods")
    assert admin_client.get(periods).context["listing"].total == MANY + 1
    assert len(admin_client.get(periods, {"page": 2}).context["listing"].rows) == MANY + 1 - 50
    assert admin_client.get(periods, {"status": "open"}).context["listing"].total == 1
    assert (
        admin_client.get(periods, {"sort": "-revenue"}).context["listing"].rows[0].revenue_cents == MANY - 1
    )
    rows = _csv(admin_client.get(periods, {"status": "closed", "format": "csv"}))
    assert len(rows) == MANY + 1 and rows[0][:4] == ["period", "from", "until", "status"]
    with django_assert_max_num_queries(10):
        assert admin_client.get(periods, {"page": 2}).status_code == 200


def test_datasets_search_sort_and_pages(admin_client, world, django_assert_max_num_queries):
    for n in range(MANY):
        trust.dataset_create(actor=world.cast.admin, slug=f"set-{n:02d}", title=f"Crowd set {n:02d}")
    datasets = reverse("operations-datasets")
    assert admin_client.get(datasets).context["listing"].total == MANY + 1
    assert len(admin_client.get(datasets, {"page": 2}).context["listing"].rows) == MANY + 1 - 50
    assert [d.slug for d in admin_client.get(datasets, {"q": "set 07"}).context["listing"].rows] == ["set-07"]
    assert admin_client.get(datasets, {"sort": "-draft"}).context["listing"].rows[0].slug == "world"
    with django_assert_max_num_queries(10):
        assert admin_client.get(datasets, {"page": 2}).status_code == 200


def _bare_assets(admin, count: int, kind: str = "still_image") -> list:
    """Available asset rows without bytes: enough for lists that only show titles and kinds."""
    return Asset.objects.bulk_create(
        Asset(
            kind=kind,
            title=f"Still {n:02d}",
            content_type="image/png",
            size=1,
            sha256="0" * 64,
            object_key=f"assets/{uuid.uuid4()}",
            status=Asset.Status.AVAILABLE,
            created_by=admin,
        )
        for n in range(count)
    )


def test_a_dataset_page_pages_its_draft_and_its_candidates_apart(
    admin_client, world, django_assert_max_num_queries
):
    dataset = trust.dataset_create(actor=world.cast.admin, slug="stills", title="Stills")
    assets = _bare_assets(world.cast.admin, 2 * MANY)
    trust.dataset_add_assets(actor=world.cast.admin, dataset=dataset, asset_ids=[a.pk for a in assets[:MANY]])
    url = reverse("operations-dataset", args=[dataset.pk])
    page = admin_client.get(url, {"draft-page": 2, "add-sort": "-title"})
    assert page.context["draft"].total == MANY and len(page.context["draft"].rows) == MANY - 50
    candidates = page.context["candidates"]
    assert candidates.total == MANY + 2 and candidates.page.number == 1  # the world's two assets too
    stills = [asset.title for asset in candidates.rows if asset.title.startswith("Still")]
    assert len(candidates.rows) == 50 and stills == sorted(stills, reverse=True)
    found = admin_client.get(url, {"draft-q": "still 07", "add-q": "alice"})
    assert [a.title for a in found.context["draft"].rows] == ["Still 07"]
    assert {a.pk for a in found.context["candidates"].rows} == {world.alice_asset.pk, world.bob_asset.pk}
    assert admin_client.get(url, {"add-kind": "face_scan"}).context["candidates"].total == 2
    with django_assert_max_num_queries(30):
        assert admin_client.get(url, {"add-page": 2}).status_code == 200


# --- Statements -----------------------------------------------------------------------------


def test_statements_page_sort_and_export(client, world, django_assert_max_num_queries):
    start = timezone.now() + timedelta(days=400)
    Period.objects.bulk_create(
        Period(
            start=start + timedelta(days=n), end=start + timedelta(days=n + 1), status=Period.Status.CLOSED
        )
        for n in range(MANY)
    )
    alice = _login(client, world.cast.alice.user)
    statements = reverse("member-statements")
    first = alice.get(statements)
    assert first.context["listing"].total == MANY and len(first.context["listing"].rows) == 50
    assert (
        first.context["listing"].rows[0]["start"] > first.context["listing"].rows[1]["start"]
    )  # newest first
    second = alice.get(statements, {"page": 2, "sort": "period"})
    assert len(second.context["listing"].rows) == MANY - 50
    assert list(second.context["listing"].rows)[-1]["start"] == start + timedelta(days=MANY - 1)
    rows = _csv(alice.get(statements, {"format": "csv"}))
    assert len(rows) == MANY + 1 and rows[0] == [
        "period",
        "first day",
        "last day",
        "net",
        "pension",
        "trust fee",
        "gross",
    ]
    assert rows[1][3:] == ["0.00", "0.00", "0.00", "0.00"]
    with django_assert_max_num_queries(10):
        assert alice.get(statements, {"page": 2}).status_code == 200
