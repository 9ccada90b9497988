"""The small interfaces each pipeline stage needs from the store, the chains and the transport.

The stages take these `Protocol`s, not the concrete `Store`, `ChainClient` and `Transport`, so each
stage's needs are written down in one place and a stage can be driven by a fake in a test. The
concrete adapters satisfy them structurally (mypy checks that where the node wires them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from relayer.core.batching import Located
from relayer.core.messages import ActionPartialMessage, PartialMessage, ProposalMessage, RefundPartialMessage
from relayer.core.releases import ReleaseFacts
from relayer.core.states import (
    BatchHead,
    BatchState,
    Equivocation,
    ObservedFailure,
    ObservedWait,
    RefundState,
    StoredBatch,
    StoredRefund,
    TransferRow,
)
from relayer.core.types import Batch, BatchId, ChainId, Route, Transfer


class WatchStore(Protocol):
    """What the watcher reads and writes: the durable scan cursor and the transfers it finds."""

    async def cursor(self, chain_id: ChainId) -> int | None: ...

    async def cursor_hash(self, chain_id: ChainId) -> str: ...

    async def record_scan(
        self,
        chain_id: ChainId,
        next_block: int,
        events: list[tuple[Located, str, str, int]],
        last_hash: str = "",
        failures: Sequence[ObservedFailure] = (),
        waits: Sequence[ObservedWait] = (),
    ) -> list[Transfer]: ...


class ReleaseStore(Protocol):
    """What the release stage reads and writes: the transfers their destination keeps."""

    async def waiting(self, dst: int, limit: int = 100) -> list[TransferRow]: ...

    async def mark_released(self, route: Route, nonce: int, detail: str) -> bool: ...


class ReleaseChain(Protocol):
    """What the release stage reads of a destination chain."""

    @property
    def chain_id(self) -> ChainId: ...

    async def release_facts(self, t: Transfer, leaf: bytes) -> ReleaseFacts: ...

    async def transfer_status(self, src: ChainId, nonce: int) -> int | None: ...

    async def kept_at(self, src: ChainId, nonce: int, block: int | str) -> tuple[int, int]: ...


class BatchStore(Protocol):
    """What the batcher reads and writes: scanned transfers in, cut batches out."""

    async def cursor(self, chain_id: ChainId) -> int | None: ...

    async def route_progress(self, route: Route) -> tuple[int, int]: ...

    async def transfers_in_blocks(self, route: Route, first: int, last: int) -> list[Located]: ...

    async def record_batches(
        self,
        route: Route,
        batches: list[tuple[Batch, bytes, bytes]],
        batched_through_block: int,
        next_nonce: int,
    ) -> None: ...

    async def batch_heads(
        self, states: Iterable[BatchState], dst: ChainId | None = None, limit: int = 100
    ) -> list[BatchHead]: ...

    async def batch(self, route: Route, first_nonce: int) -> StoredBatch | None: ...

    async def rekey_batch(self, bid: BatchId, key_epoch: int, message: bytes, detail: str) -> bool: ...


class SignStore(Protocol):
    """What the signer needs: the signed-once guard and this member's recorded partials."""

    async def signed_partial(self, bid: BatchId, key_epoch: int | None = None) -> bytes | None: ...

    async def record_signatures(
        self, member: int, signed: Sequence[tuple[BatchId, int, bytes, bytes, bytes]]
    ) -> list[tuple[bytes, bool] | Equivocation]: ...

    async def batch_heads(
        self, states: Iterable[BatchState], dst: ChainId | None = None, limit: int = 100
    ) -> list[BatchHead]: ...


class AggregateStore(Protocol):
    """What the aggregator needs: batches this node cut, the partials kept for them, the verdict."""

    async def route_progress(self, route: Route) -> tuple[int, int]: ...

    async def batch_and_partials(
        self, bid: BatchId
    ) -> tuple[BatchHead | None, list[tuple[int, int, bytes, bytes]]]: ...

    async def put_partial(self, bid: BatchId, member: int, message: bytes, partial: bytes) -> None: ...

    async def drop_partial(self, bid: BatchId, member: int) -> None: ...

    async def set_batch_state(
        self,
        bid: BatchId,
        state: BatchState,
        detail: str = "",
        *,
        signature: bytes | None = None,
        tx_hash: str | None = None,
        retry: bool = False,
    ) -> None: ...


class RefundStore(Protocol):
    """What the refund stage needs: failures seen final, their approval, partials and verdict."""

    async def transfer(self, route: Route, nonce: int) -> Transfer | None: ...

    async def refund(self, route: Route, nonce: int) -> StoredRefund | None: ...

    async def refunds(
        self, states: Iterable[RefundState], src: ChainId | None = None, limit: int = 100
    ) -> list[StoredRefund]: ...

    async def approve_refund(
        self,
        route: Route,
        nonce: int,
        key_epoch: int,
        message: bytes,
        partial: bytes | None,
        *,
        contract: str = "",
        leaf: bytes = b"",
    ) -> bytes | None: ...

    async def set_refund_state(
        self, route: Route, nonce: int, state: RefundState, detail: str, *, signature: bytes | None = None
    ) -> bool: ...

    async def put_refund_partial(
        self, route: Route, nonce: int, member: int, message: bytes, partial: bytes
    ) -> None: ...

    async def drop_refund_partial(self, route: Route, nonce: int, member: int) -> None: ...

    async def rekey_refund(
        self,
        route: Route,
        nonce: int,
        key_epoch: int,
        message: bytes,
        partial: bytes | None,
        *,
        contract: str,
        detail: str,
        leaf: bytes = b"",
    ) -> bytes | bool | None: ...

    async def refund_partials_for(self, route: Route, nonce: int) -> list[tuple[int, bytes, bytes]]: ...


class PartialPublisher(Protocol):
    """Where the signer sends this member's batch partials (the broker)."""

    def publish_partial(self, msg: PartialMessage) -> None: ...


class RefundPublisher(Protocol):
    """Where the refund stage sends this member's refund partials (the broker)."""

    def publish_refund(self, msg: RefundPartialMessage) -> None: ...


class RefundChain(Protocol):
    """What the refund stage asks a chain: a transfer's status on its destination, and whether
    its refund is final on the source."""

    async def transfer_status(self, src: ChainId, nonce: int) -> int | None: ...

    async def is_refunded(self, dst: ChainId, nonce: int, *, final: bool = True) -> bool: ...


class ActionPublisher(Protocol):
    """Where the action stage sends this member's action partials and proposals (the broker)."""

    def publish_action(self, msg: ActionPartialMessage) -> None: ...

    def publish_proposal(self, msg: ProposalMessage) -> None: ...
