"""The studio's lists at scale: the catalogue's search and sort, and the lease list's search,
sort, pages and CSV export."""

import csv
import io

import pytest
from django.urls import reverse

from licensing import services
from licensing.models import Lease

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol_client(client, world):
    client.force_login(world.cast.carol)
    return client


def _offer(world, title, fee, uses=("training",)):
    return services.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title=title,
        permitted_uses=list(uses),
        duration_days=10,
        flat_fee_cents=fee,
    )


def _titles(response) -> list[str]:
    return [entry["terms"].title for entry in response.context["entries"]]


def test_the_catalogue_search_matches_titles_and_datasets(carol_client, world):
    _offer(world, "Voice pack", 500, uses=("voice_synthesis",))
    assert _titles(carol_client.get(reverse("studio-home"), {"q": "voice"})) == ["Voice pack"]
    by_dataset = carol_client.get(reverse("studio-home"), {"q": "WORLD"})
    assert sorted(_titles(by_dataset)) == ["Training", "Voice pack"]
    nothing = carol_client.get(reverse("studio-home"), {"q": "hologram"})
    assert _titles(nothing) == [] and "No terms on offer match" in nothing.content.decode()


def test_the_catalogue_sorts_by_title_price_and_newest(carol_client, world):
    _offer(world, "Alpha", 5000)
    _offer(world, "Zulu", 1)
    home = reverse("studio-home")
    assert _titles(carol_client.get(home)) == ["Alpha", "Training", "Zulu"]
    assert _titles(carol_client.get(home, {"sort": "-title"})) == ["Zulu", "Training", "Alpha"]
    assert _titles(carol_client.get(home, {"sort": "price"})) == ["Zulu", "Training", "Alpha"]
    assert _titles(carol_client.get(home, {"sort": "-price"})) == ["Alpha", "Training", "Zulu"]
    assert _titles(carol_client.get(home, {"sort": "-newest"})) == ["Zulu", "Alpha", "Training"]


def test_the_catalogue_still_filters_by_use_and_kind_with_search(carol_client, world):
    _offer(world, "Crowds", 10, uses=("crowd_generation",))
    home = reverse("studio-home")
    assert _titles(carol_client.get(home, {"use": "crowd_generation", "q": "crowd"})) == ["Crowds"]
    assert _titles(carol_client.get(home, {"use": "crowd_generation", "q": "training"})) == []
    assert _titles(carol_client.get(home, {"kind": "script"})) == []


@pytest.fixture
def many_requests(world):
    for n in range(55):
        services.lease_request(actor=world.cast.carol, terms=world.terms, purpose=f"Request {n:02d}")
    return 56  # and Studio A's active lease


def test_the_lease_list_has_a_second_page(carol_client, many_requests):
    first = carol_client.get(reverse("studio-leases"))
    assert first.context["listing"].total == many_requests
    assert len(first.context["listing"].rows) == 50
    assert "Showing 1–50 of 56" in first.content.decode()
    second = carol_client.get(reverse("studio-leases"), {"page": 2})
    assert len(second.context["listing"].rows) == 6


def test_the_lease_list_search_and_status_narrow_it(carol_client, world, many_requests):
    found = carol_client.get(reverse("studio-leases"), {"q": "request 07"})
    assert [lease.purpose for lease in found.context["listing"].rows] == ["Request 07"]
    active = carol_client.get(reverse("studio-leases"), {"status": "active"})
    assert [lease.pk for lease in active.context["listing"].rows] == [world.lease_a.pk]


def test_the_lease_list_sorts_by_its_columns(carol_client, world, many_requests):
    by_status = carol_client.get(reverse("studio-leases"), {"sort": "status"}).context["listing"].rows
    assert by_status[0].pk == world.lease_a.pk  # "active" sorts before "requested"
    oldest = carol_client.get(reverse("studio-leases"), {"sort": "requested"}).context["listing"].rows
    assert oldest[0].pk == world.lease_a.pk
    newest = carol_client.get(reverse("studio-leases"), {"sort": "-requested"}).context["listing"].rows
    assert newest[0].purpose == "Request 54"


def test_the_lease_csv_holds_the_whole_filtered_list_with_formulas_neutralised(
    carol_client, world, many_requests
):
    services.lease_request(actor=world.cast.carol, terms=world.terms, purpose='=HYPERLINK("http://evil")')
    response = carol_client.get(reverse("studio-leases"), {"status": "requested", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["lease", "terms"]
    assert len(rows) - 1 == Lease.objects.filter(studio=world.cast.studio_a, status="requested").count() == 56
    assert '\'=HYPERLINK("http://evil")' in [row[4] for row in rows]
    assert str(world.lease_b.pk) not in [row[0] for row in rows[1:]]  # Studio B's lease is not Studio A's
