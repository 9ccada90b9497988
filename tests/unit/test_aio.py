"""`within`: a timeout that never swallows a cancellation (the daemon's clean stop relies on it)."""

from __future__ import annotations

import asyncio

import pytest

from relayer.adapters.aio import within


async def test_a_cancellation_arriving_as_the_awaited_call_completes_still_cancels() -> None:
    loop = asyncio.get_running_loop()
    inner: asyncio.Future[int] = loop.create_future()
    task = asyncio.create_task(within(10, inner))
    await asyncio.sleep(0)  # the task now waits on `inner`
    inner.set_result(1)  # completes ...
    task.cancel()  # ... in the same loop iteration as the cancellation
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_slow_call_times_out_and_a_fast_one_returns_its_value() -> None:
    with pytest.raises(TimeoutError):
        await within(0.01, asyncio.sleep(5))
    assert await within(5, asyncio.sleep(0, result="done")) == "done"
