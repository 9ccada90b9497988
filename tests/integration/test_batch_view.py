"""The batch view on a real store file: per member valid (when), invalid (why) or none, from the
daemon's data and, with the daemon down, from the store alone (`relayer batches show`)."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

from eth_utils.address import to_checksum_address as cs

from committee.keyfile import write_public_file
from committee.threshold import deal
from relayer.adapters.store import Store
from relayer.core.batch_view import batch_report
from relayer.core.batching import Located
from relayer.core.partials import PartialOutcome, Rejection
from relayer.core.states import BatchState
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route, Transfer
from tests.support import member_cli

ROOT = Path(__file__).resolve().parents[2]
ROUTE = Route(ChainId(7001), ChainId(7002))
ADDR = cs("0x" + "ab" * 20)
MESSAGE = b"\x02" * 32


def transfer(nonce: int) -> Transfer:
    return Transfer(ROUTE.src, ROUTE.dst, Nonce(nonce), ADDR, ADDR, ADDR, ADDR, 1)


async def a_pending_batch(path: Path) -> BatchId:
    """Nonces 1..2 cut into one batch; member 1 signed it, member 3's early partial is on 1..3."""
    async with Store.open(path) as store:
        await store.record_scan(
            ROUTE.src, 20, [(Located(transfer(n), 10 + n), "0xb", f"0xt{n}", 0) for n in (1, 2)]
        )
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, MESSAGE)], 19, 3)
        await store.add_partial(batch.id, 1, MESSAGE, b"\x07" * 48)
        await store.add_partial(BatchId(ROUTE, Nonce(1), Nonce(3)), 3, MESSAGE, b"\x08" * 48)
        return batch.id


async def test_the_daemons_view_puts_store_and_memory_together(tmp_path: Path) -> None:
    path = tmp_path / "qiao.sqlite3"
    await a_pending_batch(path)
    async with Store.open(path) as store:
        report = await batch_report(
            store,
            ROUTE,
            1,
            members=[1, 2, 3, 4],
            threshold=3,
            rejected={
                4: Rejection(PartialOutcome.INVALID, "does not verify against member 4's public share", 5.0)
            },
            heartbeat=lambda m: "paused" if m == 2 else "online",
        )
    assert report is not None
    rows = {p["member"]: p for p in report["partials"]}
    assert (rows[1]["partial"], rows[2]["partial"], rows[3]["partial"], rows[4]["partial"]) == (
        "valid",
        "none",
        "invalid",
        "invalid",
    )
    assert rows[1]["at"] is not None
    assert rows[2]["heartbeat"] == "paused"
    assert rows[3]["why"] == "signs nonces up to 3, the batch this node cut ends at 2"
    assert "public share" in rows[4]["why"]
    assert (report["state"], report["valid"], report["missing"]) == (BatchState.PENDING, 1, 2)


def test_with_the_daemon_down_the_cli_reads_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(a_pending_batch(data / "qiao.sqlite3"))
    public = tmp_path / "committee.json"
    write_public_file(public, deal(4, 3, rng=random.Random(1))[0].public)
    config = (ROOT / "config" / "devnet.example.toml").read_text()
    (tmp_path / "node.toml").write_text(config)
    env = {**os.environ, "QIAO_NODE__DATA_DIR": str(data), "QIAO_COMMITTEE__PUBLIC_FILE": str(public)}
    for verb in (
        ["batches", "show", "--config", str(tmp_path / "node.toml"), "--json", "7001", "7002", "1"],
        ["transfers", "show", "--config", str(tmp_path / "node.toml"), "--json", "7001", "7002", "2"],
    ):
        out = member_cli.relayer(*verb, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        shown = json.loads(out.stdout)
        batch = shown.get("batch", shown)
        assert [p["partial"] for p in batch["partials"]] == ["valid", "none", "invalid", "none"]
        assert {p["heartbeat"] for p in batch["partials"]} == {"unknown (daemon down)"}
