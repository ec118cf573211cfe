"""Settlements of a federated lease between its home trust and a part's trust, in one process:
as the home trust (the part's trust answers through a stand-in for `peer_call`) and as the
part's trust (the home trust's calls signed with a key this test holds). Figures worked by hand.

The lease (world's lease A): flat fee 1000, training runs at 100; the home part had 2 assets
licensable at approval, equity-uk's part 3. equity-uk's prices: 7 a download, 3 a generated
second. In the period: 3 training runs, 45 generated seconds on equity-uk's assets, 4 downloads
at equity-uk.
  flat fee 1000 over 2:3  -> home 400, equity-uk 600
  training 300 over 2:3   -> home 120, equity-uk 180
  equity-uk's part: 4 x 7 = 28 downloads + 45 x 3 = 135 generated + 600 + 180 = 943
  the studio is invoiced 1000 + 300 + 135 + 28 = 1463 = 520 (home part) + 943."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from licensing import federated as licensing_federated
from licensing import services as licensing
from licensing.models import InboundLeasePart, Lease, LeasePart, UsageEvent
from payouts import ledger, services, settlements
from payouts.models import LeaseRevenue, PartShare, Period, Settlement
from tests.federation.helpers import live_peer, priced_equity_part, signed_call, signing_key, studio_token
from trust.errors import BadGateway

pytestmark = pytest.mark.django_db

EQUITY_ASSET = uuid.UUID("0b5e2d8c-1a1e-4a55-9c1e-2a4f6b2d7e01")
PART_FIGURES = {
    "downloads_cents": 28,
    "generated_cents": 135,
    "flat_fee_share_cents": 600,
    "training_share_cents": 180,
    "total_cents": 943,
}


# --- At the home trust (sag-aftra) ---------------------------------------------------------------


@pytest.fixture
def home(world, settings):
    settings.TRUST_SLUG = "sag-aftra"
    lease = world.lease_a
    equity = priced_equity_part(lease, equity_assets=3, name="equity-uk trust").peer
    token = studio_token(world.cast.carol, lease)
    reporter = APIClient()
    reporter.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    now = timezone.now()
    event = {"kind": "generated_second", "asset": str(EQUITY_ASSET), "trust": "equity-uk"}
    answer = reporter.post(
        f"/api/v1/leases/{lease.pk}/usage/",
        {
            "events": [
                {"event_key": "t-1", "kind": "training_run", "quantity": 3, "occurred_at": now.isoformat()},
                {**event, "event_key": "g-1", "quantity": 40, "occurred_at": now.isoformat()},
                {**event, "event_key": "g-2", "quantity": 5, "occurred_at": now.isoformat()},
            ]
        },
        format="json",
    )
    assert answer.status_code == 202, answer.content
    period = services.period_create(
        actor=world.cast.admin, start=now - timedelta(hours=1), end=timezone.now()
    )
    period = services.period_close(period_id=period.pk)
    assert period.status == Period.Status.CLOSED, period.failure_reason
    return equity, period


class PartTrust:
    """equity-uk as the home trust hears it: accepts forwarded usage, counts 4 downloads, and
    answers `figures` for the settlement."""

    def __init__(self, lease_id: int, figures: dict, *, down: bool = False):
        self.lease_id, self.figures, self.down, self.calls = lease_id, figures, down, []

    def __call__(self, peer, method, path, payload=None, **kwargs):
        if self.down:
            raise BadGateway(f"{peer.slug} did not answer", code="peer_unreachable")
        self.calls.append((method, path.split("?")[0], payload))
        if path.startswith("/api/v1/federation/inbound/usage/"):
            return {"accepted": len(payload["events"]), "duplicates": 0, "refused": []}
        if path.startswith("/api/v1/federation/inbound/settlements/downloads/"):
            return {"downloads": [{"home_lease_id": self.lease_id, "quantity": 4}]}
        return {"statements": [{"home_lease_id": self.lease_id, **self.figures}]}


def test_the_home_trust_settles_to_the_cent_and_books_receivable_and_payable(world, home, monkeypatch):
    equity, period = home
    lease = world.lease_a
    # The close paid home members the home part only: 400 + 120.
    assert LeaseRevenue.objects.get(period=period, lease=lease).revenue_cents == 520
    part_trust = PartTrust(lease.pk, PART_FIGURES)
    monkeypatch.setattr(signed_calls, "peer_call", part_trust)
    assert settlements.peers_to_settle(period_id=period.pk) == [equity.pk]

    settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)

    # The usage still unsent went first, then the download count, then the statement.
    assert [(m, p) for m, p, _ in part_trust.calls] == [
        ("POST", "/api/v1/federation/inbound/usage/"),
        ("GET", "/api/v1/federation/inbound/settlements/downloads/"),
        ("POST", "/api/v1/federation/inbound/settlements/"),
    ]
    sent = part_trust.calls[-1][2]
    assert sent["statements"] == [{"home_lease_id": lease.pk, **PART_FIGURES}]
    settlement = Settlement.objects.get()
    assert settlement.role == "home" and settlement.state == "agreed"
    assert settlement.figures() == PART_FIGURES == settlement.figures(theirs=True)
    # The studio is invoiced the whole lease; the peer is owed its part.
    assert ledger.balance_of(f"studio:{lease.studio_id}:receivable") == 520 + 943 == 1463
    assert ledger.balance_of("peer:equity-uk:payable") == -943
    assert ledger.trial_balance() == 0

    # Settled again (a redelivered task): the same figures, posted once.
    settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)
    assert ledger.balance_of("peer:equity-uk:payable") == -943
    assert Settlement.objects.count() == 1


def test_a_part_that_lost_an_event_disagrees_and_nothing_is_netted(world, home, monkeypatch):
    equity, period = home
    lost = {**PART_FIGURES, "generated_cents": 120, "total_cents": 928}
    monkeypatch.setattr(signed_calls, "peer_call", PartTrust(world.lease_a.pk, lost))
    settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)
    settlement = Settlement.objects.get()
    assert settlement.state == "disagreed"
    assert (settlement.total_cents, settlement.peer_total_cents) == (943, 928)
    # What this trust owes by its own figures is booked; the difference is shown, not netted.
    assert ledger.balance_of("peer:equity-uk:payable") == -943
    row = settlements.settlement_rows(period.start, period.end)[0]
    assert row["disagreeing"] == ["generated_cents", "total_cents"]
    assert row["direction"] == "owed to equity-uk"


def test_a_silent_peer_leaves_the_settlement_awaiting_and_the_beat_job_finishes_it(world, home, monkeypatch):
    equity, period = home
    silent = PartTrust(world.lease_a.pk, PART_FIGURES, down=True)
    monkeypatch.setattr(signed_calls, "peer_call", silent)
    with pytest.raises(BadGateway):
        settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)
    # Not even the usage went: nothing settles without it, and nothing is lost.
    assert not Settlement.objects.exists()
    assert settlements.awaiting() == [(period.pk, equity.pk)]

    silent.down = False
    from payouts import tasks

    tasks.resend_settlements.apply()
    assert Settlement.objects.get().state == "agreed"
    assert settlements.awaiting() == []
    assert ledger.balance_of("peer:equity-uk:payable") == -943


def test_a_peer_down_after_the_statement_was_recorded_keeps_it_awaiting(world, home, monkeypatch):
    equity, period = home
    part_trust = PartTrust(world.lease_a.pk, PART_FIGURES)
    monkeypatch.setattr(signed_calls, "peer_call", part_trust)
    licensing_federated.usage_forward(part_id=LeasePart.objects.get(peer=equity).pk)
    part_trust.down = True
    with pytest.raises(BadGateway):
        settlements.settle_with_peer(period_id=period.pk, peer_id=equity.pk)
    waiting = Settlement.objects.get()
    assert waiting.state == "awaiting_peer" and waiting.downloads_cents is None
    assert (waiting.generated_cents, waiting.flat_fee_share_cents, waiting.training_share_cents) == (
        135,
        600,
        180,
    )
    assert waiting.transaction is None and ledger.balance_of("peer:equity-uk:payable") == 0
    assert settlements.awaiting() == [(period.pk, equity.pk)]


# --- At the part's trust (equity-uk); sag-aftra is the home -----------------------------------------


@pytest.fixture
def part_here(world, settings):
    """lease A here is equity-uk's part of sag-aftra's lease 77, priced 7 a download and 3 a
    generated second, charging no flat fee or training runs of its own (as approval makes it)."""
    settings.TRUST_SLUG = "equity-uk"
    key = signing_key()
    home_peer = live_peer("sag-aftra", key, currency="USD", name="sag-aftra trust")
    InboundLeasePart.objects.create(
        peer=home_peer, home_lease_id=77, lease=world.lease_a, reported_status="approved"
    )
    Lease.objects.filter(pk=world.lease_a.pk).update(
        permitted_uses=["training", "crowd_generation"],
        flat_fee_cents=0,
        price_per_training_run_cents=0,
        price_per_download_cents=7,
        price_per_generated_second_cents=3,
    )
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                lease=world.lease_a,
                event_key=f"gateway:{n}",
                kind="download",
                asset=world.alice_asset,
                quantity=1,
                occurred_at=now,
                source="gateway",
            )
            for n in range(4)
        ]
    )
    forwarded = {
        "kind": "generated_second",
        "asset": str(world.alice_asset.pk),
        "occurred_at": now.isoformat(),
    }
    answer = _signed(
        "POST",
        "/api/v1/federation/inbound/usage/",
        {
            "home_lease_id": 77,
            "events": [
                {**forwarded, "event_key": "g-1", "quantity": 40},
                {**forwarded, "event_key": "g-2", "quantity": 5},
            ],
        },
        key=key,
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.content
    return home_peer, key, now - timedelta(hours=1), now + timedelta(seconds=1)


def _signed(method: str, path: str, payload: dict | None = None, *, key, issuer: str = "sag-aftra"):
    return signed_call(method, path, payload, key=key, issuer=issuer, audience="equity-uk")


def _window(start, end) -> str:
    return f"{start:%Y-%m-%dT%H:%M:%S.%fZ}/{end:%Y-%m-%dT%H:%M:%S.%fZ}"


def _statement(start, end, **figures):
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "statements": [{"home_lease_id": 77, **PART_FIGURES, **figures}],
    }


def test_the_parts_trust_counts_its_downloads_for_the_home_trust_only(world, part_here):
    _, key, start, end = part_here
    path = f"/api/v1/federation/inbound/settlements/downloads/?period={_window(start, end)}"
    answer = _signed("GET", path, key=key)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"downloads": [{"home_lease_id": 77, "quantity": 4}]}
    stranger = signing_key()
    live_peer("actra", stranger, currency="USD", name="actra trust")
    assert _signed("GET", path, key=stranger, issuer="actra").json() == {"downloads": []}
    assert APIClient().get(path).status_code == 401


def test_the_parts_trust_agrees_records_its_shares_once_and_pays_its_members_at_its_close(world, part_here):
    home_peer, key, start, end = part_here
    path = "/api/v1/federation/inbound/settlements/"
    answer = _signed("POST", path, _statement(start, end), key=key)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"statements": [{"home_lease_id": 77, **PART_FIGURES}]}
    settlement = Settlement.objects.get()
    assert (settlement.role, settlement.state, settlement.lease_id) == ("part", "agreed", world.lease_a.pk)
    assert sorted(PartShare.objects.values_list("use", "cents")) == [("flat_fee", 600), ("training_run", 180)]
    assert ledger.balance_of("peer:sag-aftra:receivable") == 943
    # Sent again: no second share, no second posting.
    assert _signed("POST", path, _statement(start, end), key=key).status_code == 200
    assert PartShare.objects.count() == 2 and ledger.balance_of("peer:sag-aftra:receivable") == 943

    # This trust's close pays its members the part's revenue: its own meters plus the shares.
    period = services.period_create(actor=world.cast.admin, start=start, end=timezone.now())
    period = services.period_close(period_id=period.pk)
    assert period.status == Period.Status.CLOSED, period.failure_reason
    revenue = LeaseRevenue.objects.get(period=period, lease=world.lease_a)
    assert (revenue.flat_fee_cents, revenue.revenue_cents) == (600, 943)
    assert revenue.admin_fee_cents + revenue.pension_cents + revenue.net_cents == 943
    # The proxy studio's receivable: debited by the close, credited by the settlement.
    assert ledger.balance_of(f"studio:{world.lease_a.studio_id}:receivable") == 0
    assert ledger.trial_balance() == 0


def test_the_parts_trust_disagrees_when_the_home_counts_an_event_it_never_recorded(world, part_here):
    _, key, start, end = part_here
    more = _statement(start, end, generated_cents=150, total_cents=958)
    answer = _signed("POST", "/api/v1/federation/inbound/settlements/", more, key=key)
    assert answer.json()["statements"][0]["generated_cents"] == 135
    settlement = Settlement.objects.get()
    assert settlement.state == "disagreed" and (settlement.total_cents, settlement.peer_total_cents) == (
        943,
        958,
    )
    assert ledger.balance_of("peer:sag-aftra:receivable") == 943


def test_a_settlement_from_a_trust_that_is_not_the_leases_home_or_unsigned_is_refused(world, part_here):
    _, key, start, end = part_here
    path = "/api/v1/federation/inbound/settlements/"
    assert APIClient().post(path, _statement(start, end), format="json").status_code == 401
    stranger = signing_key()
    live_peer("actra", stranger, currency="USD", name="actra trust")
    refused = _signed("POST", path, _statement(start, end), key=stranger, issuer="actra")
    assert (refused.status_code, refused.json()["code"]) == (404, "part_not_found")
    forged = _signed("POST", path, _statement(start, end), key=stranger)
    assert forged.status_code == 401
    assert not Settlement.objects.exists() and not PartShare.objects.exists()


def test_approving_a_peers_part_charges_no_flat_fee_or_training_and_reports_its_prices(world, settings):
    settings.TRUST_SLUG = "equity-uk"
    home_peer = live_peer("sag-aftra", signing_key(), currency="USD", name="sag-aftra trust")
    lease = licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose="part")
    InboundLeasePart.objects.create(
        peer=home_peer, home_lease_id=88, lease=lease, reported_status="requested"
    )
    lease = licensing.lease_approve(actor=world.cast.admin, lease=lease)
    assert (lease.flat_fee_cents, lease.price_per_training_run_cents, lease.price_per_download_cents) == (
        0,
        0,
        10,
    )
    assert licensing_federated.part_answer(lease)["prices"] == {"download": 10, "generated_second": 0}


# --- Who may read them ---------------------------------------------------------------------------


def test_only_administrators_read_the_settlements(world, part_here, as_user, anon):
    _, key, start, end = part_here
    _signed("POST", "/api/v1/federation/inbound/settlements/", _statement(start, end), key=key)
    path = "/api/v1/federation/settlements/"
    assert anon.get(path).status_code == 401
    assert as_user(world.cast.alice).get(path).status_code == 403
    assert as_user(world.cast.carol).get(path).status_code == 403
    latest = as_user(world.cast.admin).get(path)
    assert latest.status_code == 200
    (row,) = latest.json()["settlements"]
    assert (row["peer"], row["role"], row["state"], row["direction"], row["owed_cents"]) == (
        "sag-aftra",
        "part",
        "agreed",
        "owed by sag-aftra",
        943,
    )
    chosen = as_user(world.cast.admin).get(path, {"period": _window(start, end)})
    assert chosen.json()["settlements"] == latest.json()["settlements"]
    other = as_user(world.cast.admin).get(path, {"period": "2020-01-01/2020-02-01"})
    assert other.status_code == 200 and other.json()["settlements"] == []
    bad = as_user(world.cast.admin).get(path, {"period": "yesterday"})
    assert (bad.status_code, bad.json()["code"]) == (422, "bad_period")


def test_the_settlements_page_is_for_administrators_and_marks_a_disagreement(world, part_here, client):
    _, key, start, end = part_here
    more = _statement(start, end, generated_cents=150, total_cents=958)
    _signed("POST", "/api/v1/federation/inbound/settlements/", more, key=key)
    path = "/operations/federation/settlements/"
    for who in (world.cast.alice.user, world.cast.carol):
        client.force_login(who)
        assert client.get(path).status_code in (302, 403)
    client.force_login(world.cast.admin)
    text = client.get(path).content.decode()
    assert "1 settlement disagrees" in text and 'class="disagreed"' in text
    assert "owed by sag-aftra" in text and "(theirs 9.58)" in text
    assert "Differs: generated seconds, total" in text


# --- Query counts: a fixed number whatever the number of leases or events -------------------------


def test_the_home_statements_of_a_peer_take_four_queries(world, home, django_assert_num_queries):
    equity, period = home
    with django_assert_num_queries(4):
        statements = settlements.home_statements(period, equity)
    assert statements[world.lease_a.pk]["flat_fee_share_cents"] == 600


def test_receiving_a_settlement_takes_the_same_queries_for_one_lease_or_two(world, part_here):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    home_peer, key, start, end = part_here
    InboundLeasePart.objects.create(
        peer=home_peer, home_lease_id=78, lease=world.lease_b, reported_status="approved"
    )

    def queries(statements, shift: int) -> int:
        # A window of its own each time: every share, settlement and posting is new.
        window = (start + timedelta(microseconds=shift), end)
        with CaptureQueriesContext(connection) as captured:
            settlements.settlement_received(
                peer=home_peer, start=window[0], end=window[1], statements=statements
            )
        return len(captured.captured_queries)

    # Lease B had no usage here: its part's revenue is its shares alone (both agree).
    shares_only = {**PART_FIGURES, "downloads_cents": 0, "generated_cents": 0, "total_cents": 780}
    both = [{"home_lease_id": 77, **PART_FIGURES}, {"home_lease_id": 78, **shares_only}]
    queries(both, 0)  # the accounts are made once
    one = queries(both[:1], 1)
    two = queries(both, 2)
    assert one == two


def test_the_operations_overview_counts_settlements_in_disagreement(world, part_here, client):
    _, key, start, end = part_here
    more = _statement(start, end, generated_cents=150, total_cents=958)
    _signed("POST", "/api/v1/federation/inbound/settlements/", more, key=key)
    client.force_login(world.cast.admin)
    text = client.get("/operations/").content.decode()
    assert 'id="settlements-disagreed">1<' in text and "Compare the figures with the other trusts" in text


def test_the_inbound_calls_refuse_people_and_lease_tokens(world, part_here, as_user):
    _, _, start, end = part_here
    calls = [
        ("post", "/api/v1/federation/inbound/settlements/", _statement(start, end)),
        ("get", f"/api/v1/federation/inbound/settlements/downloads/?period={_window(start, end)}", None),
        ("post", "/api/v1/federation/inbound/usage/", {"home_lease_id": 77, "events": []}),
    ]
    lease_token = APIClient()
    lease_token.credentials(HTTP_AUTHORIZATION=f"Bearer {world.secret_a}")
    for who in (as_user(world.cast.alice), as_user(world.cast.carol), as_user(world.cast.admin), lease_token):
        for method, path, body in calls:
            answer = getattr(who, method)(path, body, format="json") if body is not None else who.get(path)
            assert answer.status_code in (401, 403), (path, answer.status_code)
    assert not Settlement.objects.exists() and not PartShare.objects.exists()
