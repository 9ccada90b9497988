"""Stopping the daemon's loops in tests the way the daemon does (relayer.daemon._enforce_cancel)."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any


async def cancel_until_done(*tasks: asyncio.Task[Any], give_up_after: float = 10.0) -> None:
    """Cancel `tasks` again and again until they are done (a library that swallows one
    cancellation, as the daemon's stop enforcer allows for); fail after `give_up_after` seconds
    instead of hanging the test run."""
    deadline = time.monotonic() + give_up_after
    while not all(t.done() for t in tasks):
        if time.monotonic() >= deadline:
            stuck = "\n".join(_where(t) for t in tasks if not t.done())
            raise AssertionError(f"tasks still running after {give_up_after} s of cancelling:\n{stuck}")
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.wait(tasks, timeout=0.5)


def _where(task: asyncio.Task[Any]) -> str:
    """A task's name and where it waits (its innermost frames), for the failure message."""
    out = io.StringIO()
    task.print_stack(file=out)
    return f"{task.get_name()}: {out.getvalue()}"
