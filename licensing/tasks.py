from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from federation.models import Peer
from trust.errors import BadGateway

from . import partitions, services


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def expire_leases() -> int:
    return services.leases_expire_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def make_usage_partitions() -> list[str]:
    return partitions.ensure_partitions_ahead(now=timezone.now())


@shared_task(acks_late=True)
def fetch_peer_offers() -> int:
    """Beat: one fetch task per live peer, so a slow peer delays no other."""
    peers = list(Peer.objects.live().values_list("pk", flat=True))
    for peer_id in peers:
        fetch_offers_of_peer.delay(peer_id)
    return len(peers)


@shared_task(acks_late=True)
def fetch_offers_of_peer(peer_id: int) -> int:
    peer = Peer.objects.live().filter(pk=peer_id).first()
    if peer is None:
        return 0
    try:
        return services.peer_offers_refresh(peer=peer)
    except BadGateway:
        return 0  # recorded on the peer's catalogue; the next beat tries again
