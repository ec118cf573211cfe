"""The reconciliation page and API at a union's volume: every member of `bench_dashboards`'s
operations load (100k at BENCH_SCALE=full) earning in one closed period, two in three of them
paid out since, each with a balanced ledger history. p50/p95 over sequential requests against
/healthz measured the same way (the ratio is the figure to compare). Run with `make bench`."""

import time

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from payouts import checkpoints, paid_of_periods, reconciliation
from payouts.models import PayoutBatch, Period
from tests.benchmarks.bench_dashboards import (
    OPERATIONS_GOAL_P95_MS,
    SCALE,
    SCALES,
    _ledger_pairs,
    _sql,
    analyze,
    latencies_ms,
    load_operations,
    row,
)

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]


def load_period_earnings(world) -> int:
    """A closed period in which every bench member earned, and a payout batch paying two in
    three of them their earning (each payment its own ledger transaction). Returns its id."""
    params = {"lease": world.lease_a.pk, "admin": world.cast.admin.pk}
    _sql(
        """
        INSERT INTO payouts_period (start, "end", status, created_at, closed_at, failure_reason,
            revenue_cents, admin_fee_cents, pension_cents, net_cents, leases_total, leases_done)
        VALUES (now() - interval '60 days', now() - interval '30 days', 'closed', now(), now(), '',
            0, 0, 0, 0, 0, 0);
        INSERT INTO payouts_memberearning (period_id, lease_id, member_id, gross_cents, pension_cents,
            net_cents)
        SELECT (SELECT max(id) FROM payouts_period), %(lease)s, m.id, 1000 + m.id %% 500, 0,
            1000 + m.id %% 500
        FROM trust_member m WHERE m.member_number LIKE 'B-%%';
        UPDATE payouts_period SET net_cents = (SELECT SUM(net_cents) FROM payouts_memberearning
            WHERE period_id = payouts_period.id), revenue_cents = (SELECT SUM(net_cents)
            FROM payouts_memberearning WHERE period_id = payouts_period.id)
        WHERE id = (SELECT max(id) FROM payouts_period);
        INSERT INTO payouts_payoutbatch (created_at, created_by_id, minimum_cents, currency, execution_date,
            total_cents, item_count)
        VALUES (now(), %(admin)s, 1, 'USD', current_date, 0, 0);
        INSERT INTO payouts_ledgertransaction (key, memo, created_at)
        SELECT 'benchpay:' || m.id, 'bench payout', now() FROM trust_member m
        WHERE m.member_number LIKE 'B-%%' AND m.payout_iban <> '';
        INSERT INTO payouts_payoutitem (batch_id, member_id, amount_cents, account_name, iban, bic,
            transaction_id)
        SELECT (SELECT max(id) FROM payouts_payoutbatch), m.id, 1000 + m.id %% 500, 'x', m.payout_iban,
            '', t.id
        FROM trust_member m JOIN payouts_ledgertransaction t ON t.key = 'benchpay:' || m.id
        """,
        params,
    )
    return Period.objects.order_by("-pk").values_list("pk", flat=True).first()


def record_paid_of_period(period_id: int) -> None:
    """What the batch (paid after the close) and, measured alone, a close record of the paid
    figure (payouts.paid_of_periods): the writes that keep the page's read to one SUM."""
    batch = PayoutBatch.objects.order_by("-pk").first()
    start = time.perf_counter()
    paid_of_periods.record_payout_batch(batch)
    took = time.perf_counter() - start
    print(f"[reconciliation] a batch of {batch.items.count():,} payments recorded its paid in {took:.2f} s")
    with transaction.atomic():
        start = time.perf_counter()
        paid_of_periods.record_period_closed(Period.objects.get(pk=period_id))
        print(f"[reconciliation] the close's record, alone: {time.perf_counter() - start:.2f} s")
        transaction.set_rollback(True)


def test_reconciliation_against_healthz(world, as_user):
    sizes = SCALES[SCALE]
    start = time.perf_counter()
    load_operations(world, members=sizes["members"], leases=sizes["leases"])
    period = load_period_earnings(world)
    analyze()
    record_paid_of_period(period)
    print(f"\n[reconciliation] loaded {sizes['members']:,} members in {time.perf_counter() - start:.1f} s")
    # What the period's close writes once (payouts.checkpoints), and the nightly full proof.
    start = time.perf_counter()
    checkpoint = checkpoints.ledger_checkpoint_write(period=Period.objects.get(pk=period))
    print(
        f"[reconciliation] checkpoint of {checkpoint.accounts:,} accounts through entry "
        f"{checkpoint.through_entry_id:,} in {time.perf_counter() - start:.2f} s"
    )
    start = time.perf_counter()
    full = checkpoints.ledger_full_proof_run()
    print(f"[reconciliation] full proof of {full.entries:,} entries in {time.perf_counter() - start:.2f} s")
    assert checkpoint.verified and full.balanced
    page, api = Client(), as_user(world.cast.admin)
    page.force_login(world.cast.admin)
    baseline = latencies_ms(Client(), reverse("health"), count=10)
    figures = api.get("/api/v1/reconciliation/", {"period": period}).json()
    assert figures["ledger_balanced"] is True and 0 < figures["paid_cents"] < figures["distributed_cents"]
    assert figures["proof"]["checkpoint"]["id"] == checkpoint.pk
    lines = [f"reconciliation ({SCALE}, one period of ledger): p50/p95 of 10 sequential requests, in-process"]
    lines += _pages(page, api, period, baseline)
    lines += _proofs(checkpoint)
    # The ledger a year on: eleven earlier months of postings to every member, then the next
    # close's checkpoint. The page's proof starts from it; summing every entry grows 12x.
    start = time.perf_counter()
    _ledger_pairs(
        "SELECT 'member:' || id || ':payable', 'member_payable', id, 100 + m, 1000 + m "
        "FROM trust_member CROSS JOIN generate_series(1, %(months)s) m WHERE member_number LIKE 'B-%%'",
        {"studio": world.cast.studio_a.pk, "months": HISTORY_MONTHS},
    )
    analyze()
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    checkpoint = checkpoints.ledger_checkpoint_write()
    print(
        f"[reconciliation] {HISTORY_MONTHS} months more loaded in {loaded:.1f} s; the next checkpoint, "
        f"through entry {checkpoint.through_entry_id:,}, in {time.perf_counter() - start:.2f} s"
    )
    assert checkpoint.verified
    lines.append(f"reconciliation ({SCALE}, {HISTORY_MONTHS + 1} periods of ledger)")
    lines += _pages(page, api, period, baseline)
    lines += _proofs(checkpoint)
    print("\n".join(lines))


HISTORY_MONTHS = 11


def _pages(page, api, period, baseline) -> list[str]:
    return [
        row(name, latencies_ms(client, url, count=10), baseline, OPERATIONS_GOAL_P95_MS)
        for name, client, url in (
            ("/operations/reconciliation/", page, f"/operations/reconciliation/?period={period}"),
            ("/api/v1/reconciliation/", api, f"/api/v1/reconciliation/?period={period}"),
        )
    ]


def _proofs(checkpoint) -> list[str]:
    """The proof's statement alone, alternating in the same run: every entry summed per account
    (the page's proof before checkpoints) against the checkpoint plus the entries after it."""
    timings = {"from the first entry": [], "from the checkpoint": []}
    for _ in range(5):
        for label, mark in (("from the first entry", None), ("from the checkpoint", checkpoint)):
            start = time.perf_counter()
            assert reconciliation.accounts_disagreeing(mark) == []
            timings[label].append((time.perf_counter() - start) * 1000)
    return [
        f"  proof statement {label:<22} median {sorted(ms)[2]:7.1f} ms (min {min(ms):.1f}, max {max(ms):.1f})"
        for label, ms in timings.items()
    ]
