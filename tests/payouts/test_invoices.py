"""Invoices issued by a period's close, paid in parts, voided: worked by hand on the test world
(two studios, each with a lease at a 1000-cent flat fee, 10 cents a download, 100 a run)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing import services as licensing
from payouts import invoices, ledger, services
from payouts.models import Invoice, InvoiceCounter, InvoiceLine, InvoicePayment
from trust.errors import Conflict, Forbidden, Invalid

pytestmark = pytest.mark.django_db


def _closed_period(world, *events):
    if events:
        licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=list(events))
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def _runs(quantity, key="r1"):
    return {"event_key": key, "kind": "training_run", "quantity": quantity, "occurred_at": timezone.now()}


def _studio_a_invoice(period, world):
    return Invoice.objects.get(period=period, studio=world.lease_a.studio)


def _receivable(studio):
    return ledger.balance_of(f"studio:{studio.pk}:receivable")


def test_closing_a_period_issues_one_invoice_per_studio_worked_by_hand(world):
    period = _closed_period(world, _runs(3))
    year = period.closed_at.year
    issued = list(Invoice.objects.filter(period=period).order_by("sequence"))
    assert [i.studio_id for i in issued] == sorted([world.lease_a.studio_id, world.lease_b.studio_id])
    invoice = _studio_a_invoice(period, world)
    lines = list(
        invoice.lines.order_by("use").values_list("use", "quantity", "unit_price_cents", "amount_cents")
    )
    # Studio A: the flat fee 1 x 1000 and 3 training runs x 100 = 1300.
    assert lines == [("flat_fee", 1, 1000, 1000), ("training_run", 3, 100, 300)]
    assert invoice.total_cents == 1300
    assert invoice.currency == "USD"
    assert invoice.status == Invoice.Status.OPEN
    assert invoice.paid_cents == 0
    assert invoice.issued_at == period.closed_at
    assert invoice.due_at == period.closed_at + timedelta(days=30)
    assert {i.number for i in issued} == {f"GUILDTRUST-{year}-000001", f"GUILDTRUST-{year}-000002"}
    # The invoice bills exactly what the close posted to the studio's receivable.
    assert _receivable(world.lease_a.studio) == 1300


def test_the_terms_set_the_days_to_pay(world, settings):
    settings.INVOICE_PAYMENT_DAYS = 45
    world.terms.payment_days = 14
    world.terms.save(update_fields=["payment_days"])
    invoice = _studio_a_invoice(_closed_period(world), world)
    assert invoice.due_at - invoice.issued_at == timedelta(days=14)


def test_the_default_days_to_pay_is_a_setting(world, settings):
    settings.INVOICE_PAYMENT_DAYS = 45
    invoice = _studio_a_invoice(_closed_period(world), world)
    assert invoice.due_at - invoice.issued_at == timedelta(days=45)


def test_closing_again_issues_no_second_invoice(world):
    period = _closed_period(world)
    numbers = list(Invoice.objects.values_list("number", flat=True))
    services.period_close(period_id=period.pk)
    assert list(Invoice.objects.values_list("number", flat=True)) == numbers
    assert InvoiceCounter.objects.get().last_sequence == 2


def test_numbers_continue_across_periods_of_the_year(world):
    first = _closed_period(world)
    licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=[_runs(1, key="later")])
    later = services.period_create(actor=world.cast.admin, start=first.end, end=timezone.now())
    later = services.period_close(period_id=later.pk)
    # Only studio A used its lease in the later period: the next number, nothing skipped.
    assert sorted(Invoice.objects.filter(period=later).values_list("sequence", flat=True)) == [3]


def test_partial_payments_add_up_and_the_last_one_marks_it_paid(world):
    invoice = _studio_a_invoice(_closed_period(world, _runs(3)), world)
    today = timezone.localdate()
    invoices.invoice_payment_record(
        actor=world.cast.admin, invoice=invoice, amount_cents=300, paid_at=today, reference="WIRE-1"
    )
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.status) == (300, Invoice.Status.OPEN)
    assert _receivable(world.lease_a.studio) == 1000
    invoices.invoice_payment_record(
        actor=world.cast.admin, invoice=invoice, amount_cents=1000, paid_at=today, reference="WIRE-2"
    )
    invoice.refresh_from_db()
    assert (invoice.paid_cents, invoice.status) == (1300, Invoice.Status.PAID)
    assert _receivable(world.lease_a.studio) == 0
    assert ledger.balance_of("trust:bank") == 1300
    assert ledger.trial_balance() == 0
    assert ledger.balances_disagreeing() == []


def test_an_over_payment_is_refused_and_nothing_is_written(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    with pytest.raises(Invalid) as refused:
        invoices.invoice_payment_record(
            actor=world.cast.admin,
            invoice=invoice,
            amount_cents=1001,
            paid_at=timezone.localdate(),
            reference="too much",
        )
    assert refused.value.code == "over_payment"
    assert InvoicePayment.objects.count() == 0
    assert _receivable(world.lease_a.studio) == 1000


def test_a_paid_invoice_takes_no_more_money(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    today = timezone.localdate()
    invoices.invoice_payment_record(
        actor=world.cast.admin, invoice=invoice, amount_cents=1000, paid_at=today, reference="x"
    )
    with pytest.raises(Invalid):
        invoices.invoice_payment_record(
            actor=world.cast.admin, invoice=invoice, amount_cents=1, paid_at=today, reference="y"
        )


def test_only_an_administrator_records_a_payment(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    with pytest.raises(Forbidden):
        invoices.invoice_payment_record(
            actor=world.cast.carol,
            invoice=invoice,
            amount_cents=1,
            paid_at=timezone.localdate(),
            reference="x",
        )


def test_voiding_an_unpaid_invoice_reverses_the_receivable(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    invoices.invoice_void(actor=world.cast.admin, invoice=invoice, reason="billed in error")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID
    assert _receivable(world.lease_a.studio) == 0
    assert ledger.balance_of("trust:invoices_voided") == 1000
    assert ledger.trial_balance() == 0


def test_a_partly_paid_invoice_cannot_be_voided(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    invoices.invoice_payment_record(
        actor=world.cast.admin, invoice=invoice, amount_cents=1, paid_at=timezone.localdate(), reference="x"
    )
    with pytest.raises(Conflict):
        invoices.invoice_void(actor=world.cast.admin, invoice=invoice)


def test_a_void_invoice_takes_no_payment(world):
    invoice = _studio_a_invoice(_closed_period(world), world)
    invoices.invoice_void(actor=world.cast.admin, invoice=invoice)
    with pytest.raises(Conflict):
        invoices.invoice_payment_record(
            actor=world.cast.admin,
            invoice=invoice,
            amount_cents=1,
            paid_at=timezone.localdate(),
            reference="x",
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.integers(0, 50), payments=st.lists(st.integers(1, 3000), max_size=5))
def test_invoices_minus_payments_is_the_receivable(world, runs, payments):
    """For any usage and any sequence of payments (those that would overpay refused), what the
    studio was invoiced minus what it paid is its receivable, and the ledger balances."""
    from django.db import transaction

    with transaction.atomic():
        period = _closed_period(world, *([_runs(runs, key=f"h{runs}")] if runs else []))
        invoice = _studio_a_invoice(period, world)
        assert invoice.total_cents == 1000 + 100 * runs
        assert sum(invoice.lines.values_list("amount_cents", flat=True)) == invoice.total_cents
        for amount in payments:
            try:
                invoices.invoice_payment_record(
                    actor=world.cast.admin,
                    invoice=invoice,
                    amount_cents=amount,
                    paid_at=timezone.localdate(),
                    reference="h",
                )
            except Invalid:
                assert amount > invoice.total_cents - Invoice.objects.get(pk=invoice.pk).paid_cents
        invoice.refresh_from_db()
        studio = world.lease_a.studio
        billed = sum(Invoice.objects.filter(studio=studio).values_list("total_cents", flat=True))
        paid = sum(Invoice.objects.filter(studio=studio).values_list("paid_cents", flat=True))
        assert billed - paid == _receivable(studio)
        assert invoice.status == (
            Invoice.Status.PAID if invoice.paid_cents == invoice.total_cents else "open"
        )
        assert ledger.trial_balance() == 0
        transaction.set_rollback(True)


def test_issuing_a_periods_invoices_takes_a_handful_of_queries(world, django_assert_max_num_queries):
    """Set-based: a handful of statements for the whole period (pinned here with two studios;
    nothing in `issue_for_period` queries per studio or lease)."""
    from payouts.models import Period

    period = _closed_period(world, _runs(2))
    InvoiceLine.objects.filter(invoice__period=period).delete()
    Invoice.objects.filter(period=period).delete()
    # The audit chain's append takes a few of them; the corrections undone (payouts.corrections) one.
    with django_assert_max_num_queries(17):
        issued = invoices.issue_for_period(Period.objects.get(pk=period.pk))
    assert len(issued) == 2


def test_a_close_that_fails_after_issuing_skips_no_number(world, monkeypatch):
    """The invoices, their numbers and the counter roll back with a failed final step; its
    retry issues the same numbers again."""
    from payouts.models import Period
    from trust import audit

    real, failed = audit.record, []

    def fail_once(*, action, **kwargs):
        if action == "period.closed" and not failed:
            failed.append(action)
            raise RuntimeError("the database went away")
        return real(action=action, **kwargs)

    monkeypatch.setattr(audit, "record", fail_once)
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    with pytest.raises(RuntimeError):
        services.period_close(period_id=period.pk)
    assert Invoice.objects.count() == 0
    assert not InvoiceCounter.objects.filter(last_sequence__gt=0).exists()
    assert Period.objects.get(pk=period.pk).status == Period.Status.CLOSING
    services.period_close_finish(period_id=period.pk)
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == [1, 2]
