"""A payout batch's life after it is created: sent to the bank, settled by it, and any payment
the bank could not make returned to the member.

Money, in the ledger (payouts/ledger.py): creating a batch moved each member's balance into
payouts in transit. Settling moves what the bank paid (the batch less its returned payments)
from in transit out of the bank. A returned payment goes back to the member's payable account:
from in transit while the batch is only sent, from the bank once it was settled (the bank
received the money back). So in transit is zero for every settled batch."""

from datetime import date

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from trust import audit
from trust.errors import Conflict, Invalid, NotFound
from trust.services import require_trust_admin

from . import ledger, paid_of_periods
from .invoices import bank_account
from .models import PayoutBatch, PayoutItem


def _day(value: date | None, *, batch: PayoutBatch, after: date, what: str) -> date:
    """The day an event happened: today when not given; never in the future, never before
    `after` (the batch cannot be settled before it was sent)."""
    day = value or timezone.localdate()
    if day > timezone.localdate():
        raise Invalid(f"the day the batch was {what} cannot be in the future", code="bad_date")
    if day < after:
        raise Invalid(
            f"batch {batch.pk} cannot have been {what} on {day}: that is before {after}", code="bad_date"
        )
    return day


def _locked(batch_id: int) -> PayoutBatch:
    batch = PayoutBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("no such payout batch", code="batch_not_found")
    return batch


@transaction.atomic
def payout_batch_mark_sent(*, actor, batch_id: int, sent_on: date | None = None) -> PayoutBatch:
    """Record that the batch's file went to the bank, on `sent_on` (default today). Only a
    created batch with payments can be sent; marking it again is refused, not repeated."""
    require_trust_admin(actor)
    batch = _locked(batch_id)
    if batch.state != PayoutBatch.State.CREATED:
        raise Conflict(f"batch {batch.pk} is already {batch.state}", code="batch_already_sent")
    if batch.item_count == 0:
        raise Conflict("this batch paid nobody: there is nothing to send", code="batch_empty")
    batch.sent_on = _day(sent_on, batch=batch, after=timezone.localdate(batch.created_at), what="sent")
    batch.state = PayoutBatch.State.SENT
    batch.save(update_fields=["state", "sent_on"])
    audit.record(
        actor=actor, action="payouts.batch_sent", subject=batch, data={"sent_on": str(batch.sent_on)}
    )
    return batch


def _returned_cents(batch: PayoutBatch) -> int:
    return batch.items.filter(returned_on__isnull=False).aggregate(total=Sum("amount_cents"))["total"] or 0


@transaction.atomic
def payout_batch_mark_settled(*, actor, batch_id: int, settled_on: date | None = None) -> PayoutBatch:
    """Record that the bank paid the batch on `settled_on` (default today): what it paid (the
    batch less its returned payments) leaves payouts in transit for the bank, in one balanced
    transaction. Only a sent batch settles, once."""
    require_trust_admin(actor)
    batch = _locked(batch_id)
    if batch.state != PayoutBatch.State.SENT:
        code = "batch_not_sent" if batch.state == PayoutBatch.State.CREATED else "batch_already_settled"
        raise Conflict(f"batch {batch.pk} is {batch.state}: only a sent batch can be settled", code=code)
    batch.settled_on = _day(settled_on, batch=batch, after=batch.sent_on, what="settled")
    paid = batch.total_cents - _returned_cents(batch)
    ledger.post(
        key=f"payout:{batch.pk}:settled",
        memo=f"Payout batch {batch.pk} paid by the bank",
        lines=[(ledger.payouts_in_transit(), paid), (bank_account(), -paid)],
    )
    batch.state = PayoutBatch.State.SETTLED
    batch.save(update_fields=["state", "settled_on"])
    audit.record(
        actor=actor,
        action="payouts.batch_settled",
        subject=batch,
        data={"settled_on": str(batch.settled_on), "paid_cents": paid},
    )
    return batch


@transaction.atomic
def payout_item_return(
    *, actor, batch_id: int, member_id: int, reason: str, returned_on: date | None = None
) -> PayoutItem:
    """The bank could not pay a member (closed account, wrong name...): the amount goes back to
    the member's payable account, where the next batch pays it again once the details are
    fixed. From payouts in transit while the batch is sent, from the bank once it is settled.
    A payment is returned at most once; a batch not yet sent has nothing to return."""
    require_trust_admin(actor)
    batch = _locked(batch_id)
    item = batch.items.select_for_update().select_related("member").filter(member_id=member_id).first()
    if item is None:
        raise NotFound(f"batch {batch.pk} has no payment to that member", code="payout_not_found")
    if batch.state == PayoutBatch.State.CREATED:
        raise Conflict(
            f"batch {batch.pk} was not sent: no payment of it can come back", code="batch_not_sent"
        )
    if item.returned_on is not None:
        raise Conflict("this payment was already returned", code="payout_already_returned")
    reason = reason.strip()
    if not reason:
        raise Invalid("say why the bank returned the payment", code="bad_reason")
    item.returned_on = _day(returned_on, batch=batch, after=batch.sent_on, what="returned from")
    item.return_reason = reason[:200]
    source = bank_account() if batch.state == PayoutBatch.State.SETTLED else ledger.payouts_in_transit()
    ledger.post(
        key=f"payout:{batch.pk}:member:{item.member_id}:returned",
        memo=f"Payout batch {batch.pk} to {item.member.member_number} returned by the bank",
        lines=[(source, item.amount_cents), (ledger.member_payable(item.member), -item.amount_cents)],
    )
    item.save(update_fields=["returned_on", "return_reason"])
    paid_of_periods.record_payment_returned(item)
    audit.record(
        actor=actor,
        action="payouts.payment_returned",
        subject=batch,
        data={
            "member": item.member.member_number,
            "amount_cents": item.amount_cents,
            "reason": item.return_reason,
        },
    )
    return item
