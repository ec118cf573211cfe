"""Closing a period from several workers at once: they need committed rows to race over, so
this module builds its world per test, outside the shared transaction of the other modules."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from payouts import ledger, services
from payouts.models import LedgerTransaction, Period


def _period_around_now(admin, hours=1):
    now = timezone.now()
    return services.period_create(actor=admin, start=now - timedelta(hours=hours), end=now)


@pytest.mark.django_db(transaction=True)
def test_two_workers_closing_the_same_period_at_once_pay_once(committed_world):
    period = _period_around_now(committed_world.cast.admin)
    errors = []

    def close():
        try:
            services.period_close(period_id=period.pk)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=close) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert LedgerTransaction.objects.filter(period=period).count() == 2
    assert Period.objects.get(pk=period.pk).revenue_cents == 2000
    assert ledger.trial_balance() == 0
