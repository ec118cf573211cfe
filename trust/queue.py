"""Enqueuing Celery tasks from a service, and what a caller sees when the queue is down.

A service that hands work to a task checks the broker before it writes (so with the queue down
the request is refused with 503 `queue_unavailable` and nothing is recorded), then publishes the
task once its transaction commits. Should the broker fail between the check and the publish, the
caller still gets the 503 and the rows are committed: every service using this is safe to call
again, and calling it again publishes the task again."""

import logging

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

QUEUE_UNAVAILABLE = "queue_unavailable"
QUEUE_UNAVAILABLE_DETAIL = (
    "The task queue cannot be reached right now: nothing was recorded. Try again shortly."
)
# Seconds the check waits for the broker: a request is refused quickly, it never hangs a worker.
BROKER_CHECK_SECONDS = 2


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(QUEUE_UNAVAILABLE_DETAIL, code=QUEUE_UNAVAILABLE)


def require_broker() -> None:
    """Raise ServiceUnavailable unless the broker answers now (tasks run in-process: always)."""
    if current_app.conf.task_always_eager:
        return
    # A fresh connection: a pooled one still looks connected after the broker went away.
    with current_app.connection_for_write() as connection:
        try:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CHECK_SECONDS
            )
        except BrokerError as error:
            raise _unavailable() from error


def _publish(task, args: tuple) -> None:
    try:
        task.delay(*args)
    except BrokerError as error:
        raise _unavailable() from error


def enqueue_on_commit(task, *args) -> None:
    """Check the broker now, and publish `task(*args)` when the current transaction commits."""
    require_broker()
    transaction.on_commit(lambda: _publish(task, args))


def enqueue_on_commit_or_resend(task, *args) -> None:
    """Publish `task(*args)` when the current transaction commits, without refusing the caller
    when the broker is down: for work a beat job finds and sends again anyway (a member's consent
    withdrawal must never wait on the queue). A failed publish is logged, not raised."""

    def publish() -> None:
        try:
            task.delay(*args)
        except BrokerError as error:
            log.warning("%s not queued (%s): the resend job will send it", task.name, error)

    transaction.on_commit(publish)
