from celery import shared_task
from django.db import OperationalError

from config import metrics

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
    # Progress is counted per lease (the leases done/total gauges come from the period's row).
    return services.period_close(period_id=period_id, progress=metrics.period_close_lease_done).status
