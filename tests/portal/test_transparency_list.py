"""The public register at scale: search, sort, pages and the CSV of the whole filtered list."""

import csv
import io

import pytest
from django.urls import reverse

from licensing import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def register(world):
    for n in range(50):
        services.lease_approve(
            actor=world.cast.admin,
            lease=services.lease_request(
                actor=world.cast.dave, terms=world.terms, purpose=f"B model {n:02d}"
            ),
        )
    services.lease_approve(
        actor=world.cast.admin,
        lease=services.lease_request(actor=world.cast.carol, terms=world.terms, purpose='=cmd|" /c calc"!A1'),
    )
    return 53  # with the world's two leases


def test_the_register_pages_through_every_approved_lease(client, register):
    first = client.get(reverse("transparency"))
    assert first.status_code == 200 and first.context["listing"].total == register
    assert len(first.context["leases"]) == 50
    assert len(client.get(reverse("transparency"), {"page": 2}).context["leases"]) == 3


def test_the_register_search_narrows_to_a_studio(client, world, register):
    found = client.get(reverse("transparency"), {"q": "studio a"}).context["leases"]
    assert {row["studio"] for row in found} == {"Studio A"} and len(found) == 2


def test_the_register_sorts_by_studio(client, register):
    ascending = client.get(reverse("transparency"), {"sort": "studio"}).context["leases"]
    descending = client.get(reverse("transparency"), {"sort": "-studio"}).context["leases"]
    assert ascending[0]["studio"] == "Studio A" and descending[0]["studio"] == "Studio B"


def test_the_register_csv_is_the_whole_filtered_list_with_formulas_neutralised(client, register):
    response = client.get(reverse("transparency"), {"q": "studio a", "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["lease", "studio", "dataset"]
    assert [row[1] for row in rows[1:]] == ["Studio A", "Studio A"]
    assert '\'=cmd|" /c calc"!A1' in [row[5] for row in rows[1:]]
    everything = client.get(reverse("transparency"), {"format": "csv"})
    assert len(list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))) == register + 1
