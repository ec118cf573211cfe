"""Schemathesis against `/api/schema/`, once per role: a member, studio staff, a lease token, a
trust administrator and an anonymous caller. Every check runs (server errors, status codes,
content types and response shapes as documented, negative and positive data, ignored
authentication, methods the schema does not list, use after free, ...), operation by
operation and then statefully along the schema's links (a lease requested, then read,
tokened, cancelled; a dataset created, then filled and frozen; ...).

The app runs in this process on the test's database connection, against the module's shared
`world` (every role reaches real objects: Alice's assets and consents, Carol's lease and its
token, the admin's datasets and terms), so what schemathesis writes is rolled back after each
test. Examples per operation are bounded (`EXAMPLES`, `STATEFUL_SCENARIOS`) to keep the whole
module to a few minutes on two cores; the case count per role is written to
`tests/artifacts/schemathesis-cases.json`."""

import json
import re
from collections import Counter

import pytest
import schemathesis
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import ARTIFACTS
from trust.tokens import user_token_mint

pytestmark = pytest.mark.django_db

ROLES = ["member", "studio", "lease_token", "admin", "anonymous"]
EXAMPLES = 4
STATEFUL_SCENARIOS = 12
STATEFUL_STEPS = 6
ACCEPTED_OR_REFUSED_BY_A_RULE = ["2XX", "3XX", "401", "403", "404", "409", "410", "422", "429"]
CASES: Counter = Counter()


def _role_headers(role: str, world) -> dict:
    if role == "anonymous":
        return {}
    if role == "lease_token":
        return {"Authorization": f"Bearer {world.secret_a}"}
    user = {"member": world.cast.alice.user, "studio": world.cast.carol, "admin": world.cast.admin}[role]
    return {"Authorization": f"Bearer {user_token_mint(user=user)[1]}"}


@pytest.fixture
def in_process_app(monkeypatch):
    """Django's WSGI app on the test's own connection, as Django's test client runs it (each
    request would otherwise close the connection the test's transaction lives on). The token
    endpoint's throttle counts in a cache of this test's own, so no later test inherits a 429."""
    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache(f"throttle-{id(monkeypatch)}", {}))
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Coverage cases (schemathesis's boundary and negative values, the bulk of all cases) run for
# each operation once, as the role that owns it; every role fuzzes every operation and walks
# the links, so each still meets every refusal.
OWNS = {
    "member": r"^v1_(consents|me|assets)_",
    "studio": r"^v1_(catalog|charges|takedowns)_"
    r"|^v1_leases_(create|cancel_create|tokens_|derived_tokens_|takedowns_|models_)",
}


def _owner(operation: dict) -> str:
    schemes = {name for requirement in operation.get("security", [{}]) for name in requirement}
    if {} in operation.get("security", [{}]):
        return "anonymous"
    if schemes == {"leaseToken"}:
        return "lease_token"
    for role, pattern in OWNS.items():
        if re.search(pattern, operation["operationId"]):
            return role
    return "admin"


def _owned_by_others(role: str, document: dict) -> list[str]:
    return [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if _owner(operation) != role
    ]


def _load(role: str, world, app) -> schemathesis.schemas.BaseSchema:
    document = SchemaGenerator().get_schema(request=None, public=True)
    config = schemathesis.Config.from_dict(
        {
            "seed": 20260101,
            "headers": _role_headers(role, world),
            "generation": {"max-examples": EXAMPLES},
            "checks": {
                "enabled": True,
                # Schema-valid input may still break a rule the schema cannot state (shares that
                # sum to 1, a media type, a lease's state): 409, 410 or 422, never 400 or 5xx.
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_REFUSED_BY_A_RULE},
            },
            "operations": [
                {
                    "include-operation-id": _owned_by_others(role, document),
                    "phases": {"coverage": {"enabled": False}},
                }
            ],
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/", app, config=config)


@pytest.fixture(params=ROLES)
def api_schema(request, world, in_process_app):
    request.node.role = request.param
    return _load(request.param, world, in_process_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
def test_every_operation_as_each_role(case, request):
    CASES[request.node.role] += 1
    CASES[f"{request.node.role} ({case.meta.phase.name})"] += 1
    case.call_and_validate()


@pytest.mark.parametrize("role", ROLES)
def test_linked_operations_as_each_role(role, world, in_process_app):
    api = _load(role, world, in_process_app)

    class Workflow(api.as_state_machine()):
        # Each scenario starts from the same database: what an earlier one wrote (a studio's
        # name taken, a period made) would otherwise change which links a replay can follow,
        # and hypothesis refuses a replay that draws differently (FlakyStrategyDefinition).
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            CASES[f"{role} (stateful)"] += 1

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            suppress_health_check=list(HealthCheck),
            deadline=None,
            derandomize=True,
        )
    )


@pytest.fixture(scope="module", autouse=True)
def _report_case_counts():
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis-cases.json").write_text(json.dumps(dict(sorted(CASES.items())), indent=2))
