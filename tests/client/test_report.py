"""`guildtrust report` against the live server: usage from a JSON-lines file in batches, each
event once however often the command is run, after a crash too."""

import json
from datetime import UTC, datetime

import pytest

import guildtrust
from guildtrust import errors
from guildtrust.report import journal_path, report_file
from licensing.models import UsageEvent
from tests.client.conftest import puller

pytestmark = pytest.mark.django_db(transaction=True)
EVENTS = 25


def _events_file(tmp_path, lease) -> str:
    """25 training runs, every other one without an event_key (the command makes one)."""
    now = datetime.now(UTC).isoformat()
    path = tmp_path / "events.jsonl"
    lines = []
    for n in range(EVENTS):
        event = {"kind": "training_run", "quantity": n + 1, "occurred_at": now, "run": n}
        if n % 2:
            event["event_key"] = f"run-{n}"
        lines.append(json.dumps(event))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _reported(lease) -> list:
    rows = UsageEvent.objects.filter(lease=lease.lease, source=UsageEvent.Source.REPORT)
    return sorted(rows.values_list("quantity", flat=True))


def _report(lease, path, *extra):
    process = puller(
        "report",
        *("--url", lease.url, "--lease", str(lease.lease.pk), "--file", path, *extra),
        secret=lease.secret,
    )
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_report_sends_usage_in_batches_and_a_second_run_sends_nothing(pulled_lease, tmp_path):
    path = _events_file(tmp_path, pulled_lease)

    code, stderr = _report(pulled_lease, path, "--batch", "10")

    assert code == 0, stderr
    assert "sent 10 lines" in stderr and "sent 20 lines" in stderr and "sent 25 lines" in stderr
    assert _reported(pulled_lease) == list(range(1, EVENTS + 1))
    code, stderr = _report(pulled_lease, path, "--batch", "10")
    assert code == 0
    assert "0 events sent" in stderr and "25 lines were delivered by an earlier run" in stderr
    assert _reported(pulled_lease) == list(range(1, EVENTS + 1))


def test_a_report_that_crashed_after_the_trust_recorded_a_batch_records_nothing_twice(pulled_lease, tmp_path):
    path = _events_file(tmp_path, pulled_lease)
    lease = guildtrust.open_lease(pulled_lease.url, pulled_lease.secret, lease=pulled_lease.lease.pk)
    real_report, batches = lease.report_usage, []

    def report_then_crash(events):
        answer = real_report(events)  # the trust records the batch...
        batches.append(answer)
        if len(batches) == 2:
            raise ConnectionResetError("...and the answer never arrives")
        return answer

    lease.report_usage = report_then_crash
    with pytest.raises(ConnectionResetError):
        report_file(lease, path, batch=10, echo=lambda line: None)
    assert json.loads(journal_path(tmp_path / "events.jsonl").read_text())["lines"] == 10
    assert len(_reported(pulled_lease)) == 20

    code, stderr = _report(pulled_lease, path, "--batch", "10")

    assert code == 0, stderr
    assert "15 events sent (5 new, 10 already known)" in stderr
    assert _reported(pulled_lease) == list(range(1, EVENTS + 1))


def test_a_refused_report_says_why_with_its_exit_code(pulled_lease, tmp_path):
    path = _events_file(tmp_path, pulled_lease)
    pulled_lease.secret = "lt_" + "y" * 43
    code, stderr = _report(pulled_lease, path)
    assert code == errors.TOKEN_INVALID
    assert "unknown token (token_invalid)" in stderr
