"""Fault: the Celery worker is killed (SIGKILL) in the middle of a period close, then started
again. The close resumes on its own (acks_late: the task in flight goes back to the queue once
its visibility timeout passes; the batches not started are still queued) and the ledger,
earnings and statement lines are exactly those of an uninterrupted close of the same data."""

import os
import signal
import time

import pytest
import redis
from django.db import connection

from config.celery import app as celery_app
from payouts import services
from payouts.models import CloseBatch, Period
from tests.benchmarks import close_data
from tests.servers import CeleryWorker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
QUEUE = "fault-close"
VISIBILITY_SECONDS = 2


@pytest.fixture(autouse=True)
def _builds_rows_in_process():
    """Overrides the fault tests' in-process tasks: this close must go to the real worker."""
    previous = celery_app.conf.CELERY_TASK_ALWAYS_EAGER
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = previous


def _worker() -> CeleryWorker:
    env = close_data.worker_env(
        PERIOD_CLOSE_BATCH_LEASES="1", CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS)
    )
    return CeleryWorker(env=env, queues=QUEUE, log_name="fault-close-worker.log")


def test_a_worker_killed_mid_close_resumes_to_the_same_ledger(settings):
    settings.PERIOD_CLOSE_BATCH_LEASES = 1
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(QUEUE)
    period = close_data.build("fault").periods[1]
    worker = _worker().__enter__()
    killed = []

    def in_a_batch() -> bool:
        """The worker's connection is inside a transaction: it is running a batch, whose
        message is delivered and not yet acknowledged."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            return cursor.fetchone()[0] > 0

    def kill_mid_close():
        done = CloseBatch.objects.filter(period=period, done_at__isnull=False).count()
        if not killed and done >= 2 and in_a_batch():
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait()
            killed.append(done)

    try:
        from payouts.tasks import close_period

        close_period.apply_async((period.pk,), queue=QUEUE)
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            kill_mid_close()
            time.sleep(0.005)
        assert killed, "the close did not start"
        stopped = Period.objects.get(pk=period.pk)
        assert stopped.status == Period.Status.CLOSING
        assert 0 < stopped.leases_done < stopped.leases_total, "the worker was not killed mid-close"
        time.sleep(VISIBILITY_SECONDS + 1)  # the unacknowledged task becomes visible again
        worker = _worker().__enter__()
        close_data.close_through_workers(period, queue=QUEUE, timeout=120, send=False)
    finally:
        worker.__exit__()
    resumed = close_data.snapshot(period)

    close_data.reset_close([period])
    uninterrupted = services.period_close(period_id=period.pk)
    assert uninterrupted.status == Period.Status.CLOSED
    assert close_data.snapshot(period) == resumed
    assert resumed["totals"][0] == Period.Status.CLOSED
