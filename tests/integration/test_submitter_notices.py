"""Another relayer's "sent batch X in tx H" notice (relayer.core.notices) on a real anvil that mines
only when told to: a genuine one holds the next relayer back, a forged one does not stall the batch.

Two relayers of a committee of 2, each with its own store, account and member index, stagger 0
(both turns have come), as in test_submitter_pending. The notice is handed to the submitter as the
transport would (`Submitter.on_sent`); the transport's part is in test_transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from web3 import Web3
from web3.types import RPCEndpoint

from harness import devnet
from relayer.adapters.chain import RANGES_PER_READ, ChainClient, unexecuted_counts_call
from relayer.core.lifecycle import OutcomeKind
from relayer.core.messages import SentMessage
from relayer.core.states import BatchState
from relayer.core.txmath import batch_rank
from relayer.pipeline import submitter as submitter_module
from tests.integration.test_submitter_pending import (
    FINALITY,
    executions,
    mempool,
    mine,
    receipt_status,
    relayer,
)
from tests.support.rpc_proxy import RpcProxy
from tests.support.signed_batch import AMOUNT, SignedBatch


def notice(signed: SignedBatch, member: int, tx_hash: str) -> SentMessage:
    return SentMessage(member, signed.batch.id, bytes.fromhex(tx_hash.removeprefix("0x")))


async def test_a_forged_notice_for_a_batch_does_not_stall_it(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """A notice naming a transaction the node does not know (made up) holds the relayer back for
    at most the grace after it, however long its receipt timeout, and however many forged notices
    follow: then it sends, and the batch lands."""
    async with relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=3600.0) as b:
        b.submitter.on_sent(notice(signed, 1, "0x" + "5a" * 32))
        deadline = time.monotonic() + 10.0
        with capture_logs() as logs:
            while await b.state() == BatchState.AGGREGATED and time.monotonic() < deadline:
                b.submitter.on_sent(notice(signed, 1, f"0x{int(time.monotonic() * 1e6):064x}"))
                await b.submitter.step()
                await asyncio.sleep(0.1)
        assert await b.state() == BatchState.SUBMITTED, "a forged notice stalled the batch"
        assert any(e["event"] == "sent_notice_dismissed" for e in logs)
        [own] = await b.store.txs_for(signed.batch.id)
        mine(we, 1 + FINALITY)
        assert receipt_status(we, own.tx_hash) == 1
        await b.submitter.step()
        assert await b.state() == BatchState.EXECUTED
    assert executions(signed, we) == [own.tx_hash]
    assert signed.dep.wrapped.functions.balanceOf(signed.transfer.recipient).call() == AMOUNT


async def test_a_notice_naming_a_real_transaction_that_is_not_the_batchs_is_dismissed(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """The forger names a real pending transaction (a plain transfer): not this batch's
    executeBatch to the endpoint, so it holds nothing back, on the first step."""
    other = devnet.dev_account(5)
    tx = other.sign_transaction(
        {
            "to": other.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "nonce": we.eth.get_transaction_count(other.address),
            "chainId": we.eth.chain_id,
        }
    )
    unrelated = "0x" + bytes(we.eth.send_raw_transaction(tx.raw_transaction)).hex()
    async with relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=3600.0) as b:
        b.submitter.on_sent(notice(signed, 1, unrelated))
        with capture_logs() as logs:
            await b.submitter.step()
        assert [e["reason"] for e in logs if e["event"] == "sent_notice_dismissed"] == ["not_to_the_endpoint"]
        assert await b.state() == BatchState.SUBMITTED
        [own] = await b.store.txs_for(signed.batch.id)
        assert mempool(we)[b.address.lower()] == [own.tx_hash]


async def test_a_genuine_notice_holds_the_next_relayer_until_the_batch_is_executed(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """A announces the transaction it sends (before broadcasting it); B, given the notice, sends
    nothing while it is pending, and records the batch executed by another once it is final."""
    announced: list[SentMessage] = []
    async with (
        relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a,
        relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=30.0) as b,
    ):
        a.submitter.announce = announced.append
        await a.submitter.step()
        [sent] = await a.store.txs_for(signed.batch.id)
        # a claim before the estimate, then the transaction once signed
        assert announced == [notice(signed, 1, "0x" + "00" * 32), notice(signed, 1, sent.tx_hash)]
        a.submitter.on_sent(announced[1])  # its own notice, back from the broker: ignored
        b.submitter.on_sent(announced[0])
        b.submitter.on_sent(announced[1])
        with capture_logs() as logs:
            for _ in range(3):
                await b.submitter.step()
                assert (await b.submit()).kind is OutcomeKind.NOT_READY
        assert not [e for e in logs if e["event"] == "sent_notice_dismissed"]
        assert await b.store.txs_for(signed.batch.id) == []
        mine(we, 1 + FINALITY)
        await b.submitter.step()
        assert await b.state() == BatchState.EXECUTED
        assert (await b.store.history(signed.batch.id.route, 1))[-1][
            1
        ] == "executed on-chain by another relayer"
    assert executions(signed, we) == [sent.tx_hash]
    assert we.eth.get_transaction_count(b.address, "pending") == 0


def count_batches(chain: ChainClient) -> list[int]:
    """Record the size of each JSON-RPC batch the chain client sends from now on, in order."""
    batches: list[int] = []
    provider = chain.w3.provider
    inner = provider.make_batch_request

    async def make_batch_request(calls: Any) -> Any:
        batches.append(len(calls))
        return await inner(calls)

    provider.make_batch_request = make_batch_request  # type: ignore[method-assign]
    return batches


def count_rpcs(chain: ChainClient) -> list[str]:
    """Record the JSON-RPC methods the chain client sends to the node from now on, in order
    (below web3's request cache: what goes over the wire)."""
    methods: list[str] = []
    provider = chain.w3.provider
    inner = provider._make_request

    async def make_request(method: Any, request_data: bytes) -> bytes:
        methods.append(str(method))
        return await inner(method, request_data)  # type: ignore[no-any-return]

    provider._make_request = make_request
    return methods


async def test_a_send_costs_four_rpcs_in_two_round_trips(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """The send path's RPCs (relayer.pipeline.submitter): one JSON-RPC batch (the transaction run
    by eth_call at the pending state with the gas limit it is sent with, computed from the batch:
    no estimate, its outcome also the batch's pending state; the latest block for the base fee;
    the pending nonce), then the broadcast. Before: five, the batch's pending state read by a
    call of its own (each call at the pending tag makes anvil execute its whole pool); before
    that, six in four round trips; before that, fifteen."""
    async with relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=30.0) as b:
        chain = b.submitter.chain
        await chain.w3.eth.chain_id  # asked once per endpoint, then cached
        assert await b.submitter._bound_applies()  # the gateway: asked once per submitter, then kept
        methods = count_rpcs(chain)
        provider = chain.w3.provider
        inner = provider.make_batch_request
        batches: list[list[str]] = []

        async def make_batch_request(calls: Any) -> Any:
            batches.append([str(method) for method, _ in calls])
            return await inner(calls)

        provider.make_batch_request = make_batch_request
        assert (await b.submit()).kind is OutcomeKind.SENT
        [own] = await b.store.txs_for(signed.batch.id)
    assert batches == [["eth_call", "eth_getBlockByNumber", "eth_getTransactionCount"]]
    assert methods == ["eth_sendRawTransaction"]
    mine(we, 1 + FINALITY)
    assert receipt_status(we, own.tx_hash) == 1


async def test_the_pending_state_of_many_batches_is_read_in_one_call(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """`ChainClient.batches_pending` answers as `is_batch_pending` does for each batch, in one
    eth_call (the UnexecutedCounts reader: one pending block built, not one per batch): the batch
    A sent is executed in the pending state, a range never executed is not."""
    src = signed.batch.id.route.src
    async with (
        relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a,
        relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=30.0) as b,
    ):
        chain = b.submitter.chain
        ranges = [(src, 1, 1), (src, 2, 5), (src, 1, 2)]
        assert await chain.batches_pending(ranges) == [False, False, False]
        await a.submitter.step()  # sent, in the mempool
        await chain.w3.eth.chain_id
        methods = count_rpcs(chain)
        batches = count_batches(chain)
        got = await chain.batches_pending(ranges)
        assert (methods, batches) == ([], [1])  # one eth_call for the three
        assert got == [True, False, False]
        assert got == [await chain.is_batch_pending(*r) for r in ranges]
        assert await chain.batches_pending([]) == []


async def test_more_ranges_than_one_call_answers_go_as_several_calls_in_one_json_rpc_batch(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """Past RANGES_PER_READ the ranges are split into calls of the reader, sent in one JSON-RPC
    batch, and answered in the order asked. A single call of more than 501 ranges is refused by
    the node: the call's input is creation code, which EIP-3860 bounds to 49,152 bytes (889 of
    code, 96 of the endpoint and the array's head, 96 a range); so the calls are kept smaller."""
    bid = signed.batch.id
    src, sent = bid.route.src, (bid.route.src, bid.first_nonce, bid.last_nonce)
    async with relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a:
        chain = a.submitter.chain
        await a.submitter.step()  # the batch sent, in the mempool
        ranges = [sent if i % 50 == 0 else (src, 1000 + i, 1000 + i) for i in range(RANGES_PER_READ * 2 + 1)]
        batches = count_batches(chain)
        got = await chain.batches_pending(ranges)
        assert batches == [3]
        assert got == [i % 50 == 0 for i in range(len(ranges))]
        endpoint = chain.endpoint.address
        call = {"data": "0x" + unexecuted_counts_call(endpoint, [(src, 1, 1)] * 501).hex()}
        reply = await chain.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
        assert len(reply["result"]) == 2 + 2 * (64 + 32 * 501)
        call = {"data": "0x" + unexecuted_counts_call(endpoint, [(src, 1, 1)] * 502).hex()}
        reply = await chain.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
        assert "initcode" in reply["error"]["message"]


async def test_a_node_that_does_not_run_the_reader_is_asked_one_call_per_range(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """A node that answers the reader's call (creation code, no `to`) with "0x", as some nodes
    do, is asked `unexecutedCount` once per range, with the same answers, and is not asked the
    reader again for READER_RETRY_SECONDS (`counts_reader_unsupported`, logged once)."""
    bid = signed.batch.id
    src, sent = bid.route.src, (bid.route.src, bid.first_nonce, bid.last_nonce)
    ranges = [sent, (src, 1000, 1000)]

    def no_creation_calls(method: str, params: list[Any], result: Any) -> Any:
        return "0x" if method == "eth_call" and "to" not in params[0] else result

    async with relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a:
        await a.submitter.step()  # the batch sent, in the mempool
        with RpcProxy(a.submitter.chain.cfg.rpc, rewrite=no_creation_calls) as node:
            cfg = dataclasses.replace(a.submitter.chain.cfg, rpc=node.url, rpcs=(node.url,))
            async with ChainClient.connect(cfg) as chain:
                with capture_logs() as logs:
                    for _ in range(3):  # executed in the pending state from the send on: stable
                        assert await chain.batches_pending(ranges) == [True, False]
                calls = node.calls["eth_call"]
            unsupported = [e for e in logs if e["event"] == "counts_reader_unsupported"]
            assert [e["endpoint"] for e in unsupported] == [node.url]
            assert calls == 1 + 3 * len(ranges)  # the reader once, then one call per range


async def test_of_two_relayers_claiming_a_batch_at_once_the_later_turn_stands_back(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """Both turns have come (stagger 0) and both claim the batch before their estimates: the
    relayer whose turn comes later holds back on the other's claim; the earlier one sends. The
    batch is sent once."""
    async with (
        relayer(signed, tmp_path / "1.sqlite3", member=1, account=3, receipt_timeout=30.0) as one,
        relayer(signed, tmp_path / "2.sqlite3", member=2, account=4, receipt_timeout=30.0) as two,
    ):
        bid = signed.batch.id
        first, later = sorted(
            (one, two),
            key=lambda r: batch_rank(
                r.submitter.member_index, 2, bid.route.src, bid.route.dst, bid.first_nonce
            ),
        )
        claims: list[SentMessage] = []
        for r in (first, later):
            r.submitter.announce = claims.append
            r.submitter.on_sent(notice(signed, 3 - r.submitter.member_index, "0x" + "00" * 32))
        assert (await later.submit()).kind is OutcomeKind.NOT_READY  # the other's claim comes first
        assert (await first.submit()).kind is OutcomeKind.SENT  # the later turn's claim: no wait
        assert await later.store.txs_for(signed.batch.id) == []
        [sent] = await first.store.txs_for(signed.batch.id)
        mine(we, 1 + FINALITY)
        await later.submitter.step()
        assert await later.state() == BatchState.EXECUTED
    assert executions(signed, we) == [sent.tx_hash]


async def test_a_bound_too_low_for_the_batch_is_caught_by_the_check_and_the_batch_estimated(
    signed: SignedBatch, we: Web3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a computed gas bound forced far too low, the send's eth_call (run with that limit)
    fails: nothing is broadcast with it; the batch is estimated (eth_estimateGas) and sent with
    the estimate's limit, and executes. The check failed before it could say whether the batch is
    executed in the pending state, so that is read apart first (the one eth_call)."""
    monkeypatch.setattr(submitter_module, "batch_gas_bound", lambda *_: 60_000)
    async with relayer(signed, tmp_path / "b.sqlite3", member=2, account=4, receipt_timeout=30.0) as b:
        await b.submitter.chain.w3.eth.chain_id
        assert await b.submitter._bound_applies()  # the gateway (asked once, then kept)
        methods = count_rpcs(b.submitter.chain)
        with capture_logs() as logs:
            assert (await b.submit()).kind is OutcomeKind.SENT
        [own] = await b.store.txs_for(signed.batch.id)
    assert [e["bound"] for e in logs if e["event"] == "batch_gas_bound_short"] == [60_000]
    assert methods == ["eth_call", "eth_estimateGas", "eth_sendRawTransaction"]
    assert int(we.eth.get_transaction(own.tx_hash)["gas"]) > 60_000  # type: ignore[arg-type]
    mine(we, 1 + FINALITY)
    assert receipt_status(we, own.tx_hash) == 1
