"""Fault tests: the real stack in processes of its own (gunicorn with several workers, a Celery
worker, a private redis-server this module may stop, the suite's S3 server), and rows committed
so those processes see them. The test process itself runs any task it causes in-process: it only
builds rows and asks questions; the processes under test use the real queue."""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client

from config.celery import app as celery_app
from tests.conftest import stack_env
from tests.servers import CeleryWorker, GunicornServer, RedisServer

# Every module here runs against the real stack (skipped on the embedded default).
WAIT_SECONDS = 60  # a bound on waiting for the worker, not a performance assertion


def pytest_collection_modifyitems(items):
    # Called with the whole session's items: mark only this folder's.
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _builds_rows_in_process():
    previous = celery_app.conf.CELERY_TASK_ALWAYS_EAGER
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


@dataclass
class Stack:
    web: GunicornServer
    redis: RedisServer
    worker: CeleryWorker | None

    @property
    def url(self) -> str:
        return self.web.url


def _on_postgresql() -> None:
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("fault tests run on the real stack (PostgreSQL)")


@pytest.fixture(scope="module")
def stack(request, django_db_setup, s3_server):
    """gunicorn (`GUNICORN_WORKERS` of the module, 2 unless set) and, if the module sets
    `WITH_CELERY_WORKER`, a Celery worker, both on a private Redis the test may stop and start."""
    _on_postgresql()
    workers = getattr(request.module, "GUNICORN_WORKERS", 2)
    name = request.module.__name__.rsplit(".", 1)[-1]
    with RedisServer(log_name=f"{name}-redis.log") as redis_server:
        env = {**stack_env(redis_url=redis_server.url, s3_server=s3_server), "HTTPS": "off", "DEBUG": "false"}
        with GunicornServer(
            env, workers=workers, app="tests.faults.served_by:application", log_name=f"{name}-gunicorn.log"
        ) as web:
            if getattr(request.module, "WITH_CELERY_WORKER", False):
                with CeleryWorker(env=env, log_name=f"{name}-celery.log") as worker:
                    yield Stack(web, redis_server, worker)
            else:
                yield Stack(web, redis_server, None)


def signed_in(base_url: str, user) -> requests.Session:
    """A browser-like session for `user` against the live server (its session row is committed)."""
    client = Client()
    client.force_login(getattr(user, "user", user))
    session = requests.Session()
    cookie = django_settings.SESSION_COOKIE_NAME
    session.cookies.set(cookie, client.cookies[cookie].value)
    session.base_url = base_url
    return session


def post_form(session: requests.Session, page: str, action: str, data: dict | None = None):
    """Submit a form of `page` to `action` as a browser does: the CSRF cookie and token first."""
    html = session.get(session.base_url + page, timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return session.post(
        session.base_url + action,
        data={"csrfmiddlewaretoken": token, **(data or {})},
        headers={"Referer": session.base_url + page},
        timeout=30,
    )


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
