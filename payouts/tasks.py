from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    queue="metering",
)
def close_period(period_id: int) -> str:
    return services.period_close(period_id=period_id).status
