"""A period close fans out: `close_period` meters and plans, one `close_period_batch` per
batch of leases runs on any worker, and the batch that finds every batch posted sends the one
`close_period_finish`. Every step is idempotent, so a redelivered task (acks_late: a worker
killed mid-task) repeats nothing."""

from celery import shared_task
from django.db import OperationalError

from . import services

CLOSE_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
    "queue": "metering",
    "bind": True,
}


def _same_queue(task) -> dict:
    """Send the next steps to the queue this one came from (a deployment may give closes a
    queue of their own)."""
    queue = (task.request.delivery_info or {}).get("routing_key")
    return {"queue": queue} if queue else {}


@shared_task(**CLOSE_TASK)
def close_period(self, period_id: int) -> int:
    numbers = services.period_close_plan(period_id=period_id)
    for number in numbers:
        close_period_batch.apply_async((period_id, number), **_same_queue(self))
    if not numbers:
        close_period_finish.apply_async((period_id,), **_same_queue(self))
    return len(numbers)


@shared_task(**CLOSE_TASK)
def close_period_batch(self, period_id: int, number: int) -> None:
    if services.period_close_batch(period_id=period_id, number=number):
        close_period_finish.apply_async((period_id,), **_same_queue(self))


@shared_task(**CLOSE_TASK)
def close_period_finish(self, period_id: int) -> str:
    return services.period_close_finish(period_id=period_id).status
