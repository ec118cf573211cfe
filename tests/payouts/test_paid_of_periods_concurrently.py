"""Recording writes that race: each must see the other's change, or their differences miss what
the two together did. They need committed rows and other connections, so this module builds
its world per test, outside the shared transaction of the other modules."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from payouts import reconciliation, services
from payouts.models import MemberEarning, Period
from tests.payouts.test_paid_of_periods import IBAN, oracle_paid_cents
from trust import audit
from trust.models import Member


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Activity is read once per transaction unless the snapshot is cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _until_waiting(count: int) -> None:
    deadline = time.monotonic() + 10
    while _waiting_on_locks() < count:
        assert time.monotonic() < deadline, "the writes never queued for the audit head"
        time.sleep(0.02)


def _in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except Exception as error:  # surfaced by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_batch_made_while_a_period_closes_counts_what_it_paid_of_it(committed_world):
    """The close's last step queues for the audit head first, then a payout batch paying Alice
    the earnings the close's batches already credited her. The close records first and cannot
    see the batch; the batch records after it and must see the period closed, or what it paid
    of the period is counted by neither."""
    admin = committed_world.cast.admin
    Member.objects.filter(pk=committed_world.cast.alice.pk).update(payout_iban=IBAN, payout_bic="COBADEFFXXX")
    now = timezone.now()
    period = services.period_create(actor=admin, start=now - timedelta(hours=1), end=now)
    for number in services.period_close_plan(period_id=period.pk):
        services.period_close_batch(period_id=period.pk, number=number)
    errors: list = []
    with transaction.atomic():
        audit.serialise_with_audited_writes()  # both writes queue behind this
        closing = _in_thread(lambda: services.period_close_finish(period_id=period.pk), errors)
        _until_waiting(1)
        paying = _in_thread(lambda: services.payout_batch_create(actor=admin, minimum_cents=1), errors)
        _until_waiting(2)
    closing.join()
    paying.join()
    assert errors == []
    period = Period.objects.get(pk=period.pk)
    assert period.status == Period.Status.CLOSED
    alice = MemberEarning.objects.filter(period=period, member=committed_world.cast.alice)
    earned = sum(alice.values_list("net_cents", flat=True))
    assert earned > 0
    assert reconciliation.paid_of_period_cents(period) == oracle_paid_cents(period) == earned
