"""A batch is recorded executed only once the block of its transaction is final: a reorg below
finality that drops the transaction (anvil drops orphaned transactions) makes the submitter send
the batch again, so the transfer ends up executed on the canonical chain (found by the soak)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from eth_typing import HexStr
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.config import RelayerConfig
from relayer.core.states import BatchState
from relayer.pipeline.submitter import Submitter
from tests.support.signed_batch import AMOUNT, ROUTE, ethereum_config, lock_and_sign, store_aggregated

FINALITY = 8  # blocks: the mint, one block deep when reorged out, is far from final


async def test_a_mint_reorged_out_below_finality_is_not_recorded_executed_and_is_sent_again(
    chains: tuple[str, str], tmp_path: Path
) -> None:
    signed = lock_and_sign(chains)
    dep, batch = signed.dep, signed.batch
    we = Web3(HTTPProvider(dep.ethereum_url))
    bob = devnet.dev_account(9)
    cfg = ethereum_config(dep, FINALITY)
    rcfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, 30.0)
    gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)

    async with Store.open(tmp_path / "s.sqlite3") as store, ChainClient.connect(cfg) as chain:
        await store_aggregated(store, signed)
        submitter = Submitter(chain, store, devnet.dev_account(3), rcfg, 1, 1)

        async def step() -> BatchState:
            stored = await store.batch(ROUTE, 1)
            assert stored is not None
            await submitter.submit(stored)
            after = await store.batch(ROUTE, 1)
            assert after is not None
            return after.state

        # the mint is sent and mined, and stays "submitted" while its block is not final; Ethereum's
        # mining held from the send to the reorg, so that the mint is one block deep when it is
        # reorged out however slow the machine (mining on, a loaded machine could see it final)
        with devnet.mining_held(dep.ethereum_url) as mine:
            assert await step() == BatchState.SUBMITTED
            (record,) = await store.txs_for(batch.id)
            assert receipt_of(we, record.tx_hash) is None
            mine()
            mined = receipt_of(we, record.tx_hash)
            assert mined is not None
            assert mined["status"] == 1
            assert await step() == BatchState.SUBMITTED
            assert gateway.functions.isExecuted(ROUTE.src, 1).call()

            # a reorg below finality drops it
            depth = we.eth.block_number - mined["blockNumber"] + 1
            assert depth == 1 < FINALITY
            result = we.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]
            assert "error" not in result, result
            assert not gateway.functions.isExecuted(ROUTE.src, 1).call()

        # the submitter sends it again; it is recorded executed once that block is final
        deadline = time.monotonic() + 90
        state = await step()
        while state != BatchState.EXECUTED and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            state = await step()
        stored = await store.batch(ROUTE, 1)
        assert stored is not None
        assert stored.state == BatchState.EXECUTED
        # sent again; exactly one of the batch's transactions is on the chain now, and it succeeded
        receipts = [receipt_of(we, r.tx_hash) for r in await store.txs_for(batch.id)]
        assert [r["status"] for r in receipts if r is not None] == [1]
        final = we.eth.block_number - FINALITY
        assert gateway.functions.isExecuted(ROUTE.src, 1).call(block_identifier=final)
        assert dep.wrapped.functions.balanceOf(bob.address).call() == AMOUNT
        assert len(gateway.events.TransferExecuted().get_logs(from_block=0)) == 1


def receipt_of(w3: Web3, tx_hash: str) -> TxReceipt | None:
    try:
        return w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except TransactionNotFound:
        return None
