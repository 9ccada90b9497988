"""Stopping the daemon's loops in tests the way the daemon does (relayer.daemon._enforce_cancel)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def cancel_until_done(*tasks: asyncio.Task[Any], give_up_after: float = 10.0) -> None:
    """Cancel `tasks` again and again until they are done (a library that swallows one
    cancellation, as the daemon's stop enforcer allows for); fail after `give_up_after` seconds
    instead of hanging the test run."""
    deadline = time.monotonic() + give_up_after
    while not all(t.done() for t in tasks):
        assert time.monotonic() < deadline, f"tasks still running after {give_up_after} s of cancelling"
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.wait(tasks, timeout=0.5)
