"""A batch is recorded executed only once the block of its transaction is final: a reorg below
finality that drops the transaction (anvil drops orphaned transactions) makes the submitter send
the batch again, so the transfer ends up executed on the canonical chain (found by the soak)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from eth_typing import HexStr
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from committee.threshold import deal, partial_sign
from relayer import devnet
from relayer.batching import Located
from relayer.chain import ChainClient
from relayer.config import ChainConfig, RelayerConfig
from relayer.encoding import batch_message, batch_root
from relayer.store import BatchState, Store
from relayer.submitter import Submitter
from relayer.types import Batch, ChainId, Nonce, Route, Transfer

ROUTE = Route(ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID))
FINALITY = 8  # blocks of 0.5 s: room to reorg the mint out before it is final


async def test_a_mint_reorged_out_below_finality_is_not_recorded_executed_and_is_sent_again(
    chains: tuple[str, str], tmp_path: Path
) -> None:
    share = deal(1, 1)[0]
    dep = devnet.deploy_bridge(chains[0], chains[1], share.public.group_public_key)
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**20))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**20))
    lock = dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, 777)
    receipt = devnet.send(wc, alice, lock)
    transfer = Transfer(
        ROUTE.src,
        ROUTE.dst,
        Nonce(1),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        alice.address,
        bob.address,
        777,
    )
    batch = Batch((transfer,), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    cfg = ChainConfig("ethereum", ROUTE.dst, dep.ethereum_url, dep.gateway.address, FINALITY, 0, 0.2, 100)
    rcfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, 30.0)
    gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)

    async with Store.open(tmp_path / "s.sqlite3") as store, ChainClient.connect(cfg) as chain:
        block = receipt["blockNumber"]
        await store.record_scan(ROUTE.src, block + 1, [(Located(transfer, block), "0xb", "0xt", 0)])
        await store.record_batches(ROUTE, [(batch, batch_root(batch), message)], block, 2)
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, signature=partial_sign(share, message))
        submitter = Submitter(chain, store, devnet.dev_account(3), rcfg, 1, 1)

        async def step() -> BatchState:
            stored = await store.batch(ROUTE, 1)
            assert stored is not None
            await submitter.submit(stored)
            after = await store.batch(ROUTE, 1)
            assert after is not None
            return after.state

        # the mint is sent and mined, and stays "submitted" while its block is not final
        deadline = time.monotonic() + 60
        mined = None
        while mined is None and time.monotonic() < deadline:
            assert await step() == BatchState.SUBMITTED
            (record,) = await store.txs_for(batch.id)
            mined = receipt_of(we, record.tx_hash)
            await asyncio.sleep(0.2)
        assert mined is not None
        assert mined["status"] == 1
        assert await step() == BatchState.SUBMITTED
        assert gateway.functions.isExecuted(ROUTE.src, 1).call()

        # a reorg below finality drops it
        depth = we.eth.block_number - mined["blockNumber"] + 1
        assert depth < FINALITY, "the mint became final before the reorg; the machine is too slow"
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
        assert dep.wrapped.functions.balanceOf(bob.address).call() == 777
        assert len(gateway.events.TransferExecuted().get_logs(from_block=0)) == 1


def receipt_of(w3: Web3, tx_hash: str) -> TxReceipt | None:
    try:
        return w3.eth.get_transaction_receipt(HexStr(tx_hash))
    except TransactionNotFound:
        return None
