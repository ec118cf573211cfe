"""Redis down, on the real stack: gunicorn and a Celery worker on a private redis-server that
these tests stop and start again.

What needs no queue keeps working (pages, the manifest, downloads, API calls with a token); what
enqueues (closing a period, completing an upload) is refused with 503 `queue_unavailable` and
records nothing, and the same request succeeds once Redis is back. Signing in fails closed (503
`sign_in_unavailable`): failed sign-ins cannot be counted without Redis."""

import hashlib
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from payouts import services as payouts
from payouts.models import LedgerTransaction, Period
from tests.faults.conftest import WAIT_SECONDS, bearer, post_form, signed_in
from trust import services as trust
from trust.models import Asset, AuditEvent
from trust.tokens import user_token_mint

WITH_CELERY_WORKER = True

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def redis_down(stack):
    stack.redis.stop()
    try:
        yield
    finally:
        stack.redis.start()


def _ended_period(admin) -> Period:
    now = timezone.now()
    return payouts.period_create(actor=admin, start=now - timedelta(hours=1), end=now)


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_SECONDS} s")
        time.sleep(0.25)


def test_with_redis_down_pages_the_manifest_and_downloads_keep_working(stack, s3_settings, committed_world):
    world = committed_world
    admin = signed_in(stack.url, world.cast.admin)
    member = signed_in(stack.url, world.cast.alice)
    lease_url = f"{stack.url}/api/v1/leases/{world.lease_a.pk}"
    with redis_down(stack):
        assert requests.get(f"{stack.url}/", timeout=30).status_code == 200
        assert admin.get(f"{stack.url}/operations/periods/", timeout=30).status_code == 200
        # The audit page's chain verification is cached in Redis: without it, verified afresh.
        audit_page = admin.get(f"{stack.url}/operations/audit/", timeout=30)
        assert audit_page.status_code == 200
        assert member.get(f"{stack.url}/member/", timeout=30).status_code == 200
        manifest = requests.get(f"{lease_url}/manifest/", headers=bearer(world.secret_a), timeout=30)
        assert manifest.status_code == 200
        download = requests.get(
            f"{lease_url}/assets/{world.alice_asset.pk}/download/",
            headers=bearer(world.secret_a),
            allow_redirects=False,
            timeout=30,
        )
        assert download.status_code == 302
        assert requests.get(download.headers["Location"], timeout=30).content == b"alice scan"


def test_with_redis_down_signing_in_is_refused_with_503_and_tokens_already_issued_still_work(
    stack, committed_cast
):
    # Hashed as the server under test hashes (the test process uses a faster hasher).
    hasher = PBKDF2PasswordHasher()
    committed_cast.carol.password = hasher.encode("a long enough password 1", hasher.salt())
    committed_cast.carol.save()
    _, admin_secret = user_token_mint(user=committed_cast.admin)
    credentials = {"username": "carol", "password": "a long enough password 1"}
    token_url = f"{stack.url}/api/v1/auth/token/"
    with redis_down(stack):
        refused = requests.post(token_url, json=credentials, timeout=30)
        assert refused.status_code == 503
        assert refused.json()["code"] == "sign_in_unavailable"
        page = requests.Session()
        page.base_url = stack.url
        login = post_form(page, "/accounts/login/", "/accounts/login/", credentials)
        assert login.status_code == 503
        assert "Signing in is unavailable for a moment" in login.text
        periods = requests.get(f"{stack.url}/api/v1/periods/", headers=bearer(admin_secret), timeout=30)
        assert periods.status_code == 200
    assert requests.post(token_url, json=credentials, timeout=30).status_code == 201


def test_with_redis_down_a_close_is_refused_and_nothing_recorded_then_the_retry_closes_it(
    stack, s3_settings, committed_world
):
    admin = committed_world.cast.admin
    period = _ended_period(admin)
    _, admin_secret = user_token_mint(user=admin)
    page = signed_in(stack.url, admin)
    close_url = f"{stack.url}/api/v1/periods/{period.pk}/close/"
    with redis_down(stack):
        refused = requests.post(close_url, headers=bearer(admin_secret), timeout=30)
        assert refused.status_code == 503
        assert refused.json()["code"] == "queue_unavailable"
        period_page = f"/operations/periods/{period.pk}/"
        on_page = post_form(page, period_page, f"{period_page}close/")
        assert on_page.status_code == 200  # back on the period page, with the reason
        assert "The task queue cannot be reached right now: nothing was recorded" in on_page.text
        period.refresh_from_db()
        assert period.status == Period.Status.OPEN
        assert not AuditEvent.objects.filter(action="period.close_requested").exists()
    accepted = requests.post(close_url, headers=bearer(admin_secret), timeout=30)
    assert accepted.status_code == 202
    _wait_for(lambda: Period.objects.get(pk=period.pk).status == Period.Status.CLOSED, "the close")
    assert LedgerTransaction.objects.filter(period=period).count() == 2
    assert Period.objects.get(pk=period.pk).revenue_cents == 2000


def test_with_redis_down_completing_an_upload_is_refused_and_the_asset_waits_then_verifies(
    stack, s3_settings, committed_world
):
    admin = committed_world.cast.admin
    data = b"a new scan"
    asset, plan = trust.asset_create(
        actor=admin,
        kind="face_scan",
        title="New scan",
        content_type="application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        contributors=[{"member": committed_world.cast.alice.pk, "share": "1"}],
    )
    assert requests.put(plan["url"], data=data, headers=plan["headers"], timeout=30).status_code == 200
    _, admin_secret = user_token_mint(user=admin)
    complete_url = f"{stack.url}/api/v1/assets/{asset.pk}/complete/"
    with redis_down(stack):
        refused = requests.post(complete_url, json={}, headers=bearer(admin_secret), timeout=30)
        assert refused.status_code == 503
        assert refused.json()["code"] == "queue_unavailable"
        assert Asset.objects.get(pk=asset.pk).status == Asset.Status.PENDING
    accepted = requests.post(complete_url, json={}, headers=bearer(admin_secret), timeout=30)
    assert accepted.status_code == 202
    _wait_for(lambda: Asset.objects.get(pk=asset.pk).status == Asset.Status.AVAILABLE, "the verification")
