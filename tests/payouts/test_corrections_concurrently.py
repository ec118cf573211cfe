"""Corrections under concurrency on PostgreSQL, on committed rows: two corrections of one event
at once never both pass the net check, and two closes pricing the same corrections at once
price each exactly once, numbering their credit notes without a gap."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from licensing import services as licensing
from licensing.models import LeaseToken, UsageCorrection
from payouts import ledger, services
from payouts.models import CorrectionCharge, CreditNote, CreditNoteCounter, Invoice, Period
from trust.errors import Invalid

pytestmark = pytest.mark.django_db(transaction=True)


def _run_together(jobs):
    barrier, errors = threading.Barrier(len(jobs)), []

    def run(job):
        try:
            barrier.wait(timeout=10)
            job()
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def test_two_corrections_of_one_event_at_once_never_take_it_below_zero(committed_world):
    world = committed_world
    token = LeaseToken.objects.get(lease=world.lease_a)
    event = {"event_key": "u1", "kind": "training_run", "quantity": 5, "occurred_at": timezone.now()}
    licensing.usage_report(token=token, lease_id=world.lease_a.pk, events=[event])

    def correct(key):
        return lambda: licensing.usage_report(
            token=token,
            lease_id=world.lease_a.pk,
            events=[{"event_key": key, "corrects": "u1", "quantity": -3}],
        )

    errors = _run_together([correct(f"c{n}") for n in range(4)])
    # One of the four fits (5 - 3 = 2); the others would take it below zero.
    assert len(errors) == 3
    assert all(isinstance(e, Invalid) and e.code == "correction_exceeds_original" for e in errors)
    assert UsageCorrection.objects.aggregate(total=Sum("quantity"))["total"] == -3


def test_two_closes_at_once_price_each_correction_once_and_number_credit_notes_without_a_gap(committed_world):
    world = committed_world
    admin = world.cast.admin
    tokens = {lease.pk: LeaseToken.objects.get(lease=lease) for lease in (world.lease_a, world.lease_b)}
    start = timezone.now()
    step = timedelta(milliseconds=300)
    bounds = [start - timedelta(hours=1), start + step, start + 2 * step, start + 3 * step]
    for lease_id, token in tokens.items():
        at = start + step / 2
        event = {"event_key": "u1", "kind": "training_run", "quantity": 4, "occurred_at": at}
        licensing.usage_report(token=token, lease_id=lease_id, events=[event])
    periods = [
        services.period_create(actor=admin, start=a, end=b) for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    time.sleep(max(0.0, (bounds[-1] - timezone.now()).total_seconds()) + 0.05)  # all have ended
    services.period_close(period_id=periods[0].pk)
    for lease_id, token in tokens.items():
        fix = {"event_key": "c1", "corrects": "u1", "quantity": -1}
        licensing.usage_report(token=token, lease_id=lease_id, events=[fix])

    errors = _run_together([lambda p=p: services.period_close(period_id=p.pk) for p in periods[1:]])
    assert errors == []
    assert set(Period.objects.values_list("status", flat=True)) == {Period.Status.CLOSED}
    # Each correction priced exactly once, by one of the two closes.
    assert CorrectionCharge.objects.count() == UsageCorrection.objects.count() == 2
    notes = list(CreditNote.objects.order_by("sequence").values_list("sequence", "studio_id", "total_cents"))
    assert [sequence for sequence, _, _ in notes] == list(range(1, len(notes) + 1))
    assert sorted((studio, total) for _, studio, total in notes) == sorted(
        (lease.studio_id, 100) for lease in (world.lease_a, world.lease_b)
    )
    assert CreditNoteCounter.objects.get().last_sequence == len(notes)
    for studio_id in {lease.studio_id for lease in (world.lease_a, world.lease_b)}:
        billed = Invoice.objects.filter(studio_id=studio_id).aggregate(t=Sum("total_cents"))["t"] or 0
        credited = CreditNote.objects.filter(studio_id=studio_id).aggregate(t=Sum("total_cents"))["t"] or 0
        assert billed - credited == ledger.balance_of(f"studio:{studio_id}:receivable")
    assert ledger.trial_balance() == 0
