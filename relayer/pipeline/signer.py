"""The signer stage: a member signs each batch it cut itself once, records the partial, then publishes it.

The signed-once rule (the store's `record_signature`, through `signed_items` as every kind) is
written before anything leaves the node, so a crash between signing and publishing never signs
twice; `republish` sends the recorded partials again until their batch executes, so a lost message
heals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from committee.bls import BlsBackend
from committee.threshold import partial_sign
from relayer import metrics
from relayer.core.keyring import Keyring
from relayer.core.messages import PartialMessage
from relayer.core.states import AnyBatch, BatchState, Equivocation
from relayer.core.types import BatchId
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.ports import PartialPublisher, SignStore
from relayer.pipeline.signing import refused

log = structlog.get_logger(__name__)

REMEMBERED_SIGNATURES = 2_000  # recorded partials kept in memory before `republish` prunes them


@dataclass
class Signer:
    """Signs as `member` with its share of each batch's key epoch (`keyring`; a node that holds no
    share signs nothing)."""

    member: int
    store: SignStore
    keyring: Keyring
    backend: BlsBackend
    publisher: PartialPublisher
    # (batch, key epoch) -> the partial recorded for it, as this process recorded or read it: a tick
    # does not ask the store again for each pending batch, nor a re-publication for each partial
    # (bounded: `republish` keeps those of the batches it re-publishes once there are many)
    _signed: dict[tuple[BatchId, int], bytes] = field(default_factory=dict, init=False)

    async def sign(self, stored: AnyBatch) -> bool:
        """Sign a batch this node cut itself, once.

        The signed-once guard records the partial before it is published; a batch signed before a
        restart is not signed again (the periodic re-publication sends the recorded partial).
        Returns True if a new partial was made.
        """
        return stored.id in await self.sign_all([stored])

    async def sign_all(self, batches: Sequence[AnyBatch]) -> set[BatchId]:
        """Sign each batch not signed yet: every signature is recorded (signed-once rule) in one store
        transaction, then the new ones are published. Returns the batches given a new partial."""
        todo: list[tuple[AnyBatch, bytes]] = []
        for stored in batches:
            share = self.keyring.share(stored.key_epoch)
            if share is None or (stored.id, stored.key_epoch) in self._signed:
                continue
            todo.append((stored, partial_sign(share, stored.message, self.backend)))
        if not todo:
            return set()
        recorded = await self.store.record_signatures(
            self.member, [(s.id, s.key_epoch, s.root, s.message, p) for s, p in todo]
        )
        made: set[BatchId] = set()
        for (stored, _), result in zip(todo, recorded, strict=True):
            if isinstance(result, Equivocation):
                refused(result, batch=str(stored.id))
                continue
            partial, new = result
            self._signed[(stored.id, stored.key_epoch)] = partial
            if not new:
                continue  # signed before a restart: the periodic re-publication sends it
            metrics.PARTIALS_SIGNED.inc()
            log.info("batch_signed", batch=str(stored.id))
            self._publish(stored, partial)
            made.add(stored.id)
        if made:
            crashpoint("after_publish")
        return made

    def _publish(self, stored: AnyBatch, partial: bytes) -> None:
        msg = PartialMessage(self.member, stored.id, stored.key_epoch, stored.root, stored.message, partial)
        self.publisher.publish_partial(msg)

    async def republish(self) -> None:
        """Re-publish this member's partials for batches not yet executed (lost messages heal)."""
        if all(self.keyring.share(e) is None for e in self.keyring.epochs):
            return
        heads = await self.store.batch_heads(
            [BatchState.PENDING, BatchState.AGGREGATED, BatchState.SUBMITTED], limit=200
        )
        for stored in heads:
            key = (stored.id, stored.key_epoch)
            partial = self._signed.get(key)
            if partial is None:
                partial = await self.store.signed_partial(stored.id, stored.key_epoch)
                if partial is not None:
                    self._signed[key] = partial
            if partial is not None:
                self._publish(stored, partial)
        if len(self._signed) > REMEMBERED_SIGNATURES:
            wanted = {(b.id, b.key_epoch) for b in heads}
            self._signed = {k: v for k, v in self._signed.items() if k in wanted}
