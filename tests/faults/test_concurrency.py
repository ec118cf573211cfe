"""PostgreSQL under concurrent requests, through gunicorn with four workers (not the test client):
a download cap holds, an idempotency key records one event, two closes pay once, and a token
revoked through one worker is refused by the others on their next request.

(`tests/payouts/test_close_period_concurrently.py` races the close service itself in threads.)"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import LeaseDownloadCount, UsageEvent
from payouts import ledger
from payouts import services as payouts
from payouts.models import LedgerTransaction, Period
from tests.faults.conftest import WAIT_SECONDS, bearer
from trust.tokens import user_token_mint

GUNICORN_WORKERS = 4
WITH_CELERY_WORKER = True
PARALLEL = 50

pytestmark = pytest.mark.django_db(transaction=True)


def _all_at_once(call, n: int = PARALLEL) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


def _capped_lease_token(world, cap: int) -> tuple[object, str]:
    terms = licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Capped",
        permitted_uses=["training"],
        duration_days=30,
        flat_fee_cents=0,
        price_per_download_cents=10,
        download_cap=cap,
    )
    lease = licensing.lease_approve(
        actor=world.cast.admin,
        lease=licensing.lease_request(actor=world.cast.carol, terms=terms, purpose="capped"),
    )
    _, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=lease, name="farm")
    return lease, secret


def test_fifty_parallel_downloads_on_a_lease_capped_at_ten_grant_exactly_ten(
    stack, s3_settings, committed_world
):
    lease, secret = _capped_lease_token(committed_world, cap=10)
    url = f"{stack.url}/api/v1/leases/{lease.pk}/assets/{committed_world.alice_asset.pk}/download/"
    # A token each: one token's downloads of one asset are billed once per pull window.
    secrets = iter(
        [secret]
        + [
            lease_tokens.lease_token_mint(actor=committed_world.cast.carol, lease=lease, name=f"rig {n}")[1]
            for n in range(PARALLEL - 1)
        ]
    )

    def download():
        return requests.get(url, headers=bearer(next(secrets)), allow_redirects=False, timeout=60)

    answers = _all_at_once(download)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [302] * 10 + [409] * 40
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"download_cap_reached"}
    assert UsageEvent.objects.filter(lease=lease, kind=UsageEvent.Kind.DOWNLOAD).count() == 10


def test_fifty_parallel_downloads_of_one_asset_with_one_token_bill_one_and_take_one_from_the_cap(
    stack, s3_settings, committed_world
):
    """Inside the pull window: every request gets its URL, one download is billed, and the
    requests that lost the race for the window give back the cap they took."""
    lease, secret = _capped_lease_token(committed_world, cap=10)
    base = f"{stack.url}/api/v1/leases/{lease.pk}/assets"
    first = requests.get(
        f"{base}/{committed_world.bob_asset.pk}/download/", headers=bearer(secret), allow_redirects=False
    )
    assert first.status_code == 302  # the lease's first capped download makes its counter
    url = f"{base}/{committed_world.alice_asset.pk}/download/"

    answers = _all_at_once(
        lambda: requests.get(url, headers=bearer(secret), allow_redirects=False, timeout=60)
    )

    assert [answer.status_code for answer in answers] == [302] * PARALLEL
    assert UsageEvent.objects.filter(lease=lease, kind=UsageEvent.Kind.DOWNLOAD).count() == 2
    assert LeaseDownloadCount.objects.get(lease=lease).used == 2


def test_fifty_parallel_identical_usage_reports_record_one_event(stack, committed_world):
    lease = committed_world.lease_a
    report = {
        "events": [
            {
                "event_key": "run-2026-001",
                "kind": "training_run",
                "quantity": 3,
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    }
    url = f"{stack.url}/api/v1/leases/{lease.pk}/usage/"

    answers = _all_at_once(
        lambda: requests.post(url, json=report, headers=bearer(committed_world.secret_a), timeout=60)
    )

    assert {answer.status_code for answer in answers} == {202}
    events = UsageEvent.objects.filter(lease=lease, event_key="run-2026-001")
    assert list(events.values_list("quantity", flat=True)) == [3]


def test_two_concurrent_closes_through_the_api_pay_once(stack, s3_settings, committed_world):
    admin = committed_world.cast.admin
    now = timezone.now()
    period = payouts.period_create(actor=admin, start=now - timedelta(hours=1), end=now)
    _, secret = user_token_mint(user=admin)
    url = f"{stack.url}/api/v1/periods/{period.pk}/close/"

    answers = _all_at_once(lambda: requests.post(url, headers=bearer(secret), timeout=60), n=2)

    assert [answer.status_code for answer in answers] == [202, 202]
    deadline = time.monotonic() + WAIT_SECONDS
    while Period.objects.get(pk=period.pk).status != Period.Status.CLOSED:
        assert time.monotonic() < deadline, f"not closed within {WAIT_SECONDS} s:\n{stack.worker.log_tail()}"
        time.sleep(0.25)
    assert LedgerTransaction.objects.filter(period=period).count() == 2
    assert Period.objects.get(pk=period.pk).revenue_cents == 2000
    assert ledger.trial_balance() == 0


def _served_by(answers: list[requests.Response]) -> set[str]:
    return {answer.headers["X-Served-By"] for answer in answers}


def test_a_lease_token_revoked_through_one_worker_is_refused_by_the_others(stack, committed_world):
    lease = committed_world.lease_a
    manifest = f"{stack.url}/api/v1/leases/{lease.pk}/manifest/"
    token = bearer(committed_world.secret_a)

    def read():
        return requests.get(manifest, headers=token, timeout=60)

    before = _all_at_once(read, n=16)
    assert {answer.status_code for answer in before} == {200}
    assert len(_served_by(before)) >= 2  # several workers answered for the token

    _, staff_secret = user_token_mint(user=committed_world.cast.carol)
    revoked = requests.delete(
        f"{stack.url}/api/v1/leases/{lease.pk}/tokens/{committed_world.token_a.pk}/",
        headers=bearer(staff_secret),
        timeout=60,
    )
    assert revoked.status_code == 204
    revoking_worker = revoked.headers["X-Served-By"]

    after = _all_at_once(read, n=16)
    assert {answer.status_code for answer in after} == {401}
    assert {answer.json()["code"] for answer in after} == {"token_revoked"}
    assert _served_by(after) - {revoking_worker}  # refused by workers other than the one that revoked


def test_user_tokens_revoked_through_one_worker_are_refused_by_the_others(stack, committed_cast):
    _, secret = user_token_mint(user=committed_cast.admin)
    periods = f"{stack.url}/api/v1/periods/"

    def read():
        return requests.get(periods, headers=bearer(secret), timeout=60)

    before = _all_at_once(read, n=16)
    assert {answer.status_code for answer in before} == {200}
    assert len(_served_by(before)) >= 2

    revoked = requests.post(f"{stack.url}/api/v1/auth/tokens/revoke-all/", headers=bearer(secret), timeout=60)
    assert revoked.status_code in (200, 204)
    revoking_worker = revoked.headers["X-Served-By"]

    after = _all_at_once(read, n=16)
    assert {answer.status_code for answer in after} == {401}
    assert _served_by(after) - {revoking_worker}
