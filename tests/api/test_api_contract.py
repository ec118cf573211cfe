"""What schemathesis found, each pinned by a test of its own: every API answer is the documented
`{"code", "detail"}` JSON (an address no route matches, a method an endpoint lacks, a body in a
form encoding), a call refuses the kind of token it does not take whatever that token's state,
and the schema says per operation which credentials it takes and which errors it answers."""

import pytest
from django.utils import timezone

from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", {"format": "json"}).json()


def _operation(schema, method, path):
    return schema["paths"][path][method]


@pytest.mark.parametrize(
    "path", ["/api/v1/periods/not-a-number/", "/api/v1/assets/not-a-uuid/", "/api/v1/no-such-thing/"]
)
def test_an_api_address_no_route_matches_is_a_json_404(anon, path):
    response = anon.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_a_page_no_route_matches_is_still_the_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


@pytest.mark.parametrize("method", ["patch", "put", "delete", "trace"])
def test_a_method_the_endpoint_lacks_is_405_before_any_credential_is_checked(world, method):
    for client in (bearer_client(world.secret_a), bearer_client("ut_unknown"), bearer_client()):
        response = getattr(client, method)("/api/v1/assets/")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"
        assert response["Allow"] == "GET, POST, OPTIONS"


def test_a_form_encoded_body_is_refused_with_415(world, as_user):
    client = as_user(world.cast.carol)
    response = client.post(
        "/api/v1/leases/",
        "terms=1&purpose=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_a_lease_token_on_a_login_call_is_refused_with_403(world):
    response = bearer_client(world.secret_a).get("/api/v1/assets/")
    assert response.status_code == 403
    assert response.json()["code"] == "lease_token_not_accepted"


def test_the_token_of_a_revoked_lease_is_still_403_on_a_login_call_not_410(world):
    type(world.lease_a).objects.filter(pk=world.lease_a.pk).update(status="revoked", ends_at=timezone.now())
    response = bearer_client(world.secret_a).get("/api/v1/consents/")
    assert response.status_code == 403
    assert response.json()["code"] == "lease_token_not_accepted"


def test_an_expired_lease_token_on_a_login_call_is_the_usual_401(world):
    type(world.token_a).objects.filter(pk=world.token_a.pk).update(expires_at=timezone.now())
    response = bearer_client(world.secret_a).get("/api/v1/assets/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_made_up_lease_token_on_a_login_call_is_the_usual_401(world):
    response = bearer_client("lt_made-up").get("/api/v1/assets/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_a_signed_in_session_opens_no_lease_data(world, client):
    client.force_login(world.cast.carol)
    response = client.get(f"/api/v1/leases/{world.lease_a.pk}/manifest/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "path", "schemes"),
    [
        ("get", "/api/v1/leases/{lease_id}/manifest/", [{"leaseToken": []}]),
        ("post", "/api/v1/leases/{lease_id}/usage/", [{"leaseToken": []}]),
        ("get", "/api/v1/assets/", [{"userToken": []}, {"cookieAuth": []}]),
        (
            "get",
            "/api/v1/leases/{lease_id}/takedowns/",
            [{"userToken": []}, {"leaseToken": []}, {"cookieAuth": []}],
        ),
        ("get", "/api/v1/transparency/leases/", [{}]),
    ],
)
def test_each_operation_names_only_the_credentials_it_takes(schema, method, path, schemes):
    assert _operation(schema, method, path)["security"] == schemes


def test_minting_a_user_token_takes_no_credential(schema):
    assert "security" not in _operation(schema, "post", "/api/v1/auth/token/")


def test_every_secured_operation_documents_401_and_403_with_the_error_shape(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if {} in operation.get("security", [{}]):
                continue
            for status in ("401", "403"):
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_asset_registration_documents_its_refusals(schema):
    responses = _operation(schema, "post", "/api/v1/assets/")["responses"]
    assert {"201", "400", "401", "403", "413", "415", "422"} <= set(responses)
    bad_request = responses["400"]["content"]["application/json"]["schema"]
    assert bad_request == {"$ref": "#/components/schemas/BadRequest"}


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        (
            "post",
            "/api/v1/leases/{lease_id}/usage/",
            {"400", "401", "403", "404", "409", "410", "413", "422"},
        ),
        ("get", "/api/v1/leases/{lease_id}/manifest/", {"401", "403", "404", "410"}),
        ("post", "/api/v1/auth/token/", {"400", "401", "413", "429"}),
        ("get", "/api/v1/leases/", {"400", "401", "403", "404"}),  # a page: bad_page_size, page_not_found
        ("post", "/api/v1/leases/{lease_id}/approve/", {"401", "403", "404", "409"}),
    ],
)
def test_operations_document_what_they_answer(schema, method, path, statuses):
    assert statuses <= set(_operation(schema, method, path)["responses"])


def test_every_link_names_an_operation_of_the_schema(schema):
    operation_ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    links = [
        link
        for ops in schema["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 15
    assert {link["operationId"] for link in links} <= operation_ids


def test_a_requested_lease_links_to_reading_it(schema):
    links = _operation(schema, "post", "/api/v1/leases/")["responses"]["201"]["links"]
    assert links["GetLease"] == {
        "operationId": "v1_leases_retrieve",
        "parameters": {"lease_id": "$response.body#/id"},
    }


def test_nested_lists_show_their_bounds(schema):
    asset = schema["components"]["schemas"]["AssetInputRequest"]["properties"]
    assert asset["contributors"]["minItems"] == 1
    usage = schema["components"]["schemas"]["UsageReportRequest"]["properties"]
    assert (usage["events"]["minItems"], usage["events"]["maxItems"]) == (1, 10000)


def test_string_shapes_the_services_require_are_in_the_schema(schema):
    asset = schema["components"]["schemas"]["AssetInputRequest"]["properties"]
    assert asset["sha256"]["pattern"] == "^[0-9a-fA-F]{64}$"
    share = schema["components"]["schemas"]["ContributorRequest"]["properties"]["share"]
    assert "pattern" in share


def test_text_fields_say_they_refuse_nul_characters(schema, world, as_user):
    description = schema["components"]["schemas"]["DatasetInputRequest"]["properties"]["description"]
    assert description["pattern"] == "^[^\\u0000]*$"
    response = as_user(world.cast.admin).post(
        "/api/v1/datasets/", {"slug": "w", "title": "t", "description": "a\x00"}
    )
    assert response.status_code == 400
