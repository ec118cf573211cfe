"""A period's paid figure, recorded as payouts, returns and closes happen (payouts.paid_of_periods),
is what summing the rule over every member's whole history gives: for any order of closes,
payout batches, payments the bank returned and corrections; and the migration's backfill gives
it too. The page reads it in one query."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from licensing import services as licensing
from payouts import paid_of_periods, reconciliation, services
from payouts.models import MemberEarning, PaidOfPeriod, PayoutBatch, PayoutItem, Period
from payouts.payout_batches import payout_batch_mark_sent, payout_item_return
from tests.payouts.correction_refusals import fix, three_periods
from trust.errors import Invalid
from trust.models import Member

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"

# The oracle: the statement the reconciliation ran on every request before the figure was
# recorded (three grouped scans of the whole history), kept here to check the recorded figure.
ORACLE = """
    SELECT COALESCE(SUM(CASE WHEN beyond <= 0 THEN 0 WHEN beyond >= earned_cents THEN earned_cents
                             ELSE beyond END), 0)
    FROM (
        SELECT now_earned.earned_cents,
               COALESCE(paid.paid_cents, 0) - COALESCE(earlier.before_cents, 0) AS beyond
        FROM (SELECT member_id, SUM(net_cents) AS earned_cents FROM payouts_memberearning
              WHERE period_id = %s GROUP BY member_id) now_earned
        LEFT JOIN (SELECT e.member_id, SUM(e.net_cents) AS before_cents
                   FROM payouts_memberearning e JOIN payouts_period p ON p.id = e.period_id
                   WHERE p.status = 'closed' AND p.start < (SELECT start FROM payouts_period WHERE id = %s)
                   GROUP BY e.member_id) earlier
               ON earlier.member_id = now_earned.member_id
        LEFT JOIN (SELECT member_id, SUM(amount_cents) AS paid_cents FROM payouts_payoutitem
                   WHERE returned_on IS NULL GROUP BY member_id) paid
               ON paid.member_id = now_earned.member_id
    ) settled
"""


def oracle_paid_cents(period: Period) -> int:
    with connection.cursor() as cursor:
        cursor.execute(ORACLE, [period.pk, period.pk])
        return int(cursor.fetchone()[0])


def settled_oldest_first(periods: list[Period]) -> dict[int, int]:
    """The rule in Python, member by member: their payments not returned cover their closed
    periods' net in start order."""
    paid: dict[int, int] = {}
    for member_id, cents in PayoutItem.objects.filter(returned_on__isnull=True).values_list(
        "member_id", "amount_cents"
    ):
        paid[member_id] = paid.get(member_id, 0) + cents
    settled = {period.pk: 0 for period in periods}
    earned = (
        MemberEarning.objects.filter(period__status=Period.Status.CLOSED)
        .order_by("member_id", "period__start")
        .values_list("member_id", "period_id", "net_cents")
    )
    left: dict[int, int] = dict(paid)
    for member_id, period_id, cents in earned:
        part = min(max(left.get(member_id, 0), 0), cents)
        settled[period_id] += part
        left[member_id] = left.get(member_id, 0) - part
    return settled


def _runs(key, quantity, at):
    return {"event_key": key, "kind": "training_run", "quantity": quantity, "occurred_at": at}


def _report(world, *events):
    return licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=list(events))


def _return_latest_payment(world, member) -> bool:
    item = (
        PayoutItem.objects.filter(member=member, returned_on__isnull=True)
        .select_related("batch")
        .order_by("-batch_id")
        .first()
    )
    if item is None:
        return False
    if item.batch.state == PayoutBatch.State.CREATED:
        payout_batch_mark_sent(actor=world.cast.admin, batch_id=item.batch_id)
    payout_item_return(actor=world.cast.admin, batch_id=item.batch_id, member_id=member.pk, reason="closed")
    return True


_operation = st.one_of(
    st.tuples(st.just("close"), st.integers(0, 2)),
    st.tuples(st.just("pay"), st.integers(1, 2500)),
    st.tuples(st.just("return"), st.booleans()),
    st.tuples(st.just("correct"), st.integers(0, 2), st.integers(1, 5)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12)),
    bob_paid=st.booleans(),
    operations=st.lists(_operation, min_size=1, max_size=9),
)
# A later period closed and paid before an earlier one: the earlier one's close moves the paid
# figure from the later period to itself. Then a payment returned after both closed.
@example(runs=(5, 3, 8), bob_paid=True, operations=[("close", 1), ("pay", 1), ("close", 0), ("return", True)])
def test_the_recorded_paid_figure_is_the_rule_over_the_whole_history(world, runs, bob_paid, operations):
    """Periods closed in any order (a later one before an earlier one), batches with any
    minimum, payments returned and paid again, corrections of closed periods priced in the next
    close: after every step each period's recorded paid figure is the old statement's, which is
    the rule worked member by member; then the migration's backfill, from nothing, gives the same."""
    with transaction.atomic():
        Member.objects.filter(pk=world.cast.alice.pk).update(payout_iban=IBAN, payout_bic="COBADEFFXXX")
        if bob_paid:
            Member.objects.filter(pk=world.cast.bob.pk).update(payout_iban=IBAN, payout_bic="COBADEFFXXX")
        periods, moments = three_periods(world)
        _report(world, *(_runs(f"u{i}", q, t) for i, (q, t) in enumerate(zip(runs, moments, strict=True))))
        corrections = 0
        for step, operation in enumerate([*operations, ("close", 0), ("close", 1), ("close", 2), ("pay", 1)]):
            kind, *args = operation
            if kind == "close":
                services.period_close(period_id=periods[args[0]].pk)
            elif kind == "pay":
                services.payout_batch_create(actor=world.cast.admin, minimum_cents=args[0])
            elif kind == "return":
                _return_latest_payment(world, world.cast.alice if args[0] else world.cast.bob)
            else:
                try:
                    _report(world, fix(f"c{corrections}", f"u{args[0]}", -args[1]))
                    corrections += 1
                except Invalid as refused:
                    assert refused.code == "correction_exceeds_original"
            fresh = list(Period.objects.filter(pk__in=[p.pk for p in periods]).order_by("start"))
            recorded = [reconciliation.paid_of_period_cents(period) for period in fresh]
            assert recorded == [oracle_paid_cents(period) for period in fresh], operation
            worked = settled_oldest_first(fresh)
            assert recorded == [worked[period.pk] for period in fresh], operation
            if step in (len(operations) - 1, len(operations) + 3):
                # After the random steps, and at the end (everything closed and paid).
                assert _backfilled(fresh) == recorded
        assert all(period.net_cents >= paid for period, paid in zip(fresh, recorded, strict=True))
        transaction.set_rollback(True)


def _backfilled(periods: list[Period]) -> list[int]:
    """The periods' paid figures as migration 0020's backfill records them from nothing (in a
    savepoint rolled back: the recorded rows stay)."""
    migration = importlib.import_module("payouts.migrations.0020_paid_of_periods")
    with transaction.atomic():
        PaidOfPeriod.objects.all().delete()
        migration.backfill(None, SimpleNamespace(connection=connection))
        figures = [reconciliation.paid_of_period_cents(period) for period in periods]
        transaction.set_rollback(True)
    return figures


@pytest.fixture
def paid_out(world):
    """A closed period whose earners Alice (paid out since) and Bob (no bank details) are."""
    _report(world, _runs("r", 2, timezone.now()))
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    period = services.period_close(period_id=period.pk)
    Member.objects.filter(pk=world.cast.alice.pk).update(payout_iban=IBAN, payout_bic="COBADEFFXXX")
    return period, services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)


def test_a_batch_records_in_a_fixed_number_of_statements_once(paid_out, django_assert_num_queries):
    """Whatever the number of members and periods: the audit head's lock, the moved members'
    temporary table made (and, on PostgreSQL, analysed, then two settings), one INSERT ... SELECT
    and the table dropped. Recording the same batch twice is refused: it would count its
    payments twice."""
    period, batch = paid_out
    paid = reconciliation.paid_of_period_cents(period)
    assert (
        paid
        == MemberEarning.objects.filter(period=period, member__payout_iban=IBAN).aggregate(
            total=Sum("net_cents")
        )["total"]
    )
    PaidOfPeriod.objects.filter(batch=batch).delete()
    assert reconciliation.paid_of_period_cents(period) == 0
    with django_assert_num_queries(7 if connection.vendor == "postgresql" else 4):
        paid_of_periods.record_payout_batch(batch)
    assert reconciliation.paid_of_period_cents(period) == paid
    with pytest.raises(IntegrityError), transaction.atomic():
        paid_of_periods.record_payout_batch(batch)


def test_the_reconciliation_reads_the_paid_figure_in_one_query(
    paid_out, as_user, django_assert_num_queries, django_assert_max_num_queries
):
    period, _ = paid_out
    with django_assert_num_queries(1):
        reconciliation.paid_of_period_cents(period)
    api = as_user(paid_out[1].created_by)
    # The whole request: authentication, then the figures' fixed number of aggregates.
    with django_assert_max_num_queries(19):
        response = api.get("/api/v1/reconciliation/", {"period": period.pk})
    assert response.json()["paid_cents"] == reconciliation.paid_of_period_cents(period) > 0
