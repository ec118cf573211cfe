"""Invoice numbers under concurrent closes on PostgreSQL: several periods' final steps on their
own connections at once, each issuing invoices. They need committed rows to race over, so the
world is built per test, outside a shared transaction."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from licensing import services as licensing
from licensing.models import LeaseToken
from payouts import services
from payouts.models import Invoice, InvoiceCounter, Period

PERIODS = 4


@pytest.mark.django_db(transaction=True)
def test_invoice_numbers_are_gapless_and_unique_under_concurrent_closes(committed_world):
    world = committed_world
    admin = world.cast.admin
    start = timezone.now()
    step = timedelta(milliseconds=200)
    bounds = [start - timedelta(hours=1)] + [start + step * (i + 1) for i in range(PERIODS)]
    tokens = {lease.pk: LeaseToken.objects.get(lease=lease) for lease in (world.lease_a, world.lease_b)}
    # Both studios use their leases in every period after the first (which bills the flat fees).
    for number in range(1, PERIODS):
        for lease_id, token in tokens.items():
            at = bounds[number] + step / 2
            event = {"event_key": f"p{number}", "kind": "training_run", "quantity": number, "occurred_at": at}
            licensing.usage_report(token=token, lease_id=lease_id, events=[event])
    periods = [
        services.period_create(actor=admin, start=bounds[i], end=bounds[i + 1]) for i in range(PERIODS)
    ]
    time.sleep(max(0.0, (bounds[-1] - timezone.now()).total_seconds()) + 0.05)  # the last has ended
    barrier = threading.Barrier(PERIODS)
    errors = []

    def close(period_id):
        try:
            barrier.wait(timeout=10)
            services.period_close(period_id=period_id)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=close, args=(period.pk,)) for period in periods]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert set(Period.objects.values_list("status", flat=True)) == {Period.Status.CLOSED}
    issued = list(Invoice.objects.order_by("sequence").values_list("year", "sequence", "number", "period_id"))
    # Two studios in each of the four periods: eight invoices numbered 1..8 with no gap.
    assert [sequence for _, sequence, _, _ in issued] == list(range(1, 2 * PERIODS + 1))
    assert len({number for _, _, number, _ in issued}) == 2 * PERIODS
    assert InvoiceCounter.objects.get(year=issued[0][0]).last_sequence == 2 * PERIODS
    assert {period_id for *_, period_id in issued} == {period.pk for period in periods}
    # Closing them all again issues nothing more.
    for period in periods:
        services.period_close(period_id=period.pk)
    assert Invoice.objects.count() == 2 * PERIODS
