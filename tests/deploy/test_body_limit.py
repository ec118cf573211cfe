"""Request bodies above API_MAX_BODY_BYTES are refused with 413 `body_too_large` before anything
parses them; the largest legitimate body, a usage report of 10,000 events, is well inside."""

import io
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.parsers import JSONParser

from licensing.models import UsageEvent
from tests.conftest import bearer_client
from trust.api.validation import QUANTITY_MAX
from trust.storage import get_object_store

pytestmark = pytest.mark.django_db

MAX_EVENTS = 10_000


def _largest_usage_report(world, kind=UsageEvent.Kind.GENERATED_SECOND) -> dict:
    """10,000 events with every field at its longest: 200-character keys, the longest kind, an
    asset, the largest quantity and a timestamp with microseconds and an offset."""
    at = (world.lease_a.starts_at + timedelta(microseconds=123_456)).isoformat(timespec="microseconds")
    return {
        "events": [
            {
                "event_key": f"{number:08d}-".ljust(200, "k"),
                "kind": kind,
                "asset": str(world.alice_asset.pk),
                "quantity": QUANTITY_MAX,
                "occurred_at": at,
            }
            for number in range(MAX_EVENTS)
        ]
    }


def test_a_30_mb_anonymous_body_is_refused_before_it_is_parsed():
    body = json.dumps({"username": "x" * 30_000_000, "password": "y"})
    with mock.patch.object(JSONParser, "parse", side_effect=AssertionError("the body was parsed")) as parse:
        response = Client().post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "code": "body_too_large",
        "detail": f"the request body is larger than {settings.API_MAX_BODY_BYTES} bytes (API_MAX_BODY_BYTES)",
    }
    parse.assert_not_called()


def test_a_body_above_the_limit_is_refused_on_a_page_too(settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = Client().post("/accounts/login/", {"username": "u", "password": "p" * 2000})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def _chunked(path: str, body: bytes, client: Client | None = None, **headers):
    """A POST as gunicorn hands over a chunked body: no Content-Length, the input read to its end."""
    return (client or Client()).generic(
        "POST",
        path,
        b"",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH="",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
        **headers,
    )


def test_a_chunked_body_above_the_limit_is_refused_before_it_is_parsed(settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = json.dumps({"username": "x" * 5000, "password": "y"}).encode()
    with mock.patch.object(JSONParser, "parse", side_effect=AssertionError("the body was parsed")) as parse:
        response = _chunked("/api/v1/auth/token/", body)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    parse.assert_not_called()


def test_a_chunked_body_within_the_limit_is_read_whole(world):
    at = (world.lease_a.starts_at + timedelta(seconds=1)).isoformat()
    report = {
        "events": [{"event_key": "chunked-1", "kind": "training_run", "quantity": 3, "occurred_at": at}]
    }
    response = _chunked(
        f"/api/v1/leases/{world.lease_a.pk}/usage/",
        json.dumps(report).encode(),
        HTTP_AUTHORIZATION=f"Bearer {world.secret_a}",
    )
    assert response.status_code == 202, response.content
    assert UsageEvent.objects.get(lease=world.lease_a, event_key="chunked-1").quantity == 3


def test_a_page_reading_past_djangos_bound_answers_413_json_not_a_400_page(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # below API_MAX_BODY_BYTES, as under ASGI
    response = Client().post("/accounts/login/", {"username": "u", "password": "p" * 500})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_the_largest_usage_report_fits_the_limit_with_room_to_spare(world):
    report = _largest_usage_report(world)
    compact = len(json.dumps(report, separators=(",", ":")).encode())
    indented = len(json.dumps(report, indent=2).encode())
    print(f"10,000-event usage report: {compact} bytes compact, {indented} indented")
    assert indented * 2 < settings.API_MAX_BODY_BYTES


def test_a_10000_event_usage_report_is_still_accepted(world):
    report = _largest_usage_report(world, kind=UsageEvent.Kind.TRAINING_RUN)  # what lease A permits
    body = json.dumps(report, indent=2)
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", body, content_type="application/json"
    )
    assert response.status_code == 202, response.content[:500]
    assert response.json()["accepted"] == MAX_EVENTS
    assert UsageEvent.objects.filter(lease=world.lease_a, event_key__endswith="k" * 150).count() == MAX_EVENTS


def test_the_embedded_stores_uploads_are_not_held_to_the_body_limit(settings, client):
    settings.API_MAX_BODY_BYTES = 1000
    store = get_object_store()
    url = store.presigned_put("staging/not-an-asset", content_type="image/png", expires_in=60).url
    response = client.put(url.removeprefix(store.base_url), b"p" * 5000, content_type="image/png")
    assert response.status_code == 200
    assert store.size("staging/not-an-asset") == 5000
