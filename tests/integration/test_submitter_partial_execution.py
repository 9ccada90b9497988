"""A batch part of which a user executed by hand is still executed whole by the relayer.

Anyone may execute one transfer of a signed batch with its Merkle proof. The relayer must then
still send the batch for the rest (the contract skips what is consumed), and must not take the
first transfer's executed bit for the whole batch's: on a real anvil with the deployed contracts.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from committee.bls import g1_to_eip2537
from committee.threshold import deal, partial_sign
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.config import ChainConfig, RelayerConfig
from relayer.core.batching import Located
from relayer.core.encoding import batch_message, batch_root, leaf_hash, merkle_proof
from relayer.core.lifecycle import OutcomeKind
from relayer.core.states import BatchState
from relayer.core.types import Batch, ChainId, Nonce, Route, Transfer
from relayer.pipeline.submitter import Submitter

ROUTE = Route(ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID))


async def test_a_batch_partly_executed_by_hand_is_still_sent_for_the_rest(
    chains: tuple[str, str], tmp_path: Path
) -> None:
    share = deal(1, 1)[0]
    dep = devnet.deploy_bridge(chains[0], chains[1], share.public.group_public_key)
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**20))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**20))
    amounts = [100, 200, 300]
    transfers, located = [], []
    for i, amount in enumerate(amounts):
        receipt = devnet.send(
            wc, alice, dep.vault.functions.lock(dep.asset.address, ROUTE.dst, bob.address, amount)
        )
        t = Transfer(
            ROUTE.src,
            ROUTE.dst,
            Nonce(i + 1),
            cs(dep.asset.address),
            cs(dep.wrapped.address),
            alice.address,
            bob.address,
            amount,
        )
        transfers.append(t)
        located.append((Located(t, receipt["blockNumber"]), "0xb", f"0x{i}", 0))
    batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    signature = partial_sign(share, message)  # a 1-of-1 committee: the partial is the signature

    # a user executes the batch's first transfer by hand, before any relayer sends the batch
    proof = merkle_proof([leaf_hash(t) for t in transfers], 0)
    hand = dep.gateway.functions.executeTransfer(
        1, transfers[0].as_abi_tuple(), 1, 3, proof, g1_to_eip2537(signature)
    )
    devnet.send(we, devnet.dev_account(5), hand)
    assert dep.gateway.functions.isExecuted(ROUTE.src, 1).call()
    assert dep.gateway.functions.unexecutedCount(ROUTE.src, 1, 3).call() == 2

    cfg = ChainConfig("ethereum", ROUTE.dst, dep.ethereum_url, dep.gateway.address, 0, 0, 0.2, 100)
    rcfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, 2.0)
    last_block = located[-1][0].block_number
    async with Store.open(tmp_path / "s.sqlite3") as store, ChainClient.connect(cfg) as chain:
        await store.record_scan(ROUTE.src, last_block + 1, located)
        await store.record_batches(ROUTE, [(batch, batch_root(batch), message)], last_block, 4)
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, signature=signature)
        assert not await chain.is_batch_executed(ROUTE.src, 1, 3, final=False)
        assert not await chain.is_batch_executed(ROUTE.src, 2, 3, final=False)  # 2 and 3 are not
        assert await chain.is_batch_executed(ROUTE.src, 1, 1, final=False)  # 1 was, by hand
        too_long = dep.gateway.functions.MAX_RANGE_QUERY().call() + 1
        with pytest.raises(ContractLogicError):  # a revert, as web3's contract call raises it
            await chain.is_batch_executed(ROUTE.src, 1, too_long, final=False)
        submitter = Submitter(chain, store, devnet.dev_account(3), rcfg, 1, 1)
        outcomes = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            stored = await store.batch(ROUTE, 1)
            assert stored is not None
            if stored.state == BatchState.EXECUTED:
                break
            outcomes.append(await submitter.submit(stored))
            await asyncio.sleep(0.3)
        confirmations = [o.ours for o in outcomes if o.kind is OutcomeKind.CONFIRMED]
        assert confirmations == [True], outcomes  # by our transaction, not found done by another
        assert await chain.is_batch_executed(ROUTE.src, 1, 3)
    assert dep.gateway.functions.unexecutedCount(ROUTE.src, 1, 3).call() == 0
    assert dep.wrapped.functions.balanceOf(bob.address).call() == sum(amounts)
    assert (
        dep.wrapped.functions.totalSupply().call() == dep.asset.functions.balanceOf(dep.vault.address).call()
    )
