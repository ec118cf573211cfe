"""Fixtures: named personas, API clients, the object store, and the real services.

Unit tests run tasks eagerly and keep objects in a temporary local store. Tests marked
`integration` get the real stack: PostgreSQL (the suite's database), Redis, an S3 server
started here, and a Celery worker process started here."""

import importlib
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from rest_framework.test import APIClient

from config.celery import app as celery_app
from licensing import services as licensing
from licensing import tokens as lease_tokens
from tests import factories
from tests.factories import grant_all, make_asset
from tests.servers import CeleryWorker, S3Server, suite_database_url
from trust import services as trust
from trust.storage import _s3_client

ARTIFACTS = Path(__file__).parent / "artifacts"
S3_BUCKET = "guildtrust-test"


def pytest_collection_modifyitems(config, items):
    on_sqlite = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    for item in items:
        if on_sqlite and item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.skip(reason="integration tests need PostgreSQL (make test)"))


@pytest.fixture(autouse=True)
def _isolated_store_and_eager_tasks(request, settings, tmp_path):
    """Each test gets its own local object directory; unit tests run Celery tasks in-process."""
    settings.LOCAL_OBJECT_ROOT = tmp_path / "objects"
    # Deliberately weak hashing in tests: PBKDF2 would spend most of the suite's time here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.S3_BUCKET = ""
    integration = request.node.get_closest_marker("integration") is not None
    # The Django namespace wins over Celery's own key names, so set it under its settings name.
    previous = celery_app.conf.task_always_eager
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = not integration
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


@pytest.fixture(scope="session")
def s3_server():
    with S3Server() as server:
        server.create_bucket(S3_BUCKET)
        yield server


@pytest.fixture
def s3_settings(settings, s3_server):
    """Point the object store at the suite's S3 server."""
    settings.S3_BUCKET = S3_BUCKET
    settings.S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.S3_ACCESS_KEY_ID = s3_server.access_key
    settings.S3_SECRET_ACCESS_KEY = s3_server.secret_key
    settings.S3_REGION = "us-east-1"
    yield settings
    _s3_client.cache_clear()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, s3_server):
    """A real worker process on Redis, using the suite's test database and S3 server."""
    database = django_settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        pytest.skip("a real worker needs PostgreSQL")
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("a real worker needs REDIS_URL")
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    with CeleryWorker(env=stack_env(redis_url=redis_url, s3_server=s3_server)) as worker:
        yield worker


def stack_env(*, redis_url: str, s3_server) -> dict[str, str]:
    """The environment of a process of the real stack (a Celery worker, gunicorn): the suite's
    test database, this Redis, this S3 server, and the suite's secret key (so a session made
    here is valid there)."""
    return {
        "DATABASE_URL": suite_database_url(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "S3_BUCKET": S3_BUCKET,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_ACCESS_KEY_ID": s3_server.access_key,
        "S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "SECRET_KEY": django_settings.SECRET_KEY,
    }


@dataclass
class Cast:
    """The named personas of the refusal tests (after healthchecks' Alice/Bob/Charlie)."""

    admin: object
    alice: object  # member
    bob: object  # another member
    studio_a: object
    carol: object  # staff of studio A
    studio_b: object
    dave: object  # staff of studio B
    outsider: object  # a login with no role


def _build_cast() -> Cast:
    admin = factories.AdminFactory(username="admin")
    alice = factories.MemberFactory(user__username="alice", member_number="M-00001", display_name="Alice")
    bob = factories.MemberFactory(user__username="bob", member_number="M-00002", display_name="Bob")
    studio_a, carol = factories.make_studio(admin=admin, name="Studio A", staff_username="carol")
    studio_b, dave = factories.make_studio(admin=admin, name="Studio B", staff_username="dave")
    outsider = factories.UserFactory(username="outsider")
    return Cast(admin, alice, bob, studio_a, carol, studio_b, dave, outsider)


def _fresh(row):
    """The same row loaded anew, so what one test did to its objects never reaches the next."""
    return type(row)._default_manager.get(pk=row.pk)


def _fresh_cast(cast: Cast) -> Cast:
    return Cast(*(_fresh(getattr(cast, field.name)) for field in fields(cast)))


@contextmanager
def built_once_per_module(django_db_blocker):
    """Rows a whole module's tests share, built once in a transaction that stays open until
    the module ends and is then rolled back. Each test runs in a savepoint inside it
    (pytest-django's `db`), so it starts from exactly these rows whatever ran before it.
    A module shares one such world: stack further rows inside it, never a second one."""
    with django_db_blocker.unblock():
        if connection.in_atomic_block:
            raise RuntimeError("this module already shares a world: build these rows inside it")
        atomic = transaction.atomic()
        # Marked as a test case's block, so code under test may open `durable` blocks in it.
        atomic._from_testcase = True
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@contextmanager
def building(django_db_blocker, objects_root: Path):
    """What the per-test autouse fixture sets, for rows built before any test runs."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    try:
        with (
            django_db_blocker.unblock(),
            override_settings(
                LOCAL_OBJECT_ROOT=objects_root,
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
                S3_BUCKET="",
            ),
        ):
            restore_consent_texts()
            yield
    finally:
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


@pytest.fixture(scope="module")
def _module_objects(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("module-objects")


@pytest.fixture(scope="module")
def _shared_cast(django_db_setup, django_db_blocker, _module_objects):
    with built_once_per_module(django_db_blocker):
        with building(django_db_blocker, _module_objects):
            cast = _build_cast()
        yield cast


def _refuse_transactional(request, name: str) -> None:
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        pytest.fail(f"`{name}` is shared inside a transaction: a transactional test uses `committed_{name}`")


@pytest.fixture
def cast(request, _shared_cast, db) -> Cast:
    """The personas, built once per module (see `built_once_per_module`)."""
    _refuse_transactional(request, "cast")
    return _fresh_cast(_shared_cast)


@pytest.fixture
def committed_cast(transactional_db) -> Cast:
    """The personas, committed, for tests that need other connections to see them."""
    return _build_cast()


def bearer_client(secret: str | None = None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def json_body(response):
    """The JSON of a response, streamed (the manifest) or not."""
    import json

    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


@pytest.fixture
def as_user():
    """`as_user(user)` -> an APIClient carrying a fresh `ut_` token for that user."""
    from trust.tokens import user_token_mint

    def make(user) -> APIClient:
        user = getattr(user, "user", user)  # a Member stands for its login
        _, secret = user_token_mint(user=user)
        return bearer_client(secret)

    return make


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture(scope="session", autouse=True)
def _artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    yield


@dataclass
class World:
    """The cast plus data: Alice's and Bob's assets in a frozen dataset, terms, an active lease
    for each studio, and a lease token for each lease."""

    cast: object
    alice_asset: object
    bob_asset: object
    dataset: object
    terms: object
    lease_a: object
    lease_b: object
    token_a: object
    secret_a: str
    secret_b: str


def _build_world(cast: Cast) -> World:
    grant_all(cast.alice, "training")
    grant_all(cast.bob, "training")
    alice_asset = make_asset(admin=cast.admin, contributors=[(cast.alice, "1")], data=b"alice scan")
    bob_asset = make_asset(
        admin=cast.admin, contributors=[(cast.bob, "0.4"), (cast.alice, "0.6")], data=b"bob and alice scan"
    )
    dataset = trust.dataset_create(actor=cast.admin, slug="world", title="World")
    trust.dataset_add_assets(actor=cast.admin, dataset=dataset, asset_ids=[alice_asset.pk, bob_asset.pk])
    trust.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="Training",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=1000,
        price_per_download_cents=10,
        price_per_training_run_cents=100,
    )
    lease_a = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="A's model")
    )
    lease_b = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.dave, terms=terms, purpose="B's model")
    )
    token_a, secret_a = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease_a, name="a-farm")
    _, secret_b = lease_tokens.lease_token_mint(actor=cast.dave, lease=lease_b, name="b-farm")
    return World(cast, alice_asset, bob_asset, dataset, terms, lease_a, lease_b, token_a, secret_a, secret_b)


@pytest.fixture(scope="module")
def _shared_world(_shared_cast, django_db_blocker, _module_objects) -> World:
    with building(django_db_blocker, _module_objects):
        return _build_world(_shared_cast)


@pytest.fixture
def world(request, _shared_world, _module_objects, db, settings) -> World:
    """The cast and their data, built once per module (see `built_once_per_module`); the
    assets' bytes stay in the module's object directory."""
    _refuse_transactional(request, "world")
    settings.LOCAL_OBJECT_ROOT = _module_objects
    shared = _shared_world
    rows = {
        field.name: _fresh(getattr(shared, field.name))
        for field in fields(shared)
        if field.name not in ("cast", "secret_a", "secret_b")
    }
    return World(cast=_fresh_cast(shared.cast), secret_a=shared.secret_a, secret_b=shared.secret_b, **rows)


@pytest.fixture
def committed_world(committed_cast) -> World:
    """The world, committed, for tests that need other connections to see it."""
    return _build_world(committed_cast)


@pytest.fixture(scope="module")
def _shared_demo(django_db_setup, django_db_blocker, _module_objects):
    with built_once_per_module(django_db_blocker):
        with building(django_db_blocker, _module_objects):
            call_command("seed_demo", any_database=True, verbosity=0)
        yield


@pytest.fixture
def seeded_demo(request, _shared_demo, _module_objects, db, settings) -> None:
    """The demo trust (`seed_demo`: admin, member and studio with three closed periods),
    seeded once per module (see `built_once_per_module`)."""
    _refuse_transactional(request, "demo")
    settings.LOCAL_OBJECT_ROOT = _module_objects


def restore_consent_texts() -> None:
    """A transactional test's flush (or a module's) empties every table, the rows data
    migrations made too, for every test after it: put back the consent texts a migrated
    database has (trust migration 0007)."""
    from trust.models import ConsentText

    if not ConsentText.objects.exists():
        seed = importlib.import_module("trust.migrations.0007_seed_consent_texts_link_decisions")
        seed.seed_first_texts(ConsentText, django_settings.TRUST_CONSENT_TERMS_VERSION)


@pytest.fixture(autouse=True)
def _consent_texts_after_a_flush(request):
    """Before any test that uses the database (inside its transaction for `db` tests, so it is
    done again after each rollback until the next flush: one cheap query per test). Rows built
    once per module are built with them too (`building`)."""
    uses_database = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if not uses_database:
        return
    request.getfixturevalue("_django_db_helper")
    restore_consent_texts()


@pytest.fixture(autouse=True)
def _own_login_failure_counts(settings, request):
    """Failed sign-ins are counted in the shared cache (Redis on the real stack) for minutes:
    each test counts under its own key prefix, so no test inherits another's lockout."""
    settings.CACHES = {
        **settings.CACHES,
        "login_failures": {**settings.CACHES["login_failures"], "KEY_PREFIX": f"lf-{uuid.uuid4().hex}"},
    }
    AxesProxyHandler.get_implementation(force=True)  # it holds on to the cache it was made with
