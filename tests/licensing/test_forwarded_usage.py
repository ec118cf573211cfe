"""Usage of a federated lease reported at its home trust and forwarded to the trust holding the
asset (FEDERATION.md, "Metering and money across trusts"). The other trust is a Peer row: at
home its answers come from a stand-in for `peer_call`; as the part's trust, its calls are signed
with a key this test holds."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from federation import signed_calls
from licensing import federated, tasks
from licensing.models import ForwardedUsage, InboundLeasePart, Lease, LeasePart, UsageEvent
from tests.federation.helpers import (
    bearer,
    live_peer,
    priced_equity_part,
    signed_call,
    signing_key,
    studio_token,
)
from trust import keys
from trust.errors import BadGateway

pytestmark = pytest.mark.django_db

EQUITY_ASSET = uuid.UUID("0b5e2d8c-1a1e-4a55-9c1e-2a4f6b2d7e01")
INBOUND_USAGE = "/api/v1/federation/inbound/usage/"


# --- At the home trust (sag-aftra); equity-uk holds a part ---------------------------------------


@pytest.fixture
def home(world, settings):
    """lease_a made federated: its home part here and an approved part at equity-uk (lease 55
    there, crowd generation at 3 cents a second), whose trust does not answer."""
    settings.TRUST_SLUG = "sag-aftra"
    part = priced_equity_part(world.lease_a, equity_assets=6)
    token = studio_token(world.cast.carol, world.lease_a)
    return part, bearer(token)


def _event(key: str, **fields) -> dict:
    return {
        "event_key": key,
        "kind": "generated_second",
        "asset": str(EQUITY_ASSET),
        "trust": "equity-uk",
        "quantity": 40,
        "occurred_at": timezone.now().isoformat(),
        **fields,
    }


def _report(client, lease_id, *events):
    return client.post(f"/api/v1/leases/{lease_id}/usage/", {"events": list(events)}, format="json")


def test_an_event_naming_another_trust_is_kept_to_forward_not_metered_here(world, home):
    part, studio = home
    answer = _report(
        studio,
        world.lease_a.pk,
        _event("g-1"),
        # A training run stays here whatever trust it names: the lease's, split at the close.
        {
            "event_key": "t-1",
            "kind": "training_run",
            "trust": "equity-uk",
            "asset": str(EQUITY_ASSET),
            "quantity": 2,
            "occurred_at": timezone.now().isoformat(),
        },
    )
    assert answer.status_code == 202, answer.content
    assert answer.json() == {"accepted": 2, "duplicates": 0}
    kept = ForwardedUsage.objects.get()
    assert (kept.peer_id, kept.event_key, kept.asset_id, kept.quantity) == (
        part.peer_id,
        "g-1",
        EQUITY_ASSET,
        40,
    )
    assert kept.forwarded_at is None and kept.refused_reason == ""
    events = UsageEvent.objects.filter(lease=world.lease_a, event_key__in=["g-1", "t-1"])
    assert list(events.values_list("event_key", "kind", "asset_id")) == [("t-1", "training_run", None)]
    # The same key again, as either kind of event: a duplicate, never a second event anywhere.
    again = _report(studio, world.lease_a.pk, _event("g-1"), _event("t-1"))
    assert again.json() == {"accepted": 0, "duplicates": 2}
    assert ForwardedUsage.objects.count() == 1
    # The peer did not answer: the beat job has it to send.
    assert federated.pending_messages()["usage"] == [part.pk]


def test_an_event_for_another_trust_is_refused_at_home_for_its_shape_use_and_window(world, home):
    part, studio = home
    lease_id = world.lease_a.pk
    refusals = {
        "trust_not_in_lease": _event("x-1", trust="actra"),
        "download_not_reportable": _event("x-2", kind="download"),
        "asset_required": _event("x-3", asset=None),
        "outside_lease": _event("x-4", occurred_at=(part.starts_at - timedelta(hours=1)).isoformat()),
    }
    for code, event in refusals.items():
        answer = _report(studio, lease_id, _event("ok-1"), event)
        assert (answer.status_code, answer.json()["code"]) == (422, code), answer.content
        assert "events[1]" in answer.json()["detail"]
    LeasePart.objects.filter(pk=part.pk).update(offer={"permitted_uses": ["training"]})
    not_permitted = _report(studio, lease_id, _event("x-5"))
    assert (not_permitted.status_code, not_permitted.json()["code"]) == (403, "use_not_permitted")
    assert not ForwardedUsage.objects.exists()


def test_forwarded_usage_is_sent_marked_forwarded_and_refusals_for_good_are_never_resent(
    world, home, monkeypatch
):
    part, studio = home
    _report(studio, world.lease_a.pk, _event("g-1"), _event("g-2"), _event("g-3", quantity=5))
    sent = []

    def peer_down(peer, method, path, payload=None, **kwargs):
        raise BadGateway(f"{peer.slug} did not answer", code="peer_unreachable")

    monkeypatch.setattr(signed_calls, "peer_call", peer_down)
    with pytest.raises(BadGateway):
        federated.usage_forward(part_id=part.pk)
    assert ForwardedUsage.objects.filter(forwarded_at__isnull=True, refused_reason="").count() == 3

    def peer_answers(peer, method, path, payload=None, **kwargs):
        sent.append((peer.slug, method, path, payload))
        return {
            "accepted": 2,
            "duplicates": 0,
            "refused": [{"event_key": "g-2", "code": "asset_not_in_lease", "detail": "not in this lease"}],
        }

    monkeypatch.setattr(signed_calls, "peer_call", peer_answers)
    # The beat job's task sends them, once the peer answers.
    tasks.resend_federated_lease_messages.apply()
    assert [(s[0], s[1], s[2]) for s in sent] == [("equity-uk", "POST", INBOUND_USAGE)]
    payload = sent[0][3]
    assert payload["home_lease_id"] == world.lease_a.pk
    assert [(e["event_key"], e["asset"], e["quantity"]) for e in payload["events"]] == [
        ("g-1", str(EQUITY_ASSET), 40),
        ("g-2", str(EQUITY_ASSET), 40),
        ("g-3", str(EQUITY_ASSET), 5),
    ]
    rows = {row.event_key: row for row in ForwardedUsage.objects.all()}
    assert rows["g-1"].forwarded_at and rows["g-3"].forwarded_at
    assert rows["g-2"].forwarded_at is None and rows["g-2"].refused_reason.startswith("asset_not_in_lease")
    # Nothing left to send: the refused event is never retried.
    assert federated.pending_messages()["usage"] == []
    assert federated.usage_forward(part_id=part.pk) == 0 and len(sent) == 1


def test_a_whole_batch_refused_for_good_by_the_part_is_marked_refused(world, home, monkeypatch):
    part, studio = home
    _report(studio, world.lease_a.pk, _event("g-1"))

    def no_such_part(peer, method, path, payload=None, **kwargs):
        refused = BadGateway("equity-uk refused the call (404 part_not_found): no part", code="peer_refused")
        refused.peer_status, refused.peer_code = 404, "part_not_found"
        raise refused

    monkeypatch.setattr(signed_calls, "peer_call", no_such_part)
    assert federated.usage_forward(part_id=part.pk) == 1
    assert "part_not_found" in ForwardedUsage.objects.get().refused_reason
    assert federated.pending_messages()["usage"] == []


# --- At the part's trust (equity-uk); sag-aftra is the home -----------------------------------------


@pytest.fixture
def part_here(world, settings):
    """lease_a here is equity-uk's part of sag-aftra's lease 77, permitting crowd generation."""
    settings.TRUST_SLUG = "equity-uk"
    key = signing_key()
    home_peer = live_peer("sag-aftra", key, currency="USD")
    InboundLeasePart.objects.create(
        peer=home_peer, home_lease_id=77, lease=world.lease_a, reported_status="approved"
    )
    Lease.objects.filter(pk=world.lease_a.pk).update(permitted_uses=["training", "crowd_generation"])
    return home_peer, key


def _signed_post(path: str, payload: dict, *, key: keys.SigningKey, issuer: str = "sag-aftra"):
    return signed_call("POST", path, payload, key=key, issuer=issuer, audience="equity-uk")


def _forwarded(world, key, **fields):
    return {
        "event_key": key,
        "kind": "generated_second",
        "asset": str(world.alice_asset.pk),
        "quantity": 40,
        "occurred_at": timezone.now().isoformat(),
        **fields,
    }


def test_forwarded_usage_is_a_federated_usage_event_of_the_part_once(world, part_here):
    _, key = part_here
    body = {"home_lease_id": 77, "events": [_forwarded(world, "g-1"), _forwarded(world, "g-2", quantity=5)]}
    answer = _signed_post(INBOUND_USAGE, body, key=key)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"accepted": 2, "duplicates": 0, "refused": []}
    recorded = UsageEvent.objects.filter(lease=world.lease_a, source="federated").order_by("event_key")
    assert list(recorded.values_list("event_key", "quantity", "token_id")) == [
        ("g-1", 40, None),
        ("g-2", 5, None),
    ]
    # Sent again (the home trust never heard the answer): nothing counted twice.
    resent = _signed_post(INBOUND_USAGE, body, key=key)
    assert resent.json() == {"accepted": 0, "duplicates": 2, "refused": []}
    assert recorded.count() == 2


def test_an_event_the_parts_rules_refuse_is_answered_refused_and_the_rest_recorded(world, part_here):
    _, key = part_here
    foreign = str(uuid.uuid4())
    body = {
        "home_lease_id": 77,
        "events": [
            _forwarded(world, "g-1"),
            _forwarded(world, "g-bad", asset=foreign),
            _forwarded(world, "g-3"),
        ],
    }
    answer = _signed_post(INBOUND_USAGE, body, key=key)
    assert answer.status_code == 200, answer.content
    assert answer.json()["accepted"] == 2
    assert [(r["event_key"], r["code"]) for r in answer.json()["refused"]] == [
        ("g-bad", "asset_not_in_lease")
    ]
    assert set(
        UsageEvent.objects.filter(lease=world.lease_a, source="federated").values_list("event_key", flat=True)
    ) == {"g-1", "g-3"}


def test_forwarded_usage_is_refused_unsigned_from_another_trust_or_for_a_lease_with_no_part_here(
    world, part_here
):
    _, key = part_here
    body = {"home_lease_id": 77, "events": [_forwarded(world, "g-1")]}
    assert APIClient().post(INBOUND_USAGE, body, format="json").status_code == 401
    stranger = signing_key()
    live_peer("actra", stranger, currency="USD")
    from_actra = _signed_post(INBOUND_USAGE, body, key=stranger, issuer="actra")
    assert (from_actra.status_code, from_actra.json()["code"]) == (404, "part_not_found")
    forged = _signed_post(INBOUND_USAGE, body, key=stranger, issuer="sag-aftra")
    assert forged.status_code == 401
    other = _signed_post(INBOUND_USAGE, {**body, "home_lease_id": 78}, key=key)
    assert (other.status_code, other.json()["code"]) == (404, "part_not_found")
    member = APIClient()
    member.force_authenticate(world.cast.alice.user)
    assert member.post(INBOUND_USAGE, body, format="json").status_code in (401, 403)
    assert not UsageEvent.objects.filter(source="federated").exists()


def test_a_refused_forwarded_event_is_shown_on_the_studios_and_the_administrators_lease_pages(
    world, home, monkeypatch, client
):
    part, studio = home
    _report(studio, world.lease_a.pk, _event("g-1"), _event("g-bad"))

    def peer_answers(peer, method, path, payload=None, **kwargs):
        return {
            "accepted": 1,
            "duplicates": 0,
            "refused": [{"event_key": "g-bad", "code": "consent_withdrawn", "detail": "a member withdrew"}],
        }

    monkeypatch.setattr(signed_calls, "peer_call", peer_answers)
    federated.usage_forward(part_id=part.pk)
    for user, path in (
        (world.cast.carol, f"/studio/leases/{world.lease_a.pk}/"),
        (world.cast.admin, f"/operations/leases/{world.lease_a.pk}/"),
    ):
        client.force_login(user)
        text = client.get(path).content.decode()
        assert "1 event recorded there" in text and "<strong>1 refused</strong>" in text, path
        assert "<code>g-bad</code>" in text and "consent_withdrawn: a member withdrew" in text


def test_a_report_forwarding_many_events_takes_the_queries_of_one(world, home):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the embedded default (SQLite) inserts in batches of its variable limit")

    _, studio = home

    def queries(prefix: str, count: int) -> int:
        events = [_event(f"{prefix}-{n}") for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert _report(studio, world.lease_a.pk, *events).status_code == 202
        return len(captured.captured_queries)

    queries("first", 1)  # the token's first use of the day, the month's partition: once
    assert queries("few", 2) == queries("many", 200)
    assert ForwardedUsage.objects.count() == 203


def test_a_key_named_twice_in_one_report_is_its_first_event_wherever_it_goes(world, home):
    _, studio = home
    training = {
        "event_key": "k-1",
        "kind": "training_run",
        "quantity": 1,
        "occurred_at": timezone.now().isoformat(),
    }
    answer = _report(
        studio, world.lease_a.pk, training, _event("k-1"), _event("k-2"), _event("k-2", quantity=9)
    )
    assert answer.json() == {"accepted": 2, "duplicates": 2}
    assert UsageEvent.objects.filter(lease=world.lease_a, event_key="k-1").count() == 1
    assert list(ForwardedUsage.objects.values_list("event_key", "quantity")) == [("k-2", 40)]
