"""The states a transfer, batch and refund move through, and the records the store keeps of them.

Pure data and the one rule of how a transfer's state may move (`transfer_may_move`); the store
(`relayer.adapters.store`) reads and writes them, the pipeline and operations read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from relayer.core.types import Batch, BatchId, Route, Transfer


class TransferState(StrEnum):
    FINAL = "final"
    BATCHED = "batched"
    SIGNED = "signed"
    AGGREGATED = "aggregated"
    SUBMITTED = "submitted"
    EXECUTED = "executed"
    HELD = "held"  # executed, held on the destination for its challenge window (TransferHeld)
    QUEUED = "queued"  # executed, waiting in its token's release queue on the destination (TransferQueued)
    RELEASED = "released"  # delivered on the destination by `releaseQueued`, after a hold or the queue
    FAILED = "failed"
    REFUNDED = "refunded"  # failed on the destination, paid back to the sender on the source


# The order a transfer's state moves along, and never back: what each member records depends on the
# order it learns the facts (its own receipt, another relayer's execution, the destination's
# TransferFailed, the refund on the source), so the state is the latest of them in this order and
# every member ends in the same one. `executed` means its batch executed on the destination; a
# transfer the destination held for its challenge window moves on to `held` (until when, in its
# detail), one it queued behind the rate limit to `queued` (a held one the release queues goes from
# `held` to `queued`), and either to `released` once `releaseQueued` delivered it; a transfer the
# destination did not deliver (when its batch ran, when it was released, or vetoed while held)
# moves on to `failed` (the reason in words) and then `refunded`. A batch that reverts is also
# `failed`; an operator's `retry` puts it back.
TRANSFER_ORDER: tuple[TransferState, ...] = (
    TransferState.FINAL,
    TransferState.BATCHED,
    TransferState.SIGNED,
    TransferState.AGGREGATED,
    TransferState.SUBMITTED,
    TransferState.EXECUTED,
    TransferState.HELD,
    TransferState.QUEUED,
    TransferState.RELEASED,
    TransferState.FAILED,
    TransferState.REFUNDED,
)
# states in which a transfer waits on its destination after its batch executed: neither delivered
# nor failed, not the pipeline's backlog either (relayer.pipeline.releaser releases them)
WAITING_STATES = (TransferState.HELD, TransferState.QUEUED)
# states in which nothing is left for the pipeline to carry (a `pending` transfer is in none of them)
SETTLED_STATES = (
    TransferState.EXECUTED,
    TransferState.HELD,
    TransferState.QUEUED,
    TransferState.RELEASED,
    TransferState.FAILED,
    TransferState.REFUNDED,
)
RETRY_TARGETS = (TransferState.BATCHED, TransferState.AGGREGATED)
# what a re-keyed batch's transfers may come back from (relayer.core.keyring): signed or combined
# under a key epoch the destination no longer accepts, or refused by it for that reason
REKEY_SOURCES = (TransferState.SIGNED, TransferState.AGGREGATED, TransferState.FAILED)


def transfer_may_move(
    current: TransferState, proposed: TransferState, *, retry: bool = False, rekey: bool = False
) -> bool:
    """Whether a transfer in state `current` may be recorded in `proposed` (the one rule).

    Forward in TRANSFER_ORDER only. `submitted` may be recorded again (a replacement transaction,
    with its own history line). An operator's retry (`retry`) may put a `failed` transfer back to
    `batched` or `aggregated`; a re-key of its batch (`rekey`: the destination no longer accepts
    the key epoch it was signed under) puts a `signed`, `aggregated` or `failed` one back to
    `batched`; nothing ever goes back from `executed` or a later state.
    """
    if retry and current == TransferState.FAILED and proposed in RETRY_TARGETS:
        return True
    if rekey and current in REKEY_SOURCES and proposed == TransferState.BATCHED:
        return True
    if current == proposed:
        return proposed == TransferState.SUBMITTED
    return TRANSFER_ORDER.index(proposed) > TRANSFER_ORDER.index(current)


class RefundState(StrEnum):
    OBSERVED = "observed"  # a final TransferFailed on the destination
    APPROVED = "approved"  # this node checked it (own transfer, destination Failed at its final
    # head) and recorded the REFUND message (and its own partial, if a member)
    AGGREGATED = "aggregated"  # threshold signature combined and verified
    SUBMITTED = "submitted"  # a refund transaction was sent
    REFUNDED = "refunded"  # the source reports it refunded (final)
    REFUSED = "refused"  # the destination says Delivered: never refunded (an operator looks)


class BatchState(StrEnum):
    PENDING = "pending"  # cut from final transfers, not yet combined
    AGGREGATED = "aggregated"  # threshold signature combined and verified
    SUBMITTED = "submitted"  # a transaction carrying it was sent
    EXECUTED = "executed"  # the destination reports it executed
    FAILED = "failed"  # the destination refused it deterministically


# the state a batch's transfers move to when the batch moves to a state (as far as each may move:
# `transfer_may_move`); PENDING is an operator's retry of a batch that was never combined
BATCH_TO_TRANSFER: dict[BatchState, TransferState] = {
    BatchState.AGGREGATED: TransferState.AGGREGATED,
    BatchState.SUBMITTED: TransferState.SUBMITTED,
    BatchState.EXECUTED: TransferState.EXECUTED,
    BatchState.FAILED: TransferState.FAILED,
    BatchState.PENDING: TransferState.BATCHED,
}


def transfer_state_for(state: BatchState) -> TransferState:
    """The state a batch's transfers are recorded in when the batch moves to `state`."""
    return BATCH_TO_TRANSFER[state]


class Equivocation(Exception):
    """Signing this item would contradict something this member already signed
    (`relayer.core.signing.signed_once`)."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    batch: Batch
    root: bytes
    message: bytes
    state: BatchState
    signature: bytes | None
    tx_hash: str | None
    created_at: float
    updated_at: float

    @property
    def id(self) -> BatchId:
        return self.batch.id

    @property
    def key_epoch(self) -> int:
        return self.batch.key_epoch


@dataclass(frozen=True, slots=True)
class BatchHead:
    """A stored batch without its transfers: what signing, aggregation and the submitter's
    bookkeeping need (loading 100 transfers per look was most of a busy node's time)."""

    id: BatchId
    key_epoch: int
    dst_contract: str
    root: bytes
    message: bytes
    state: BatchState
    signature: bytes | None
    tx_hash: str | None
    created_at: float
    updated_at: float


AnyBatch: TypeAlias = StoredBatch | BatchHead
"""A stored batch with or without its transfers."""


@dataclass(frozen=True, slots=True)
class TxRecord:
    """One signed transaction carrying a batch (replacements share the nonce)."""

    tx_hash: str
    chain_id: int
    account: str
    nonce: int
    max_fee: int
    priority_fee: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class ObservedFailure:
    """A final `TransferFailed(srcChainId, nonce, reason)` of the destination endpoint."""

    route: Route
    nonce: int
    reason: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class WaitReason(StrEnum):
    """Why a destination keeps a transfer it executed instead of delivering it (one release queue,
    two reasons: docs/PROTOCOL.md, "Sentinels: curse, veto and the challenge window")."""

    HELD = "held"  # at or above its token's challenge threshold: held for the challenge period
    QUEUED = "queued"  # its token's inbound rate limit had no room: first in, first out


@dataclass(frozen=True, slots=True)
class ObservedWait:
    """A final `TransferHeld(srcChainId, nonce, leaf, amount, releaseAfter)` or
    `TransferQueued(srcChainId, nonce, leaf, amount)` of the destination endpoint
    (`release_after` is 0 for a queued one)."""

    route: Route
    nonce: int
    reason: WaitReason
    leaf: bytes
    amount: int
    release_after: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True, slots=True)
class StoredRefund:
    route: Route
    nonce: int
    reason: int
    state: RefundState
    key_epoch: int | None
    message: bytes | None
    partial: bytes | None  # this member's own partial
    signature: bytes | None
    tx: TxRecord | None  # the latest refund transaction sent
    detail: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TransferRow:
    transfer: Transfer
    state: TransferState
    block_number: int
    tx_hash: str
    detail: str
    created_at: float
    updated_at: float
    batch_first: int | None = None  # the first nonce of the batch it is in (None: not batched)


@dataclass(frozen=True, slots=True)
class TransferBatch:
    """The batch a stored transfer is in, as an operator's retry needs it."""

    batch_first: int | None  # None: not batched yet
    state: BatchState | None  # None: not batched, or its batch is not stored
    signed: bool  # the batch carries a combined signature
