"""Unclaimed royalties at a union's volume: the daily job's move (every member without bank
details owed money for four years), its release (redistributed over every payable member's
earnings in the latest closed period), and the operations page over the whole pool. The move and
the release are timed once each, beside the bare aggregate over the same accounts measured in the
same run (the ratio is the figure to compare: the machine is shared); the page's p50 beside
/healthz's. Run with `make bench`.

Sizes: BENCH_SCALE=small (10k members) or full (100k). A third of the members have no bank
details. Rows are loaded set-based and ANALYZE'd inside the test's transaction, rolled back."""

import statistics
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from payouts import unclaimed
from payouts.models import UnclaimedHolding
from tests.benchmarks.harness import analyze, scaled
from trust.models import Member

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]
MEMBERS = scaled(10_000, 100_000)


def _sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})


def load(world) -> None:
    """MEMBERS members (a third without bank details), each credited once four years ago in one
    ledger transaction, and each an earning in a closed period ending yesterday."""
    params = {"members": MEMBERS, "lease": world.lease_a.pk}
    _sql(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined) SELECT '!', false, 'bench-unclaimed-' || n, '', '', '', false, true, now() "
        "FROM generate_series(1, %(members)s) n",
        params,
    )
    _sql(
        "INSERT INTO trust_member (user_id, member_number, display_name, listed_publicly, "
        "payout_account_name, payout_iban, payout_bic, created_at) "
        "SELECT u.id, 'U-' || lpad(substr(u.username, 17), 7, '0'), "
        "'Bench ' || u.id, false, '', CASE WHEN u.id %% 3 = 0 THEN '' ELSE 'DE89370400440532013000' END, '', "
        "now() FROM auth_user u WHERE u.username LIKE 'bench-unclaimed-%%'",
        params,
    )
    _sql(
        "INSERT INTO payouts_account (code, kind, member_id, balance_cents) "
        "SELECT 'member:' || id || ':payable', 'member_payable', id, -((id * 7919) %% 6000 + 100) "
        "FROM trust_member WHERE member_number LIKE 'U-%%'"
    )
    _sql(
        "INSERT INTO payouts_account (code, kind, balance_cents) "
        "SELECT 'bench:source', 'bank', -SUM(balance_cents) FROM payouts_account WHERE code LIKE 'member:%%'"
    )
    _sql(
        "INSERT INTO payouts_ledgertransaction (key, memo, created_at) "
        "VALUES ('bench:earned', 'earned', now() - interval '1460 days')"
    )
    _sql(
        "INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents) "
        "SELECT t.id, a.id, a.balance_cents FROM payouts_account a, payouts_ledgertransaction t "
        "WHERE t.key = 'bench:earned' AND a.balance_cents <> 0"
    )
    _sql(
        'INSERT INTO payouts_period (start, "end", status, created_at, closed_at, revenue_cents, '
        "admin_fee_cents, pension_cents, net_cents, leases_total, leases_done, failure_reason) "
        "VALUES (now() - interval '29 days', now() - interval '1 day', 'closed', now(), now(), "
        "0, 0, 0, 0, 0, 0, '')"
    )
    _sql(
        "INSERT INTO payouts_memberearning (period_id, lease_id, member_id, gross_cents, pension_cents, "
        "net_cents) "
        "SELECT (SELECT max(id) FROM payouts_period), %(lease)s, m.id, 10 + m.id %% 97, 0, 10 + m.id %% 97 "
        "FROM trust_member m WHERE m.member_number LIKE 'U-%%'",
        params,
    )
    analyze()


def _timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _bare() -> float:
    def run():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), sum(a.balance_cents) FROM payouts_account a JOIN trust_member m "
                "ON m.id = a.member_id WHERE a.kind = 'member_payable' AND a.balance_cents < 0 "
                "AND m.payout_iban = ''"
            )
            return cursor.fetchone()

    return min(_timed(run)[0] for _ in range(3))


def _p50_ms(client, url: str, count: int = 15) -> float:
    client.get(url)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_unclaimed_move_release_and_page_at_volume(world, settings):
    load(world)
    bare = _bare()
    # A third of the members have no bank details: which third follows the users' ids, so count.
    unpayable = Member.objects.filter(member_number__startswith="U-", payout_iban="").count()
    assert abs(unpayable - MEMBERS // 3) <= 1
    moved_seconds, moved = _timed(unclaimed.unclaimed_move_overdue)
    assert moved == unpayable
    client = Client()
    client.force_login(world.cast.admin)
    page_ms = _p50_ms(client, "/operations/unclaimed/")
    healthz_ms = _p50_ms(client, "/healthz")
    UnclaimedHolding.objects.update(release_at=timezone.now() - timedelta(seconds=1))
    release_seconds, release = _timed(unclaimed.unclaimed_release_due)
    assert release.recipients == MEMBERS - unpayable
    print(
        f"\nunclaimed, {MEMBERS} members: move {moved} in {moved_seconds:.2f} s "
        f"(bare aggregate {bare * 1000:.1f} ms, ratio {moved_seconds / bare:.0f}x); "
        f"release of {release.total_cents} cents to {release.recipients} in {release_seconds:.2f} s; "
        f"/operations/unclaimed/ p50 {page_ms:.1f} ms "
        f"(/healthz {healthz_ms:.1f} ms, ratio {page_ms / healthz_ms:.1f}x)"
    )
