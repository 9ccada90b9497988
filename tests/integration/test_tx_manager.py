"""The transaction manager against a real anvil: fee spikes, dropped and displaced transactions.

Each test deploys the bridge with a 1-of-1 committee key, locks one transfer, stores the signed
batch as aggregated and drives one Submitter by hand, checking the account's nonces at the end
(no gap: every nonce the account used is a mined transaction).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from committee.bls import g1_to_eip2537
from committee.threshold import KeyShare, deal, partial_sign
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.config import RelayerConfig
from relayer.core.lifecycle import Outcome, OutcomeKind
from relayer.core.states import BatchState
from relayer.core.types import Batch
from relayer.pipeline.submitter import Submitter
from tests.support.actions import execute_when_due, resume_call, resume_message, resume_params
from tests.support.signed_batch import ROUTE, ethereum_config, lock_and_sign, rpc, store_aggregated

GWEI = 10**9


@dataclass
class Rig:
    submitter: Submitter
    store: Store
    batch: Batch
    we: Web3
    account: str
    share: KeyShare


@pytest.fixture
async def rig(chains: tuple[str, str], tmp_path: Path) -> AsyncIterator[Rig]:
    signed = lock_and_sign(chains)
    relayer = devnet.dev_account(3)
    rcfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, 2.0, fee_bump_percent=25)
    async with (
        Store.open(tmp_path / "s.sqlite3") as store,
        ChainClient.connect(ethereum_config(signed.dep)) as chain,
    ):
        await store_aggregated(store, signed)
        yield Rig(
            Submitter(chain, store, relayer, rcfg, 1, 1),
            store,
            signed.batch,
            Web3(HTTPProvider(signed.dep.ethereum_url)),
            relayer.address,
            signed.share,
        )


async def drive(rig: Rig, limit: float = 60) -> list[Outcome]:
    outcomes = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stored = await rig.store.batch(ROUTE, 1)
        assert stored is not None
        if stored.state == BatchState.EXECUTED:
            return outcomes
        outcomes.append(await rig.submitter.submit(stored))
        await asyncio.sleep(0.3)
    raise AssertionError(f"not executed in {limit}s; outcomes {outcomes}")


def assert_no_nonce_gap(rig: Rig) -> None:
    latest = rig.we.eth.get_transaction_count(rig.account, "latest")
    pending = rig.we.eth.get_transaction_count(rig.account, "pending")
    assert latest == pending, "a transaction of ours is still waiting behind a gap"


async def test_a_fee_spike_above_the_cap_waits_then_the_stuck_tx_is_replaced_up_to_the_cap(rig: Rig) -> None:
    # no block until the spike is set: an interval block in between would execute the transaction
    # at the tiny fees it was sent with (seen under load, with 0.5 s blocks)
    rpc(rig.we, "anvil_setIntervalMining", 0)
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    assert (await rig.submitter.submit(stored)).kind is OutcomeKind.SENT  # at the current, tiny fees
    rpc(rig.we, "anvil_setNextBlockBaseFeePerGas", hex(400 * GWEI))  # far above the 50 gwei cap
    rpc(rig.we, "anvil_setIntervalMining", 1)
    outcomes = await drive(rig, limit=90)
    # held back while the base fee was above the cap
    assert OutcomeKind.NOT_READY in [o.kind for o in outcomes]
    txs = await rig.store.txs_for(rig.batch.id)
    assert len(txs) >= 2
    assert len({t.nonce for t in txs}) == 1  # replacements reuse the nonce
    assert all(b.max_fee > a.max_fee for a, b in itertools.pairwise(txs))
    assert max(t.max_fee for t in txs) <= 50 * GWEI
    assert rig.we.eth.get_transaction_count(rig.account) == 1
    assert_no_nonce_gap(rig)


async def test_a_dropped_transaction_is_sent_again_with_the_same_nonce(rig: Rig) -> None:
    rpc(rig.we, "anvil_setIntervalMining", 0)
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    assert (await rig.submitter.submit(stored)).kind is OutcomeKind.SENT
    [first] = await rig.store.txs_for(rig.batch.id)
    rpc(rig.we, "anvil_dropTransaction", first.tx_hash)
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    assert (await rig.submitter.submit(stored)).kind is OutcomeKind.SENT  # noticed the drop, sent again
    rpc(rig.we, "anvil_setIntervalMining", 1)
    await drive(rig)
    # the node had forgotten it; the same signed transaction was broadcast again (same hash)
    txs = await rig.store.txs_for(rig.batch.id)
    assert [t.nonce for t in txs] == [0]
    assert rig.we.eth.get_transaction_receipt(first.tx_hash)["status"] == 1
    assert rig.we.eth.get_transaction_count(rig.account) == 1
    assert_no_nonce_gap(rig)


async def test_a_nonce_taken_by_another_sender_is_resynced(rig: Rig) -> None:
    rpc(rig.we, "anvil_setIntervalMining", 0)
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    assert (await rig.submitter.submit(stored)).kind is OutcomeKind.SENT
    # the same key used elsewhere: a transfer with the same nonce and higher fees replaces ours
    other = devnet.dev_account(3)
    tx = {
        "to": other.address,
        "value": 1,
        "nonce": 0,
        "gas": 21_000,
        "chainId": devnet.ETHEREUM_CHAIN_ID,
        "maxFeePerGas": 40 * GWEI,
        "maxPriorityFeePerGas": 20 * GWEI,
    }
    rig.we.eth.send_raw_transaction(other.sign_transaction(tx).raw_transaction)
    rpc(rig.we, "anvil_setIntervalMining", 1)
    await drive(rig)
    txs = await rig.store.txs_for(rig.batch.id)
    assert [t.nonce for t in txs] == [0, 1]
    assert rig.we.eth.get_transaction_count(rig.account) == 2
    assert_no_nonce_gap(rig)
    gateway = rig.we.eth.contract(address=rig.batch.dst_contract, abi=devnet.artifact("QiaoGateway")["abi"])
    assert gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, 1).call()


async def test_a_batch_that_reverts_deterministically_is_failed_not_retried(rig: Rig) -> None:
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    bad = partial_sign(deal(1, 1)[0], stored.message)  # a valid point under another key
    await rig.store.set_batch_state(rig.batch.id, BatchState.AGGREGATED, signature=bad)
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    outcome = await rig.submitter.submit(stored)
    assert outcome.kind is OutcomeKind.REFUSED
    after = await rig.store.batch(ROUTE, 1)
    assert after is not None
    assert after.state == BatchState.FAILED
    assert rig.we.eth.get_transaction_count(rig.account) == 0  # nothing was sent


async def test_a_batch_refused_by_a_paused_endpoint_waits_and_executes_after_the_committee_resumes(
    rig: Rig,
) -> None:
    gateway = rig.we.eth.contract(address=rig.batch.dst_contract, abi=devnet.artifact("QiaoGateway")["abi"])
    devnet.send(rig.we, devnet.dev_account(10), gateway.functions.pause())  # the guardian
    for _ in range(2 * 3):  # more rounds than MAX_REVERTS: a pause never fails the batch
        stored = await rig.store.batch(ROUTE, 1)
        assert stored is not None
        assert (await rig.submitter.submit(stored)).kind is OutcomeKind.NOT_READY
    held = await rig.store.batch(ROUTE, 1)
    assert held is not None
    assert held.state == BatchState.AGGREGATED
    assert rig.we.eth.get_transaction_count(rig.account) == 0  # nothing was sent while paused
    # the committee signs the RESUME action; anyone submits it; it waits the action delay (the
    # guardian's time to cancel it), then anyone executes it
    params = resume_params(rig.we, gateway)
    signature = g1_to_eip2537(partial_sign(rig.share, resume_message(gateway, 1, params)))
    resume = resume_call(gateway, 1, params, signature)
    receipt = devnet.send(rig.we, devnet.dev_account(4), resume)
    assert gateway.functions.paused().call()
    stored = await rig.store.batch(ROUTE, 1)
    assert stored is not None
    assert (await rig.submitter.submit(stored)).kind is OutcomeKind.NOT_READY  # still paused
    execute_when_due(rig.we, devnet.dev_account(4), gateway, receipt)
    assert not gateway.functions.paused().call()
    outcomes = await drive(rig)
    assert OutcomeKind.REFUSED not in [o.kind for o in outcomes]
    assert gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, 1).call()
    assert_no_nonce_gap(rig)


async def test_a_replacement_of_its_own_stuck_transaction_is_estimated_without_a_false_warning(
    chains: tuple[str, str], tmp_path: Path
) -> None:
    """Review: a replacement (the same nonce, fees bumped) ran the computed bound's check at the
    pending state, where the relayer's own pending transaction has executed the batch already: the
    check always failed (`BatchAlreadyExecuted`) and `batch_gas_bound_short` was logged although
    the bound was not short. A replacement goes straight to the estimate, as before the bound."""
    from structlog.testing import capture_logs

    signed = lock_and_sign(chains)
    rcfg = RelayerConfig(True, None, 0.0, 50.0, 1.0, 2.0, fee_bump_percent=25)  # receipt timeout 2 s
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    async with (
        Store.open(tmp_path / "s.sqlite3") as store,
        ChainClient.connect(ethereum_config(signed.dep)) as chain,
    ):
        await store_aggregated(store, signed)
        submitter = Submitter(chain, store, devnet.dev_account(3), rcfg, 1, 1)
        rpc(we, "anvil_setIntervalMining", 0)  # nothing mined: the first transaction stays pending
        try:
            stored = await store.batch(ROUTE, 1)
            assert stored is not None
            with capture_logs() as logs:
                assert (await submitter.submit(stored)).kind is OutcomeKind.SENT
                await asyncio.sleep(2.5)  # past the receipt timeout
                stored = await store.batch(ROUTE, 1)
                assert stored is not None
                await submitter.submit(stored)
            txs = await store.txs_for(signed.batch.id)
            assert len(txs) == 2  # replaced, same nonce
            assert txs[0].nonce == txs[1].nonce
            assert [e for e in logs if e["event"] == "batch_gas_bound_short"] == []
        finally:
            rpc(we, "evm_mine")
