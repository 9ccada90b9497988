"""The suite hands its longest modules to the workers first (tests/support/suite_order.py), from
seconds that benchmarks.suite_cpu adds up out of a JUnit report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.suite_cpu import module_of, module_seconds
from tests.support import suite_order

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.e2e.test_slow" name="test_a" time="40.5"/>
<testcase classname="tests.e2e.test_slow" name="test_b" time="9.5"/>
<testcase classname="tests.unit.test_fast.TestThing" name="test_c" time="0.25"/>
<testcase classname="conftest" name="collect" time="1.0"/>
</testsuite></testsuites>"""


def test_the_longest_modules_come_first_and_equal_ones_keep_their_order() -> None:
    seconds = {"tests/e2e/test_b.py": 5.0, "tests/unit/test_u.py": 90.0, "tests/e2e/test_c.py": 5.0}
    given = ["tests/e2e/test_a.py", "tests/e2e/test_b.py", "tests/e2e/test_c.py", "tests/unit/test_u.py"]
    # test_a is not listed: a typical e2e module (30 s)
    assert suite_order.longest_first(given, seconds) == [
        "tests/unit/test_u.py",
        "tests/e2e/test_a.py",
        "tests/e2e/test_b.py",
        "tests/e2e/test_c.py",
    ]


def test_an_unlisted_module_counts_as_a_typical_one_of_its_layer() -> None:
    assert suite_order.weight("tests/e2e/test_new.py", {}) == suite_order.TYPICAL["e2e"]
    assert suite_order.weight("tests/unit/test_new.py", {}) == suite_order.TYPICAL["unit"]
    assert suite_order.weight("elsewhere/test_x.py", {}) == suite_order.TYPICAL["integration"]
    assert suite_order.weight("tests/unit/test_new.py", {"tests/unit/test_new.py": 7.0}) == 7.0


def test_a_missing_file_orders_by_layer_and_a_malformed_one_says_how_to_fix_it(tmp_path: Path) -> None:
    assert suite_order.load(tmp_path / "absent.json") == {}
    for text in ("{not json", '["tests/e2e/test_a.py"]', '{"tests/e2e/test_a.py": "slow"}', '{"m": -1}'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(suite_order.OrderFileError, match="regenerate it"):
            suite_order.load(bad)


def test_the_checked_in_file_is_valid_and_names_modules_that_exist() -> None:
    seconds = suite_order.load()
    root = suite_order.SECONDS_FILE.parents[1]
    assert seconds, "tests/module_seconds.json is empty"
    missing = [m for m in seconds if not (root / m).is_file()]
    assert not missing, f"tests/module_seconds.json names modules that are gone: {missing}; regenerate it"


def test_junit_seconds_add_up_per_module(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    assert module_of("tests.e2e.test_slow") == "tests/e2e/test_slow.py"
    assert module_of("tests.unit.test_fast.TestThing") == "tests/unit/test_fast.py"
    assert module_of("conftest") is None
    seconds = module_seconds([report])
    assert seconds == {"tests/e2e/test_slow.py": 50.0, "tests/unit/test_fast.py": 0.2}
    assert list(seconds) == ["tests/e2e/test_slow.py", "tests/unit/test_fast.py"]
    json.dumps(seconds)  # what `durations` prints
