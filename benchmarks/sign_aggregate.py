"""CPU of signing and aggregation alone, on a real store and no chains (benchmarks/notes.md,
"Signing and aggregation under a backlog").

One node of n = 4 (t = 3) with 20,000 final transfers cuts 200 batches of 100; its tick signs
them; the other three members' 600 partials arrive; then `rounds` re-publications of all 600.
Prints the process CPU (every thread: SQLite's included) of each step.

    .venv/bin/python -m benchmarks.sign_aggregate [rounds]
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import structlog

from committee.threshold import deal, partial_sign
from relayer.adapters.store import Store
from relayer.core.batching import BatchRule, Located
from relayer.core.messages import PartialMessage
from relayer.core.states import BatchState
from relayer.core.types import Nonce, Transfer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
from test_aggregation import ADDR, ROUTE, make_node


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(rounds: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    tmp = Path(tempfile.mkdtemp())
    shares = deal(4, 3)
    async with Store.open(tmp / "node.sqlite3") as store:
        node = make_node(tmp, store, shares[0])
        node.cfg = dataclasses.replace(
            node.cfg, committee=dataclasses.replace(node.cfg.committee, rule=BatchRule(1, 100))
        )
        node.batcher.cfg = node.aggregator.cfg = node.cfg
        events = [
            (Located(Transfer(ROUTE.src, ROUTE.dst, Nonce(n), ADDR, ADDR, ADDR, ADDR, n), 5), "0xb", "0xt", n)
            for n in range(1, 20_001)
        ]
        await store.record_scan(ROUTE.src, 6, events)
        assert await node.cut_batches(ROUTE) == 200
        heads = await store.batch_heads([BatchState.PENDING], limit=500)
        msgs = [
            PartialMessage(m, h.id, 1, h.root, h.message, partial_sign(shares[m - 1], h.message))
            for h in heads
            for m in (2, 3, 4)
        ]
        c0, w0 = cpu(), time.perf_counter()
        sign_all = getattr(node.signer, "sign_all", None)  # before it: one batch at a time
        if sign_all is not None:
            await sign_all(heads)
        else:
            for h in heads:
                await node.signer.sign(h)
        c1 = cpu()
        for m in msgs:
            await node.on_partial(m)
        c2 = cpu()
        aggregated = len(await store.batch_heads([BatchState.AGGREGATED], limit=500))
        for _ in range(rounds):
            for m in msgs:
                await node.on_partial(m)
        c3, w3 = cpu(), time.perf_counter()
        print(
            f"sign 200: {c1 - c0:.2f} s CPU; 600 partials: {c2 - c1:.2f} s; {rounds} re-publication "
            f"rounds (x600): {c3 - c2:.2f} s; total {c3 - c0:.2f} s CPU, {w3 - w0:.2f} s wall; "
            f"aggregated {aggregated}"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
