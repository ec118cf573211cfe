"""Structured logs: JSON lines carrying the request id (the caller's X-Request-ID or a new
one, echoed back), into the tasks a request enqueues; and no token or secret in any line, even
with DEBUG logging of everything, SQL included."""

import io
import json
import logging
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from structlog.contextvars import bound_contextvars

from config import logs
from payouts.models import Period
from tests.conftest import bearer_client
from tests.factories import PASSWORD
from trust.models import UserToken

pytestmark = pytest.mark.django_db


@contextmanager
def captured_logs(level=logging.DEBUG):
    """Every record of every logger at `level`, rendered by the project's JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.config.DictConfigurator({}).configure_formatter(
            logs.logging_config("DEBUG")["formatters"]["json"]
        )
    )
    root, django_logger = logging.getLogger(), logging.getLogger("django")
    previous = root.level, django_logger.level
    root.addHandler(handler)
    root.setLevel(level)
    django_logger.setLevel(level)  # Django's own default stops its loggers at INFO
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous[0])
        django_logger.setLevel(previous[1])


@pytest.fixture
def sql_logged():
    """django.db.backends logs every statement with its parameters, as under DEBUG=True."""
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- Request ids ----------------------------------------------------------------------------


def test_a_request_gets_an_id_and_the_response_echoes_it(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_the_callers_request_id_is_kept(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42").headers["X-Request-ID"] == "lb-7f3a.42"


@pytest.mark.parametrize("forged", ["a b", "x" * 129, 'id"}\n{"admin":true', ""])
def test_a_request_id_that_could_forge_a_log_line_is_replaced(client, forged):
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID=forged)["X-Request-ID"]
    assert echoed != forged and len(echoed) == 32


def test_each_request_logs_one_json_line_with_its_id_view_and_status(client, world):
    with captured_logs(logging.INFO) as stream:
        client.force_login(world.cast.alice.user)
        client.get("/member/", HTTP_X_REQUEST_ID="req-member-1")
    [line] = [row for row in lines(stream) if row["event"] == "request"]
    assert line["request_id"] == "req-member-1"
    assert line["view"] == "member-home" and line["status"] == 200 and line["method"] == "GET"
    assert set(line) >= {"timestamp", "level", "logger", "ms"}


def test_lines_written_during_a_request_carry_its_id(client, world, sql_logged):
    bearer = bearer_client(world.secret_a)
    with captured_logs() as stream:
        bearer.get(
            f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/",
            HTTP_X_REQUEST_ID="req-dl-1",
        )
    written = lines(stream)
    assert len(written) > 1  # the SQL and the request line, at least
    assert {row.get("request_id") for row in written} == {"req-dl-1"}


def test_a_task_message_carries_the_enqueuing_request_id():
    headers = {}
    with bound_contextvars(request_id="req-task-1"):
        logs.add_request_id_header(headers=headers)
    assert headers == {logs.TASK_HEADER: "req-task-1"}


def test_an_eager_task_logs_with_the_request_id_and_leaves_it_bound(world):
    from payouts.tasks import close_period

    now = timezone.now()
    from payouts import services as payouts

    period = payouts.period_create(actor=world.cast.admin, start=now - timedelta(days=1), end=now)
    with captured_logs() as stream, bound_contextvars(request_id="req-close-1"):
        close_period.delay(period.pk)
        after = logs.current_request_id()
    assert after == "req-close-1"
    in_task = [row for row in lines(stream) if row.get("task_id")]
    assert in_task and {row["request_id"] for row in in_task} == {"req-close-1"}


# --- No secrets -----------------------------------------------------------------------------


def test_a_full_flow_with_debug_logging_writes_no_token_or_secret(
    client, world, as_user, settings, sql_logged, django_capture_on_commit_callbacks
):
    """Token mint (user and lease), manifest, download, usage report, token revocation and a
    period close, with every logger at DEBUG and every SQL statement logged with its parameters."""
    settings.METRICS_TOKEN = "metrics-token-never-logged-42"
    secrets = {settings.SECRET_KEY, PASSWORD, world.secret_a, world.secret_b, settings.METRICS_TOKEN}
    with captured_logs() as stream, django_capture_on_commit_callbacks(execute=True):
        minted = client.post(
            "/api/v1/auth/token/",
            {"username": "carol", "password": PASSWORD},
            content_type="application/json",
        ).json()["token"]
        carol = bearer_client(minted)
        lease_token = carol.post(
            f"/api/v1/leases/{world.lease_a.pk}/tokens/", {"name": "farm"}, format="json"
        ).json()
        studio = bearer_client(lease_token["token"])
        assert studio.get(f"/api/v1/leases/{world.lease_a.pk}/manifest/").status_code == 200
        download = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
        assert studio.get(download).status_code == 302
        now = timezone.now()
        report = {"events": [{"event_key": "r1", "kind": "training_run", "quantity": 2, "occurred_at": now}]}
        assert (
            studio.post(f"/api/v1/leases/{world.lease_a.pk}/usage/", report, format="json").status_code == 202
        )
        assert (
            client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}").status_code == 200
        )
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-guess").status_code == 401
        assert (
            carol.delete(f"/api/v1/leases/{world.lease_a.pk}/tokens/{lease_token['id']}/").status_code == 204
        )
        assert studio.get(download).status_code == 401  # refused, and the refusal is logged
        admin = as_user(world.cast.admin)
        period = admin.post(
            "/api/v1/periods/",
            {
                "start": (now - timedelta(days=1)).isoformat(),
                "end": (now + timedelta(seconds=1)).isoformat(),
            },
            format="json",
        ).json()
        Period.objects.filter(pk=period["id"]).update(end=now)
        assert admin.post(f"/api/v1/periods/{period['id']}/close/").status_code in (200, 202)
    text = stream.getvalue()
    assert Period.objects.get(pk=period["id"]).status == Period.Status.CLOSED
    assert "django.db.backends" in text and "SELECT" in text  # SQL was logged, parameters too
    assert UserToken.objects.filter(user=world.cast.carol).exists()
    for secret in secrets | {minted, lease_token["token"]}:
        assert secret not in text
    # Token-shaped strings (`ut_`/`lt_` not inside a word such as payout_iban), unmasked.
    assert re.findall(r"(?<![A-Za-z0-9])(?:ut|lt)_(?!\[redacted\])[A-Za-z0-9_-]{8,}", text) == []


def test_a_token_logged_by_mistake_is_masked():
    with captured_logs() as stream:
        logging.getLogger("careless").warning("got %s", "lt_AbCdEf0123456789xyz")
    [line] = lines(stream)
    assert line["event"] == "got lt_[redacted]"


def test_the_settings_log_json_to_stderr():
    formatter = django_settings.LOGGING["handlers"]["console"]["formatter"]
    assert django_settings.LOGGING["formatters"][formatter]["()"].__name__ == "ProcessorFormatter"
