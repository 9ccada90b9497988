"""A relayer whose turn has come holds back while another relayer's transaction for the batch waits
in the destination's mempool, and only for `receipt_timeout`: on a real anvil that mines only when
told to.

Two relayers of a committee of 2, each with its own store, account and member index, stagger 0 (both
turns have come). Relayer A sends the batch; its transaction stays in the mempool. Relayer B sees the
batch executed in the node's pending state: it sends nothing until A's transaction is mined (and then
records the batch executed by another relayer once the block is final), or until `receipt_timeout`
has passed since it first saw it pending (then it sends its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_typing import HexStr
from structlog.testing import capture_logs
from web3 import Web3
from web3.exceptions import TransactionNotFound

from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.config import RelayerConfig
from relayer.core.lifecycle import Outcome, OutcomeKind
from relayer.core.states import BatchState
from relayer.pipeline.submitter import Submitter
from tests.support.signed_batch import (
    AMOUNT,
    ROUTE,
    SignedBatch,
    ethereum_config,
    rpc,
    store_aggregated,
)

FINALITY = 2  # blocks; anvil mines only when the test says so
COMMITTEE = 2


@dataclass
class Relayer:
    submitter: Submitter
    store: Store
    address: str

    async def state(self) -> BatchState:
        stored = await self.store.batch(ROUTE, 1)
        assert stored is not None
        return stored.state

    async def submit(self) -> Outcome:
        stored = await self.store.batch(ROUTE, 1)
        assert stored is not None
        return await self.submitter.submit(stored)


@asynccontextmanager
async def relayer(
    signed: SignedBatch, db: Path, member: int, account: int, receipt_timeout: float
) -> AsyncIterator[Relayer]:
    """One relayer of the committee with the batch aggregated in its own store, stagger 0."""
    key = devnet.dev_account(account)
    cfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, receipt_timeout)
    async with (
        Store.open(db) as store,
        ChainClient.connect(ethereum_config(signed.dep, FINALITY)) as chain,
    ):
        await store_aggregated(store, signed)
        yield Relayer(Submitter(chain, store, key, cfg, member, COMMITTEE), store, key.address)


def mine(we: Web3, blocks: int = 1) -> None:
    before = we.eth.block_number
    rpc(we, "anvil_mine", hex(blocks))
    assert we.eth.block_number == before + blocks


def mempool(we: Web3) -> dict[str, list[str]]:
    """The hashes of the node's pending transactions, by sender (lowercase)."""
    content = rpc(we, "txpool_content")
    assert isinstance(content, dict)
    return {
        sender.lower(): sorted(tx["hash"] for tx in by_nonce.values())
        for sender, by_nonce in content["pending"].items()
    }


def receipt_status(we: Web3, tx_hash: str) -> int | None:
    try:
        return int(we.eth.get_transaction_receipt(HexStr(tx_hash))["status"])
    except TransactionNotFound:
        return None


def executions(signed: SignedBatch, we: Web3) -> list[str]:
    """The transactions that emitted TransferExecuted for the transfer, on the canonical chain."""
    gateway = we.eth.contract(address=signed.dep.gateway.address, abi=signed.dep.gateway.abi)
    return [
        "0x" + bytes(e["transactionHash"]).hex()
        for e in gateway.events.TransferExecuted().get_logs(from_block=0)
    ]


async def test_a_relayer_sends_nothing_while_another_relayers_transaction_for_the_batch_is_pending(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    async with (
        relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a,
        relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=30.0) as b,
    ):
        await a.submitter.step()
        assert await a.state() == BatchState.SUBMITTED
        [sent] = await a.store.txs_for(signed.batch.id)
        assert mempool(we) == {a.address.lower(): [sent.tx_hash]}
        assert receipt_status(we, sent.tx_hash) is None  # not mined: the chain mines only when told to
        chain = b.submitter.chain
        assert not await chain.is_batch_executed(ROUTE.src, 1, 1, final=False)
        assert await chain.is_batch_pending(ROUTE.src, 1, 1)  # executed in the pending state

        # B's turn has come (stagger 0), and it sends nothing, step after step
        for _ in range(3):
            await b.submitter.step()
            await asyncio.sleep(0.3)
        assert (await b.submit()).kind is OutcomeKind.NOT_READY
        assert await b.state() == BatchState.AGGREGATED
        assert await b.store.txs_for(signed.batch.id) == []
        assert we.eth.get_transaction_count(b.address, "pending") == 0
        assert mempool(we) == {a.address.lower(): [sent.tx_hash]}

        # A's transaction is mined; B still records nothing while that block is not final
        mine(we)
        assert receipt_status(we, sent.tx_hash) == 1
        assert await chain.is_batch_executed(ROUTE.src, 1, 1, final=False)
        assert not await chain.is_batch_executed(ROUTE.src, 1, 1)
        await b.submitter.step()
        assert await b.state() == BatchState.AGGREGATED
        assert await b.store.txs_for(signed.batch.id) == []

        # final: B records it executed by another relayer, A by its own transaction
        mine(we, FINALITY)
        await b.submitter.step()
        assert await b.state() == BatchState.EXECUTED
        assert (await b.store.history(ROUTE, 1))[-1][1] == "executed on-chain by another relayer"
        await a.submitter.step()
        assert await a.state() == BatchState.EXECUTED
        assert (await a.store.history(ROUTE, 1))[-1][1] == f"executed by tx {sent.tx_hash}"

    assert executions(signed, we) == [sent.tx_hash]  # executed once, by A's transaction
    assert we.eth.get_transaction_count(b.address, "pending") == 0  # B never sent anything
    assert mempool(we) == {}
    assert signed.dep.wrapped.functions.balanceOf(signed.transfer.recipient).call() == AMOUNT


async def test_the_deferral_is_bounded_by_the_receipt_timeout(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    timeout = 1.5
    async with (
        relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a,
        relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=timeout) as b,
    ):
        await a.submitter.step()
        [sent] = await a.store.txs_for(signed.batch.id)
        assert mempool(we) == {a.address.lower(): [sent.tx_hash]}

        # within the timeout from when B first saw A's transaction pending: nothing from B
        before = time.monotonic()
        await b.submitter.step()  # B first sees it pending during this step
        seen_by = time.monotonic()
        await asyncio.sleep(timeout / 3)
        await b.submitter.step()
        assert time.monotonic() - before < timeout, "too slow a machine to look within the timeout"
        assert await b.state() == BatchState.AGGREGATED
        assert await b.store.txs_for(signed.batch.id) == []
        assert we.eth.get_transaction_count(b.address, "pending") == 0

        # A's transaction is still not mined after the timeout: B sends its own
        await asyncio.sleep(max(0.0, seen_by + timeout + 0.1 - time.monotonic()))
        with capture_logs() as logs:
            await b.submitter.step()
        assert [e["log_level"] for e in logs if e["event"] == "pending_elsewhere_too_long"] == ["warning"]
        assert await b.state() == BatchState.SUBMITTED
        [own] = await b.store.txs_for(signed.batch.id)
        assert own.account == b.address
        assert own.nonce == 0
        assert receipt_status(we, sent.tx_hash) is None  # A's is still waiting
        assert mempool(we) == {a.address.lower(): [sent.tx_hash], b.address.lower(): [own.tx_hash]}

        # both are mined; the batch is executed once and B records it executed
        mine(we, 1 + FINALITY)
        assert [receipt_status(we, t) for t in (sent.tx_hash, own.tx_hash)] == [1, 0]
        await b.submitter.step()
        assert await b.state() == BatchState.EXECUTED

    assert executions(signed, we) == [sent.tx_hash]
    assert signed.dep.wrapped.functions.balanceOf(signed.transfer.recipient).call() == AMOUNT
