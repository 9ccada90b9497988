"""Logging: what libraries log through `logging` comes out as JSON lines like the node's own."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from relayer import logs


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers, root.level = handlers, level
    logging.captureWarnings(False)
    structlog.reset_defaults()


def test_a_library_warning_is_a_json_line_on_stdout(
    capsys: pytest.CaptureFixture[str], restored: object
) -> None:
    logs.configure("info", json=True)
    logging.getLogger("mqtt").error(
        "failed to receive on socket: %s", "EOF occurred in violation of protocol"
    )
    logging.getLogger("mqtt").info("chatter below warning is not carried")
    structlog.get_logger("relayer.node").info("batch_cut", batch="7001->7002#1-4")
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert err == ""
    assert [(e["event"], e["level"]) for e in lines] == [("library_log", "error"), ("batch_cut", "info")]
    assert lines[0]["logger"] == "mqtt"
    assert lines[0]["message"] == "failed to receive on socket: EOF occurred in violation of protocol"


def test_a_python_warning_is_a_json_line_too(capsys: pytest.CaptureFixture[str], restored: object) -> None:
    logs.configure("info", json=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)
    out, err = capsys.readouterr()
    (entry,) = [json.loads(line) for line in out.splitlines()]
    assert err == ""
    assert entry["event"] == "library_log"
    assert entry["logger"] == "py.warnings"
    assert "a deprecated call" in entry["message"]


def test_configuring_twice_installs_one_handler(restored: object) -> None:
    logs.configure("info", json=True)
    logs.configure("warning", json=True)
    carried = [h for h in logging.getLogger().handlers if type(h).__name__ == "_ToStructlog"]
    assert len(carried) == 1
