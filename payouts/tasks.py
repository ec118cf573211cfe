"""A period close fans out: `close_period` meters and plans, one `close_period_batch` per
batch of leases runs on any worker, and the batch that finds every batch posted sends the one
`close_period_finish`. Every step is idempotent, so a redelivered task (acks_late: a worker
killed mid-task) repeats nothing, and beat's `resend_stalled_closes` re-sends the next step of
a close whose message was lost."""

import logging

from celery import shared_task
from django.db import OperationalError

from config import metrics
from trust.errors import BadGateway, Forbidden

from . import checkpoints, services, settlements, unclaimed

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
    last = services.period_close_batch(period_id=period_id, number=number)
    metrics.period_close_batch_done()
    if last:
        close_period_finish.apply_async((period_id,), **_same_queue(self))


@shared_task(**CLOSE_TASK)
def close_period_finish(self, period_id: int) -> str:
    return services.period_close_finish(period_id=period_id).status


@shared_task(queue="metering")
def resend_stalled_closes() -> int:
    """Beat: re-send the next step of closes idle for CLOSE_STALL_SECONDS (a lost message)."""
    return len(services.period_close_resend_stalled())


# Settlements of federated leases (payouts.settlements): one task per peer, retried while the peer
# does not answer; the beat job sends again whatever is still awaiting a peer.

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def settle_period(period_id: int) -> int:
    peers = settlements.peers_to_settle(period_id=period_id)
    for peer_id in peers:
        settle_with_peer.delay(period_id, peer_id)
    return len(peers)


@shared_task(bind=True, acks_late=True, max_retries=12)
def settle_with_peer(self, period_id: int, peer_id: int) -> None:
    try:
        settlements.settle_with_peer(period_id=period_id, peer_id=peer_id)
    except (BadGateway, Forbidden) as error:
        # Forbidden: the peering is suspended; the beat job settles once it is live again.
        if self.request.is_eager or isinstance(error, Forbidden):
            log.warning("settlement of period %s with peer %s waits: %s", period_id, peer_id, error.detail)
            return
        raise self.retry(exc=error, countdown=min(600, 5 * 2**self.request.retries)) from error


@shared_task(acks_late=True)
def resend_settlements() -> int:
    """Beat: settle again every closed period whose settlement with a live peer still waits."""
    pending = settlements.awaiting()
    for period_id, peer_id in pending:
        settle_with_peer.delay(period_id, peer_id)
    return len(pending)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, queue="metering")
def unclaimed_royalties() -> dict:
    """Beat, daily: overdue balances of members who cannot be paid into the unclaimed pool, then
    pool balances past their release date redistributed (payouts.unclaimed). Idempotent."""
    return unclaimed.unclaimed_run()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, queue="metering")
def prove_ledger_in_full() -> bool:
    """Beat, nightly: the ledger proved from its first entry (the reconciliation page shows the
    result), then the latest close's checkpoint written if its own write was deferred."""
    proof = checkpoints.ledger_full_proof_run()
    checkpoints.ledger_checkpoint_if_due()
    return proof.balanced
