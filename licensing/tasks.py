import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from federation.models import Peer
from trust.errors import BadGateway, Forbidden

from . import deadlines, federated, partitions, services

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def expire_leases() -> int:
    return services.leases_expire_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def suspend_overdue_leases() -> int:
    return len(deadlines.leases_suspend_overdue())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def make_usage_partitions() -> list[str]:
    return partitions.ensure_partitions_ahead(now=timezone.now())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def prune_pull_windows() -> int:
    return services.pull_windows_prune()


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


# Federated leases (licensing.federated): each message retries with backoff while its peer does
# not answer; the beat job below sends again whatever is still unsent after that.


def _deliver(task, send, **ids) -> None:
    try:
        send(**ids)
    except (BadGateway, Forbidden) as error:
        # Forbidden: the peering is suspended; the beat job sends it once it is live again.
        if task.request.is_eager or isinstance(error, Forbidden):
            log.warning("federated lease message not delivered (%s): %s", task.name, error.detail)
            return
        raise task.retry(exc=error, countdown=min(600, 5 * 2**task.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=12)
def forward_lease_part(self, part_id: int) -> None:
    _deliver(self, federated.part_forward, part_id=part_id)


@shared_task(bind=True, acks_late=True, max_retries=12)
def end_lease_part(self, part_id: int) -> None:
    _deliver(self, federated.part_send_end, part_id=part_id)


@shared_task(bind=True, acks_late=True, max_retries=12)
def report_lease_part(self, lease_id: int) -> None:
    _deliver(self, federated.part_report, lease_id=lease_id)


@shared_task(bind=True, acks_late=True, max_retries=12)
def forward_usage(self, part_id: int) -> None:
    """Send a remote part's unsent forwarded usage to its trust (batches; idempotent there)."""
    _deliver(self, federated.usage_forward, part_id=part_id)


@shared_task(bind=True, acks_late=True, max_retries=12)
def relay_takedown(self, takedown_id: int) -> None:
    _deliver(self, federated.takedown_relay, takedown_id=takedown_id)


@shared_task(acks_late=True)
def resend_federated_lease_messages() -> int:
    """Beat: one task per message still unsent (each is idempotent at both ends)."""
    pending = federated.pending_messages()
    for part_id in pending["forward"]:
        forward_lease_part.delay(part_id)
    for part_id in pending["end"]:
        end_lease_part.delay(part_id)
    for lease_id in pending["report"]:
        report_lease_part.delay(lease_id)
    for part_id in pending["usage"]:
        forward_usage.delay(part_id)
    for takedown_id in pending["takedown"]:
        relay_takedown.delay(takedown_id)
    return sum(map(len, pending.values()))


# Revoked federated tokens: the home pushes each to every trust of the lease (retrying), and every
# trust pulls its home peers' lists on a short beat, so a revocation holds everywhere within 5 s.


@shared_task(bind=True, acks_late=True, max_retries=20)
def push_revocation(self, revocation_id: int, peer_id: int) -> None:
    _deliver(self, federated.revocation_push, revocation_id=revocation_id, peer_id=peer_id)


@shared_task(acks_late=True)
def pull_revocations() -> int:
    """Beat (every 2 s): one pull per home peer of a live part here."""
    peers = federated.peers_to_pull_revocations_from()
    for peer_id in peers:
        pull_revocations_of_peer.delay(peer_id)
    return len(peers)


@shared_task(acks_late=True, expires=10)
def pull_revocations_of_peer(peer_id: int) -> int:
    peer = Peer.objects.live().filter(pk=peer_id).first()
    if peer is None:
        return 0
    try:
        return federated.revocations_pull(peer=peer)
    except (BadGateway, Forbidden):
        return 0  # the next beat, two seconds on, tries again
