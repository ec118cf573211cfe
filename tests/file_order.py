"""Longest test files first, so two xdist workers finish together.

`make test` hands out whole files (`--dist loadfile`: a file's tests share its module fixtures,
two live trusts for some) in collection order. Left to xdist's own order (most tests first), the
files of one slow test (a whole federated story, a browser tour) came last and one worker ran
the final few minutes alone. Here files run longest first, by their seconds in a full run
recorded in tests/file_seconds.json; a file not in it runs after those that are. Refresh it
with `make test-durations` when files are added or grow."""

import json
from collections import defaultdict
from pathlib import Path

import pytest

FILE_SECONDS = Path(__file__).parent / "file_seconds.json"


def pytest_addoption(parser):
    parser.addoption(
        "--write-file-seconds",
        action="store_true",
        help=f"after the run, record each test file's seconds (setup, call, teardown) in {FILE_SECONDS}",
    )


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if not FILE_SECONDS.exists():
        return
    seconds = json.loads(FILE_SECONDS.read_text())
    # A stable sort: each file's tests stay together and in their own order.
    items.sort(key=lambda item: -seconds.get(_file_of(item.nodeid), 0))


def pytest_configure(config):
    # Counted where every report arrives: the xdist controller, or a run without workers.
    if config.getoption("write_file_seconds") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileSecondsRecorder(), "file-seconds-recorder")


class FileSecondsRecorder:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        self.seconds[_file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session, exitstatus):
        # Merged into what was recorded, so a run of some files refreshes just those; a file
        # that no longer exists is dropped.
        known = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}
        merged = {name: value for name, value in known.items() if (session.config.rootpath / name).exists()}
        merged.update(self.seconds)
        ranked = sorted(merged.items(), key=lambda pair: -pair[1])
        rounded = {name: round(value, 1) for name, value in ranked}
        FILE_SECONDS.write_text(json.dumps(rounded, indent=1) + "\n")
