"""Messages to peers: they retry with backoff while the peer does not answer, so an
administrator's change reaches a peer that was down once it is back."""

import logging

from celery import shared_task

from trust.errors import BadGateway

from . import services

log = logging.getLogger(__name__)


def _deliver(task, send, peer_id: int) -> None:
    try:
        send(peer_id=peer_id)
    except BadGateway as error:
        if task.request.is_eager:
            # In-process tasks (the embedded default) have no worker to retry later; the peer's
            # own hello, whose answer says whether we added it, completes the handshake.
            log.warning("peer message not delivered: %s", error.detail)
            return
        raise task.retry(exc=error, countdown=min(600, 5 * 2**task.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=50)
def send_hello(self, peer_id: int) -> None:
    _deliver(self, services.peer_send_hello, peer_id)


@shared_task(bind=True, acks_late=True, max_retries=50)
def send_suspension(self, peer_id: int) -> None:
    _deliver(self, services.peer_send_suspension, peer_id)
