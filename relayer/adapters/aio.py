"""Small asyncio helpers shared by the daemon's loops.

`within` replaces `asyncio.wait_for`: on Python 3.11, `wait_for` can swallow a cancellation when
the awaited call completes at the moment the task is cancelled (CPython gh-86296, fixed in 3.12 by
reimplementing it on `asyncio.timeout`), so a SIGTERM could leave a loop running until a second
cancellation. `asyncio.timeout` re-raises the cancellation, which is what a clean stop needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`, raising TimeoutError after `seconds`; a cancellation always propagates."""
    async with asyncio.timeout(seconds):
        return await awaitable
