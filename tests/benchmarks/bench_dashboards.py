"""Dashboards at a union's volume: the member's home, earnings API and who-used-my-data with five
years of monthly history and 200 leases; the operations overview, lease lists, payouts and
members with 100k members and 10k leases. Each page's p50/p95 over sequential requests through
Django's test client, against /healthz measured the same way in the same run (the machine is
shared and noisy: the ratio is the figure to compare). Run with `make bench`.

Sizes: BENCH_SCALE=small (10k members, 1k leases: a couple of minutes) or full (100k members,
10k leases: the issue's goal); BENCH_REQUESTS requests per page (default 40). The rows are
loaded set-based (`INSERT ... SELECT generate_series`) and ANALYZE'd, inside the test's
transaction, which is rolled back at the end."""

import os
import time

import pytest
from django.db import connection
from django.template.base import Template
from django.test import Client
from django.test.utils import _TestState
from django.urls import reverse

from tests.benchmarks.harness import analyze

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]

SCALES = {
    "smoke": {"members": 300, "leases": 60},
    "small": {"members": 10_000, "leases": 1_000},
    "full": {"members": 100_000, "leases": 10_000},
}
SCALE = os.environ.get("BENCH_SCALE", "small")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "40"))
HISTORY_MONTHS = 60
MEMBER_LEASES = 200
MEMBER_GOAL_P95_MS = 100
OPERATIONS_GOAL_P95_MS = 200


# --- Loading, set-based ---------------------------------------------------------------------


def _sql(statements: str, params: dict | None = None) -> None:
    """Run one or more statements (separated by `;` at a line's end), each with `params`."""
    with connection.cursor() as cursor:
        for statement in statements.split(";\n"):
            if statement.strip():
                cursor.execute(statement, params or {})


def load_member_history(world, *, leases: int = MEMBER_LEASES, months: int = HISTORY_MONTHS) -> None:
    """Alice: `leases` more leases of her assets' version (a quarter of them expired), `months`
    closed monthly periods, an earning (with its statement line) from 20 of the leases in each
    period, five gateway downloads of her asset per lease, and her payable account's ledger."""
    cast, lease = world.cast, world.lease_a
    params = {
        "studio": cast.studio_a.pk,
        "terms": world.terms.pk,
        "carol": cast.carol.pk,
        "admin": cast.admin.pk,
        "version": lease.version_id,
        "member": cast.alice.pk,
        "asset": str(world.alice_asset.pk),
        "leases": leases,
        "months": months,
    }
    _sql(
        """
        INSERT INTO licensing_lease (studio_id, terms_id, purpose, status, requested_by_id, requested_at,
            decided_by_id, decided_at, decision_reason, version_id, permitted_uses, flat_fee_cents,
            price_per_download_cents, price_per_training_run_cents, price_per_generated_second_cents,
            download_cap, currency, starts_at, ends_at, revoked_at, takedown_acknowledge_days,
            takedown_attest_days)
        SELECT %(studio)s, %(terms)s, 'History film ' || n,
            CASE WHEN n %% 4 = 0 THEN 'expired' ELSE 'active' END,
            %(carol)s, now() - n * interval '1 day', %(admin)s, now() - n * interval '1 day', '', %(version)s,
            '["training"]'::jsonb, 1000, 10, 100, 0, NULL, 'USD', now() - n * interval '1 day',
            now() + interval '30 days' - n * interval '1 day', NULL, 7, 30
        FROM generate_series(1, %(leases)s) n
        """,
        params,
    )
    _sql(
        """
        INSERT INTO payouts_period (start, "end", status, created_at, closed_at, failure_reason,
            admin_fee_bps, pension_bps, revenue_cents, admin_fee_cents, pension_cents, net_cents,
            leases_total, leases_done)
        SELECT date_trunc('month', now()) - (m + 1) * interval '1 month',
            date_trunc('month', now()) - m * interval '1 month', 'closed', now(), now(), '',
            1000, 500, 0, 0, 0, 0, 0, 0
        FROM generate_series(1, %(months)s) m
        """,
        params,
    )
    _sql(
        """
        WITH p AS (SELECT id, row_number() OVER (ORDER BY start) r FROM payouts_period
                   WHERE status = 'closed'),
             l AS (SELECT id, row_number() OVER (ORDER BY id) r FROM licensing_lease
                   WHERE purpose LIKE 'History film %%')
        INSERT INTO payouts_memberearning (period_id, lease_id, member_id, gross_cents, pension_cents,
            net_cents)
        SELECT p.id, l.id, %(member)s, 1000, 50, 950 FROM p JOIN l ON p.r %% 10 = l.r %% 10
        """,
        params,
    )
    _sql(
        """
        INSERT INTO payouts_memberearningline (earning_id, use, revenue_cents, admin_fee_cents,
            pension_cents, net_cents)
        SELECT id, 'training_run', 1111, 111, 50, 950 FROM payouts_memberearning WHERE member_id = %(member)s
        """,
        params,
    )
    _sql(
        """
        INSERT INTO licensing_usageevent (lease_id, event_key, kind, asset_id, quantity, occurred_at,
            recorded_at, source, token_id)
        SELECT l.id, 'bench-dl-' || n, 'download', %(asset)s::uuid, 1, now(), now(), 'gateway', NULL
        FROM licensing_lease l CROSS JOIN generate_series(1, 5) n WHERE l.purpose LIKE 'History film %%'
        """,
        params,
    )
    _ledger_pairs(
        "SELECT 'member:' || %(member)s || ':payable', 'member_payable', %(member)s::bigint, m, 950 * 20 "
        "FROM generate_series(1, %(months)s) m",
        params,
    )


def _ledger_pairs(rows_sql: str, params: dict) -> None:
    """Balanced transactions: for each (account code, kind, member, n, cents) row, one
    transaction crediting the member's account and debiting a studio's receivable."""
    _sql(
        """
        INSERT INTO payouts_account (code, kind, studio_id)
        VALUES ('bench:studio:receivable', 'studio_receivable', %(studio)s) ON CONFLICT (code) DO NOTHING
        """,
        params,
    )
    _sql("CREATE TEMP TABLE bench_rows (code text, kind text, member_id bigint, n int, cents bigint)")
    _sql(f"INSERT INTO bench_rows {rows_sql}", params)
    _sql(
        """
        INSERT INTO payouts_account (code, kind, member_id)
        SELECT DISTINCT code, kind, member_id FROM bench_rows ON CONFLICT (code) DO NOTHING;
        INSERT INTO payouts_ledgertransaction (key, memo, created_at)
        SELECT 'bench:' || code || ':' || n, 'bench earnings', now() FROM bench_rows;
        INSERT INTO payouts_ledgerentry (transaction_id, account_id, amount_cents)
        SELECT t.id, a.id, -r.cents FROM bench_rows r
            JOIN payouts_ledgertransaction t ON t.key = 'bench:' || r.code || ':' || r.n
            JOIN payouts_account a ON a.code = r.code
        UNION ALL
        SELECT t.id, s.id, r.cents FROM bench_rows r
            JOIN payouts_ledgertransaction t ON t.key = 'bench:' || r.code || ':' || r.n
            CROSS JOIN (SELECT id FROM payouts_account WHERE code = 'bench:studio:receivable') s;
        UPDATE payouts_account a SET balance_cents = a.balance_cents - d.cents
        FROM (SELECT code, SUM(cents) AS cents FROM bench_rows GROUP BY code) d WHERE a.code = d.code;
        UPDATE payouts_account SET balance_cents = balance_cents + (SELECT SUM(cents) FROM bench_rows)
        WHERE code = 'bench:studio:receivable';
        DROP TABLE bench_rows;
        """
    )


def load_operations(world, *, members: int, leases: int) -> None:
    """`members` members (two in three with bank details; every one owed a balance between 1 and
    60 dollars), and `leases` leases of every status for the two studios."""
    cast = world.cast
    params = {
        "members": members,
        "leases": leases,
        "studio_a": cast.studio_a.pk,
        "studio_b": cast.studio_b.pk,
        "studio": cast.studio_a.pk,
        "terms": world.terms.pk,
        "carol": cast.carol.pk,
        "admin": cast.admin.pk,
        "version": world.lease_a.version_id,
    }
    # The operations leases pin a version of their own, without Alice's assets: her history stays 200.
    _sql(
        """
        INSERT INTO trust_dataset (slug, title, description, created_at)
        VALUES ('bench-ops', 'Bench operations', '', now());
        INSERT INTO trust_datasetversion (dataset_id, number, manifest_sha256, created_at, created_by_id)
        SELECT id, 1, repeat('0', 64), now(), %(admin)s FROM trust_dataset WHERE slug = 'bench-ops'
        """,
        params,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.id FROM trust_datasetversion v JOIN trust_dataset d ON d.id = v.dataset_id "
            "WHERE d.slug = 'bench-ops'"
        )
        params["version"] = cursor.fetchone()[0]
    _sql(
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
            is_active, date_joined)
        SELECT '!', false, 'bench-member-' || n, '', '', '', false, true, now()
        FROM generate_series(1, %(members)s) n;
        INSERT INTO trust_member (user_id, member_number, display_name, listed_publicly, payout_account_name,
            payout_iban, payout_bic, created_at)
        SELECT u.id, 'B-' || lpad(substr(u.username, 14), 7, '0'), 'Bench Member ' || substr(u.username, 14),
            false, '', CASE WHEN u.id %% 3 = 0 THEN '' ELSE 'DE89370400440532013000' END, '', now()
        FROM auth_user u WHERE u.username LIKE 'bench-member-%%';
        INSERT INTO licensing_lease (studio_id, terms_id, purpose, status, requested_by_id, requested_at,
            decided_by_id, decided_at, decision_reason, version_id, permitted_uses, flat_fee_cents,
            price_per_download_cents, price_per_training_run_cents, price_per_generated_second_cents,
            download_cap, currency, starts_at, ends_at, revoked_at, takedown_acknowledge_days,
            takedown_attest_days)
        SELECT CASE WHEN n %% 2 = 0 THEN %(studio_a)s ELSE %(studio_b)s END, %(terms)s, 'Film ' || n,
            s.status, %(carol)s, now() - (n %% 700) * interval '1 hour',
            CASE WHEN s.status = 'requested' THEN NULL ELSE %(admin)s END,
            CASE WHEN s.status = 'requested' THEN NULL ELSE now() - (n %% 700) * interval '1 hour' END, '',
            CASE WHEN s.status = 'requested' THEN NULL ELSE %(version)s END,
            '["training"]'::jsonb, 1000, 10, 100, 0, NULL, 'USD',
            CASE WHEN s.status = 'requested' THEN NULL ELSE now() - (n %% 700) * interval '1 hour' END,
            CASE WHEN s.status = 'requested' THEN NULL ELSE now() + interval '30 days' END,
            CASE WHEN s.status = 'revoked' THEN now() END, 7, 30
        FROM generate_series(1, %(leases)s) n
        CROSS JOIN LATERAL (SELECT CASE WHEN n %% 20 = 0 THEN 'requested' WHEN n %% 10 = 1 THEN 'revoked'
                                        WHEN n %% 4 = 2 THEN 'expired' ELSE 'active' END AS status) s;
        """,
        params,
    )
    _ledger_pairs(
        "SELECT 'member:' || id || ':payable', 'member_payable', id, 1, (id * 7919) %% 6000 + 100 "
        "FROM trust_member WHERE member_number LIKE 'B-%%'",
        params,
    )


# --- Measuring ------------------------------------------------------------------------------


def latencies_ms(client, url: str, count: int = REQUESTS, **headers) -> list[float]:
    for _ in range(3):  # warm: templates, the connection, the token's last-use write
        response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.status_code)
    taken = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(url, **headers)
        taken.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return sorted(taken)


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    index = max(0, min(len(sorted_ms) - 1, round(p / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[index]


def row(path: str, taken: list[float], baseline: list[float], goal_ms: int) -> str:
    p50, p95, base95 = percentile(taken, 50), percentile(taken, 95), percentile(baseline, 95)
    met = "met" if p95 <= goal_ms else "NOT met"
    return (
        f"{path:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms | /healthz p95 {base95:5.1f} ms | "
        f"ratio {p95 / base95:6.1f}x | goal p95 <= {goal_ms} ms: {met} [{SCALE}, n={len(taken)}]"
    )


@pytest.fixture
def loaded(world, monkeypatch):
    # The test environment records every template's context for assertions: not what a server does.
    monkeypatch.setattr(Template, "_render", _TestState.saved_data.template_render)
    sizes = SCALES[SCALE]
    start = time.perf_counter()
    load_member_history(world)
    load_operations(world, members=sizes["members"], leases=sizes["leases"])
    analyze()
    print(
        f"\n[dashboards] loaded {sizes['members']:,} members, {sizes['leases']:,} + {MEMBER_LEASES} leases, "
        f"{HISTORY_MONTHS} closed periods in {time.perf_counter() - start:.1f} s ({SCALE})"
    )
    return world


def test_dashboards_against_healthz(loaded, as_user):
    alice_pages, admin_pages = Client(), Client()
    alice_pages.force_login(loaded.cast.alice.user)
    admin_pages.force_login(loaded.cast.admin)
    alice_api, admin_api = as_user(loaded.cast.alice.user), as_user(loaded.cast.admin)

    baseline = latencies_ms(Client(), reverse("health"))
    member = [
        ("/member/", alice_pages, reverse("member-home")),
        ("/api/v1/me/earnings/", alice_api, "/api/v1/me/earnings/"),
        ("/member/leases/", alice_pages, reverse("member-leases")),
        ("/member/statements/", alice_pages, reverse("member-statements")),
    ]
    operations = [
        ("/operations/", admin_pages, reverse("operations-home")),
        ("/operations/leases/", admin_pages, reverse("operations-leases")),
        (
            "/operations/leases/?active-q=film 77",
            admin_pages,
            reverse("operations-leases") + "?active-q=film+77",
        ),
        ("/operations/payouts/", admin_pages, reverse("operations-payouts")),
        (
            "/operations/members/?q=bench member 42",
            admin_pages,
            reverse("operations-members") + "?q=bench+member+42",
        ),
        ("/api/v1/leases/ (admin)", admin_api, "/api/v1/leases/"),
    ]
    lines = ["", f"dashboards ({SCALE}): p50/p95 of {REQUESTS} sequential requests, in-process"]
    for name, client, url in member:
        lines.append(row(name, latencies_ms(client, url), baseline, MEMBER_GOAL_P95_MS))
    for name, client, url in operations:
        lines.append(row(name, latencies_ms(client, url), baseline, OPERATIONS_GOAL_P95_MS))
    print("\n".join(lines))
