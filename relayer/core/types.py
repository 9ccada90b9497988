"""Typed values of the bridge. An invalid transfer or batch cannot exist in memory."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NewType

from eth_utils.address import is_checksum_address

ChainId = NewType("ChainId", int)
Nonce = NewType("Nonce", int)

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
MAX_BROKERS = 16  # brokers a member may use, and a heartbeat may name
BROKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # a broker's name in config and heartbeats


@functools.lru_cache(maxsize=1 << 16)
def _checksummed(value: str) -> bool:
    """EIP-55 checked once per distinct address (a keccak each time was most of a busy node's
    CPU: the same few addresses recur in every batch loaded from the store)."""
    return is_checksum_address(value)


def _check_address(name: str, value: str) -> None:
    if not isinstance(value, str) or not _checksummed(value):
        raise ValueError(f"{name}: {value!r} is not a checksummed address")


@dataclass(frozen=True, slots=True)
class Route:
    """A one-way path of transfers: nonces are counted per route by the source contract."""

    src: ChainId
    dst: ChainId

    def __post_init__(self) -> None:
        if self.src <= 0 or self.dst <= 0:
            raise ValueError(f"route {self.src}->{self.dst}: chain ids must be positive")
        if self.src == self.dst:
            raise ValueError(f"route {self.src}->{self.dst}: source and destination are the same")

    def __str__(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer as emitted by `TransferInitiated` on the source chain."""

    src_chain_id: ChainId
    dst_chain_id: ChainId
    nonce: Nonce
    src_token: str
    dst_token: str
    sender: str
    recipient: str
    amount: int

    def __post_init__(self) -> None:
        Route(self.src_chain_id, self.dst_chain_id)
        if not 1 <= self.nonce <= UINT64_MAX:
            raise ValueError(f"transfer nonce {self.nonce}: must be in 1..2^64-1")
        for name in ("src_token", "dst_token", "sender", "recipient"):
            value = getattr(self, name)
            _check_address(name, value)
            if value == ZERO_ADDRESS:
                raise ValueError(f"transfer {self.nonce}: {name} is the zero address")
        if not 0 < self.amount <= UINT256_MAX:
            raise ValueError(f"transfer {self.nonce}: amount {self.amount} must be in 1..2^256-1")

    @property
    def route(self) -> Route:
        return Route(self.src_chain_id, self.dst_chain_id)

    def as_abi_tuple(self) -> tuple[int, int, int, str, str, str, str, int]:
        """The eight-field `Transfer` struct as web3 passes it to `executeTransfer`,
        `releaseQueued`, `refund` and `refundMessage` (a batch goes packed: `packed_batch`)."""
        return (
            self.src_chain_id,
            self.dst_chain_id,
            self.nonce,
            self.src_token,
            self.dst_token,
            self.sender,
            self.recipient,
            self.amount,
        )


@dataclass(frozen=True, slots=True)
class BatchId:
    """Names a batch: a contiguous nonce range on one route."""

    route: Route
    first_nonce: Nonce
    last_nonce: Nonce

    def __post_init__(self) -> None:
        if not 1 <= self.first_nonce <= self.last_nonce <= UINT64_MAX:
            raise ValueError(f"batch {self.first_nonce}..{self.last_nonce}: need 1 <= first <= last < 2^64")

    @property
    def size(self) -> int:
        return self.last_nonce - self.first_nonce + 1

    def overlaps(self, other: BatchId) -> bool:
        return (
            self.route == other.route
            and self.first_nonce <= other.last_nonce
            and other.first_nonce <= self.last_nonce
        )

    def __str__(self) -> str:
        return f"{self.route}#{self.first_nonce}-{self.last_nonce}"


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch of transfers in nonce order, addressed to one destination contract and key epoch."""

    transfers: tuple[Transfer, ...]
    dst_contract: str
    key_epoch: int

    def __post_init__(self) -> None:
        if not self.transfers:
            raise ValueError("batch: empty")
        _check_address("dst_contract", self.dst_contract)
        if not 1 <= self.key_epoch <= UINT64_MAX:
            raise ValueError(f"batch: key epoch {self.key_epoch} must be in 1..2^64-1")
        first = self.transfers[0]
        for offset, t in enumerate(self.transfers):
            if t.route != first.route:
                raise ValueError(f"batch: transfer {t.nonce} is on route {t.route}, not {first.route}")
            if t.nonce != first.nonce + offset:
                raise ValueError(
                    f"batch: nonces not contiguous at {t.nonce} (expected {first.nonce + offset})"
                )

    @property
    def id(self) -> BatchId:
        return BatchId(
            self.transfers[0].route,
            self.transfers[0].nonce,
            self.transfers[-1].nonce,
        )


TokenPairTuple = tuple[str, str]
"""`QiaoEndpoint.TokenPair` as web3 passes it: (srcToken, dstToken)."""
PackedTransferTuple = tuple[str, str, int]
"""`QiaoEndpoint.PackedTransfer` as web3 passes it: (sender, recipient, amount)."""
PackedBatchTuple = tuple[int, int, int, list[TokenPairTuple], bytes, list[PackedTransferTuple]]
"""`QiaoEndpoint.PackedBatch`: (srcChainId, dstChainId, firstNonce, pairs, pairOf, transfers)."""

MAX_PAIRS_PER_BATCH = 256


def packed_batch(batch: Batch) -> PackedBatchTuple:
    """The calldata form of `batch` for `executeBatch` and `batchMessage` (docs/PROTOCOL.md):
    the route and the first nonce once (nonces are contiguous, so transfer i has firstNonce + i),
    the distinct token pairs in order of first appearance, one pair-index byte per transfer, and
    (sender, recipient, amount) per transfer. The contract rebuilds the eight-field transfers from
    it, so the leaves and the signed message are those of `relayer.core.encoding.batch_message`."""
    pairs: list[TokenPairTuple] = []
    index: dict[TokenPairTuple, int] = {}
    pair_of = bytearray()
    for t in batch.transfers:
        pair = (t.src_token, t.dst_token)
        if pair not in index:
            if len(pairs) == MAX_PAIRS_PER_BATCH:
                raise ValueError(f"batch {batch.id}: more than {MAX_PAIRS_PER_BATCH} token pairs")
            index[pair] = len(pairs)
            pairs.append(pair)
        pair_of.append(index[pair])
    first = batch.transfers[0]
    return (
        first.src_chain_id,
        first.dst_chain_id,
        first.nonce,
        pairs,
        bytes(pair_of),
        [(t.sender, t.recipient, t.amount) for t in batch.transfers],
    )


def execute_batch_args(batch: Batch, signature: bytes) -> tuple[int, PackedBatchTuple, bytes]:
    """The arguments of `executeBatch(keyEpoch, batch, signature)` for `batch`; `signature` is
    passed as given (the contract wants the 128-byte EIP-2537 form; see
    `relayer.core.calldata.execute_batch_call` for the 48-byte wire form)."""
    return (batch.key_epoch, packed_batch(batch), signature)
