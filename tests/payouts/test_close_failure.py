"""A close that cannot finish (a lease billed past the limit) stops in `failed` with its reason,
shown on the period page and by the API, and an administrator's retry finishes it without
posting anything twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services as licensing
from licensing.models import Lease, UsageEvent
from payouts import ledger, selectors, services
from payouts.metering import MAX_BILLABLE_CENTS_PER_LEASE_PERIOD
from payouts.models import LeaseRevenue, LedgerTransaction, Period

pytestmark = pytest.mark.django_db

HUGE = 10**8  # the most one usage event may carry


def _overflowing_period(world):
    """Lease A at the highest price with ten of the largest training-run reports: 10^19 cents,
    past what a 64-bit column holds, in a period that has just ended."""
    Lease.objects.filter(pk=world.lease_a.pk).update(price_per_training_run_cents=licensing.PRICE_MAX_CENTS)
    now = timezone.now()
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[
            {"event_key": f"big-{i}", "kind": "training_run", "quantity": HUGE, "occurred_at": now}
            for i in range(10)
        ],
    )
    return services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=timezone.now())


def test_an_overflowing_lease_fails_the_close_with_its_reason(world):
    period = _overflowing_period(world)
    result = services.period_close(period_id=period.pk)
    assert result.status == Period.Status.FAILED
    assert result.failed_at is not None
    assert f"lease {world.lease_a.pk}" in result.failure_reason
    assert f"limit of {MAX_BILLABLE_CENTS_PER_LEASE_PERIOD} cents" in result.failure_reason
    # Lease B (before or after A) is posted or not, but A is never half-posted, and the books balance.
    assert not LeaseRevenue.objects.filter(period=period, lease=world.lease_a).exists()
    assert ledger.trial_balance() == 0


def test_the_failure_is_shown_by_the_api_and_the_period_page(world, as_user, client):
    period = _overflowing_period(world)
    services.period_close(period_id=period.pk)
    body = as_user(world.cast.admin).get(f"/api/v1/periods/{period.pk}/").json()
    assert body["status"] == "failed"
    assert "above the limit" in body["failure_reason"]
    assert body["failed_at"]
    client.force_login(world.cast.admin)
    page = client.get(f"/operations/periods/{period.pk}/").content.decode()
    assert "The close stopped" in page
    assert f"lease {world.lease_a.pk} would be billed" in page
    assert f'action="/operations/periods/{period.pk}/close/"' in page
    assert "Retry the close" in page


def test_a_retry_after_the_usage_is_corrected_closes_once(world, client, django_capture_on_commit_callbacks):
    period = _overflowing_period(world)
    services.period_close(period_id=period.pk)
    posted_before = set(LedgerTransaction.objects.filter(period=period).values_list("key", flat=True))
    # The correction: the offending reports are taken out (in production, corrected at the source).
    UsageEvent.objects.filter(lease=world.lease_a, event_key__startswith="big-").delete()
    client.force_login(world.cast.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/operations/periods/{period.pk}/close/")
    assert response.status_code == 302
    closed = Period.objects.get(pk=period.pk)
    assert closed.status == Period.Status.CLOSED
    assert (closed.failure_reason, closed.failed_at) == ("", None)
    assert closed.revenue_cents == 2000  # the two flat fees, nothing else, nothing twice
    assert LeaseRevenue.objects.filter(period=period).count() == 2
    assert LeaseRevenue.objects.filter(period=period, lease=world.lease_a).count() == 1
    assert posted_before <= set(LedgerTransaction.objects.filter(period=period).values_list("key", flat=True))
    assert LedgerTransaction.objects.filter(period=period).count() == 2
    assert selectors.period_ledger_is_balanced(period)
    assert ledger.trial_balance() == 0


def test_a_retry_over_the_api_resumes_with_the_rates_it_started_with(
    world, as_user, django_capture_on_commit_callbacks
):
    period = _overflowing_period(world)
    services.period_close(period_id=period.pk)
    started = Period.objects.get(pk=period.pk)
    services.rates_set(actor=world.cast.admin, admin_fee_bps=2500, pension_bps=0)
    UsageEvent.objects.filter(lease=world.lease_a, event_key__startswith="big-").delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.cast.admin).post(f"/api/v1/periods/{period.pk}/close/")
    assert response.status_code == 202
    closed = Period.objects.get(pk=period.pk)
    assert closed.status == Period.Status.CLOSED
    assert (closed.admin_fee_bps, closed.pension_bps) == (started.admin_fee_bps, started.pension_bps)


def test_a_lease_at_the_limit_still_closes(world):
    Lease.objects.filter(pk=world.lease_a.pk).update(
        flat_fee_cents=0, price_per_training_run_cents=MAX_BILLABLE_CENTS_PER_LEASE_PERIOD // HUGE
    )
    now = timezone.now()
    licensing.usage_report(
        token=world.token_a,
        lease_id=world.lease_a.pk,
        events=[{"event_key": "at-limit", "kind": "training_run", "quantity": HUGE, "occurred_at": now}],
    )
    period = services.period_create(
        actor=world.cast.admin, start=now - timedelta(days=40), end=timezone.now()
    )
    closed = services.period_close(period_id=period.pk)
    assert closed.status == Period.Status.CLOSED
    assert LeaseRevenue.objects.get(period=period, lease=world.lease_a).revenue_cents == (
        MAX_BILLABLE_CENTS_PER_LEASE_PERIOD
    )


def test_the_revenue_accrued_by_an_overflowing_period_is_shown_exactly(world):
    # One event of 10^9 runs (past what a report may carry, as a row written before that bound
    # would be) at the highest price: 10^19 cents, past BIGINT in a single product.
    period = _overflowing_period(world)
    UsageEvent.objects.create(
        lease=world.lease_a,
        event_key="legacy",
        kind="training_run",
        quantity=10 * HUGE,
        occurred_at=period.start,
        source=UsageEvent.Source.REPORT,
    )
    accrued = selectors.period_accrued_revenue(period)
    assert accrued["usage_cents"] == 20 * HUGE * licensing.PRICE_MAX_CENTS
    assert accrued["revenue_cents"] == accrued["usage_cents"] + 2000
