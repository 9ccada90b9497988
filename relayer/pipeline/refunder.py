"""The refund stage: approves, signs and aggregates refunds of transfers failed on their destination.

A failure seen final is checked against the destination's status and this node's own copy of the
transfer (relayer.core.refunds); an approved refund is recorded, then its partial published, and t
agreeing partials are combined for the source chain's submitter. Signing once, judging partials
and combining them are the steps every kind shares (relayer.pipeline.signing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from committee.bls import BlsBackend
from committee.threshold import partial_sign
from relayer import metrics
from relayer.config import NodeConfig
from relayer.core.arrivals import Facts, PartialOutcome
from relayer.core.encoding import leaf_hash, refund_message
from relayer.core.keyring import EndpointEpochs, Keyring
from relayer.core.messages import RefundPartialMessage
from relayer.core.refunds import RefundDecision, decide_refund, refund_facts
from relayer.core.states import RefundState, StoredRefund
from relayer.core.types import ChainId, Route
from relayer.pipeline.halts import Halts
from relayer.pipeline.ports import RefundChain, RefundPublisher, RefundStore
from relayer.pipeline.signing import EQUIVOCATION, Offered, Partials, signed_once

log = structlog.get_logger(__name__)


@dataclass
class Refunder:
    """Refunds on every configured route; `lock` is the aggregator's (one judge at a time)."""

    cfg: NodeConfig
    store: RefundStore
    chains: Mapping[ChainId, RefundChain]
    keyring: Keyring  # the key epochs this member holds (relayer.core.keyring)
    epochs: EndpointEpochs  # the epoch each endpoint is at: a refund is signed under its source's
    backend: BlsBackend
    publisher: RefundPublisher
    halts: Halts
    lock: asyncio.Lock
    partials: Partials = field(init=False)

    def __post_init__(self) -> None:
        self.partials = Partials(
            self.keyring, self.backend, self.cfg.member_index, self.lock, metrics.REFUND_PARTIALS_RECEIVED
        )

    async def approve_refunds(self) -> None:
        """Check every failure seen final and sign (record, then publish) its refund once."""
        for r in await self.store.refunds([RefundState.OBSERVED], limit=100):
            chain = self.chains.get(r.route.dst)
            if chain is None or self.halts.stopped(r.route):
                continue
            own = await self.store.transfer(r.route, r.nonce)
            try:
                status = await chain.transfer_status(r.route.src, r.nonce)
            except Exception as exc:
                log.warning("refund_status_check_failed", route=str(r.route), nonce=r.nonce, error=repr(exc))
                continue
            verdict = decide_refund(own, status)
            if verdict.decision is RefundDecision.REFUSE:
                await self.store.set_refund_state(r.route, r.nonce, RefundState.REFUSED, verdict.why)
                log.critical("refund_refused", route=str(r.route), nonce=r.nonce, why=verdict.why)
                continue
            if verdict.decision is RefundDecision.WAIT or own is None:
                continue
            src_endpoint = self.cfg.chain_by_id(r.route.src).endpoint
            epoch = self.epochs.cut_epoch(r.route.src)
            if epoch is None:  # the source is at a key epoch this member holds no key of
                continue
            message = refund_message(own, src_endpoint, epoch)
            share = self.keyring.share(epoch)
            partial = partial_sign(share, message, self.backend) if share is not None else None
            record = self.store.approve_refund(
                r.route, r.nonce, epoch, message, partial, contract=src_endpoint, leaf=leaf_hash(own)
            )
            kept = await signed_once(record, route=str(r.route), nonce=r.nonce)
            if kept is EQUIVOCATION:
                continue
            log.info("refund_approved", route=str(r.route), nonce=r.nonce, signer=kept is not None)
            if kept is not None:
                metrics.REFUNDS_SIGNED.inc()
                await self.store.put_refund_partial(r.route, r.nonce, self.cfg.member_index, message, kept)
                self._publish_refund(r.route, r.nonce, epoch, message, kept)
            await self.try_aggregate_refund(r.route, r.nonce)

    async def rekey(self) -> int:
        """Approve again, under the source's current key epoch, the refunds approved under an older
        one and not sent: those not yet combined always (the members that approved just before
        and just after the source switched agree again on one message), combined ones only once
        the source no longer accepts their epoch (relayer.core.keyring). Returns how many."""
        done = 0
        for r in await self.store.refunds([RefundState.APPROVED, RefundState.AGGREGATED], limit=200):
            epoch = self.epochs.cut_epoch(r.route.src)
            if epoch is None or r.key_epoch is None or r.key_epoch >= epoch or self.halts.stopped(r.route):
                continue
            if r.state == RefundState.AGGREGATED and self.epochs.accepts(r.route.src, r.key_epoch):
                continue
            own = await self.store.transfer(r.route, r.nonce)
            if own is None:
                continue
            src_endpoint = self.cfg.chain_by_id(r.route.src).endpoint
            message = refund_message(own, src_endpoint, epoch)
            share = self.keyring.share(epoch)
            partial = partial_sign(share, message, self.backend) if share is not None else None
            detail = f"re-keyed from key epoch {r.key_epoch} to {epoch}, the source's"
            record = self.store.rekey_refund(
                r.route,
                r.nonce,
                epoch,
                message,
                partial,
                contract=src_endpoint,
                detail=detail,
                leaf=leaf_hash(own),
            )
            kept = await signed_once(record, route=str(r.route), nonce=r.nonce)
            if kept is EQUIVOCATION or kept is False:
                continue
            done += 1
            log.warning(
                "refund_rekeyed", route=str(r.route), nonce=r.nonce, old_epoch=r.key_epoch, new_epoch=epoch
            )
            if isinstance(kept, bytes):
                await self.store.put_refund_partial(r.route, r.nonce, self.cfg.member_index, message, kept)
                self._publish_refund(r.route, r.nonce, epoch, message, kept)
            self.partials.forget((r.route, r.nonce))
        return done

    def _publish_refund(self, route: Route, nonce: int, epoch: int, message: bytes, partial: bytes) -> None:
        self.publisher.publish_refund(
            RefundPartialMessage(self.cfg.member_index, route, nonce, epoch, message, partial)
        )

    async def republish_refunds(self) -> None:
        """Re-publish this member's refund partials until the refund is final on the source."""
        states = [RefundState.APPROVED, RefundState.AGGREGATED, RefundState.SUBMITTED]
        for r in await self.store.refunds(states, limit=200):
            if r.partial is not None and r.message is not None and r.key_epoch is not None:
                self._publish_refund(r.route, r.nonce, r.key_epoch, r.message, r.partial)

    async def sweep_refunded(self) -> None:
        """Mark refunds that are final on their source (another relayer sent it, or this node
        relays nothing), so nothing is re-published for them any longer."""
        states = [RefundState.APPROVED, RefundState.AGGREGATED, RefundState.SUBMITTED]
        for r in await self.store.refunds(states, limit=100):
            chain = self.chains.get(r.route.src)
            if chain is None:
                continue
            try:
                done = await chain.is_refunded(r.route.dst, r.nonce)
            except Exception as exc:
                log.warning("refunded_check_failed", route=str(r.route), nonce=r.nonce, error=repr(exc))
                continue
            if done and await self.store.set_refund_state(
                r.route, r.nonce, RefundState.REFUNDED, "refunded on the source (final)"
            ):
                metrics.REFUNDS_REFUNDED.labels(str(r.route.src)).inc()
                log.info("transfer_refunded", route=str(r.route), nonce=r.nonce)

    async def on_refund_partial(self, msg: RefundPartialMessage) -> None:
        """Judge a refund partial from the broker (relayer.core.refunds), keep it if it earns a place,
        and aggregate when it completes a refund this node approved."""
        judged = await self.partials.judge(msg, lambda: self._facts(msg), lambda _: self._keep(msg))
        outcome = judged.outcome
        if outcome in (PartialOutcome.INVALID, PartialOutcome.NOT_MEMBER, PartialOutcome.OWN):
            log.warning(
                "refund_partial_refused",
                route=str(msg.route),
                nonce=msg.nonce,
                member=msg.member,
                outcome=outcome.value,
            )
        if outcome == PartialOutcome.KEPT:
            await self.try_aggregate_refund(msg.route, msg.nonce)

    async def _facts(self, msg: RefundPartialMessage) -> Facts:
        holds = False
        expected: bytes | None = None
        late = False
        stored: tuple[bytes, bytes] | None = None
        if self.keyring.is_member(msg.member) and msg.route in self.cfg.routes:
            holds = await self.store.transfer(msg.route, msg.nonce) is not None
            r = await self.store.refund(msg.route, msg.nonce)
            if r is not None:
                late = r.state not in (RefundState.OBSERVED, RefundState.APPROVED)
                expected = r.message if r.state == RefundState.APPROVED else None
            for member, message, partial in await self.store.refund_partials_for(msg.route, msg.nonce):
                if member == msg.member:
                    stored = (message, partial)
        return refund_facts(msg, self.cfg.routes, holds, expected, late, stored)

    async def _keep(self, msg: RefundPartialMessage) -> None:
        await self.store.put_refund_partial(msg.route, msg.nonce, msg.member, msg.message, msg.partial)
        self.partials.verified((msg.route, msg.nonce), msg.member, msg.message, msg.partial, msg.key_epoch)

    async def try_aggregate_refund(self, route: Route, nonce: int) -> bool:
        async with self.lock:
            r = await self.store.refund(route, nonce)
            if r is None or r.state != RefundState.APPROVED or r.message is None:
                return False
            return await self._aggregate_refund(r, r.message)

    async def _aggregate_refund(self, r: StoredRefund, message: bytes) -> bool:
        kept = await self.store.refund_partials_for(r.route, r.nonce)
        offered = [Offered(member, their_message, partial) for member, their_message, partial in kept]
        combined = self.partials.combine((r.route, r.nonce), message, offered, r.key_epoch)
        for member, _ in combined.invalid:  # an early partial on another message, or one that does not verify
            metrics.REFUND_PARTIALS_RECEIVED.labels(str(member), "invalid").inc()
            log.warning("refund_partial_invalid", route=str(r.route), nonce=r.nonce, member=member)
            await self.store.drop_refund_partial(r.route, r.nonce, member)
        if combined.unverified:
            log.error("combined_refund_signature_invalid", route=str(r.route), nonce=r.nonce)
        if combined.signature is None:
            return False
        await self.store.set_refund_state(
            r.route,
            r.nonce,
            RefundState.AGGREGATED,
            f"refund signed by {list(combined.members)}",
            signature=combined.signature,
        )
        log.info("refund_aggregated", route=str(r.route), nonce=r.nonce, members=list(combined.valid))
        return True
