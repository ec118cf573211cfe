from celery import shared_task
from django.db import OperationalError

from . import services
from .errors import ServiceUnavailable


# An unreachable object store is retried like a lost database connection.
@shared_task(
    acks_late=True, autoretry_for=(OperationalError, ServiceUnavailable), retry_backoff=True, max_retries=5
)
def verify_asset_upload(asset_id: str) -> str:
    return services.asset_verify(asset_id=asset_id).status


@shared_task(
    acks_late=True, autoretry_for=(OperationalError, ServiceUnavailable), retry_backoff=True, max_retries=5
)
def destroy_due_assets() -> dict:
    from . import destruction

    return destruction.destroy_due()
