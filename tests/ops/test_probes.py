"""/healthz says the process answers; /readyz says its database, Redis and object store answer
too, and names the one that does not with a 503."""

import pytest
from django.db import OperationalError, connection

from tests.servers import free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_what_the_embedded_default_uses(client, settings):
    settings.REDIS_URL, settings.S3_BUCKET = "", ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "object_store": "ok"}}


def test_readyz_checks_redis_and_s3_on_the_real_stack(client, s3_settings, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/8"
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "s3": "ok"}


def test_readyz_names_redis_when_it_does_not_answer(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_names_s3_when_the_bucket_is_missing(client, s3_settings):
    s3_settings.S3_BUCKET = "no-such-bucket-here"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["s3"]


def test_readyz_names_s3_when_the_credentials_are_wrong(client, s3_settings):
    s3_settings.S3_SECRET_ACCESS_KEY = "not-the-secret"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["s3"]
    assert "not-the-secret" not in response.content.decode()


def test_readyz_names_the_database_when_it_does_not_answer(client, settings, monkeypatch):
    settings.REDIS_URL = ""

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "failed": ["database"],
        "checks": {"database": "failed", "object_store": "ok"},
    }


def test_readyz_names_the_local_store_when_it_cannot_be_written(client, settings, tmp_path):
    settings.REDIS_URL = ""
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    settings.LOCAL_OBJECT_ROOT = blocked / "objects"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["object_store"]
