"""Fault injection for the crash-recovery tests: inert unless QIAO_CRASH_AT is set.

`QIAO_CRASH_AT=<point>` makes the process kill itself with SIGKILL (as `kill -9` would) the first
time it reaches that point; `QIAO_CRASH_MARKER=<file>` records that it did, so the restarted process
(with the same environment) runs on. Points: after_observe, after_store, after_publish,
after_combine, after_send, after_receipt; for committee actions after_action_publish (signed,
recorded and published), after_action_combine (threshold signature recorded), after_action_send
(transaction recorded and broadcast).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

POINTS = frozenset(
    {
        "after_observe",
        "after_store",
        "after_publish",
        "after_combine",
        "after_send",
        "after_receipt",
        "after_action_publish",
        "after_action_combine",
        "after_action_send",
    }
)


def crashpoint(name: str) -> None:
    assert name in POINTS, name
    if os.environ.get("QIAO_CRASH_AT") != name:
        return
    marker = os.environ.get("QIAO_CRASH_MARKER")
    if marker:
        path = Path(marker)
        if path.exists():
            return
        path.write_text(name)
    os.kill(os.getpid(), signal.SIGKILL)
