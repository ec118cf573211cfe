"""The suite's own scheduling (tests/file_order.py): longest files first, seconds recorded."""

import json

from tests import file_order

pytest_plugins = ["pytester"]


def test_files_run_longest_first_then_unknown_ones_and_a_run_records_their_seconds(pytester, monkeypatch):
    seconds = pytester.path / "file_seconds.json"
    seconds.write_text(json.dumps({"test_short.py": 1.0, "test_long.py": 9.0, "test_gone.py": 4.0}))
    monkeypatch.setattr(file_order, "FILE_SECONDS", seconds)
    pytester.makepyfile(
        test_new="def test_new(): pass",
        test_short="def test_short_one(): pass\ndef test_short_two(): pass",
        test_long="import time\ndef test_long(): time.sleep(0.2)",
    )

    result = pytester.runpytest_inprocess(
        "-p", "no:django", "-p", "tests.file_order", "-v", "--write-file-seconds"
    )

    result.assert_outcomes(passed=4)
    ran = [line.split("::")[1].split()[0] for line in result.outlines if " PASSED" in line]
    assert ran == ["test_long", "test_short_one", "test_short_two", "test_new"]
    recorded = json.loads(seconds.read_text())
    assert list(recorded) == ["test_long.py", "test_short.py", "test_new.py"]  # gone: no such file
    assert 0.2 <= recorded["test_long.py"] < 9.0
