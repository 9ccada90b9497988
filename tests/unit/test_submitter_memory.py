"""The submitter forgets a batch's or a refund's revert count once it is no longer in flight."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

from relayer.adapters.chain import SendReads
from relayer.config import RelayerConfig
from relayer.core.reverts import selector
from relayer.core.states import BatchHead, BatchState, RefundState, StoredBatch, StoredRefund
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route, Transfer
from relayer.pipeline.submitter import MAX_REVERTS, Submitter

SRC, DST = ChainId(31337), ChainId(31338)
ADDR = to_checksum_address("0x" + "55" * 20)
WAITING_REFUND, REFUSED_REFUND = 9, 10
NOT_REFUNDABLE = "0x" + selector("NotRefundable(uint256,uint64)") + "00" * 64


class FakeEth:
    """Every gas estimate reverts: a batch's without data (transient: retried up to MAX_REVERTS),
    refund WAITING_REFUND's without data (it waits), refund REFUSED_REFUND's as not refundable."""

    async def estimate_gas(self, params: Any) -> int:
        data = bytes.fromhex(str(params["data"])[2:])
        if data == refund_data(REFUSED_REFUND):
            raise ContractLogicError("execution reverted: NotRefundable", data=NOT_REFUNDABLE)
        raise ContractLogicError("execution reverted", data=None)


class FakeW3:
    def __init__(self) -> None:
        self.eth = FakeEth()


def refund_data(nonce: int) -> bytes:
    return b"refund" + nonce.to_bytes(8, "big")


class FakeCall:
    def __init__(self, nonce: int) -> None:
        self.nonce = nonce

    def _encode_transaction_data(self) -> str:
        return "0x" + refund_data(self.nonce).hex()


class FakeFunctions:
    def refund(self, key_epoch: int, transfer: tuple[Any, ...], signature: bytes) -> FakeCall:
        return FakeCall(transfer[2])  # (src, dst, nonce, ...)


class FakeEndpoint:
    address = "0x" + "55" * 20

    def __init__(self) -> None:
        self.functions = FakeFunctions()


class FakeChainCfg:
    poll_interval = 0.0  # the refund step runs on every step
    name = "fake"


class FakeChain:
    """Both a batch's destination and a refund's source: nothing is executed, refunded or pending."""

    chain_id = DST

    def __init__(self) -> None:
        self.cfg = FakeChainCfg()
        self.endpoint = FakeEndpoint()
        self.w3 = FakeW3()

    async def is_batch_executed(self, src: int, first: int, last: int, final: bool = True) -> bool:
        return False

    async def is_batch_pending(self, src: int, first: int, last: int) -> bool:
        return False

    async def send_reads(self, sender: str, data: bytes, gas: int, *, nonce: bool) -> SendReads:
        """The send's check reverts as the estimate does (without data); nothing pending."""
        error = {"code": 3, "message": "execution reverted"}
        return SendReads(error, 10**9, 30_000_000, 0 if nonce else None)

    async def is_refunded(self, dst: int, nonce: int, final: bool = True) -> bool:
        return False


class FakeStore:
    """The batches and refunds in flight, as the test sets them; state changes are recorded."""

    def __init__(self) -> None:
        self.heads: list[BatchHead] = []
        self.refunds_in_flight: list[StoredRefund] = []
        self.batch_states: list[tuple[BatchId, BatchState]] = []
        self.refund_states: list[tuple[int, RefundState]] = []

    async def batch_heads(self, states: Any, dst: int, limit: int) -> list[BatchHead]:
        return list(self.heads)

    async def refunds(self, states: Any, src: int, limit: int) -> list[StoredRefund]:
        return list(self.refunds_in_flight)

    async def transfer(self, route: Route, nonce: int) -> Transfer:
        return transfer(route, nonce)

    async def batch(self, route: Route, first: int) -> StoredBatch:
        h = next(h for h in self.heads if h.id.first_nonce == first)
        ts = tuple(transfer(route, n) for n in range(first, h.id.last_nonce + 1))
        return StoredBatch(
            Batch(ts, h.dst_contract, h.key_epoch), h.root, h.message, h.state, h.signature, None, 0.0, 0.0
        )

    async def set_batch_state(self, bid: BatchId, state: BatchState, detail: str = "") -> bool:
        self.batch_states.append((bid, state))
        return True

    async def set_refund_state(self, route: Route, nonce: int, state: RefundState, detail: str = "") -> bool:
        self.refund_states.append((nonce, state))
        return True


def transfer(route: Route, nonce: int) -> Transfer:
    return Transfer(route.src, route.dst, Nonce(nonce), ADDR, ADDR, ADDR, ADDR, 7)


def head(first: int) -> BatchHead:
    return BatchHead(
        id=BatchId(Route(SRC, DST), Nonce(first), Nonce(first + 1)),
        key_epoch=1,
        dst_contract=ADDR,
        root=b"r" * 32,
        message=b"m",
        state=BatchState.AGGREGATED,
        signature=b"\x01" * 128,  # passed to the endpoint as it is
        tx_hash=None,
        created_at=0.0,
        updated_at=0.0,  # aggregated long ago: its turn
    )


def refund(nonce: int) -> StoredRefund:
    return StoredRefund(
        route=Route(DST, SRC),  # a refund of a transfer out of this chain
        nonce=nonce,
        reason=1,
        state=RefundState.AGGREGATED,
        key_epoch=1,
        message=b"m",
        partial=None,
        signature=b"\x01" * 128,
        tx=None,
        detail="",
        created_at=0.0,
        updated_at=0.0,
    )


def submitter(store: FakeStore) -> Submitter:
    cfg = RelayerConfig(
        enabled=True,
        account_key_file=None,
        stagger_seconds=0.0,
        max_fee_gwei=100.0,
        priority_fee_gwei=1.0,
        receipt_timeout=30.0,
    )
    return Submitter(FakeChain(), store, Account.create(), cfg, 1, 1)  # type: ignore[arg-type]


async def test_a_batch_is_failed_after_max_reverts_while_it_stays_in_flight() -> None:
    store = FakeStore()
    store.heads = [head(1)]
    sub = submitter(store)
    for _ in range(MAX_REVERTS - 1):
        await sub.step()
        assert store.batch_states == []  # transient: retried
    await sub.step()
    assert store.batch_states == [(store.heads[0].id, BatchState.FAILED)]


async def test_revert_counts_are_forgotten_once_the_batch_or_refund_leaves_flight() -> None:
    store = FakeStore()
    store.heads = [head(1), head(3)]
    store.refunds_in_flight = [refund(WAITING_REFUND), refund(REFUSED_REFUND)]
    sub = submitter(store)
    await sub.step()
    assert store.refund_states == [(REFUSED_REFUND, RefundState.REFUSED)]
    assert len(sub._reverts) == 3  # both batches reverted once; the refused refund once
    assert len(sub._waiting) == 1  # the waiting refund

    store.heads = [head(3)]  # batch 1..2 executed by another relayer: no longer in flight
    store.refunds_in_flight = []  # one refund refused, the other refunded
    await sub.step()
    assert len(sub._reverts) == 1  # only batch 3..4, still in flight (and reverted again)
    assert len(sub._waiting) == 0

    store.heads = []
    await sub.step()
    assert len(sub._reverts) == 0
