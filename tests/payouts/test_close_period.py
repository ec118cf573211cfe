"""Closing a period: the money rules on real rows, the ledger, and idempotency."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing import services as licensing
from licensing.models import Lease
from payouts import ledger, selectors, services
from payouts.models import LedgerEntry, LedgerTransaction, MemberEarning, Period, RateSetting
from trust.errors import Conflict

pytestmark = pytest.mark.django_db


def _period_around_now(admin, hours=1):
    now = timezone.now()
    return services.period_create(actor=admin, start=now - timedelta(hours=hours), end=now)


def _report(world, *events):
    return licensing.usage_report(token=world.token_a, lease_id=world.lease_a.pk, events=list(events))


def _ledger_snapshot():
    return sorted(LedgerEntry.objects.values_list("transaction__key", "account__code", "amount_cents"))


def test_closing_distributes_and_balances(world):
    _report(world, {"event_key": "r1", "kind": "training_run", "quantity": 3, "occurred_at": timezone.now()})
    period = _period_around_now(world.cast.admin)
    period = services.period_close(period_id=period.pk)
    # Two leases (A and B) each pay the 1000 flat fee; A also 3 runs x 100.
    assert period.status == Period.Status.CLOSED
    assert period.revenue_cents == 2300
    assert period.admin_fee_cents + period.pension_cents + period.net_cents == period.revenue_cents
    assert selectors.period_ledger_is_balanced(period)
    assert ledger.trial_balance() == 0


def test_closing_twice_leaves_the_same_ledger(world):
    period = _period_around_now(world.cast.admin)
    services.period_close(period_id=period.pk)
    first = _ledger_snapshot()
    services.period_close(period_id=period.pk)
    assert _ledger_snapshot() == first
    assert MemberEarning.objects.filter(period=period).count() == 4  # Alice and Bob on two leases


def test_a_crash_half_way_resumes_without_paying_twice(world, monkeypatch, settings):
    settings.PERIOD_CLOSE_BATCH_LEASES = 1  # a batch per lease: the crash comes after one is posted
    period = _period_around_now(world.cast.admin)
    real = services._post_batch
    calls = []

    def crash_on_second(period_, batch):
        calls.append(batch.number)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real(period_, batch)

    monkeypatch.setattr(services, "_post_batch", crash_on_second)
    stopped = services.period_close(period_id=period.pk)
    # An unexpected error no longer leaves the period `closing` for ever: it shows why it stopped.
    assert stopped.status == Period.Status.FAILED
    assert stopped.failure_reason == "RuntimeError: worker lost"
    assert LedgerTransaction.objects.filter(period=period).count() == 1
    monkeypatch.setattr(services, "_post_batch", real)
    closed = services.period_close(period_id=period.pk)
    assert closed.status == Period.Status.CLOSED
    assert LedgerTransaction.objects.filter(period=period).count() == 2
    assert closed.revenue_cents == 2000


def test_a_period_that_has_not_ended_cannot_close(world):
    now = timezone.now()
    period = services.period_create(
        actor=world.cast.admin, start=now - timedelta(days=1), end=now + timedelta(days=1)
    )
    with pytest.raises(Conflict):
        services.period_close(period_id=period.pk)


def test_overlapping_periods_are_refused_over_http(world, as_user):
    client = as_user(world.cast.admin)
    body = {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}
    assert client.post("/api/v1/periods/", body, format="json").status_code == 201
    clash = client.post(
        "/api/v1/periods/", {"start": "2026-01-31T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, format="json"
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "period_overlaps"


def test_usage_dated_in_a_closed_period_is_refused(world):
    period = _period_around_now(world.cast.admin)
    services.period_close(period_id=period.pk)
    with pytest.raises(Conflict, match="closed period"):
        _report(
            world,
            {
                "event_key": "late",
                "kind": "training_run",
                "quantity": 1,
                "occurred_at": world.lease_a.starts_at + (period.end - world.lease_a.starts_at) / 2,
            },
        )


def test_the_rates_in_force_at_closing_apply(world):
    period = _period_around_now(world.cast.admin)
    services.rates_set(actor=world.cast.admin, admin_fee_bps=2000, pension_bps=0)
    closed = services.period_close(period_id=period.pk)
    assert (closed.admin_fee_bps, closed.pension_bps) == (2000, 0)
    assert closed.admin_fee_cents == 400  # 20% of 2 x 1000
    assert closed.pension_cents == 0


def test_rate_history_is_kept(world, as_user):
    client = as_user(world.cast.admin)
    client.put("/api/v1/settings/rates/", {"admin_fee_bps": 700, "pension_bps": 300}, format="json")
    body = client.put(
        "/api/v1/settings/rates/", {"admin_fee_bps": 800, "pension_bps": 400}, format="json"
    ).json()
    assert (body["admin_fee_bps"], body["pension_bps"]) == (800, 400)
    assert [(r["admin_fee_bps"], r["pension_bps"]) for r in body["history"]] == [(800, 400), (700, 300)]


def test_rates_above_one_hundred_percent_are_refused(world, as_user):
    response = as_user(world.cast.admin).put(
        "/api/v1/settings/rates/", {"admin_fee_bps": 10001, "pension_bps": 0}, format="json"
    )
    assert response.status_code == 400


def test_an_admin_fee_and_pension_above_one_hundred_percent_together_are_refused(world, as_user):
    before = RateSetting.objects.count()
    response = as_user(world.cast.admin).put(
        "/api/v1/settings/rates/", {"admin_fee_bps": 6000, "pension_bps": 5000}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "bad_rate"
    assert "at most 10000" in response.json()["detail"]
    assert RateSetting.objects.count() == before
    assert services.rates_in_force() != (6000, 5000)


def test_the_database_refuses_rates_above_one_hundred_percent_together(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        RateSetting.objects.create(admin_fee_bps=6000, pension_bps=5000, effective_at=timezone.now())
    period = _period_around_now(world.cast.admin)
    with pytest.raises(IntegrityError), transaction.atomic():
        Period.objects.filter(pk=period.pk).update(admin_fee_bps=10000, pension_bps=1)


def test_closing_again_over_http_changes_nothing(world, as_user, django_capture_on_commit_callbacks):
    client = as_user(world.cast.admin)
    period = _period_around_now(world.cast.admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/periods/{period.pk}/close/").status_code == 202
    before = client.get(f"/api/v1/periods/{period.pk}/").json()
    assert before["status"] == "closed" and before["ledger_balanced"]
    assert client.post(f"/api/v1/periods/{period.pk}/close/").status_code == 202
    assert client.get(f"/api/v1/periods/{period.pk}/").json() == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.integers(min_value=1, max_value=50),
    downloads=st.integers(min_value=0, max_value=5),
    fee_bps=st.integers(min_value=0, max_value=10000),
    pension_share=st.fractions(min_value=0, max_value=1),
)
def test_any_usage_and_rates_balance_to_the_cent_and_close_idempotently(
    world, runs, downloads, fee_bps, pension_share
):
    pension_bps = int((10000 - fee_bps) * pension_share)  # any rates that are allowed together
    start = Period.objects.order_by("-end").values_list("end", flat=True).first()
    now = timezone.now()
    start = start or (now - timedelta(hours=1))
    for _ in range(downloads):
        licensing.gateway_download(
            token=world.token_a, lease_id=world.lease_a.pk, asset_id=world.bob_asset.pk
        )
    _report(
        world,
        {"event_key": f"run-{now.timestamp()}", "kind": "training_run", "quantity": runs, "occurred_at": now},
    )
    services.rates_set(actor=world.cast.admin, admin_fee_bps=fee_bps, pension_bps=pension_bps)
    period = services.period_create(actor=world.cast.admin, start=start, end=timezone.now())
    closed = services.period_close(period_id=period.pk)
    snapshot = _ledger_snapshot()
    assert services.period_close(period_id=period.pk).revenue_cents == closed.revenue_cents
    assert _ledger_snapshot() == snapshot
    earned = MemberEarning.objects.filter(period=period)
    assert closed.admin_fee_cents + sum(e.gross_cents for e in earned) == closed.revenue_cents
    assert closed.net_cents + closed.pension_cents + closed.admin_fee_cents == closed.revenue_cents
    assert ledger.trial_balance() == 0
    assert Lease.objects.filter(pk=world.lease_a.pk, status="active").exists()


def test_the_command_closes_with_progress_and_refuses_clearly(world, capsys):
    from django.core.management import CommandError, call_command

    period = _period_around_now(world.cast.admin)
    call_command("close_period", str(period.pk))
    out = capsys.readouterr()
    assert "revenue 2000" in out.out and "2/2" in out.err
    with pytest.raises(CommandError, match="no period"):
        call_command("close_period", "999999")
    now = timezone.now()
    future = services.period_create(actor=world.cast.admin, start=now, end=now + timedelta(days=1))
    with pytest.raises(CommandError, match="once it has ended"):
        call_command("close_period", str(future.pk))


def test_each_studio_sees_only_its_own_charges(world, as_user):
    _report(world, {"event_key": "r9", "kind": "training_run", "quantity": 2, "occurred_at": timezone.now()})
    services.period_close(period_id=_period_around_now(world.cast.admin).pk)
    carol = as_user(world.cast.carol).get("/api/v1/charges/").json()["results"]
    dave = as_user(world.cast.dave).get("/api/v1/charges/").json()["results"]
    assert [(line["lease"], line["flat_fee_cents"], line["usage_cents"]) for line in carol[0]["leases"]] == [
        (world.lease_a.pk, 1000, 200)
    ]
    assert carol[0]["total_cents"] == 1200 and dave[0]["total_cents"] == 1000
