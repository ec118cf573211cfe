import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from trust.tokens import user_token_mint

pytestmark = pytest.mark.django_db

ROLES = ["admin", "member", "studio", "lease_token", "anonymous"]


def role_headers(role, world):
    if role == "anonymous":
        return {}
    if role == "lease_token":
        return {"Authorization": f"Bearer {world.secret_a}"}
    user = {"admin": world.cast.admin, "member": world.cast.alice.user, "studio": world.cast.carol}[role]
    return {"Authorization": f"Bearer {user_token_mint(user=user)[1]}"}


@pytest.fixture
def in_process_app():
    """Django's WSGI app in this process, on the test's connection (as Django's test client does:
    without this, each request would close the connection the test's transaction lives on)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=ROLES)
def api_schema(request, world, settings, in_process_app):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": 5},
            "checks": {"enabled": True},
            "headers": role_headers(request.param, world),
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/", in_process_app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api(case):
    case.call_and_validate()
