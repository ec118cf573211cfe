"""Takedown deadlines: when a notice must be acknowledged and its deletion attested (from its
issue time and the lease's copy of its terms' days), and what happens when the attestation
deadline passes: the lease's tokens are suspended at this trust until the studio attests.

For a federated lease each trust enforces its own notices: a part's trust suspends its own part
(the local lease of that part), so `ft_` tokens are refused by that trust's gateway, manifest
and usage calls; the other parts keep serving. The home trust shows a relayed notice with the
deadlines of the trust that issued it and does not suspend its own part for it."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from trust import audit

from .models import Lease, Takedown


def takedown_deadlines(lease: Lease, issued_at: datetime) -> tuple[datetime, datetime]:
    """(acknowledge by, attest deletion by) for a notice on `lease` issued at `issued_at`."""
    return (
        issued_at + timedelta(days=lease.takedown_acknowledge_days),
        issued_at + timedelta(days=lease.takedown_attest_days),
    )


def _overdue_here(at: datetime):
    """Open notices this trust issued whose attestation deadline has come at `at`."""
    return Takedown.objects.open().filter(peer__isnull=True, attest_due_at__lte=at)


@transaction.atomic
def leases_suspend_overdue(*, at: datetime | None = None) -> list[int]:
    """Suspend the tokens of every lease with an open notice of this trust past its attestation
    deadline at `at`, in one UPDATE; each lease newly suspended gets its audit event. Running it
    again changes nothing. Returns the leases it suspended."""
    at = at or timezone.now()
    due = Lease.objects.filter(tokens_suspended_at__isnull=True, pk__in=_overdue_here(at).values("lease_id"))
    # Locked in id order, then updated by id: a concurrent run waits and then finds nothing.
    lease_ids = list(due.select_for_update().order_by("pk").values_list("pk", flat=True))
    if not lease_ids:
        return []
    Lease.objects.filter(pk__in=lease_ids, tokens_suspended_at__isnull=True).update(tokens_suspended_at=at)
    for lease in Lease.objects.filter(pk__in=lease_ids).order_by("pk"):
        audit.record(
            actor=None,
            action="lease.tokens_suspended",
            subject=lease,
            data={"reason": "takedown_attestation_overdue", "at": at},
        )
    return lease_ids


def lease_restore_if_attested(*, lease_id: int, actor, at: datetime | None = None) -> bool:
    """Lift a lease's suspension at once when no notice of this trust on it is still past its
    attestation deadline (called in the attestation's transaction). True if it was lifted."""
    at = at or timezone.now()
    if _overdue_here(at).filter(lease_id=lease_id).exists():
        return False
    lifted = Lease.objects.filter(pk=lease_id, tokens_suspended_at__isnull=False).update(
        tokens_suspended_at=None
    )
    if lifted:
        audit.record(
            actor=actor,
            action="lease.tokens_restored",
            subject=Lease.objects.get(pk=lease_id),
            data={"reason": "takedown_attested"},
        )
    return bool(lifted)


def assets_in_open_attestation_window(at: datetime):
    """Assets this trust must not destroy yet at `at`: the subject of a notice it issued that is
    still open and whose attestation deadline has not come (trust.destruction's hold). Once the
    studio attests, or the deadline passes (its tokens are then suspended), the hold ends."""
    return (
        Takedown.objects.open()
        .filter(peer__isnull=True, asset__isnull=False, attest_due_at__gt=at)
        .values("asset_id")
    )
