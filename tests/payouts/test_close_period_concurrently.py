"""Closing a period from several workers at once: they need committed rows to race over, so
this module builds its world per test, outside the shared transaction of the other modules."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from payouts import ledger, services
from payouts.models import Account, LedgerTransaction, MemberEarning, Period


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


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_posted_while_another_batch_of_the_period_is_in_flight(settings):
    """Batches on several workers must not queue behind each other on the period's row: one in
    flight holds it FOR KEY SHARE (held here), and the next one posts without waiting."""
    from tests.benchmarks import close_data

    settings.PERIOD_CLOSE_BATCH_LEASES = 5
    period = close_data.build("smoke").periods[1]
    first, second, *_ = services.period_close_plan(period_id=period.pk)
    outcome = []

    def post_second_batch():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            services.period_close_batch(period_id=period.pk, number=second)
            outcome.append(LedgerTransaction.objects.filter(period=period).count())
        except Exception as error:  # surfaced below
            outcome.append(error)
        finally:
            connection.close()

    with transaction.atomic():
        with connection.cursor() as cursor:  # what batch `first` holds while it runs
            cursor.execute("SELECT id FROM payouts_period WHERE id = %s FOR KEY SHARE", [period.pk])
        worker = threading.Thread(target=post_second_batch)
        worker.start()
        worker.join()
    assert outcome == [5]
    assert Period.objects.get(pk=period.pk).leases_done == 5


@pytest.mark.django_db(transaction=True)
def test_batches_creating_the_same_new_members_accounts_at_once_all_post(settings):
    """Each batch creates the accounts its members lack, in a short transaction of its own;
    neighbouring batches share new members, and all of them run at once."""
    from tests.benchmarks import close_data

    # 12 leases: four batches; the smoke data's lease j shares a member with lease j + 1 for
    # even j, so batches 1 and 2 (leases 2 | 3) and 3 and 4 (leases 8 | 9) share one.
    settings.PERIOD_CLOSE_BATCH_LEASES = 3
    period = close_data.build("smoke").periods[1]
    assert not Account.objects.filter(kind=Account.Kind.MEMBER_PAYABLE).exists()
    numbers = services.period_close_plan(period_id=period.pk)
    start = threading.Barrier(len(numbers))

    def post(number):
        try:
            start.wait()
            services.period_close_batch(period_id=period.pk, number=number)
        finally:
            connection.close()

    workers = [threading.Thread(target=post, args=(number,)) for number in numbers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    closed = services.period_close_finish(period_id=period.pk)
    assert (closed.status, closed.failure_reason) == (Period.Status.CLOSED, "")
    earners = set(MemberEarning.objects.filter(period=period).values_list("member_id", flat=True))
    assert set(ledger.member_account_ids(earners)) == earners
    assert ledger.trial_balance() == 0
