"""The OpenAPI schema covers every endpoint, the docs are served offline, every model has an
admin page, and the demo seed gives history in closed periods."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.urls import get_resolver
from django.utils import timezone

pytestmark = pytest.mark.django_db


def _api_routes():
    routes = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns)
    return [r for r in routes if r.startswith("api/v1/")]


def test_the_schema_documents_every_api_route(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    documented = set(response.json()["paths"])
    for route in _api_routes():
        as_openapi = "/" + route.replace("<id:", "{").replace("<uuid:", "{").replace(">", "}")
        assert as_openapi in documented, as_openapi


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_the_docs_load_nothing_from_a_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn." not in page and "unpkg" not in page and "jsdelivr" not in page


@pytest.mark.parametrize("app_label", ["trust", "licensing", "payouts"])
def test_every_model_has_an_admin_page(admin_client, app_label):
    for model in apps.get_app_config(app_label).get_models():
        if model.__name__ == "AuditHead":
            continue
        assert admin.site.is_registered(model), model
        url = f"/admin/{app_label}/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url


def test_the_demo_seed_has_closed_history_a_month_to_close_an_open_month_and_a_request(settings, capsys):
    from licensing.models import Lease
    from payouts.models import MemberEarning, Period

    settings.DEBUG = True  # the seed refuses to run on a production database
    call_command("seed_demo", verbosity=0)
    closed = list(Period.objects.filter(status="closed"))
    assert len(closed) == 3
    assert all(p.end <= timezone.now() for p in closed)
    assert all(p.revenue_cents == p.admin_fee_cents + p.pension_cents + p.net_cents for p in closed)
    ended, running = Period.objects.filter(status="open").order_by("start")
    assert ended.end <= timezone.now()  # the administrator can close it in the demo
    assert running.start <= timezone.now() < running.end
    assert Lease.objects.filter(status="requested").count() == 1
    assert MemberEarning.objects.filter(member__user__username="member").exists()
    call_command("seed_demo", verbosity=0)  # a second run changes nothing
    assert Period.objects.count() == 5
    assert "guildtrust-demo" in capsys.readouterr().out


def test_the_demo_seed_refuses_a_server_database_unless_told(settings):
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the embedded default is where the seed belongs")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="embedded default only"):
        call_command("seed_demo", verbosity=0)


def test_row_ids_in_paths_are_documented_as_integers(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    period = schema["paths"]["/api/v1/periods/{period_id}/"]["get"]["parameters"]
    (period_id,) = [p for p in period if p["name"] == "period_id"]
    assert period_id["schema"]["type"] == "integer"
