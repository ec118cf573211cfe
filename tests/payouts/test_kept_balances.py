"""Account balances are kept in the posting's transaction: after closes and a payout batch each
account's balance is exactly the sum of its entries, and the balance lists read them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import UsageEvent
from payouts import ledger, selectors
from payouts import services as payouts
from payouts.models import Account

pytestmark = pytest.mark.django_db


def _close(world, *, days_ago: int):
    now = timezone.now()
    period = payouts.period_create(
        actor=world.cast.admin, start=now - timedelta(days=days_ago + 1), end=now - timedelta(days=days_ago)
    )
    return payouts.period_close(period_id=period.pk)


def test_balances_are_the_sums_of_entries_after_a_close_and_a_payout(world, settings):
    UsageEvent.objects.create(
        lease=world.lease_a,
        event_key="run-1",
        kind=UsageEvent.Kind.TRAINING_RUN,
        quantity=40,
        occurred_at=timezone.now() - timedelta(hours=1),
        source=UsageEvent.Source.REPORT,
    )
    _close(world, days_ago=0)
    assert ledger.balances_disagreeing() == []
    assert ledger.books_total() == ledger.trial_balance() == 0
    alice = Account.objects.get(code=ledger.member_payable_code(world.cast.alice))
    assert alice.balance_cents < 0
    assert selectors.member_balance_cents(world.cast.alice) == -alice.balance_cents

    settings.TRUST_MINIMUM_PAYOUT_CENTS = 1
    world.cast.alice.payout_iban, world.cast.alice.payout_account_name = "DE89370400440532013000", "Alice"
    world.cast.alice.save()
    batch = payouts.payout_batch_create(actor=world.cast.admin, minimum_cents=1)
    assert batch.item_count == 1
    assert ledger.balances_disagreeing() == []
    assert selectors.member_balance_cents(world.cast.alice) == 0
    assert [row["member_number"] for row in selectors.member_balances()] == ["M-00002"]  # Bob, no bank


def test_a_posting_twice_by_key_adds_once(world):
    receivable, fee = ledger.studio_receivable(world.cast.studio_a), ledger.trust_fee_revenue()
    for _ in range(2):
        ledger.post(key="once", memo="m", lines=[(receivable, 500), (fee, -500)])
    assert ledger.balance(receivable) == 500 and ledger.balance(fee) == -500
    assert ledger.balances_disagreeing() == []


def test_the_overview_reads_balances_without_summing_the_ledger(world, django_assert_max_num_queries):
    _close(world, days_ago=0)
    with django_assert_max_num_queries(17):
        overview = selectors.operations_overview()
    assert overview["ledger_is_balanced"] and overview["members_owed_count"] == 2
    assert overview["owed_cents"] == -sum(
        Account.objects.filter(kind=Account.Kind.MEMBER_PAYABLE).values_list("balance_cents", flat=True)
    )


def test_kept_balances_move_by_the_exact_sum_of_each_accounts_lines():
    big = 9 * 10**15  # past 32 bits: the ids and deltas go to PostgreSQL as one array literal each
    first, second, untouched = (
        Account.objects.create(code=f"test:{name}", kind=Account.Kind.BANK) for name in ("a", "b", "c")
    )
    ledger.add_to_balances([(first.pk, big), (second.pk, -big), (first.pk, 1), (second.pk, -1)])
    ledger.add_to_balances([(first.pk, -3), (untouched.pk, 0)])
    assert dict(Account.objects.values_list("code", "balance_cents")) == {
        "test:a": big - 2,
        "test:b": -big - 1,
        "test:c": 0,
    }


def test_an_array_literal_takes_integers_only():
    from payouts.bulk import bigint_array

    assert bigint_array([3, -2, 10**18]) == "{3,-2,1000000000000000000}"
    with pytest.raises(ValueError):
        bigint_array(["1},{2"])
