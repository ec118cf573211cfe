"""POST /usage/ at volume: a whole report checked in one pass and written in one statement, with
the refusals of the old per-event path (same codes, same 400 shape), usage dated after a
consent withdrawal refused, and a constant number of queries for any number of events."""

import gc
from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services
from licensing.models import Lease, UsageEvent
from tests.conftest import bearer_client
from trust import services as trust

pytestmark = pytest.mark.django_db


def _usage(world, *events):
    return bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": list(events)}, format="json"
    )


def _event(key, asset=None, at=None, **overrides):
    event = {
        "event_key": key,
        "kind": "training_run",
        "quantity": 1,
        "occurred_at": (at or timezone.now()).isoformat(),
        **overrides,
    }
    if asset is not None:
        event["asset"] = str(asset.pk)
    return event


def _withdraw(member, use):
    return trust.consent_withdraw(actor=member.user, consent=member.consents.get(use=use, state="granted"))


def test_usage_dated_after_a_withdrawal_is_refused_and_nothing_is_written(world):
    _withdraw(world.cast.bob, "training")
    response = _usage(world, _event("alice", world.alice_asset), _event("bob", world.bob_asset))
    assert response.status_code == 409
    assert response.json()["code"] == "consent_withdrawn"
    assert "events[1]" in response.json()["detail"]
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()
    # Nothing of the refused report holds a key: the same report is taken once consent is back.
    trust.consent_grant(actor=world.cast.bob.user, member=world.cast.bob, use="training")
    assert _usage(world, _event("alice", world.alice_asset), _event("bob", world.bob_asset)).json() == {
        "accepted": 2,
        "duplicates": 0,
    }


def test_usage_dated_before_the_withdrawal_is_still_accepted(world):
    while_consented = world.lease_a.starts_at + timedelta(milliseconds=1)
    _withdraw(world.cast.bob, "capture")
    response = _usage(world, _event("before", world.bob_asset, at=while_consented))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}


def test_usage_between_a_withdrawal_and_a_new_grant_is_refused_and_after_it_accepted(world):
    _withdraw(world.cast.bob, "training")
    between = timezone.now()
    trust.consent_grant(actor=world.cast.bob.user, member=world.cast.bob, use="training")
    after = timezone.now()
    refused = _usage(
        world, _event("after", world.bob_asset, at=after), _event("gap", world.bob_asset, at=between)
    )
    assert refused.status_code == 409 and "events[1]" in refused.json()["detail"]
    assert _usage(world, _event("after", world.bob_asset, at=after)).status_code == 202


def test_a_withdrawal_of_a_use_the_lease_does_not_need_changes_nothing(world):
    trust.consent_grant(actor=world.cast.bob.user, member=world.cast.bob, use="voice_synthesis")
    _withdraw(world.cast.bob, "voice_synthesis")
    assert _usage(world, _event("bob", world.bob_asset)).status_code == 202


def test_usage_naming_no_asset_is_not_refused_by_a_withdrawal(world):
    _withdraw(world.cast.bob, "training")
    assert _usage(world, _event("run")).status_code == 202


def test_a_key_sent_again_with_another_time_is_a_duplicate(world):
    # Two months apart: on PostgreSQL the two times fall in different partitions of usage_event.
    now = timezone.now()
    Lease.objects.filter(pk=world.lease_a.pk).update(starts_at=now - timedelta(days=70))
    assert _usage(world, _event("k", at=now - timedelta(days=65))).json() == {"accepted": 1, "duplicates": 0}
    assert _usage(world, _event("k", at=now)).json() == {"accepted": 0, "duplicates": 1}
    assert UsageEvent.objects.filter(lease=world.lease_a, event_key="k").count() == 1


def test_a_report_partly_sent_before_records_only_its_new_events_with_their_values(world):
    first = [_event(f"k{n}", world.alice_asset, quantity=n + 1) for n in range(3)]
    assert _usage(world, *first).json() == {"accepted": 3, "duplicates": 0}
    again = [*first, _event("new-a", world.bob_asset, quantity=7), _event("new-b", quantity=8), first[0]]
    assert _usage(world, *again).json() == {"accepted": 2, "duplicates": 4}
    stored = UsageEvent.objects.filter(lease=world.lease_a)
    assert sorted(stored.values_list("event_key", "asset_id", "quantity")) == [
        ("k0", world.alice_asset.pk, 1),
        ("k1", world.alice_asset.pk, 2),
        ("k2", world.alice_asset.pk, 3),
        ("new-a", world.bob_asset.pk, 7),
        ("new-b", None, 8),
    ]


def test_event_keys_and_times_are_stored_exactly_as_reported(world):
    keys = ["tab\there", "line\nbreak", "back\\slash", "ünïcødé \\N", "  padded  "]
    at = world.lease_a.starts_at + timedelta(microseconds=7)
    events = [_event(key, at=at) for key in keys]
    assert _usage(world, *events).json() == {"accepted": 5, "duplicates": 0}
    stored = UsageEvent.objects.filter(lease=world.lease_a)
    # A key is stripped, as DRF's CharField strips it.
    assert sorted(stored.values_list("event_key", flat=True)) == sorted(key.strip() for key in keys)
    assert set(stored.values_list("occurred_at", flat=True)) == {at}
    assert _usage(world, *events).json() == {"accepted": 0, "duplicates": 5}


def test_ten_thousand_events_are_accepted_in_one_report(world):
    events = [
        _event(f"e{n}", world.alice_asset if n % 2 else None, quantity=n % 7 + 1) for n in range(10_000)
    ]
    response = _usage(world, *events)
    assert response.status_code == 202
    assert response.json() == {"accepted": 10_000, "duplicates": 0}
    stored = UsageEvent.objects.filter(lease=world.lease_a)
    assert stored.count() == 10_000
    assert sum(stored.values_list("quantity", flat=True)) == sum(n % 7 + 1 for n in range(10_000))
    assert stored.filter(asset=world.alice_asset).count() == 5_000
    assert set(stored.values_list("source", flat=True)) == {"report"}
    assert set(stored.values_list("token_id", flat=True)) == {world.token_a.pk}


def test_more_than_ten_thousand_events_are_refused(world):
    response = _usage(world, *[_event(f"e{n}") for n in range(10_001)])
    assert response.status_code == 400
    assert response.json()["errors"]["events"]["non_field_errors"][0].startswith(
        "Ensure this field has no more"
    )
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


def test_a_bad_event_is_named_by_its_index_in_the_errors(world):
    response = _usage(world, _event("ok"), _event("bad", quantity=0), {"event_key": "x"})
    assert response.status_code == 400
    errors = response.json()["errors"]["events"]
    assert errors[0] == {}
    assert set(errors[1]) == {"quantity"}
    assert set(errors[2]) == {"kind", "quantity", "occurred_at"}


@pytest.mark.parametrize(
    "event",
    [
        {"event_key": "k\x00"},
        {"trust": "peer\x00"},
        {"corrects": "k0\x00", "reason": "typo"},
        {"corrects": "k0", "reason": "bad\x00"},
    ],
)
def test_a_nul_character_in_any_text_of_an_event_is_a_400_naming_it(world, event):
    # PostgreSQL text holds no NUL: refused here, never a database error (schemathesis found one).
    response = _usage(world, {**_event("k"), **event})
    assert response.status_code == 400, response.content
    (errors,) = response.json()["errors"]["events"]
    (name,) = [name for name, value in event.items() if "\x00" in value]
    assert errors[name] == ["Null characters are not allowed."]
    assert not UsageEvent.objects.filter(lease=world.lease_a).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "events"), ({"events": []}, "events"), ({"events": "x"}, "events"), ([], "non_field_errors")],
)
def test_a_malformed_report_is_a_400(world, body, field):
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "event",
    [
        {"quantity": "3"},
        {"quantity": 3.0},
        {"event_key": 42},
        {"occurred_at": "2999-01-01"},  # parsed (then refused as outside the lease, a 422)
    ],
)
def test_values_drf_accepted_are_still_accepted(world, event):
    response = _usage(world, {**_event("k"), **event})
    assert response.status_code in (202, 422), response.json()


def test_a_report_takes_the_same_number_of_queries_for_ten_events_or_two_thousand(
    world, django_assert_max_num_queries
):
    def report(prefix, count):
        events = [
            _event(f"{prefix}{n}", world.alice_asset if n % 2 else world.bob_asset) for n in range(count)
        ]
        with django_assert_max_num_queries(16) as captured:
            assert _usage(world, *events).status_code == 202
        return len(captured.captured_queries)

    report("warm", 1)  # the token's first use is recorded once
    small = report("small", 10)
    assert small == report("large", 2_000)


@pytest.mark.embedded
def test_on_the_embedded_default_usage_between_a_withdrawal_and_a_new_grant_is_refused_too(world):
    """The licensable rule at each consent change is one UNION query: SQLite takes no ORDER BY in
    its parts (this refused every report naming such an asset with a database error there)."""
    test_usage_between_a_withdrawal_and_a_new_grant_is_refused_and_after_it_accepted(world)


def test_a_report_is_checked_and_written_with_the_cyclic_collector_paused(world, monkeypatch):
    """trust.collector: a collection mid-report walks the whole heap and frees nothing."""
    seen, report = [], services.usage_report

    def usage_report(**kwargs):
        seen.append(gc.isenabled())
        return report(**kwargs)

    monkeypatch.setattr(services, "usage_report", usage_report)
    was = gc.isenabled()
    gc.enable()
    try:
        assert _usage(world, _event("k")).status_code == 202
        assert seen == [False]
        assert gc.isenabled()
    finally:
        if not was:
            gc.disable()
