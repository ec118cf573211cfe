"""The negotiators' premiums (issue 13 item 4): a production fee once per (studio, production
title) and a substitution premium on the savings a studio reports, through the close to
members' statements, invoices and the ledger."""

from datetime import timedelta
from fractions import Fraction

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import LeaseTerms, UsageEvent
from payouts import ledger, premiums, selectors, services, split
from payouts.distribution import Charge, Contributor, distribute_lease
from payouts.models import Invoice, InvoiceLine, LeaseRevenue, LedgerEntry, MemberEarning, PeriodCharge
from tests.conftest import bearer_client
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db

PRODUCTION_FEE = 50_000
PREMIUM_BPS = 250  # 2.5% of each saving


def _premium_terms(world, **overrides):
    return licensing.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Digital doubles",
        permitted_uses=["training"],
        duration_days=30,
        **{"production_fee_cents": PRODUCTION_FEE, "substitution_premium_bps": PREMIUM_BPS, **overrides},
    )


def _lease(world, terms, production, *, staff=None):
    staff = staff or world.cast.carol
    lease = licensing.lease_request(actor=staff, terms=terms, purpose="a feature film", production=production)
    return licensing.lease_approve(actor=world.cast.admin, lease=lease)


def _report(lease, staff, *events):
    _, secret = lease_tokens.lease_token_mint(actor=staff, lease=lease, name="vfx")
    return bearer_client(secret).post(
        f"/api/v1/leases/{lease.pk}/usage/", {"events": list(events)}, format="json"
    )


def _saving(key, amount, asset=None, **extra):
    event = {"event_key": key, "kind": "substitution_saving", "amount_cents": amount, **extra}
    event.setdefault("occurred_at", timezone.now().isoformat())
    if asset is not None:
        event["asset"] = str(asset.pk)
    return event


def _close(world, start=None):
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=start or now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def _statement_row(member, period, lease):
    statement = selectors.member_statement(member, period.pk)
    return next(row for row in statement["rows"] if row["lease"] == lease.pk)


def _lines(row):
    return [
        (
            line["use"],
            line["revenue_cents"],
            line["admin_fee_cents"],
            line["pension_cents"],
            line["net_cents"],
        )
        for line in row["lines"]
    ]


def test_a_production_fee_and_a_substitution_premium_worked_by_hand_to_two_members_statements(world):
    """Terms: production fee 500.00, substitution premium 250 bps (2.5%), no flat fee. Rates:
    trust fee 10%, pension 5%. The lease's assets: Alice's (Alice 100%) and Bob's (Bob 40%,
    Alice 60%), both licensable at approval.

    The studio reports three savings: 7,000.03 and 4,999.97 naming Bob's asset, and 4,000.44
    naming none. Savings are summed per asset, then floored once:
      Bob's asset: floor(1,200,000 x 250 / 10000) = 30,000   (per event it would be 17,500 + 12,499)
      shared:      floor(  400,044 x 250 / 10000) = 10,001   (10,001.1)
    R = 50,000 + 30,000 + 10,001 = 90,001; F = floor(90,001 x 10%) = 9,000; M = 81,001.

    Sources (shared charges half per asset): production 25,000 per asset, shared premium
    5,000.5 per asset, Bob's asset 30,000 more.
      Alice: production 25,000 + 0.6 x 25,000 = 40,000; premium 5,000.5 + 0.6 x (5,000.5 + 30,000)
             = 26,000.8; total 66,000.8
      Bob:   production 0.4 x 25,000 = 10,000; premium 0.4 x 35,000.5 = 14,000.2; total 24,000.2
    Gross = M x source / R: Alice 59,400.79, Bob 21,600.21 -> floors 59,400 + 21,600, the
    leftover cent to Alice (largest remainder): 59,401 and 21,600.
    Pension: Alice floor(2,970.05) = 2,970, net 56,431; Bob 1,080, net 20,520.
    Check: 56,431 + 20,520 + 2,970 + 1,080 + 9,000 = 90,001.

    Statement lines (each member's gross, pension and fee share split by use, largest remainder):
      Fee by gross: Alice 6,600.03 -> 6,600, Bob 2,399.97 -> 2,400.
      Alice gross 59,401 by 40,000 : 26,000.8 -> 36,000.17 / 23,400.82 -> 36,000 / 23,401;
            pension 2,970 by 36,000 : 23,401 -> 1,799.97 / 1,170.03 -> 1,800 / 1,170;
            fee 6,600 by 40,000 : 26,000.8 -> 3,999.95 / 2,600.04 -> 4,000 / 2,600.
        production fee: revenue 40,000, fee 4,000, pension 1,800, net 34,200
        premium:        revenue 26,001, fee 2,600, pension 1,170, net 22,231
      Bob gross 21,600 by 10,000 : 14,000.2 -> 8,999.93 / 12,600.07 -> 9,000 / 12,600;
            pension 1,080 -> 450 / 630; fee 2,400 -> 999.99 / 1,400.01 -> 1,000 / 1,400.
        production fee: revenue 10,000, fee 1,000, pension 450, net 8,550
        premium:        revenue 14,000, fee 1,400, pension 630, net 11,970
    The invoice: production fee 1 x 50,000, premiums 1 x 10,001 (shared) and 1 x 30,000 (Bob's
    asset): 90,001, with the studio's other lease's flat fee of 1,000 beside it."""
    services.rates_set(actor=world.cast.admin, admin_fee_bps=1000, pension_bps=500)
    lease = _lease(world, _premium_terms(world), "Harbour Lights")
    response = _report(
        lease,
        world.cast.carol,
        _saving("s1", 700_003, world.bob_asset),
        _saving("s2", 499_997, world.bob_asset),
        _saving("s3", 400_044),
    )
    assert response.status_code == 202, response.json()
    assert response.json() == {"accepted": 3, "duplicates": 0}

    period = _close(world)

    revenue = LeaseRevenue.objects.get(period=period, lease=lease)
    assert (revenue.flat_fee_cents, revenue.usage_cents, revenue.revenue_cents) == (0, 90_001, 90_001)
    assert (revenue.admin_fee_cents, revenue.pension_cents, revenue.net_cents) == (9_000, 4_050, 76_951)
    earnings = {
        e.member_id: (e.gross_cents, e.pension_cents, e.net_cents)
        for e in MemberEarning.objects.filter(period=period, lease=lease)
    }
    assert earnings == {
        world.cast.alice.pk: (59_401, 2_970, 56_431),
        world.cast.bob.pk: (21_600, 1_080, 20_520),
    }

    alice = _statement_row(world.cast.alice, period, lease)
    assert _lines(alice) == [
        ("production_fee", 40_000, 4_000, 1_800, 34_200),
        ("substitution_premium", 26_001, 2_600, 1_170, 22_231),
    ]
    assert [line["label"] for line in alice["lines"]] == ["Production fee", "Substitution premium"]
    # Gross is before the trust fee (the revenue attributed to her); after it, 59,401.
    assert (alice["revenue_cents"], alice["gross_cents"], alice["after_fee_cents"], alice["net_cents"]) == (
        66_001,
        66_001,
        59_401,
        56_431,
    )
    bob = _statement_row(world.cast.bob, period, lease)
    assert _lines(bob) == [
        ("production_fee", 10_000, 1_000, 450, 8_550),
        ("substitution_premium", 14_000, 1_400, 630, 11_970),
    ]

    invoice = Invoice.objects.get(period=period, studio=lease.studio)
    lines = list(
        invoice.lines.filter(lease=lease)
        .order_by("use", "unit_price_cents")
        .values_list("use", "description", "quantity", "unit_price_cents", "amount_cents")
    )
    assert lines == [
        ("production_fee", "Production fee", 1, 50_000, 50_000),
        ("substitution_premium", "Substitution premium", 1, 10_001, 10_001),
        ("substitution_premium", "Substitution premium", 1, 30_000, 30_000),
    ]
    assert invoice.total_cents == 90_001 + 1_000  # and world's lease A: its flat fee

    entries = dict(
        LedgerEntry.objects.filter(transaction__key=f"period:{period.pk}:lease:{lease.pk}").values_list(
            "account__code", "amount_cents"
        )
    )
    alice_id, bob_id = world.cast.alice.pk, world.cast.bob.pk
    assert entries == {
        f"studio:{lease.studio_id}:receivable": 90_001,
        "trust:fee_revenue": -9_000,
        f"member:{alice_id}:payable": -56_431,
        f"member:{alice_id}:pension": -2_970,
        f"member:{bob_id}:payable": -20_520,
        f"member:{bob_id}:pension": -1_080,
    }
    assert ledger.trial_balance() == 0


@pytest.mark.embedded
def test_the_worked_example_on_the_embedded_default(world):
    """The same figures on SQLite (the metering's premium SQL has an integer form there)."""
    test_a_production_fee_and_a_substitution_premium_worked_by_hand_to_two_members_statements(world)


def test_the_production_fee_is_charged_once_per_studio_and_production(world):
    terms = _premium_terms(world, substitution_premium_bps=0)
    first = _lease(world, terms, "Harbour Lights")
    same_title = _lease(world, terms, "  harbour   LIGHTS ")
    second_production = _lease(world, terms, "The Second Feature")
    other_studio = _lease(world, terms, "Harbour Lights", staff=world.cast.dave)
    period = _close(world)
    charged = set(
        PeriodCharge.objects.filter(period=period, use="production_fee").values_list(
            "lease_id", "unit_price_cents"
        )
    )
    assert charged == {
        (first.pk, PRODUCTION_FEE),
        (second_production.pk, PRODUCTION_FEE),
        (other_studio.pk, PRODUCTION_FEE),
    }
    assert same_title.production == "harbour LIGHTS"
    assert LeaseRevenue.objects.get(period=period, lease=same_title).revenue_cents == 0
    billed = InvoiceLine.objects.filter(invoice__period=period, use="production_fee")
    assert sorted(billed.values_list("lease_id", flat=True)) == sorted(
        [first.pk, second_production.pk, other_studio.pk]
    )

    # A lease for the same production in a later period pays no second fee either.
    later = _lease(world, terms, "HARBOUR LIGHTS")
    next_period = _close(world, start=period.end)
    assert not PeriodCharge.objects.filter(period=next_period, lease=later, use="production_fee").exists()
    assert not InvoiceLine.objects.filter(lease=later).exists()


def test_a_close_resumed_after_a_crash_charges_the_premiums_once(world, monkeypatch, settings):
    """A batch per lease; the close crashes on the second, so the retry meters the period again
    for the leases not yet posted (the premium lease among them) and closes it."""
    settings.PERIOD_CLOSE_BATCH_LEASES = 1
    lease = _lease(world, _premium_terms(world), "Harbour Lights")
    assert _report(lease, world.cast.carol, _saving("s1", 1_000_000)).status_code == 202
    real, calls = services._post_batch, []

    def crash_on_second(period_, batch):
        calls.append(batch.number)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real(period_, batch)

    monkeypatch.setattr(services, "_post_batch", crash_on_second)
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    assert services.period_close(period_id=period.pk).status == "failed"
    monkeypatch.setattr(services, "_post_batch", real)
    period = services.period_close(period_id=period.pk)
    assert period.status == "closed"
    charged = PeriodCharge.objects.filter(period=period, lease=lease).exclude(use="flat_fee")
    assert sorted(charged.values_list("use", "quantity", "unit_price_cents")) == [
        ("production_fee", 1, PRODUCTION_FEE),
        ("substitution_premium", 1, 25_000),
    ]
    assert LeaseRevenue.objects.get(period=period, lease=lease).revenue_cents == PRODUCTION_FEE + 25_000
    services.period_close(period_id=period.pk)
    assert LeaseRevenue.objects.filter(lease=lease).count() == 1
    assert ledger.trial_balance() == 0


def test_the_accrued_figures_show_the_premiums_the_close_charges(world):
    terms = _premium_terms(world)
    lease = _lease(world, terms, "Harbour Lights")
    _lease(world, terms, "harbour lights")  # the same production: no second fee
    saved = [
        _saving("s1", 700_003, world.bob_asset),
        _saving("s2", 499_997, world.bob_asset),
        _saving("s3", 39),
    ]
    assert _report(lease, world.cast.carol, *saved).status_code == 202
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    accrued = selectors.period_accrued_revenue(period)
    rows = {row["kind"]: (row["quantity"], row["cents"]) for row in accrued["usage_by_kind"]}
    assert rows["substitution_saving"] == (1_200_039, 30_000)
    assert rows["production_fee"] == (1, PRODUCTION_FEE)
    assert accrued["revenue_cents"] == 2 * 1_000 + PRODUCTION_FEE + 30_000  # and world's two flat fees
    assert services.period_close(period_id=period.pk).revenue_cents == accrued["revenue_cents"]


def test_a_saving_too_small_to_earn_a_cent_charges_nothing(world):
    lease = _lease(world, _premium_terms(world, production_fee_cents=0), "Harbour Lights")
    assert _report(lease, world.cast.carol, _saving("tiny", 39)).status_code == 202  # 0.975 cents
    period = _close(world)
    assert not PeriodCharge.objects.filter(period=period, lease=lease).exclude(use="flat_fee").exists()


# Refusals: nothing is written for any of them.


def _refused(response, status, code=None):
    assert response.status_code == status, response.json()
    return response.json()


def test_a_negative_saving_is_refused(world):
    lease = _lease(world, _premium_terms(world), "Harbour Lights")
    body = _refused(_report(lease, world.cast.carol, _saving("neg", -500)), 400)
    assert body["errors"]["events"][0]["amount_cents"][0].startswith("Ensure this value is greater than")
    assert not UsageEvent.objects.filter(lease=lease).exists()


def test_a_saving_without_an_amount_is_refused(world):
    lease = _lease(world, _premium_terms(world), "Harbour Lights")
    event = _saving("none", 1)
    del event["amount_cents"]
    body = _refused(_report(lease, world.cast.carol, event, _saving("ok", 100)), 400)
    assert body["errors"]["events"] == [{"amount_cents": ["This field is required."]}, {}]
    assert not UsageEvent.objects.filter(lease=lease).exists()


def test_a_saving_with_a_quantity_or_an_amount_on_other_usage_is_refused(world):
    """Both pass the report's schema (extra fields are allowed) but break the saving's rule: 422."""
    lease = _lease(world, _premium_terms(world), "Harbour Lights")
    body = _refused(_report(lease, world.cast.carol, _saving("ok", 100), _saving("q", 100, quantity=3)), 422)
    assert (body["code"], body["detail"][:10]) == ("quantity_not_allowed", "events[1]:")
    run = {"event_key": "r", "kind": "training_run", "quantity": 1, "amount_cents": 5}
    run["occurred_at"] = timezone.now().isoformat()
    assert _refused(_report(lease, world.cast.carol, run), 422)["code"] == "amount_not_allowed"
    assert not UsageEvent.objects.filter(lease=lease).exists()


def test_a_saving_on_a_lease_without_a_premium_is_refused(world):
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": [_saving("s", 100)]}, format="json"
    )
    assert _refused(response, 422)["code"] == "no_substitution_premium"
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


def test_a_request_under_a_production_fee_must_name_the_production(world, as_user):
    terms = _premium_terms(world)
    response = as_user(world.cast.carol).post(
        "/api/v1/leases/", {"terms": terms.pk, "purpose": "film"}, format="json"
    )
    assert _refused(response, 422)["code"] == "production_required"
    response = as_user(world.cast.carol).post(
        "/api/v1/leases/",
        {"terms": terms.pk, "purpose": "film", "production": " Harbour  Lights "},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["production"], response.json()["production_fee_cents"]) == ("Harbour Lights", 0)


def test_terms_take_and_show_the_premiums_over_the_api(world, as_user):
    client = as_user(world.cast.admin)
    body = {
        "dataset": world.dataset.pk,
        "title": "Doubles",
        "permitted_uses": ["training"],
        "duration_days": 10,
        "production_fee_cents": 12_345,
        "substitution_premium_bps": 10_001,
    }
    assert (
        "substitution_premium_bps"
        in _refused(client.post("/api/v1/terms/", body, format="json"), 400)["errors"]
    )
    body["substitution_premium_bps"] = 300
    created = client.post("/api/v1/terms/", body, format="json")
    assert created.status_code == 201
    assert (created.json()["production_fee_cents"], created.json()["substitution_premium_bps"]) == (
        12_345,
        300,
    )


def test_a_fee_charged_for_a_production_is_not_charged_again_when_the_first_lease_is_closed_out(world):
    """The fee stays paid once: the first lease revoked (it was active) still holds the title."""
    terms = _premium_terms(world, substitution_premium_bps=0)
    first = _lease(world, terms, "Harbour Lights")
    period = _close(world)
    licensing.lease_revoke(actor=world.cast.admin, lease=first, reason="done")
    again = _lease(world, terms, "Harbour Lights")
    later = _close(world, start=period.end)
    assert not PeriodCharge.objects.filter(period=later, lease=again, use="production_fee").exists()


# The money rule over premiums, for any input.

member_keys = st.sampled_from([("M-1", 1), ("M-2", 2), ("M-3", 3)])
asset_ids = st.sampled_from(["a1", "a2", "a3"])


@st.composite
def holdings(draw):
    """Each asset's contributors: one to three members with positive shares summing to 1."""
    contributors = {}
    for asset in ("a1", "a2", "a3"):
        members = draw(st.lists(member_keys, min_size=1, max_size=3, unique=True))
        weights = draw(st.lists(st.integers(1, 7), min_size=len(members), max_size=len(members)))
        contributors[asset] = [
            Contributor(key, Fraction(weight, sum(weights)))
            for key, weight in zip(members, weights, strict=True)
        ]
    return contributors


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    production_fee=st.integers(0, 10**9),
    savings=st.lists(st.tuples(st.one_of(st.none(), asset_ids), st.integers(1, 10**10)), max_size=6),
    premium_bps=st.integers(0, 10_000),
    admin_fee_bps=st.integers(0, 5_000),
    pension_bps=st.integers(0, 5_000),
    shared=st.lists(asset_ids, min_size=1, max_size=3, unique=True),
    contributors=holdings(),
)
def test_the_premiums_split_adds_up_to_the_cent_for_any_input(
    production_fee, savings, premium_bps, admin_fee_bps, pension_bps, shared, contributors
):
    """Savings summed per asset (or shared), the premium floored once per sum, as the close
    meters them; then the fast split and the reference rule agree to the cent, every member's
    statement lines add up to their gross, and sum(net) + sum(pension) + fee = revenue."""
    summed: dict = {}
    for asset, amount in savings:
        summed[asset] = summed.get(asset, 0) + amount
    charges = [
        (premiums.SUBSTITUTION_PREMIUM.value, asset, premiums.substitution_premium_cents(saving, premium_bps))
        for asset, saving in summed.items()
    ]
    for (_, _, premium), saving in zip(charges, summed.values(), strict=True):
        assert 0 <= saving * premium_bps - premium * 10_000 < 10_000
    charges.append((premiums.PRODUCTION_FEE.value, None, production_fee))
    result = split.split_lease(
        flat_fee_cents=0,
        charges=charges,
        shared_assets=shared,
        held=split.checker(split.holders_from_contributors(contributors)),
        admin_fee_bps=admin_fee_bps,
        pension_bps=pension_bps,
        use_order=["production_fee", "substitution_premium"],
    )
    revenue = production_fee + sum(premium for _, _, premium in charges[:-1])
    assert result.revenue_cents == revenue
    assert sum(m.net_cents for m in result.members) + result.pension_cents + result.admin_fee_cents == revenue
    assert result.admin_fee_cents == revenue * admin_fee_bps // 10_000
    reference = distribute_lease(
        flat_fee_cents=0,
        charges=[Charge(asset, amount) for _, asset, amount in charges],
        shared_assets=shared,
        contributors=contributors,
        admin_fee_bps=admin_fee_bps,
        pension_bps=pension_bps,
    )
    assert [(m.key, m.gross_cents, m.pension_cents) for m in result.members] == [
        (m.member_key, m.gross_cents, m.pension_cents) for m in reference.members if m.gross_cents
    ]
    lines_revenue = 0
    for member in result.members:
        assert sum(line[3] + line[4] for line in member.lines) == member.gross_cents
        assert sum(line[3] for line in member.lines) == member.pension_cents
        lines_revenue += sum(line[1] for line in member.lines)
    if result.members:
        assert lines_revenue == revenue


def test_the_premium_on_a_saving_is_floored_and_refuses_nonsense():
    assert premiums.substitution_premium_cents(400_044, 250) == 10_001
    assert premiums.substitution_premium_cents(39, 250) == 0
    with pytest.raises(ValueError):
        premiums.substitution_premium_cents(-1, 250)
    with pytest.raises(ValueError):
        premiums.substitution_premium_cents(1, 10_001)


def test_the_django_admin_offers_terms_with_premiums_through_the_service(client, world):
    client.force_login(world.cast.admin)
    form = {
        "dataset": world.dataset.pk,
        "title": "Doubles from the admin",
        "permitted_uses": ["training"],
        "duration_days": 10,
        **dict.fromkeys(("flat_fee_cents", "price_per_download_cents", "price_per_training_run_cents"), 0),
        "price_per_generated_second_cents": 0,
        "takedown_acknowledge_days": 3,
        "takedown_attest_days": 14,
        "currency": world.terms.currency,
        "active": "on",
        "production_fee_cents": 75_000,
        "substitution_premium_bps": 125,
    }
    assert client.post("/admin/licensing/leaseterms/add/", form).status_code == 302
    terms = LeaseTerms.objects.get(title="Doubles from the admin")
    assert (terms.production_fee_cents, terms.substitution_premium_bps) == (75_000, 125)
    assert AuditEvent.objects.filter(action="terms.created", data__production_fee_cents=75_000).exists()


def test_a_saving_corrected_while_its_period_is_open_is_charged_on_what_is_left(world):
    lease = _lease(world, _premium_terms(world, production_fee_cents=0), "Harbour Lights")
    assert _report(lease, world.cast.carol, _saving("s1", 10_000)).status_code == 202
    fix = {"event_key": "fix-1", "corrects": "s1", "quantity": -4_000}
    assert _report(lease, world.cast.carol, fix).status_code == 202
    period = _close(world)
    # 2.5% of the 6,000 cents left of the saving: 150.
    premium = PeriodCharge.objects.get(period=period, lease=lease, use="substitution_premium")
    assert (premium.quantity, premium.unit_price_cents) == (1, 150)
    # Its period closed, the premium stands: a later correction of the saving is refused.
    late = {"event_key": "fix-2", "corrects": "s1", "quantity": -1_000}
    body = _refused(_report(lease, world.cast.carol, late), 422)
    assert body["code"] == "saving_period_closed"
