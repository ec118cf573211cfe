"""The batched close on a generated trust (the benchmark's data at smoke size): every lease's
split equals the money rule applied to it alone, the Celery fan-out writes exactly what an
in-process close writes, a rerun batch posts nothing, and a batch's query count does not grow
with its leases."""

from collections import defaultdict
from fractions import Fraction

import pytest
from django.db import transaction
from django.db.models import Sum

from licensing.models import Lease, UsageEvent
from payouts import ledger, selectors, services
from payouts.distribution import Charge, Contributor, distribute_lease
from payouts.metering import PER_ASSET_KINDS
from payouts.models import CloseBatch, LeaseRevenue, LedgerTransaction, MemberEarning, Period, PeriodCharge
from payouts.tasks import close_period
from tests.benchmarks import close_data
from trust.models import AssetContributor

pytestmark = pytest.mark.django_db


@pytest.fixture
def trust_data(settings):
    settings.PERIOD_CLOSE_BATCH_LEASES = 5  # the smoke size's 12 leases make three batches
    return close_data.build("smoke")


def _reference(lease: Lease, period: Period):
    """The money rule applied to one lease straight from its usage events, as the close did
    lease by lease before it was batched."""
    flat = lease.flat_fee_cents if period.start <= lease.starts_at < period.end else 0
    charges = []
    rows = (
        UsageEvent.objects.filter(lease=lease, occurred_at__gte=period.start, occurred_at__lt=period.end)
        .values("kind", "asset_id")
        .annotate(quantity=Sum("quantity"))
    )
    for row in rows:
        asset = str(row["asset_id"]) if row["kind"] in PER_ASSET_KINDS else None
        charges.append(Charge(asset_id=asset, amount_cents=row["quantity"] * lease.unit_price(row["kind"])))
    shared = [str(pk) for pk in lease.approval_assets.values_list("pk", flat=True)]
    contributors = defaultdict(list)
    for row in AssetContributor.objects.filter(
        asset_id__in=set(shared) | {c.asset_id for c in charges if c.asset_id}
    ).select_related("member"):
        contributors[str(row.asset_id)].append(
            Contributor(member_key=(row.member.member_number, row.member_id), share=Fraction(row.share))
        )
    return distribute_lease(
        flat_fee_cents=flat,
        charges=charges,
        shared_assets=shared,
        contributors=contributors,
        admin_fee_bps=period.admin_fee_bps,
        pension_bps=period.pension_bps,
    )


def test_every_lease_of_a_generated_trust_is_split_by_the_money_rule(trust_data):
    for period in trust_data.periods:
        closed = services.period_close(period_id=period.pk)
        assert closed.status == Period.Status.CLOSED
        assert closed.leases_total == closed.leases_done == trust_data.leases
        assert CloseBatch.objects.filter(period=period).count() == 3
        for revenue in LeaseRevenue.objects.filter(period=period).select_related("lease"):
            expected = _reference(revenue.lease, closed)
            assert (
                revenue.revenue_cents,
                revenue.admin_fee_cents,
                revenue.pension_cents,
                revenue.net_cents,
            ) == (
                expected.revenue_cents,
                expected.admin_fee_cents,
                expected.pension_cents,
                expected.net_cents,
            )
            earned = MemberEarning.objects.filter(period=period, lease=revenue.lease)
            assert sorted(
                earned.values_list("member_id", "gross_cents", "pension_cents", "net_cents")
            ) == sorted(
                (m.member_key[1], m.gross_cents, m.pension_cents, m.net_cents)
                for m in expected.members
                if m.gross_cents
            )
        assert selectors.period_books_check(closed) == {"revenue_adds_up": True, "ledger_balanced": True}
        assert closed.revenue_cents == selectors.period_accrued_revenue(closed)["revenue_cents"]
    assert ledger.trial_balance() == 0


def test_the_celery_fan_out_writes_what_an_in_process_close_writes(trust_data):
    period = trust_data.periods[1]
    close_period.delay(period.pk)  # eager here: the plan, then each batch task, then the finish
    fanned_out = close_data.snapshot(period)
    assert fanned_out["totals"][0] == Period.Status.CLOSED
    close_data.reset_close([period])
    services.period_close(period_id=period.pk)
    assert close_data.snapshot(period) == fanned_out


def test_a_batch_run_again_posts_nothing(trust_data):
    period = trust_data.periods[0]
    numbers = services.period_close_plan(period_id=period.pk)
    services.period_close_batch(period_id=period.pk, number=numbers[0])
    posted = LedgerTransaction.objects.filter(period=period).count()
    assert posted == 5
    assert services.period_close_batch(period_id=period.pk, number=numbers[0]) is False
    assert LedgerTransaction.objects.filter(period=period).count() == posted
    assert services.period_close_plan(period_id=period.pk) == numbers[1:]


def test_a_batch_makes_the_same_number_of_queries_whatever_its_leases(
    trust_data, settings, django_assert_max_num_queries
):
    settings.PERIOD_CLOSE_BATCH_LEASES = 1000
    period = trust_data.periods[1]
    (number,) = services.period_close_plan(period_id=period.pk)
    # Metering the batch's lease range in a transaction of its own (the period and batch held,
    # two settings, ten statements, sorting turned off for the usage's and back on, the
    # accounts its members lack), then posting it in another
    # (the period and batch held again, the planner's cost of a cached read, the connection's
    # cached plans discarded (on PostgreSQL: the foreign-key checks' are made again), charges, posted
    # leases, the parts of federated leases, studios, shared assets, contributors, accounts (3),
    # the inserts (ids and COPY for five tables), the kept balances (their rows locked in id
    # order, then one update), the batch, the audit event), then the progress: a fixed count.
    with django_assert_max_num_queries(57):
        assert services.period_close_batch(period_id=period.pk, number=number) is True
    assert LeaseRevenue.objects.filter(period=period).count() == trust_data.leases


def _charges(period: Period, batch: CloseBatch) -> list[tuple]:
    return sorted(
        PeriodCharge.objects.filter(
            period=period, lease_id__gte=batch.first_lease_id, lease_id__lte=batch.last_lease_id
        ).values_list("lease_id", "use", "asset_id", "quantity", "unit_price_cents")
    )


def test_the_plan_meters_nothing_and_each_batch_meters_only_its_own_lease_range(trust_data):
    period = trust_data.periods[1]
    first, *others = services.period_close_plan(period_id=period.pk)
    assert not PeriodCharge.objects.filter(period=period).exists()
    services.period_close_batch(period_id=period.pk, number=first)
    batch = CloseBatch.objects.get(period=period, number=first)
    charged = set(PeriodCharge.objects.filter(period=period).values_list("lease_id", flat=True))
    assert charged == set(LeaseRevenue.objects.filter(period=period).values_list("lease_id", flat=True))
    assert len(charged) == batch.leases == 5
    assert all(batch.first_lease_id <= lease_id <= batch.last_lease_id for lease_id in charged)
    later = CloseBatch.objects.filter(period=period, number__in=others)
    assert all(b.first_lease_id > batch.last_lease_id for b in later)


def test_a_batch_redelivered_after_its_metering_meters_again_and_posts_once(trust_data):
    period = trust_data.periods[1]
    numbers = services.period_close_plan(period_id=period.pk)
    batch = CloseBatch.objects.get(period=period, number=numbers[0])
    with transaction.atomic():  # the first delivery metered its range, then its worker was lost
        services._meter_batch(*services._batch_to_run(period.pk, batch.number))
    metered_once = _charges(period, batch)
    assert metered_once
    for number in numbers:
        services.period_close_batch(period_id=period.pk, number=number)
    assert services.period_close_finish(period_id=period.pk).status == Period.Status.CLOSED
    assert _charges(period, batch) == metered_once
    resumed = close_data.snapshot(period)
    close_data.reset_close([period])
    services.period_close(period_id=period.pk)
    assert close_data.snapshot(period) == resumed


def test_metering_a_range_leaves_the_planner_as_it_found_it(trust_data):
    """Sorting is off only while the range's usage is summed: the rest of the batch's
    transaction (the accounts inserted in code order, the posting) plans as usual."""
    from django.db import connection

    from payouts import metering

    period = trust_data.periods[1]
    with transaction.atomic():
        metering.meter_lease_range(period, first_lease_id=0, last_lease_id=10**9)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('enable_sort'), current_setting('enable_incremental_sort')"
            )
            assert cursor.fetchone() == ("on", "on")
    assert PeriodCharge.objects.filter(period=period).exists()
