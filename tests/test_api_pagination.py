"""Every API list answers one page: `{count, next, previous, results}`, `page_size` up to 500."""

import pytest

from licensing import services as licensing
from trust.api.pagination import MAX_PAGE_SIZE, PAGE_SIZE

pytestmark = pytest.mark.django_db

# Every GET that answers a list, with who may call it (the schema test below finds them all).
LIST_ENDPOINTS = [
    ("admin", "/api/v1/members/"),
    ("admin", "/api/v1/studios/"),
    ("admin", "/api/v1/terms/"),
    ("admin", "/api/v1/datasets/"),
    ("admin", "/api/v1/datasets/{dataset}/versions/"),
    ("admin", "/api/v1/periods/"),
    ("admin", "/api/v1/payouts/batches/"),
    ("admin", "/api/v1/audit/"),
    ("admin", "/api/v1/assets/"),
    ("carol", "/api/v1/catalog/"),
    ("carol", "/api/v1/leases/"),
    ("carol", "/api/v1/leases/{lease}/tokens/"),
    ("carol", "/api/v1/leases/{lease}/takedowns/"),
    ("carol", "/api/v1/charges/"),
    ("alice", "/api/v1/consents/"),
    ("alice", "/api/v1/me/leases/"),
    (None, "/api/v1/transparency/leases/"),
]


def _client(world, as_user, anon, who):
    return anon if who is None else as_user(getattr(world.cast, who))


def _url(world, path):
    return path.format(dataset=world.dataset.pk, lease=world.lease_a.pk)


@pytest.mark.parametrize(("who", "path"), LIST_ENDPOINTS, ids=[p for _, p in LIST_ENDPOINTS])
def test_every_list_endpoint_answers_a_page(world, as_user, anon, who, path):
    response = _client(world, as_user, anon, who).get(_url(world, path))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) and body["previous"] is None


@pytest.mark.parametrize(("who", "path"), LIST_ENDPOINTS, ids=[p for _, p in LIST_ENDPOINTS])
def test_a_page_size_over_the_limit_is_a_400(world, as_user, anon, who, path):
    response = _client(world, as_user, anon, who).get(_url(world, path), {"page_size": MAX_PAGE_SIZE + 1})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_page_size"


@pytest.fixture
def many_leases(world):
    """Studio A asks for PAGE_SIZE + 5 more leases, on top of its one active lease."""
    for n in range(PAGE_SIZE + 5):
        licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose=f"request {n}")
    return PAGE_SIZE + 6


def test_pages_link_to_each_other_and_count_the_whole_list(world, as_user, many_leases):
    carol = as_user(world.cast.carol)
    first = carol.get("/api/v1/leases/").json()
    assert first["count"] == many_leases
    assert len(first["results"]) == PAGE_SIZE
    assert first["previous"] is None and "page=2" in first["next"]
    second = carol.get(first["next"]).json()
    assert len(second["results"]) == many_leases - PAGE_SIZE
    assert second["next"] is None and second["previous"] is not None
    seen = {row["id"] for row in first["results"]} | {row["id"] for row in second["results"]}
    assert len(seen) == many_leases  # no row twice, none left out


def test_page_size_chooses_the_rows_per_page(world, as_user, many_leases):
    body = as_user(world.cast.carol).get("/api/v1/leases/", {"page_size": 7}).json()
    assert len(body["results"]) == 7 and "page_size=7" in body["next"]
    everything = as_user(world.cast.carol).get("/api/v1/leases/", {"page_size": MAX_PAGE_SIZE}).json()
    assert len(everything["results"]) == many_leases and everything["next"] is None


@pytest.mark.parametrize("size", ["0", "-1", "ten", "1.5"])
def test_a_malformed_page_size_is_a_400(world, as_user, size):
    response = as_user(world.cast.carol).get("/api/v1/leases/", {"page_size": size})
    assert response.status_code == 400 and response.json()["code"] == "bad_page_size"


@pytest.mark.parametrize("page", ["99", "0", "x"])
def test_a_page_past_the_end_is_a_404(world, as_user, page):
    response = as_user(world.cast.carol).get("/api/v1/leases/", {"page": page})
    assert response.status_code == 404 and response.json()["code"] == "page_not_found"


def test_the_catalogue_counts_dataset_summaries_only_for_the_page(
    world, as_user, django_assert_max_num_queries
):
    carol = as_user(world.cast.carol)
    # Each shown offer also carries its consent coverage (a few queries per offer on the page,
    # none for the offers not shown).
    with django_assert_max_num_queries(18):
        body = carol.get("/api/v1/catalog/", {"page_size": 1}).json()
    assert body["results"][0]["dataset"]["asset_count"] == 2


def test_the_register_reads_a_page_in_a_fixed_number_of_queries(world, anon, django_assert_max_num_queries):
    for n in range(5):
        licensing.lease_approve(
            actor=world.cast.admin,
            lease=licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose=f"more {n}"),
        )
    with django_assert_max_num_queries(4):
        body = anon.get("/api/v1/transparency/leases/").json()
    assert body["count"] == 7 and all(row["member_count"] == 2 for row in body["results"])


def test_the_schema_shows_every_list_paginated(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for _, path in LIST_ENDPOINTS:
        openapi_path = path.replace("{dataset}", "{dataset_id}").replace("{lease}", "{lease_id}")
        operation = schema["paths"][openapi_path]["get"]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        shape = components[ref.rsplit("/", 1)[1]]
        assert {"count", "results"} <= set(shape["required"]), path
        assert set(shape["properties"]) == {"count", "next", "previous", "results"}, path
        size = next(p for p in operation["parameters"] if p["name"] == "page_size")
        assert size["schema"]["maximum"] == MAX_PAGE_SIZE, path
