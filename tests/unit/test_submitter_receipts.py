"""How the submitter reads receipts: the fee fields are optional (an endpoint may leave out
`effectiveGasPrice`), and a reverted transaction of a batch counts as one revert, however often
the batch is followed afterwards."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from structlog.testing import capture_logs

from relayer import metrics
from relayer.adapters.chain import RpcReplyError, SendReads
from relayer.adapters.txsender import Receipt, TxSender, receipt_of_reply
from relayer.config import RelayerConfig
from relayer.core.lifecycle import OutcomeKind, confirmed
from relayer.core.reverts import BATCH_ALREADY_EXECUTED, selector
from relayer.core.states import BatchHead, BatchState, RefundState, StoredRefund, TxRecord
from relayer.core.txmath import gas_limit
from relayer.core.types import BatchId, Route
from relayer.pipeline.submitter import MAX_REVERTS, Submitter
from tests.unit.test_submitter_memory import DST, SRC, FakeChainCfg, FakeEndpoint, FakeStore, head, refund

GWEI = 10**9


class ChainEth:
    """A chain's JSON-RPC as the submitter reads it: receipts and known transactions by hash,
    gas estimates that succeed, sent transactions kept in `sent` (nonces in `nonces`)."""

    def __init__(self) -> None:
        self.receipts: dict[str, dict[str, Any]] = {}
        self.known: set[str] = set()
        self.sent: list[bytes] = []
        self.nonce = 0  # the account's next nonce, counting pending transactions
        self.mined = 0  # the account's next nonce as of the latest block
        self.estimates = 0  # eth_estimateGas calls

    async def estimate_gas(self, params: Any) -> int:
        self.estimates += 1
        return 100_000

    async def get_block(self, tag: str) -> dict[str, Any]:
        return {"baseFeePerGas": GWEI}

    async def get_transaction_count(self, address: str, tag: str) -> int:
        return self.mined if tag == "latest" else self.nonce

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        self.sent.append(bytes(raw))
        self.nonce += 1
        return b""


class ChainProvider:
    """The raw requests (`TxSender.receipt`): `eth.receipts` as a node sends them, in hex."""

    def __init__(self, eth: ChainEth) -> None:
        self.eth = eth

    async def make_request(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_getTransactionByHash":
            known = params[0] in self.eth.known or params[0] in self.eth.receipts
            return {"jsonrpc": "2.0", "id": 1, "result": {"hash": params[0]} if known else None}
        assert method == "eth_getTransactionReceipt"
        found = self.eth.receipts.get(params[0])
        if found is None:
            return {"jsonrpc": "2.0", "id": 1, "result": None}
        return {"jsonrpc": "2.0", "id": 1, "result": {k: hex(v) for k, v in found.items()}}


class ChainW3:
    def __init__(self) -> None:
        self.eth = ChainEth()
        self.provider = ChainProvider(self.eth)


class Chain:
    """The destination of the batches and the source of the refunds; nothing executed elsewhere,
    nothing refunded, every block final up to `final`."""

    chain_id = DST

    def __init__(self) -> None:
        self.cfg = FakeChainCfg()
        self.endpoint = FakeEndpoint()
        self.w3 = ChainW3()
        self.final = 100
        self.checked: list[int] = []  # the gas limits the sends' checks ran with

    async def final_head(self) -> int:
        return self.final

    async def is_batch_executed(self, src: int, first: int, last: int, final: bool = True) -> bool:
        return False

    async def is_batch_pending(self, src: int, first: int, last: int) -> bool:
        return False

    async def send_reads(self, sender: str, data: bytes, gas: int, *, nonce: bool) -> SendReads:
        """The send's check runs through with any limit (`checked` records each); nothing pending."""
        self.checked.append(gas)
        nonce_now = self.w3.eth.nonce if nonce else None
        return SendReads(None, GWEI, 30_000_000, nonce_now)

    async def is_refunded(self, dst: int, nonce: int, final: bool = True) -> bool:
        return False

    async def delivery_gas(self) -> int | None:
        return None  # a gateway: it delivers by minting, so the computed bound applies


class Store(FakeStore):
    """FakeStore with the transactions of each batch and refund, as the real store keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.txs: dict[BatchId, list[TxRecord]] = {}
        self.refund_txs: list[TxRecord] = []

    async def batch_heads(self, states: Any, dst: int, limit: int) -> list[BatchHead]:
        return [h for h in self.heads if h.state in states]

    async def txs_for(self, bid: BatchId) -> list[TxRecord]:
        return sorted(self.txs.get(bid, []), key=lambda t: t.sent_at)

    async def record_tx(self, bid: BatchId, tx: TxRecord) -> None:
        self.txs.setdefault(bid, []).append(tx)
        self._set_head(bid, BatchState.SUBMITTED)

    async def set_batch_state(self, bid: BatchId, state: BatchState, detail: str = "") -> bool:
        await super().set_batch_state(bid, state, detail)
        self._set_head(bid, state)
        return True

    def _set_head(self, bid: BatchId, state: BatchState) -> None:
        self.heads = [h if h.id != bid else _with_state(h, state) for h in self.heads]

    async def record_refund_tx(self, route: Route, nonce: int, tx: TxRecord) -> None:
        self.refund_txs.append(tx)


def _with_state(h: BatchHead, state: BatchState) -> BatchHead:
    return replace(h, state=state)


def config() -> RelayerConfig:
    return RelayerConfig(
        enabled=True,
        account_key_file=None,
        stagger_seconds=0.0,
        max_fee_gwei=100.0,
        priority_fee_gwei=1.0,
        receipt_timeout=30.0,
    )


def submitter(store: Store, chain: Chain) -> Submitter:
    return Submitter(chain, store, Account.create(), config(), 1, 1)  # type: ignore[arg-type]


def tx(tx_hash: str, nonce: int, sent_at: float) -> TxRecord:
    return TxRecord(tx_hash, int(DST), "0x" + "66" * 20, nonce, 2 * GWEI, GWEI, sent_at)


def counter(c: Any) -> float:
    return float(c.labels(str(DST))._value.get())


# ---- the fee fields are optional --------------------------------------------------------


async def test_a_receipt_without_the_fee_fields_is_read() -> None:
    chain = Chain()
    chain.w3.eth.receipts["0xaa"] = {"status": 0, "blockNumber": 7}
    sender = TxSender(chain, Account.create(), config())  # type: ignore[arg-type]
    assert await sender.receipt("0xaa") == Receipt(
        status=0, block_number=7, gas_used=None, effective_gas_price=None
    )


def test_a_raw_receipt_is_read_and_a_malformed_one_refused_with_what_was_wrong() -> None:
    """`receipt_of_reply`: a node's hex fields; null while not mined; an error, a receipt of
    another transaction, a field that is not a hex quantity: RpcReplyError naming it."""
    mine = "0x" + "ab" * 32
    full = {"transactionHash": mine, "status": "0x1", "blockNumber": "0x2a", "gasUsed": "0x5208"}
    assert receipt_of_reply({"result": full | {"effectiveGasPrice": "0x3b9aca00"}}, mine) == Receipt(
        status=1, block_number=42, gas_used=21_000, effective_gas_price=GWEI
    )
    assert receipt_of_reply({"result": full}, mine.upper().replace("0X", "0x")) == Receipt(
        1, 42, 21_000, None
    )
    assert receipt_of_reply({"result": None}, mine) is None
    assert receipt_of_reply({"result": full | {"blockNumber": None}}, mine) is None  # pending
    bad = [
        ("not a reply", "not a JSON-RPC reply"),
        ({"error": {"code": -32000, "message": "header not found"}}, "header not found"),
        ({"jsonrpc": "2.0", "id": 1}, "neither result nor error"),
        ({"message": "rate limited"}, "neither result nor error"),
        ({"result": "0x1"}, "not a receipt"),
        ({"result": full | {"transactionHash": "0x" + "cd" * 32}}, "the receipt of 0xcdcd"),
        ({"result": {k: v for k, v in full.items() if k != "status"}}, "status is None"),
        ({"result": full | {"blockNumber": 42}}, "blockNumber is 42, not a hex quantity"),
        ({"result": full | {"gasUsed": "0xzz"}}, "gasUsed is '0xzz'"),
    ]
    for reply, says in bad:
        with pytest.raises(RpcReplyError, match=re.escape(says)):
            receipt_of_reply(reply, mine)


async def test_a_transaction_is_dropped_only_on_a_null_result_never_on_a_reply_without_one() -> None:
    """`TxSender.known`: False only when the node answers null (then the batch is sent again); an
    error or a reply with no result (a proxy's, a rate limiter's) raises, so nothing is re-sent."""
    chain = Chain()
    sender = TxSender(chain, Account.create(), config())  # type: ignore[arg-type]
    chain.w3.eth.known.add("0xaa")
    assert await sender.known("0xaa") is True
    assert await sender.known("0xbb") is False
    for reply in ({"jsonrpc": "2.0", "id": 1}, {"error": {"message": "busy"}}, "oops", {"result": "0x1"}):

        async def answer(method: str, params: list[Any], reply: Any = reply) -> Any:
            return reply

        chain.w3.provider.make_request = answer  # type: ignore[method-assign]
        with pytest.raises(RpcReplyError, match="eth_getTransactionByHash"):
            await sender.known("0xaa")


async def test_a_reverted_refund_whose_receipt_has_no_effective_gas_price_is_sent_again() -> None:
    chain = Chain()
    store = Store()
    old = tx("0x" + "aa" * 32, nonce=0, sent_at=1.0)
    chain.w3.eth.receipts[old.tx_hash] = {"status": 0, "blockNumber": 7, "gasUsed": 50_000}
    chain.w3.eth.nonce = chain.w3.eth.mined = 1
    r = refund(9)
    store.refunds_in_flight = [
        StoredRefund(
            r.route, r.nonce, r.reason, RefundState.SUBMITTED, r.key_epoch, r.message, None,
            r.signature, old, "", 0.0, 0.0,
        )
    ]  # fmt: skip
    sub = submitter(store, chain)
    assert (await sub.submit_refund(store.refunds_in_flight[0])).kind is OutcomeKind.SENT
    assert [t.nonce for t in store.refund_txs] == [1]  # a fresh transaction, a fresh nonce
    assert len(chain.w3.eth.sent) == 1


async def test_a_batch_receipt_without_effective_gas_price_executes_and_counts_only_the_gas() -> None:
    chain = Chain()
    store = Store()
    store.heads = [_with_state(head(1), BatchState.SUBMITTED)]
    bid = store.heads[0].id
    mined = tx("0x" + "bb" * 32, nonce=0, sent_at=1.0)
    store.txs[bid] = [mined]
    chain.w3.eth.receipts[mined.tx_hash] = {"status": 1, "blockNumber": 7, "gasUsed": 60_000}
    chain.w3.eth.nonce = chain.w3.eth.mined = 1
    gas, fees = counter(metrics.GAS_USED), counter(metrics.FEE_PAID_WEI)
    sub = submitter(store, chain)
    assert await sub.submit(store.heads[0]) == confirmed(f"executed by tx {mined.tx_hash}", ours=True)
    assert store.batch_states == [(bid, BatchState.EXECUTED)]
    assert counter(metrics.GAS_USED) == gas + 60_000
    assert counter(metrics.FEE_PAID_WEI) == fees  # no price in the receipt: no fee counted


# ---- a reverted transaction counts once -------------------------------------------------


async def test_a_revert_counts_once_while_the_batch_is_sent_again_and_pending() -> None:
    chain = Chain()
    store = Store()
    store.heads = [_with_state(head(1), BatchState.SUBMITTED)]
    bid = store.heads[0].id
    reverted = tx("0x" + "cc" * 32, nonce=0, sent_at=1.0)
    store.txs[bid] = [reverted]
    chain.w3.eth.receipts[reverted.tx_hash] = {
        "status": 0, "blockNumber": 7, "gasUsed": 40_000, "effectiveGasPrice": GWEI,
    }  # fmt: skip
    chain.w3.eth.nonce = chain.w3.eth.mined = 1
    sub = submitter(store, chain)

    await sub.step()  # the revert is seen: back to be sent again
    assert store.batch_states == [(bid, BatchState.AGGREGATED)]
    await sub.step()  # sent again with a fresh nonce
    assert [t.nonce for t in store.txs[bid]] == [0, 1]
    assert store.heads[0].state == BatchState.SUBMITTED
    pending = store.txs[bid][-1]
    chain.w3.eth.known.add(pending.tx_hash)  # in the mempool, not mined

    for _ in range(MAX_REVERTS + 1):  # followed while the new transaction is pending
        await sub.step()
    assert store.heads[0].state == BatchState.SUBMITTED
    assert store.batch_states == [(bid, BatchState.AGGREGATED)]  # the old revert counted once
    assert len(store.txs[bid]) == 2  # nothing else sent
    assert len(chain.w3.eth.sent) == 1

    # the new transaction executes the batch
    chain.w3.eth.receipts[pending.tx_hash] = {
        "status": 1, "blockNumber": 9, "gasUsed": 40_000, "effectiveGasPrice": GWEI,
    }  # fmt: skip
    chain.w3.eth.mined = 2
    await sub.step()
    assert store.batch_states == [(bid, BatchState.AGGREGATED), (bid, BatchState.EXECUTED)]


async def test_each_genuinely_new_revert_counts_until_the_batch_fails() -> None:
    chain = Chain()
    store = Store()
    store.heads = [_with_state(head(1), BatchState.SUBMITTED)]
    bid = store.heads[0].id
    store.txs[bid] = [tx("0x" + "dd" * 32, nonce=0, sent_at=1.0)]
    chain.w3.eth.nonce = chain.w3.eth.mined = 1
    sub = submitter(store, chain)
    for n in range(MAX_REVERTS):
        latest = store.txs[bid][-1]
        chain.w3.eth.receipts[latest.tx_hash] = {
            "status": 0, "blockNumber": 7 + n, "gasUsed": 40_000, "effectiveGasPrice": GWEI,
        }  # fmt: skip
        chain.w3.eth.mined = latest.nonce + 1
        await sub.step()  # this revert is seen
        if n < MAX_REVERTS - 1:
            assert store.heads[0].state == BatchState.AGGREGATED
            await sub.step()  # and the batch is sent again
            assert store.heads[0].state == BatchState.SUBMITTED
    assert store.heads[0].state == BatchState.FAILED
    assert len(store.txs[bid]) == MAX_REVERTS
    assert [s for _, s in store.batch_states] == [BatchState.AGGREGATED] * (MAX_REVERTS - 1) + [
        BatchState.FAILED
    ]


# ---- a transaction sent with the computed gas bound that runs out of gas ----------------


async def test_a_batch_whose_bounded_transaction_ran_out_of_gas_is_sent_with_an_estimate() -> None:
    """A batch is sent with the computed bound and no estimate; its transaction is mined reverted
    having used all its gas (the bound was too low for the state it met): the submitter notices,
    and sends the batch again with a gas limit from eth_estimateGas, not the bound."""
    chain = Chain()
    store = Store()
    store.heads = [head(1)]
    bid = store.heads[0].id
    sub = submitter(store, chain)
    await sub.step()
    [first] = store.txs[bid]
    [bound] = chain.checked
    assert chain.w3.eth.estimates == 0  # sent with the bound, checked by one call
    assert decoded_gas(chain.w3.eth.sent[0]) == bound
    chain.w3.eth.receipts[first.tx_hash] = {
        "status": 0, "blockNumber": 7, "gasUsed": bound, "effectiveGasPrice": GWEI,
    }  # fmt: skip
    chain.w3.eth.mined = 1
    with capture_logs() as logs:
        await sub.step()  # the revert is seen: out of gas, back to be sent again
    assert [e["gas_limit"] for e in logs if e["event"] == "batch_out_of_gas"] == [bound]
    assert store.heads[0].state == BatchState.AGGREGATED
    await sub.step()  # sent again: estimated
    assert chain.w3.eth.estimates == 1
    assert chain.checked == [bound]
    assert decoded_gas(chain.w3.eth.sent[1]) == gas_limit(100_000)
    assert [t.nonce for t in store.txs[bid]] == [0, 1]


def decoded_gas(raw: bytes) -> int:
    """The gas limit of a signed EIP-1559 transaction."""
    return int(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["gas"])


def test_transactions_are_signed_with_the_c_secp256k1_and_recover_to_the_relayer() -> None:
    """eth_keys signs with coincurve (a declared dependency) when it is installed, in pure Python
    otherwise (5.6 ms a signature against 0.6: docs/BENCHMARKS.md); the signature is the same."""
    from eth_keys.backends import CoinCurveECCBackend

    account = Account.from_key(b"\x07" * 32)
    assert isinstance(account._key_obj.backend, CoinCurveECCBackend)
    tx = {"to": "0x" + "11" * 20, "data": b"\xab" * 64, "gas": 90_000, "nonce": 3, "chainId": 1,
          "maxFeePerGas": 2 * GWEI, "maxPriorityFeePerGas": GWEI, "value": 0}  # fmt: skip
    signed = account.sign_transaction(tx)
    assert Account.recover_transaction(signed.raw_transaction) == account.address


# ---- the send's check gives the batch's pending state (Submitter._send, executed_per_check) ----


def batch_already_executed(src: int, first: int, last: int) -> dict[str, object]:
    args = encode(["uint256", "uint64", "uint64"], [src, first, last]).hex()
    return {"code": 3, "message": "execution reverted", "data": "0x" + BATCH_ALREADY_EXECUTED + args}


class CheckedChain(Chain):
    """The send's check answers `error` (None: it ran through); the pending state read apart
    answers `pending`, and the reads apart are counted."""

    def __init__(self, error: dict[str, object] | None, pending: bool = False) -> None:
        super().__init__()
        self.error = error
        self.pending = pending
        self.pending_reads = 0

    async def is_batch_pending(self, src: int, first: int, last: int) -> bool:
        self.pending_reads += 1
        return self.pending

    async def send_reads(self, sender: str, data: bytes, gas: int, *, nonce: bool) -> SendReads:
        self.checked.append(gas)
        return SendReads(self.error, GWEI, 30_000_000, self.w3.eth.nonce if nonce else None)


async def check_and_submit(chain: CheckedChain) -> OutcomeKind:
    store = Store()
    store.heads = [head(1)]
    return (await submitter(store, chain).submit(store.heads[0])).kind


async def test_a_check_that_ran_through_sends_without_reading_the_pending_state_apart() -> None:
    chain = CheckedChain(None)
    assert await check_and_submit(chain) is OutcomeKind.SENT
    assert chain.pending_reads == 0
    assert len(chain.w3.eth.sent) == 1


async def test_a_check_refused_as_already_executed_holds_the_batch_without_another_read() -> None:
    """Another relayer's transaction for the batch is pending: the check says so itself."""
    bid = head(1).id
    chain = CheckedChain(batch_already_executed(bid.route.src, bid.first_nonce, bid.last_nonce))
    assert await check_and_submit(chain) is OutcomeKind.NOT_READY
    assert chain.pending_reads == 0
    assert (chain.w3.eth.sent, chain.w3.eth.estimates) == ([], 0)


@pytest.mark.parametrize(
    "error",
    [
        {"code": 3, "message": "execution reverted", "data": "0x" + selector("EnforcedPause()")},
        {"code": -32000, "message": "out of gas"},
        batch_already_executed(int(SRC), 50, 60),  # another batch's range: not this batch's word
    ],
)
async def test_a_check_that_reverted_for_another_reason_reads_the_pending_state_apart(
    error: dict[str, object],
) -> None:
    held = CheckedChain(error, pending=True)
    assert await check_and_submit(held) is OutcomeKind.NOT_READY  # another relayer's tx pending
    assert held.pending_reads == 1
    assert held.w3.eth.sent == []
