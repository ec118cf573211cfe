"""/metrics: Prometheus counters a scraper holding METRICS_TOKEN reads, and sees move when
requests are answered, downloads served or refused, usage ingested, tasks run and periods close."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from payouts import services as payouts
from payouts.models import Period
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
TOKEN = "metrics-scraper-secret-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    """Every sample as {(name, frozenset(labels)): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- Refusals -------------------------------------------------------------------------------


def test_metrics_are_off_without_a_token_setting(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_refuse_a_scraper_without_the_token(client, metrics_on):
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"
    assert b"guildtrust_" not in response.content


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN])
def test_metrics_refuse_a_wrong_token(client, metrics_on, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401


# --- The counters move ----------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_view(client, metrics_on):
    before = scrape(client)
    for _ in range(3):
        client.get("/healthz")
    after = scrape(client)
    key = {"view": "health", "method": "GET", "status": "200"}
    assert (
        value(after, "guildtrust_http_requests_total", **key)
        - value(before, "guildtrust_http_requests_total", **key)
        == 3
    )
    count = "guildtrust_http_request_duration_seconds_count"
    assert (
        value(after, count, view="health", method="GET") - value(before, count, view="health", method="GET")
        == 3
    )


def test_an_unknown_path_is_one_label_not_one_per_path(client, metrics_on):
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    samples = scrape(client)
    assert (
        value(samples, "guildtrust_http_requests_total", view="unresolved", method="GET", status="404") >= 2
    )
    assert not any("/no/such" in str(labels) for _, labels in samples)


def test_downloads_and_refusals_are_counted_by_reason(client, metrics_on, world):
    before = scrape(client)
    studio = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    assert studio.get(url).status_code == 302
    assert studio.get(url).status_code == 302
    assert bearer_client("lt_not-a-real-token-at-all").get(url).status_code == 401
    other = f"/api/v1/leases/{world.lease_a.pk}/assets/00000000-0000-0000-0000-000000000000/download/"
    assert studio.get(other).status_code == 404
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("guildtrust_gateway_downloads_total") == 2
    assert moved("guildtrust_usage_events_ingested_total", source="gateway") == 2
    refusals = {
        dict(labels)["reason"]: v - value(before, name, **dict(labels))
        for (name, labels), v in after.items()
        if name == "guildtrust_gateway_refusals_total"
    }
    assert {reason: n for reason, n in refusals.items() if n} == {"token_invalid": 1, "asset_not_found": 1}


def test_reported_usage_is_counted(client, metrics_on, world):
    before = scrape(client)
    now = timezone.now()
    events = [
        {"event_key": f"run-{n}", "kind": "training_run", "quantity": 1, "occurred_at": now.isoformat()}
        for n in range(3)
    ]
    url = f"/api/v1/leases/{world.lease_a.pk}/usage/"
    studio = bearer_client(world.secret_a)
    assert studio.post(url, {"events": events}, format="json").status_code == 202
    assert studio.post(url, {"events": events[:1]}, format="json").json() == {"accepted": 0, "duplicates": 1}
    after = scrape(client)
    name = "guildtrust_usage_events_ingested_total"
    assert value(after, name, source="report") - value(before, name, source="report") == 3
    dup = "guildtrust_usage_events_duplicate_total"
    assert value(after, dup) - value(before, dup) == 1


def test_a_period_close_is_timed_task_by_task_and_its_batches_counted(client, metrics_on, world):
    from payouts.tasks import close_period

    now = timezone.now()
    period = payouts.period_create(actor=world.cast.admin, start=now - timedelta(days=1), end=now)
    before = scrape(client)
    close_period.delay(period.pk)  # eager in unit tests: the same signals as on a worker
    after = scrape(client)
    assert Period.objects.get(pk=period.pk).status == Period.Status.CLOSED
    count = "guildtrust_celery_task_duration_seconds_count"
    for name in ("close_period", "close_period_batch", "close_period_finish"):
        task = {"task": f"payouts.tasks.{name}", "state": "SUCCESS"}
        assert value(after, count, **task) - value(before, count, **task) == 1, name
    batches = "guildtrust_period_close_batches_posted_total"
    assert value(after, batches) - value(before, batches) == 1  # two leases: one batch


def test_a_failing_task_is_counted(client, metrics_on, monkeypatch):
    from licensing import services
    from licensing.tasks import expire_leases

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "leases_expire_due", broken)
    before = scrape(client)
    # As on a worker: the failure is recorded, not raised into the caller.
    assert expire_leases.apply(throw=False).failed()
    after = scrape(client)
    name = "guildtrust_celery_task_failures_total"
    task = "licensing.tasks.expire_leases"
    assert value(after, name, task=task) - value(before, name, task=task) == 1
    count = "guildtrust_celery_task_duration_seconds_count"
    assert (
        value(after, count, task=task, state="FAILURE") - value(before, count, task=task, state="FAILURE")
        == 1
    )


def test_a_closing_period_shows_its_progress(client, metrics_on, world):
    now = timezone.now()
    period = payouts.period_create(actor=world.cast.admin, start=now - timedelta(days=1), end=now)
    Period.objects.filter(pk=period.pk).update(status=Period.Status.CLOSING, leases_total=10, leases_done=4)
    samples = scrape(client)
    assert value(samples, "guildtrust_period_close_leases_done", period=str(period.pk)) == 4
    assert value(samples, "guildtrust_period_close_leases_total", period=str(period.pk)) == 10
