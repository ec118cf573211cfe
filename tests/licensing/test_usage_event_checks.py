"""The usage report's quick check of the usual event (`_plain_usage_event`) against the full
check (`_usage_event`): every event the quick one takes, the full one takes with the same
values, so the 400 and 422 answers come from the full check alone."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from licensing.api.serializers import _plain_usage_event, _usage_event
from trust.api.validation import QUANTITY_MAX

# Each field: a usual value mostly (so that most drawn events are close to acceptable), else
# one of the odd values a client might send.
KEYS = (
    st.text(min_size=1, max_size=12),
    st.one_of(
        st.text(max_size=210),
        st.sampled_from([" k ", "", "   ", "a\x00b", "x" * 200, "x" * 201, " " + "x" * 200]),
        st.integers(),
        st.booleans(),
        st.none(),
    ),
)
KINDS = (
    st.sampled_from(["training_run", "generated_second"]),
    st.one_of(
        st.sampled_from(["download", "substitution_saving", "nope", "", "Training_run"]),
        st.lists(st.text(max_size=3), max_size=2),
        st.integers(),
    ),
)
QUANTITIES = (
    st.integers(min_value=1, max_value=QUANTITY_MAX),
    st.one_of(
        st.integers(min_value=-3, max_value=3),
        st.sampled_from([QUANTITY_MAX, QUANTITY_MAX + 1, -QUANTITY_MAX - 1, 10**30]),
        st.booleans(),
        st.floats(allow_nan=False),
        st.sampled_from(["3", "3.0", " 4 ", "x"]),
        st.none(),
    ),
)
ZONES = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=14))]
)
TIMES = (
    st.builds(lambda moment, zone: moment.replace(tzinfo=zone).isoformat(), st.datetimes(), ZONES),
    st.one_of(
        st.sampled_from(
            ["2026-11-30T10:00:00Z", "2026-11-30", "2026-11-30 10:00", "20261130T100000", "noon", ""]
        ),
        st.integers(),
        st.none(),
    ),
)
ASSETS = (
    st.one_of(st.uuids().map(str), st.none()),
    st.one_of(
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: "{" + str(u) + "}"),
        st.sampled_from(["not-a-uuid", ""]),
        st.integers(),
        st.lists(st.integers(), max_size=1),
    ),
)
TRUSTS = (
    st.text(max_size=8),
    st.one_of(
        st.sampled_from(["t" * 50, "t" * 51, " " + "t" * 50]),
        st.sampled_from(["", "  ", "t\x00", " t "]),
        st.integers(),
        st.none(),
    ),
)
REQUIRED = {"event_key": KEYS, "kind": KINDS, "quantity": QUANTITIES, "occurred_at": TIMES}
OPTIONAL = {
    "asset": ASSETS,
    "trust": TRUSTS,
    "amount_cents": (st.integers(min_value=1, max_value=5), st.integers(min_value=-1, max_value=0)),
    "corrects": (st.text(min_size=1, max_size=5), st.one_of(st.none(), st.text(max_size=1), st.integers())),
    "reason": (st.text(max_size=5), st.integers()),
}


@st.composite
def events(draw):
    """An event whose fields are each present or not, usual or odd."""
    event = {}
    for names, present in ((REQUIRED, 9), (OPTIONAL, 2)):
        for name, (usual, odd) in names.items():
            if draw(st.integers(0, 9)) < present:
                event[name] = draw(usual if draw(st.integers(0, 3)) else odd)
    return event


@settings(max_examples=3000, deadline=None)
@given(events())
def test_an_event_the_quick_check_takes_the_full_check_takes_with_the_same_values(event):
    quick = _plain_usage_event(event, {})
    full, errors = _usage_event(event)
    if quick is not None:
        assert errors is None
        assert quick == full


def test_the_usual_events_take_the_quick_check():
    asset = uuid.uuid4()
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)
    usual = [
        {"event_key": "a", "kind": "training_run", "quantity": 1, "occurred_at": "2026-11-30T10:00:00Z"},
        {
            "event_key": "b",
            "kind": "generated_second",
            "asset": str(asset),
            "quantity": 9,
            "occurred_at": "2026-11-30T11:00:00+01:00",
        },
        {
            "event_key": "c",
            "kind": "training_run",
            "asset": None,
            "trust": "other",
            "quantity": 2,
            "occurred_at": "2026-11-30T10:00:00",
        },
    ]
    assets = {}
    assert [_plain_usage_event(event, assets) for event in usual] == [
        {"event_key": "a", "kind": "training_run", "quantity": 1, "occurred_at": at},
        {"event_key": "b", "kind": "generated_second", "asset": asset, "quantity": 9, "occurred_at": at},
        {"event_key": "c", "kind": "training_run", "trust": "other", "quantity": 2, "occurred_at": at},
    ]
    assert assets == {str(asset): asset}
