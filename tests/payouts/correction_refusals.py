"""The refusals of a usage correction: one table for the service (test_corrections.py) and the
API (test_corrections_api.py). Each test first records on lease A `u1` (5 training runs) and `c1`
(u1 corrected by -2), then `other_events` (lease B's `b1`, lease A's gateway download `gw`); each
row is the correction then sent, with the HTTP status and code it is refused with. Also the three
periods corrections are tested across (`three_periods`)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import UsageEvent
from payouts import services


def fix(key: str, corrects: str, quantity: int) -> dict:
    """A usage event correcting the event `corrects` by `quantity`."""
    return {"event_key": key, "corrects": corrects, "quantity": quantity}


def gateway_download(world, *, at) -> UsageEvent:
    """`gw`: a download of Alice's asset the gateway recorded on lease A (not the studio's to
    correct, an administrator's)."""
    return UsageEvent.objects.create(
        lease=world.lease_a,
        event_key="gw",
        kind="download",
        asset=world.alice_asset,
        quantity=1,
        occurred_at=at,
        source="gateway",
    )


def three_periods(world):
    """Three back-to-back periods from before lease A started to now, all ended, and a moment
    inside each (the corrections' tests and the paid figure's)."""
    start, now = world.lease_a.starts_at, timezone.now()
    step = (now - start) / 3
    bounds = [start - timedelta(hours=1), start + step, start + 2 * step, now]
    periods = [
        services.period_create(actor=world.cast.admin, start=a, end=b)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    moments = [start + step / 2, start + step * 3 / 2, start + step * 5 / 2]
    return periods, moments


def other_events(world, *, at) -> None:
    """An event of another lease, and a download the gateway recorded."""
    UsageEvent.objects.create(
        lease=world.lease_b, event_key="b1", kind="training_run", quantity=3, occurred_at=at, source="report"
    )
    gateway_download(world, at=at)


REFUSED_CORRECTIONS = [
    pytest.param(fix("c9", "missing", -1), 422, "unknown_event", id="unknown"),
    pytest.param(fix("c9", "b1", -1), 422, "unknown_event", id="another-lease"),
    pytest.param(fix("c9", "u1", -4), 422, "correction_exceeds_original", id="below-zero"),
    pytest.param(fix("c9", "c1", 3), 422, "correction_exceeds_original", id="undo-more-than-done"),
    pytest.param(fix("c9", "u1", 1), 422, "correction_wrong_sign", id="wrong-sign"),
    pytest.param(fix("c9", "u1", 0), 422, "correction_wrong_sign", id="zero"),
    pytest.param(fix("c9", "c1", -1), 422, "correction_wrong_sign", id="correction-the-same-way-again"),
    pytest.param(fix("c9", "gw", -1), 403, "download_not_correctable", id="gateway-download"),
]
