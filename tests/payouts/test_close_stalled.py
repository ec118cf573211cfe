"""A close whose next Celery message was lost (kombu's Redis transport can drop one when a
worker dies between taking it and recording it unacknowledged) is moved on by beat's
`resend_stalled_closes` once it has been idle for CLOSE_STALL_SECONDS, to exactly the ledger of
an uninterrupted close; a close that is moving, or was just re-sent, is left alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payouts import services
from payouts.models import CloseBatch, LedgerTransaction, Period
from payouts.tasks import resend_stalled_closes
from tests.benchmarks import close_data
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def trust_data(settings):
    settings.PERIOD_CLOSE_BATCH_LEASES = 5  # 12 leases: three batches
    settings.CLOSE_STALL_SECONDS = 600
    return close_data.build("smoke")


def _idle_for(period: Period, seconds: int) -> None:
    Period.objects.filter(pk=period.pk).update(close_progress_at=timezone.now() - timedelta(seconds=seconds))


def _uninterrupted(period: Period) -> dict:
    close_data.reset_close([period])
    services.period_close(period_id=period.pk)
    return close_data.snapshot(period)


def test_batches_whose_messages_were_lost_are_resent_and_the_close_ends_as_if_uninterrupted(
    trust_data, django_capture_on_commit_callbacks
):
    period = trust_data.periods[1]
    numbers = services.period_close_plan(period_id=period.pk)  # planned; its batch messages lost
    services.period_close_batch(period_id=period.pk, number=numbers[0])
    _idle_for(period, 601)
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_stalled_closes.delay().get() == 1  # tasks run eagerly in these tests
    resumed = close_data.snapshot(period)
    assert resumed["totals"][0] == Period.Status.CLOSED
    assert AuditEvent.objects.filter(action="period.close_resent", data__steps=numbers[1:]).exists()
    assert _uninterrupted(period) == resumed


def test_a_close_whose_metering_message_was_lost_is_metered_and_closed(
    trust_data, django_capture_on_commit_callbacks
):
    period = trust_data.periods[0]
    Period.objects.filter(pk=period.pk).update(
        status=Period.Status.CLOSING, admin_fee_bps=1000, pension_bps=500, closing_started_at=timezone.now()
    )
    _idle_for(period, 601)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.period_close_resend_stalled() == {period.pk: ["plan"]}
    assert Period.objects.get(pk=period.pk).status == Period.Status.CLOSED
    assert LedgerTransaction.objects.filter(period=period).count() == trust_data.leases


def test_a_close_that_moved_recently_or_was_just_resent_is_left_alone(
    trust_data, django_capture_on_commit_callbacks
):
    period = trust_data.periods[1]
    numbers = services.period_close_plan(period_id=period.pk)
    _idle_for(period, 599)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert services.period_close_resend_stalled() == {}
    assert sent == []
    _idle_for(period, 601)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert services.period_close_resend_stalled() == {period.pk: numbers}
        assert services.period_close_resend_stalled() == {}  # just re-sent: idle no more
    assert len(sent) == len(numbers)
    assert CloseBatch.objects.filter(period=period, done_at__isnull=True).count() == len(numbers)


def test_a_closed_or_failed_period_is_never_resent(trust_data, django_capture_on_commit_callbacks):
    closed, failed = trust_data.periods
    services.period_close(period_id=closed.pk)
    Period.objects.filter(pk=failed.pk).update(status=Period.Status.FAILED)
    for period in trust_data.periods:
        _idle_for(period, 6000)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert services.period_close_resend_stalled() == {}
    assert sent == []
