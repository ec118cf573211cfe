"""A trust's worth of close data, generated set-based on PostgreSQL (INSERT ... SELECT over
generate_series, foreign-key triggers off while loading, ANALYZE after), and the helpers the
close benchmark, its smoke run and the worker-killed fault test share: a Celery worker
environment, running a close through workers, resetting a close, and a snapshot of what a
close wrote.

Shape: `members` members; two assets per member (every fifth asset shared half and half with
the next member); `leases` active leases of one studio, each with `assets_per_lease` approval
assets; every tenth lease approved inside the first period (its flat fee is due there). Usage
in a period: 60% downloads, 30% generated seconds (1-30), 10% training runs, spread over the
leases and their assets and evenly over the period."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from licensing import services as licensing
from payouts.models import LeaseRevenue, LedgerEntry, MemberEarningLine, Period
from tests import factories
from tests.benchmarks.harness import analyze
from tests.ledger_history import ledger_history_rewritable
from tests.servers import suite_database_url
from trust import services as trust

SIZES = {
    # name: (members, leases, assets per lease, events in the small period, in the large one)
    "smoke": (60, 12, 5, 300, 3_000),
    "fault": (100, 40, 5, 400, 4_000),
    "small": (10_000, 1_000, 20, 100_000, 1_000_000),
    "full": (100_000, 10_000, 20, 1_000_000, 10_000_000),
}
PERIOD_DAYS = 30


@dataclass
class CloseData:
    periods: list[Period]  # the small period, then the large one (10x the events)
    events: list[int]
    members: int
    leases: int


def _execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def build(size: str, *, first_start: datetime | None = None) -> CloseData:
    """Load the data of `size` (a SIZES key) and create its two periods, both ended."""
    members, leases, per_lease, small_events, large_events = SIZES[size]
    first_start = first_start or datetime(2020, 1, 1, tzinfo=UTC)
    admin = factories.AdminFactory(username="bench-admin")
    studio, staff = factories.make_studio(admin=admin, name="Bench Studio", staff_username="bench-staff")
    dataset = trust.dataset_create(actor=admin, slug="bench-close", title="Bench close")
    terms = licensing.terms_create(
        actor=admin, dataset=dataset, title="bench", permitted_uses=["training"], duration_days=3650
    )
    template = licensing.lease_request(actor=staff, terms=terms, purpose="bench")
    assets = members * 2
    _execute("SET session_replication_role = replica")  # no FK triggers while loading
    try:
        _execute(
            """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                   is_staff, is_active, date_joined)
               SELECT '!', false, 'bench-m' || n, '', '', '', false, true, now()
               FROM generate_series(1, %s) n""",
            [members],
        )
        _execute(
            """INSERT INTO trust_member (user_id, member_number, display_name, listed_publicly,
                   payout_account_name, payout_iban, payout_bic, created_at)
               SELECT u.id, 'B-' || lpad(substr(u.username, 8), 7, '0'), 'Bench ' || substr(u.username, 8),
                      false, '', '', '', now()
               FROM auth_user u WHERE u.username LIKE 'bench-m%%'"""
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM trust_member WHERE member_number LIKE 'B-%%'")
            member0 = cursor.fetchone()[0]
        asset_uuid = "('b0000000' || lpad(to_hex({}), 24, '0'))::uuid"
        _execute(
            f"""INSERT INTO trust_asset (id, kind, title, content_type, size, sha256, object_key, status,
                   failure_reason, upload_id, created_by_id, created_at)
               SELECT {asset_uuid.format("n")}, 'face_scan', 'bench ' || n, 'application/octet-stream', n,
                      md5(n::text) || md5(n::text), 'assets/bench-' || n, 'available', '', '', %s, now()
               FROM generate_series(0, %s - 1) n""",
            [admin.pk, assets],
        )
        # Asset n belongs to member n / 2; every fifth is shared half and half with the next member.
        _execute(
            f"""INSERT INTO trust_assetcontributor (asset_id, member_id, share, status)
               SELECT {asset_uuid.format("n")}, %s + (n / 2) %% %s, CASE WHEN n %% 5 = 0 THEN 0.5 ELSE 1 END,
                      'accepted'
               FROM generate_series(0, %s - 1) n
               UNION ALL
               SELECT {asset_uuid.format("n")}, %s + (n / 2 + 1) %% %s, 0.5, 'accepted'
               FROM generate_series(0, %s - 1) n WHERE n %% 5 = 0""",
            [member0, members, assets, member0, members, assets],
        )
        before = first_start - timedelta(days=10)
        _execute(
            """INSERT INTO licensing_lease (studio_id, terms_id, purpose, status, requested_by_id,
                   requested_at, decision_reason, permitted_uses, flat_fee_cents, price_per_download_cents,
                   price_per_training_run_cents, price_per_generated_second_cents, takedown_acknowledge_days,
                   takedown_attest_days, currency, starts_at, ends_at)
               SELECT l.studio_id, l.terms_id, 'bench ' || n, 'active', l.requested_by_id, now(), '',
                      l.permitted_uses, 100000 + n, 5 + n %% 7, 1000 + n %% 13, 1 + n %% 3,
                      l.takedown_acknowledge_days, l.takedown_attest_days, 'USD',
                      CASE WHEN n %% 10 = 0 THEN %s + n * interval '1 second' ELSE %s END,
                      %s + interval '3650 days'
               FROM licensing_lease l, generate_series(0, %s - 1) n WHERE l.id = %s""",
            [first_start, before, before, leases, template.pk],
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM licensing_lease WHERE purpose LIKE 'bench %%'")
            lease0 = cursor.fetchone()[0]
        _execute(
            f"""INSERT INTO licensing_lease_approval_assets (lease_id, asset_id)
               SELECT %s + j, {asset_uuid.format("(j * %s + s) %% %s")}
               FROM generate_series(0, %s - 1) j, generate_series(0, %s - 1) s""",
            [lease0, per_lease, assets, leases, per_lease],
        )
        periods = []
        for number, events in enumerate((small_events, large_events)):
            start = first_start + timedelta(days=PERIOD_DAYS * number)
            end = start + timedelta(days=PERIOD_DAYS)
            _insert_usage(
                start, end, events, lease0=lease0, leases=leases, per_lease=per_lease, assets=assets
            )
            periods.append(Period.objects.create(start=start, end=end))
    finally:
        _execute("SET session_replication_role = DEFAULT")
    # Every table analysed, the close's empty output tables too: as autovacuum leaves a new
    # trust's, which is what made the first close's foreign-key checks scan (payouts.services).
    analyze()
    return CloseData(periods=periods, events=[small_events, large_events], members=members, leases=leases)


def _insert_usage(start, end, events, *, lease0, leases, per_lease, assets) -> None:
    seconds = (end - start).total_seconds()
    _execute(
        """INSERT INTO licensing_usageevent (lease_id, event_key, kind, asset_id, quantity, occurred_at,
               recorded_at, source)
           SELECT %(lease0)s + j, 'bench-' || %(start_key)s || '-' || n,
                  CASE WHEN n %% 10 < 6 THEN 'download' WHEN n %% 10 < 9 THEN 'generated_second'
                       ELSE 'training_run' END,
                  ('b0000000' || lpad(
                      to_hex((j * %(per_lease)s + (n / 7) %% %(per_lease)s) %% %(assets)s), 24, '0'))::uuid,
                  CASE WHEN n %% 10 BETWEEN 6 AND 8 THEN 1 + n %% 30 ELSE 1 END,
                  %(start)s + (n * %(step)s) * interval '1 second', now(), 'report'
           FROM (SELECT n, (n * 7919) %% %(leases)s AS j
                 FROM generate_series(0::bigint, %(events)s - 1) n) g""",
        {
            "lease0": lease0,
            "start_key": start.strftime("%Y%m%d"),
            "per_lease": per_lease,
            "assets": assets,
            "start": start,
            "step": seconds / events,
            "leases": leases,
            "events": events,
        },
    )


def bare_aggregation_seconds(period: Period, repeat: int = 3) -> float:
    """The baseline: PostgreSQL alone summing the period's usage by lease (best of `repeat`,
    after one run to warm the cache)."""
    best = float("inf")
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lease_id, SUM(quantity) FROM licensing_usageevent "
                "WHERE occurred_at >= %s AND occurred_at < %s GROUP BY lease_id",
                [period.start, period.end],
            )
            cursor.fetchall()
        if attempt:
            best = min(best, time.perf_counter() - started)
    return best


# What a close writes, per table: the rows of `period` (its id as %(period)s).
CLOSE_OUTPUT = {
    "payouts_periodcharge": "period_id = %(period)s",
    "payouts_ledgertransaction": "period_id = %(period)s",
    "payouts_ledgerentry": "transaction_id IN "
    "(SELECT id FROM payouts_ledgertransaction WHERE period_id = %(period)s)",
    "payouts_leaserevenue": "period_id = %(period)s",
    "payouts_memberearning": "period_id = %(period)s",
    "payouts_memberearningline": "earning_id IN "
    "(SELECT id FROM payouts_memberearning WHERE period_id = %(period)s)",
}


def bare_write_seconds(period: Period) -> tuple[float, int]:
    """A second baseline, for a closed `period`: PostgreSQL alone writing the rows its close
    wrote, each table's copied by one INSERT ... SELECT into a new table with the same columns,
    defaults and indexes (no foreign keys, no kept balances, no Python), in one transaction
    rolled back. The floor of a close's writes on this machine. Returns (seconds, rows)."""
    seconds, rows = 0.0, 0
    with transaction.atomic(), connection.cursor() as cursor:
        for table, where in CLOSE_OUTPUT.items():
            cursor.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING ALL)")
            started = time.perf_counter()
            cursor.execute(
                f"INSERT INTO bench_copy_{table} SELECT * FROM {table} WHERE {where}", {"period": period.pk}
            )
            seconds += time.perf_counter() - started
            rows += cursor.rowcount
        transaction.set_rollback(True)
    return seconds, rows


def worker_env(**extra: str) -> dict[str, str]:
    """What a Celery worker process needs to work on the suite's database and broker."""
    return {
        "DATABASE_URL": suite_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "TRUST_SIGNING_KEY": settings.TRUST_SIGNING_KEY,
        **extra,
    }


def close_through_workers(period: Period, *, queue: str, timeout: float, on_poll=None, send=True) -> float:
    """Send the close to `queue` (unless it was sent already) and wait until the period is
    closed; returns the seconds."""
    from payouts.tasks import close_period

    started = time.perf_counter()
    if send:
        close_period.apply_async((period.pk,), queue=queue)
    deadline = started + timeout
    while True:
        status = Period.objects.filter(pk=period.pk).values_list("status", flat=True).get()
        if status == Period.Status.CLOSED:
            return time.perf_counter() - started
        if status == Period.Status.FAILED or time.perf_counter() > deadline:
            raise AssertionError(f"the close of period {period.pk} ended {status}")
        if on_poll:
            on_poll()
        time.sleep(0.02)


def reset_close(periods: list[Period]) -> None:
    """Undo what closing these periods wrote (postings, earnings, charges, batches, accounts
    nothing else uses, ledger checkpoints) and open them again: the next close starts from the
    same state. Deleting postings rewrites the ledger's history: the append-only trigger is
    lifted for it, explicitly."""
    ids = [p.pk for p in periods]
    statements = [
        "DELETE FROM payouts_ledgercheckpointbalance",
        "DELETE FROM payouts_ledgerfullproof",
        "DELETE FROM payouts_ledgercheckpoint",
        # What the closes recorded of the periods' paid figures (payouts.paid_of_periods).
        "DELETE FROM payouts_paidofperiod WHERE close_id = ANY(%s)",
        "DELETE FROM payouts_paidofperiod WHERE period_id = ANY(%s)",
        # The invoices the closes issued: a studio invoiced for the period is skipped by the next
        # close, through a slower plan (the re-close measured 2-4 s more at the small size).
        "DELETE FROM payouts_invoiceline WHERE invoice_id IN "
        "(SELECT id FROM payouts_invoice WHERE period_id = ANY(%s))",
        "DELETE FROM payouts_invoice WHERE period_id = ANY(%s)",
        "DELETE FROM payouts_memberearningline WHERE earning_id IN "
        "(SELECT id FROM payouts_memberearning WHERE period_id = ANY(%s))",
        "DELETE FROM payouts_memberearning WHERE period_id = ANY(%s)",
        "DELETE FROM payouts_leaserevenue WHERE period_id = ANY(%s)",
        "DELETE FROM payouts_ledgerentry WHERE transaction_id IN "
        "(SELECT id FROM payouts_ledgertransaction WHERE period_id = ANY(%s))",
        "DELETE FROM payouts_ledgertransaction WHERE period_id = ANY(%s)",
        "DELETE FROM payouts_periodcharge WHERE period_id = ANY(%s)",
        "DELETE FROM payouts_closebatch WHERE period_id = ANY(%s)",
    ]
    with ledger_history_rewritable():
        for sql in statements:
            _execute(sql, [ids] if "%s" in sql else [])
    _execute(
        "DELETE FROM payouts_account a "
        "WHERE NOT EXISTS (SELECT 1 FROM payouts_ledgerentry e WHERE e.account_id = a.id)"
    )
    # The kept balances without the postings just removed (ledger.balances_disagreeing is empty).
    _execute(
        "UPDATE payouts_account a SET balance_cents = s.total FROM "
        "(SELECT account_id, SUM(amount_cents) AS total FROM payouts_ledgerentry GROUP BY account_id) s "
        "WHERE s.account_id = a.id AND a.balance_cents <> s.total"
    )
    Period.objects.filter(pk__in=ids).update(
        status=Period.Status.OPEN,
        metered_at=None,
        leases_done=0,
        leases_total=0,
        closed_at=None,
        closing_started_at=None,
        revenue_cents=0,
        admin_fee_cents=0,
        pension_cents=0,
        net_cents=0,
    )
    for table in ("payouts_memberearningline", "payouts_memberearning", "payouts_ledgerentry"):
        _execute(f"ANALYZE {table}")


def snapshot(period: Period) -> dict:
    """Everything a close of `period` wrote, independent of row ids and of the order it was
    written in: the period's totals, ledger entries, lease revenues, earnings and their lines."""
    period = Period.objects.get(pk=period.pk)
    return {
        "totals": (
            period.status,
            period.revenue_cents,
            period.admin_fee_cents,
            period.pension_cents,
            period.net_cents,
            period.leases_total,
        ),
        "entries": sorted(
            LedgerEntry.objects.filter(transaction__period=period).values_list(
                "transaction__key", "account__code", "amount_cents"
            )
        ),
        "revenues": sorted(
            LeaseRevenue.objects.filter(period=period).values_list(
                "lease_id",
                "flat_fee_cents",
                "usage_cents",
                "revenue_cents",
                "admin_fee_cents",
                "pension_cents",
                "net_cents",
                "transaction__key",
            )
        ),
        "lines": sorted(
            MemberEarningLine.objects.filter(earning__period=period).values_list(
                "earning__lease_id",
                "earning__member_id",
                "earning__gross_cents",
                "earning__pension_cents",
                "earning__net_cents",
                "use",
                "revenue_cents",
                "admin_fee_cents",
                "pension_cents",
                "net_cents",
            )
        ),
    }
