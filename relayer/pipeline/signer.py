"""The signer stage: a member signs each batch it cut itself once, records the partial, then publishes it.

The signed-once rule (the store's `record_signature`, through `signed_items` as every kind) is
written before anything leaves the node, so a crash between signing and publishing never signs
twice; `republish` sends the recorded partials again until their batch executes, so a lost message
heals.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from committee.bls import BlsBackend
from committee.threshold import partial_sign
from relayer import metrics
from relayer.core.keyring import Keyring
from relayer.core.messages import PartialMessage
from relayer.core.states import AnyBatch, BatchState
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.ports import PartialPublisher, SignStore
from relayer.pipeline.signing import EQUIVOCATION, signed_once

log = structlog.get_logger(__name__)


@dataclass
class Signer:
    """Signs as `member` with its share of each batch's key epoch (`keyring`; a node that holds no
    share signs nothing)."""

    member: int
    store: SignStore
    keyring: Keyring
    backend: BlsBackend
    publisher: PartialPublisher

    async def sign(self, stored: AnyBatch) -> bool:
        """Sign a batch this node cut itself, once.

        The signed-once guard records the partial before it is published; a batch signed before a
        restart is not signed again (the periodic re-publication sends the recorded partial).
        Returns True if a new partial was made.
        """
        share = self.keyring.share(stored.key_epoch)
        if share is None:
            return False
        bid = stored.id
        if await self.store.signed_partial(bid, stored.key_epoch) is not None:
            return False
        partial = partial_sign(share, stored.message, self.backend)
        record = self.store.record_signature(bid, stored.key_epoch, stored.root, stored.message, partial)
        kept = await signed_once(record, batch=str(bid))
        if kept is EQUIVOCATION:
            return False
        metrics.PARTIALS_SIGNED.inc()
        log.info("batch_signed", batch=str(bid))
        await self.store.add_partial(bid, self.member, stored.message, kept)
        self._publish(stored, kept)
        crashpoint("after_publish")
        return True

    def _publish(self, stored: AnyBatch, partial: bytes) -> None:
        msg = PartialMessage(self.member, stored.id, stored.key_epoch, stored.root, stored.message, partial)
        self.publisher.publish_partial(msg)

    async def republish(self) -> None:
        """Re-publish this member's partials for batches not yet executed (lost messages heal)."""
        if all(self.keyring.share(e) is None for e in self.keyring.epochs):
            return
        for stored in await self.store.batch_heads(
            [BatchState.PENDING, BatchState.AGGREGATED, BatchState.SUBMITTED], limit=200
        ):
            partial = await self.store.signed_partial(stored.id, stored.key_epoch)
            if partial is not None:
                self._publish(stored, partial)
