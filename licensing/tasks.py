from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from . import partitions, services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def expire_leases() -> int:
    return services.leases_expire_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def make_usage_partitions() -> list[str]:
    return partitions.ensure_partitions_ahead(now=timezone.now())
