"""Corrections, never rewrites (issue 13 item 2), on the test world: lease A bills a 1000-cent
flat fee and 100 cents a training run; its two assets are Alice's (all hers) and Bob's (0.4 Bob,
0.6 Alice); the trust takes 10% and the pension 5% of a member's gross unless set otherwise."""

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from licensing import corrections as usage_corrections
from licensing import services as licensing
from licensing.models import UsageCorrection
from payouts import corrections, invoices, ledger, selectors, services
from payouts.models import (
    Adjustment,
    CreditNote,
    Invoice,
    InvoicePayment,
    LedgerEntry,
    MemberAdjustmentLine,
    MemberEarning,
    Period,
)
from tests.payouts.correction_refusals import (
    REFUSED_CORRECTIONS,
    fix,
    gateway_download,
    other_events,
    three_periods,
)
from trust.errors import DomainError, Forbidden, Invalid
from trust.templatetags.portal import period_label

pytestmark = pytest.mark.django_db


def _runs(key, quantity, at):
    return {"event_key": key, "kind": "training_run", "quantity": quantity, "occurred_at": at}


def _report(world, *events):
    return licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=list(events))


def _close(period):
    return services.period_close(period_id=period.pk)


def _receivable(studio):
    return ledger.balance_of(f"studio:{studio.pk}:receivable")


def _lease_a_revenue(lease):
    own = lease.revenues.aggregate(total=Sum("revenue_cents"))["total"] or 0
    adjusted = lease.adjustments.aggregate(total=Sum("revenue_cents"))["total"] or 0
    return own + adjusted


def _snapshot():
    return (
        LedgerEntry.objects.count(),
        Invoice.objects.count(),
        CreditNote.objects.count(),
        Adjustment.objects.count(),
        list(
            Period.objects.order_by("pk").values_list(
                "revenue_cents", "admin_fee_cents", "pension_cents", "net_cents"
            )
        ),
    )


# Worked by hand ----------------------------------------------------------------------------------


def test_a_correction_in_an_open_period_is_metered_with_its_original(world):
    (p1, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    assert _report(world, fix("c1", "u1", -2)) == (1, 0)
    correction = UsageCorrection.objects.get(event_key="c1")
    assert correction.in_place and correction.original_occurred_at == t1
    p1 = _close(p1)
    invoice = Invoice.objects.get(period=p1, studio=world.lease_a.studio)
    # 1000 flat fee + 3 net runs x 100: the invoice shows the net, no credit note.
    assert sorted(invoice.lines.values_list("use", "quantity", "amount_cents")) == [
        ("flat_fee", 1, 1000),
        ("training_run", 3, 300),
    ]
    assert not CreditNote.objects.exists()


def test_a_correction_of_a_closed_period_is_a_credit_note_in_the_next_worked_by_hand(world):
    (p1, p2, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    p1 = _close(p1)
    figures = (p1.revenue_cents, p1.admin_fee_cents, p1.pension_cents, p1.net_cents)
    earned = dict(
        MemberEarning.objects.filter(period=p1, lease=world.lease_a).values_list("member_id", "net_cents")
    )
    _report(world, fix("c1", "u1", -2))
    assert not UsageCorrection.objects.get(event_key="c1").in_place
    p2 = _close(p2)
    p1.refresh_from_db()
    # The closed period's figures never change.
    assert (p1.revenue_cents, p1.admin_fee_cents, p1.pension_cents, p1.net_cents) == figures
    assert (
        dict(
            MemberEarning.objects.filter(period=p1, lease=world.lease_a).values_list("member_id", "net_cents")
        )
        == earned
    )
    adjustment = Adjustment.objects.get(period=p2, lease=world.lease_a)
    # 2 runs x 100 = 200 credited: fee floor(200 x 10%) = 20; the pool 180 over the two shared
    # assets (90 each): Alice 90 + 54 = 144, Bob 36; pension 5%: 7 and 1.
    assert adjustment.original_period_id == p1.pk
    assert (adjustment.revenue_cents, adjustment.admin_fee_cents) == (-200, -20)
    lines = {line["lease"]: line for line in corrections.member_adjustments(world.cast.alice, p2)}
    alice = lines[world.lease_a.pk]
    assert (alice["original_period"], alice["use"]) == (p1.pk, "training_run")
    assert (alice["revenue_cents"], alice["admin_fee_cents"], alice["pension_cents"], alice["net_cents"]) == (
        -160,
        -16,
        -7,
        -137,
    )
    bob = corrections.member_adjustments(world.cast.bob, p2)[0]
    assert (bob["revenue_cents"], bob["admin_fee_cents"], bob["pension_cents"], bob["net_cents"]) == (
        -40,
        -4,
        -1,
        -35,
    )
    note = corrections.studio_credit_notes(world.lease_a.studio).get()
    assert note.number == f"GUILDTRUST-CN-{note.year}-000001"
    assert note.total_cents == 200 and note.period_id == p2.pk
    line = note.lines.get()
    assert (line.quantity, line.unit_price_cents, line.amount_cents) == (2, 100, 200)
    assert line.original_period_id == p1.pk
    assert line.original_invoice == Invoice.objects.get(period=p1, studio=world.lease_a.studio)
    # Invoiced 1500 for P1, credited 200: the studio owes 1300 (P2 billed nothing of lease A).
    billed = sum(Invoice.objects.filter(studio=world.lease_a.studio).values_list("total_cents", flat=True))
    assert billed - note.total_cents == _receivable(world.lease_a.studio)
    assert ledger.trial_balance() == 0


def test_a_credit_shows_on_the_statements_the_earnings_and_the_reconciliation(world, as_user):
    # The worked example above, as members, the studio and the administrator see it.
    (p1, p2, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    p1 = _close(p1)
    _report(world, fix("c1", "u1", -2))
    p2 = _close(p2)
    statement = selectors.member_statement(world.cast.alice, p2.pk)
    (row,) = [row for row in statement["rows"] if row["kind"] == "adjustment"]
    assert row["lease"] == world.lease_a.pk
    assert row["refers_to_period"] == period_label(p1.start, p1.end)
    assert (row["gross_cents"], row["admin_fee_cents"], row["pension_cents"], row["net_cents"]) == (
        -160,
        -16,
        -7,
        -137,
    )
    assert statement["net_cents"] == sum(r["net_cents"] for r in statement["rows"])
    listed = {r["period"]: r for r in selectors.member_statement_rows(world.cast.alice)}
    assert listed[p2.pk]["member_net_cents"] == statement["net_cents"]
    earnings = as_user(world.cast.alice).get("/api/v1/me/earnings/").json()
    by_period = {p["period"]: p for p in earnings["periods"]}
    assert by_period[p2.pk]["net_cents"] == statement["net_cents"]
    # The studio: invoiced for P1, then credited by P2's credit note, down to its receivable.
    account = as_user(world.cast.carol).get("/api/v1/studio/statement/").json()
    note = CreditNote.objects.get(studio=world.lease_a.studio)
    assert [(r["kind"], r["number"]) for r in account["rows"]][-1] == ("credit_note", note.number)
    assert account["balance_cents"] == account["receivable_cents"] == _receivable(world.lease_a.studio)
    figures = as_user(world.cast.admin).get("/api/v1/reconciliation/", {"period": p2.pk}).json()
    assert figures["credited_cents"] == 200
    assert figures["ledger_balanced"] is True


def test_a_whole_correction_gives_back_to_the_cent_what_the_close_took(world):
    from payouts.models import MemberEarningLine

    (p1, p2, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 7, t1))
    _close(p1)
    members = (world.cast.alice.pk, world.cast.bob.pk)
    before = {pk: ledger.balance_of(f"member:{pk}:payable") for pk in members}
    _report(world, fix("c1", "u1", -7))
    _close(p2)
    after = {pk: ledger.balance_of(f"member:{pk}:payable") for pk in members}
    earned = dict(
        MemberEarningLine.objects.filter(
            earning__period=p1, earning__lease=world.lease_a, use="training_run"
        ).values_list("earning__member_id", "net_cents")
    )
    # Payable balances are credits (negative): giving back a member's net raises theirs by it.
    assert {pk: after[pk] - before[pk] for pk in members} == {pk: earned[pk] for pk in members}
    assert Adjustment.objects.get().admin_fee_cents == -(7 * 100 * 10 // 100)


def test_a_correction_undone_later_is_re_charged_on_the_next_invoice(world):
    (p1, p2, p3), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    _close(p1)
    _report(world, fix("c1", "u1", -3))
    _close(p2)
    # The studio was right after all: a correction of the correction gives back 2 of the 3.
    _report(world, fix("c2", "c1", 2))
    p3 = _close(p3)
    invoice = Invoice.objects.get(period=p3, studio=world.lease_a.studio)
    assert list(invoice.lines.values_list("use", "quantity", "amount_cents")) == [("adjustment", 2, 200)]
    assert Adjustment.objects.get(period=p3).revenue_cents == 200
    assert _lease_a_revenue(world.lease_a) == 1000 + 100 * (5 - 3 + 2)


def test_closing_again_prices_nothing_twice(world):
    (p1, p2, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    _close(p1)
    _report(world, fix("c1", "u1", -1))
    _close(p2)
    before = _snapshot()
    _close(p2)
    _close(p1)
    assert _snapshot() == before


def test_an_administrator_corrects_a_gateway_download(world):
    (p1, _, _), (t1, _, _) = three_periods(world)
    licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=[_runs("u1", 1, t1)])
    gateway_download(world, at=t1)
    with pytest.raises(Forbidden) as refused:
        _report(world, fix("c1", "gw", -1))
    assert refused.value.code == "download_not_correctable"
    assert (
        usage_corrections.usage_correct(
            actor=world.cast.admin,
            lease=world.lease_a,
            corrections=[{**fix("c1", "gw", -1), "reason": "failed"}],
        )
        == 1
    )
    row = UsageCorrection.objects.get(event_key="c1")
    assert (row.source, row.kind, row.reason) == ("admin", "download", "failed")


# Refusals: nothing written -----------------------------------------------------------------------


@pytest.mark.parametrize(("refused", "status", "code"), REFUSED_CORRECTIONS)
def test_refused_corrections_write_nothing(world, refused, status, code):
    (_, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1), fix("c1", "u1", -2))
    other_events(world, at=t1)
    before = UsageCorrection.objects.count()
    with pytest.raises(DomainError) as refusal:
        _report(world, _runs("u2", 1, t1), refused)
    assert (refusal.value.status, refusal.value.code) == (status, code)
    assert UsageCorrection.objects.count() == before
    assert not world.lease_a.usage_events.filter(event_key="u2").exists()


def test_corrections_of_corrections_never_take_the_original_below_zero(world):
    (_, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 10, t1), fix("c1", "u1", -10), fix("c2", "c1", 5), fix("c3", "u1", -5))
    # Undoing c2 would put c1's 10 back against an original already netted to zero.
    with pytest.raises(Invalid) as refused:
        _report(world, fix("c4", "c2", -5))
    assert refused.value.code == "correction_exceeds_original"


def test_another_leases_event_is_unknown(world):
    (_, _, _), (t1, _, _) = three_periods(world)
    from licensing.models import UsageEvent

    UsageEvent.objects.create(
        lease=world.lease_b, event_key="b1", kind="training_run", quantity=3, occurred_at=t1, source="report"
    )
    with pytest.raises(Invalid) as refused:
        _report(world, fix("c1", "b1", -1))
    assert refused.value.code == "unknown_event"


def test_a_re_sent_correction_counts_once(world):
    (_, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    assert _report(world, fix("c1", "u1", -2)) == (1, 0)
    assert _report(world, fix("c1", "u1", -2)) == (0, 1)
    assert UsageCorrection.objects.count() == 1


# The invariant -----------------------------------------------------------------------------------

_step = st.tuples(st.integers(0, 50), st.integers(1, 6), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12)),
    phases=st.tuples(*(st.lists(_step, max_size=5) for _ in range(3))),
    payments=st.lists(st.integers(1, 2500), max_size=3),
    pay_out=st.booleans(),
)
def test_every_periods_books_hold_with_corrections_payments_and_payouts(
    world, runs, phases, payments, pay_out
):
    """For random usage, corrections (of corrections too, across periods), payments and payout
    batches: every period's `sum(net) + sum(pension) + fee = revenue` to the cent including
    adjustments, the ledger balances, invoices minus payments minus credit notes is each studio's
    receivable, closing twice changes nothing, and the lease's revenue over all periods is its
    flat fee plus its usage net of every correction."""
    with transaction.atomic():
        periods, moments = three_periods(world)
        _report(world, *(_runs(f"u{i}", q, t) for i, (q, t) in enumerate(zip(runs, moments, strict=True))))
        roots, keys, made = [f"u{i}" for i in range(3)], [f"u{i}" for i in range(3)], 0
        for phase, steps in enumerate(phases):
            for pick, size, on_root in steps:
                target = roots[pick % 3] if on_root else keys[pick % len(keys)]
                node = UsageCorrection.objects.filter(lease=world.lease_a, event_key=target).first()
                sign = -1 if node is None or node.quantity > 0 else 1
                key = f"c{made}"
                try:
                    _report(world, fix(key, target, sign * size))
                    keys.append(key)
                    made += 1
                except Invalid as refused:
                    assert refused.code == "correction_exceeds_original"
                    assert not UsageCorrection.objects.filter(event_key=key).exists()
            _close(periods[phase])
            for amount in payments:
                invoice = Invoice.objects.filter(studio=world.lease_a.studio, status="open").first()
                if invoice is not None and amount <= invoice.outstanding_cents:
                    invoices.invoice_payment_record(
                        actor=world.cast.admin,
                        invoice=invoice,
                        amount_cents=amount,
                        paid_at=timezone.localdate(),
                        reference="h",
                    )
            if pay_out:
                services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)

        for period in Period.objects.filter(pk__in=[p.pk for p in periods]):
            assert period.status == Period.Status.CLOSED
            adjusted = corrections.period_adjustment_totals(period)
            revenue = period.revenue_cents + adjusted["revenue"]
            fee = period.admin_fee_cents + adjusted["fee"]
            lines = MemberAdjustmentLine.objects.filter(adjustment__period=period).aggregate(
                net=Sum("net_cents"), pension=Sum("pension_cents")
            )
            earned = MemberEarning.objects.filter(period=period).aggregate(
                net=Sum("net_cents"), pension=Sum("pension_cents")
            )
            net = (earned["net"] or 0) + (lines["net"] or 0)
            pension = (earned["pension"] or 0) + (lines["pension"] or 0)
            assert net + pension + fee == revenue
        assert ledger.trial_balance() == 0
        assert ledger.balances_disagreeing() == []
        for studio in (world.lease_a.studio, world.lease_b.studio):
            billed = (
                Invoice.objects.filter(studio=studio)
                .exclude(status="void")
                .aggregate(t=Sum("total_cents"))["t"]
            )
            paid = InvoicePayment.objects.filter(invoice__studio=studio).aggregate(t=Sum("amount_cents"))["t"]
            credited = CreditNote.objects.filter(studio=studio).aggregate(t=Sum("total_cents"))["t"]
            assert (billed or 0) - (paid or 0) - (credited or 0) == _receivable(studio)
        nets = {key: q for key, q in zip(roots, runs, strict=True)}
        for row in UsageCorrection.objects.filter(lease=world.lease_a):
            nets[row.original_key] += row.quantity
        assert all(net >= 0 for net in nets.values())
        assert _lease_a_revenue(world.lease_a) == 1000 + 100 * sum(nets.values())
        event(f"credits priced: {Adjustment.objects.filter(is_credit=True).exists()}")
        event(f"corrections undone, re-charged: {Adjustment.objects.filter(is_credit=False).exists()}")
        before = _snapshot()
        for period in periods:
            _close(period)
        assert _snapshot() == before
        transaction.set_rollback(True)


def test_a_federated_leases_usage_is_corrected_where_it_is_metered(world):
    from tests.federation.helpers import make_lease_federated

    (_, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    make_lease_federated(world.lease_a)
    with pytest.raises(Invalid) as refused:
        _report(world, fix("c1", "u1", -1))
    assert refused.value.code == "federated_not_correctable"
    assert not UsageCorrection.objects.exists()


def test_usage_a_home_trust_forwarded_is_corrected_there(world):
    from licensing.models import UsageEvent

    (_, _, _), (t1, _, _) = three_periods(world)
    UsageEvent.objects.create(
        lease=world.lease_a,
        event_key="f1",
        kind="training_run",
        quantity=2,
        occurred_at=t1,
        source="federated",
    )
    with pytest.raises(Invalid) as refused:
        usage_corrections.usage_correct(
            actor=world.cast.admin, lease=world.lease_a, corrections=[fix("c1", "f1", -1)]
        )
    assert refused.value.code == "federated_not_correctable"
    assert not UsageCorrection.objects.exists()


def test_only_an_administrator_corrects_through_the_administrators_service(world):
    (_, _, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    with pytest.raises(Forbidden):
        usage_corrections.usage_correct(
            actor=world.cast.carol, lease=world.lease_a, corrections=[fix("c1", "u1", -1)]
        )
    assert not UsageCorrection.objects.exists()


def test_pricing_adjustments_takes_a_fixed_number_of_queries(world):
    """Set-based: the same statements for one lease's corrections as for two studios' many."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from licensing.models import LeaseToken, UsageEvent, UsageEventKey

    (p1, p2, p3), (t1, _, _) = three_periods(world)
    token_b = LeaseToken.objects.get(lease=world.lease_b)
    _report(world, *(_runs(f"u{n}", 5, t1) for n in range(6)))
    # Studio B's run, recorded as its report would be (dated with A's, whatever B's start).
    UsageEvent.objects.create(
        lease=world.lease_b, event_key="b1", kind="training_run", quantity=5, occurred_at=t1, source="report"
    )
    UsageEventKey.objects.create(lease=world.lease_b, event_key="b1")
    _close(p1)
    _report(world, fix("c0", "u0", -1))
    with CaptureQueriesContext(connection) as one:
        corrections.price_adjustments(Period.objects.get(pk=p2.pk), at=timezone.now())
    _report(world, *(fix(f"d{n}", f"u{n}", -2) for n in range(6)))
    licensing.usage_report(
        token=token_b,
        lease_id=world.lease_b.pk,
        events=[{"event_key": "d", "corrects": "b1", "quantity": -1}],
    )
    with CaptureQueriesContext(connection) as many:
        corrections.price_adjustments(Period.objects.get(pk=p3.pk), at=timezone.now())
    assert CreditNote.objects.filter(period=p3).count() == 2
    # 30 on PostgreSQL, the audit chain's append included, for one lease as for seven.
    assert len(many) == len(one) <= 32


def test_an_adjustment_is_its_own_kind_of_row_in_the_earnings_api(world, as_user):
    (p1, p2, _), (t1, _, _) = three_periods(world)
    _report(world, _runs("u1", 5, t1))
    p1 = _close(p1)
    _report(world, fix("c1", "u1", -2))
    p2 = _close(p2)
    earnings = as_user(world.cast.alice).get("/api/v1/me/earnings/").json()
    by_period = {p["period"]: p for p in earnings["periods"]}
    assert {row["kind"] for row in by_period[p1.pk]["leases"]} == {"earning"}
    (adjustment,) = [row for row in by_period[p2.pk]["leases"] if row["kind"] == "adjustment"]
    # The studio is named as it is, the row's kind says it corrects an earlier period.
    assert adjustment["lease"] == world.lease_a.pk
    assert adjustment["studio"] == world.lease_a.studio.name
    assert adjustment["net_cents"] == -137
