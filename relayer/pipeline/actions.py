"""The action stage: committee actions (relayer.core.items) from their origin to their outcome on-chain.

Each step, for every endpoint with open actions:
1. the registry watcher turns the consortium chain's final `FrozenSet`/`AllowedSet` events into
   FREEZE/ALLOW actions for the gateways that follow it (approved at once: no operator step);
2. an action signed for an action nonce the endpoint has used since is settled: its effect is
   on-chain (executed, or scheduled for a RESUME), or another action took the nonce and it is
   signed again for the next one;
3. every approved action whose turn it is (`relayer.core.items.decide`; for the registry's
   decisions, the oldest open one per account and kind) is signed for the endpoint's current
   nonce and key epoch: recorded in `signed_items` first, then published;
4. t verified partials on the same item are combined, checked, and sent by this node's relayer
   account (members take turns by rank, as for batches);
5. a scheduled RESUME is executed once its delay is over (`executePending`), unless the guardian
   cancelled it.
Everything is read back from the store and the chains at each step, so a crash anywhere resumes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from committee.bls import BlsBackend
from committee.threshold import (
    CommitteePublic,
    KeyShare,
    NotEnoughPartials,
    combine,
    partial_sign,
    verify,
    verify_partial,
)
from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.txsender import Reverted
from relayer.config import NodeConfig
from relayer.core.calldata import action_call_data, execute_pending_data
from relayer.core.encoding import ACTION_TYPEHASHES, action_message, action_params
from relayer.core.items import (
    CLOSED,
    DELAYED,
    PROPOSABLE,
    SIGNING,
    Action,
    ActionKind,
    ActionRecord,
    ActionRefused,
    ActionState,
    ActionView,
    Decision,
    EndpointView,
    FlagView,
    Origin,
    decide,
    onchain_text,
    proposal_id,
    queue_order,
    registry_action_id,
    registry_difference,
    superseded,
)
from relayer.core.messages import ActionPartialMessage, ProposalMessage
from relayer.core.states import Equivocation, TxRecord
from relayer.core.types import ChainId
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.ports import ActionPublisher
from relayer.pipeline.submitter import Submitter

log = structlog.get_logger(__name__)

STEP_SECONDS = 1.0  # the stage reads the endpoints at most this often
MAX_OPEN_PROPOSALS = 16  # per proposing member: a member flooding proposals cannot grow the store
PENDING_STATUS = {0: "none", 1: "pending", 2: "executed", 3: "cancelled"}


@dataclass
class ActionStage:
    cfg: NodeConfig
    store: Store
    chains: Mapping[ChainId, ChainClient]
    public: CommitteePublic
    share: KeyShare | None
    backend: BlsBackend
    publisher: ActionPublisher
    submitters: Mapping[ChainId, Submitter]
    lock: asyncio.Lock
    _last_step: float = -1e18
    _aggregated_at: dict[str, float] = field(default_factory=dict)
    _due_seen: dict[str, float] = field(default_factory=dict)

    # ---- what operators do (relayer actions ...) -----------------------------------------

    def _chain_named(self, name: str) -> ChainId:
        chain = self.cfg.chains.get(name)
        if chain is None:
            raise ActionRefused(f"no chain {name!r} here; configured: {', '.join(sorted(self.cfg.chains))}")
        return chain.chain_id

    async def propose(self, kind: str, chain: str, ttl: float | None = None) -> Action:
        """Propose a pause or a resume of `chain`'s endpoint: recorded, approved by this member's
        operator (who proposed it), and published for the other members' operators."""
        try:
            k = ActionKind(kind)
        except ValueError as exc:
            raise ActionRefused(
                f"unknown action {kind!r}; propose one of {[p.value for p in PROPOSABLE]}"
            ) from exc
        if k not in PROPOSABLE:
            raise ActionRefused(
                f"a {k} is not proposed by an operator; propose one of {[p.value for p in PROPOSABLE]}"
            )
        chain_id = self._chain_named(chain)
        ttl = self.cfg.actions.proposal_ttl if ttl is None else ttl
        if not 0 < ttl <= 7 * 24 * 3600:
            raise ActionRefused(f"--ttl {ttl}: must be between 0 and 604800 seconds")
        now = time.time()
        a = Action(
            id=proposal_id(self.cfg.member_index, secrets.token_hex(4)),
            kind=k,
            chain_id=chain_id,
            params=b"",
            origin=Origin.OPERATOR,
            proposer=self.cfg.member_index,
            created_at=now,
            expires_at=now + ttl,
            position=(int(now * 1000), 0),
        )
        await self.store.put_action(
            a, ActionState.APPROVED, "proposed and approved by this member's operator", approved_at=now
        )
        log.info("action_proposed", action=a.id, kind=a.kind.value, chain=chain, expires_at=a.expires_at)
        self._publish_proposal(a)
        return a

    async def approve(self, action_id: str) -> Action:
        """This member's operator approves a proposal: this member signs it from now on."""
        record = await self._known(action_id)
        if record.state is not ActionState.PROPOSED:
            raise ActionRefused(f"action {action_id} is {record.state}, not waiting for an approval")
        if record.action.expires_at is not None and time.time() >= record.action.expires_at:
            raise ActionRefused(f"action {action_id} expired; propose it again if it is still needed")
        await self.store.set_action_state(
            action_id, ActionState.APPROVED, "approved by this member's operator", approved_at=time.time()
        )
        log.info("action_approved", action=action_id, kind=record.action.kind.value)
        return record.action

    async def reject(self, action_id: str) -> Action:
        """This member's operator refuses a proposal: this member will not sign it."""
        record = await self._known(action_id)
        if record.state in CLOSED:
            raise ActionRefused(f"action {action_id} is {record.state} already")
        if record.state is not ActionState.PROPOSED:
            raise ActionRefused(
                f"action {action_id} is {record.state}: this member signed it already; the guardian "
                "can cancel a scheduled resume on-chain (deploy/runbooks/resume-after-guardian-pause.md)"
            )
        await self.store.set_action_state(
            action_id, ActionState.REFUSED, "rejected by this member's operator"
        )
        log.info("action_refused", action=action_id, why="rejected by this member's operator")
        return record.action

    async def _known(self, action_id: str) -> ActionRecord:
        record = await self.store.action_record(action_id)
        if record is None:
            raise ActionRefused(f"no action {action_id!r} on this member; `relayer actions list` shows them")
        return record

    async def view(self, record: ActionRecord) -> ActionView:
        signers: tuple[int, ...] = ()
        if record.action_nonce is not None and record.key_epoch is not None and record.message is not None:
            partials = await self.store.action_partials(
                record.action.id, record.action_nonce, record.key_epoch
            )
            signers = tuple(m for m, msg, _ in partials if msg == record.message)
        chain_now = None
        if record.state is ActionState.SCHEDULED:
            chain = self.chains.get(record.action.chain_id)
            if chain is not None:
                try:
                    chain_now = await chain.chain_time()
                except Exception:
                    chain_now = None
        return ActionView(
            action=record.action,
            state=record.state,
            detail=record.detail,
            created_at=record.action.created_at,
            expires_at=record.action.expires_at,
            approved_here=record.approved_at is not None,
            signers=signers,
            onchain=onchain_text(record.state, record.executable_at, chain_now),
            action_nonce=record.action_nonce,
            tx_hash=record.tx_hash,
            history=tuple(await self.store.action_history(record.action.id)),
        )

    async def actions(self, limit: int = 100) -> list[ActionView]:
        return [await self.view(r) for r in await self.store.action_records(limit=limit)]

    async def action(self, action_id: str) -> ActionView | None:
        record = await self.store.action_record(action_id)
        return None if record is None else await self.view(record)

    # ---- what arrives from the broker ------------------------------------------------------

    async def on_proposal(self, msg: ProposalMessage) -> None:
        """Keep another member's proposal as `proposed` (this member's operator decides)."""
        if msg.member == self.cfg.member_index:
            return  # its own, back from the broker
        if msg.member not in self.public.public_shares:
            log.warning("action_proposal_refused", action=msg.action_id, member=msg.member)
            return
        try:
            self.cfg.chain_by_id(msg.chain_id)
        except KeyError:
            log.warning("action_proposal_refused", action=msg.action_id, why=f"unknown chain {msg.chain_id}")
            return
        now = time.time()
        if msg.expires_at <= now or await self.store.action_record(msg.action_id) is not None:
            return
        if await self.store.open_proposals(msg.member) >= MAX_OPEN_PROPOSALS:
            log.warning(
                "action_proposal_refused",
                action=msg.action_id,
                member=msg.member,
                why=f"member {msg.member} has {MAX_OPEN_PROPOSALS} open proposals here already",
            )
            return
        a = Action(
            id=msg.action_id,
            kind=msg.kind,
            chain_id=ChainId(msg.chain_id),
            params=b"",
            origin=Origin.OPERATOR,
            proposer=msg.member,
            created_at=msg.created_at,
            expires_at=min(msg.expires_at, now + 7 * 24 * 3600),
            position=(int(msg.created_at * 1000), 0),
        )
        if await self.store.put_action(
            a, ActionState.PROPOSED, f"proposed by member {msg.member}; waiting for this member's operator"
        ):
            log.info("action_proposed", action=a.id, kind=a.kind.value, by=msg.member, chain=msg.chain_id)

    async def on_partial(self, msg: ActionPartialMessage) -> None:
        """Keep a member's partial if it is that member's valid signature on exactly the item this
        node would sign (recomputed here), then try to combine."""
        outcome = "invalid"
        try:
            async with self.lock:
                outcome = await self._judge(msg)
        finally:
            member = str(msg.member) if msg.member in self.public.public_shares else "unknown"
            metrics.ACTION_PARTIALS_RECEIVED.labels(member, outcome).inc()
        if outcome not in ("kept", "duplicate", "late", "unknown_action", "own"):  # own: back from the broker
            log.warning("action_partial_refused", action=msg.action_id, member=msg.member, outcome=outcome)
        if outcome == "kept":
            record = await self.store.action_record(msg.action_id)
            if record is not None:
                await self._try_combine(record)

    async def _judge(self, msg: ActionPartialMessage) -> str:
        if msg.member not in self.public.public_shares:
            return "not_member"
        if msg.member == self.cfg.member_index:
            return "own"
        if msg.key_epoch != self.public.key_epoch:
            return "wrong_epoch"
        record = await self.store.action_record(msg.action_id)
        if record is None:
            return "unknown_action"  # a proposal not seen yet, or a registry event not final here
        if record.state in CLOSED or record.state is ActionState.SCHEDULED:
            return "late"
        a = record.action
        if msg.kind is not a.kind or msg.chain_id != a.chain_id or msg.params != a.params:
            return "invalid"
        endpoint = self.cfg.chain_by_id(a.chain_id).endpoint
        expected = action_message(a.kind, a.chain_id, endpoint, msg.key_epoch, msg.nonce, a.params)
        if expected != msg.message:
            return "invalid"
        for member, message, partial in await self.store.action_partials(a.id, msg.nonce, msg.key_epoch):
            if member == msg.member and message == msg.message and partial == msg.partial:
                return "duplicate"
        if not verify_partial(self.public, msg.member, msg.message, msg.partial, self.backend):
            return "invalid"
        await self.store.put_action_partial(
            a.id, msg.nonce, msg.key_epoch, msg.member, msg.message, msg.partial
        )
        return "kept"

    # ---- the step --------------------------------------------------------------------------

    async def step(self, *, force: bool = False) -> None:
        """One pass over the registry and every endpoint with open actions (at most every STEP_SECONDS)."""
        if not force and time.monotonic() - self._last_step < STEP_SECONDS:
            return
        self._last_step = time.monotonic()
        await self.scan_registry()
        open_records = await self.store.action_records(
            [ActionState.PROPOSED, ActionState.APPROVED, ActionState.SUBMITTED, ActionState.SCHEDULED],
            limit=1000,
        )
        by_chain: dict[ChainId, list[ActionRecord]] = {}
        for r in open_records:
            by_chain.setdefault(r.action.chain_id, []).append(r)
        for chain_id, records in by_chain.items():
            chain = self.chains.get(chain_id)
            if chain is None:
                continue
            try:
                await self._endpoint_step(chain, sorted(records, key=lambda r: queue_order(r.action)))
            except Exception as exc:  # one endpoint's trouble does not stop the others
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("action_step_failed", chain=chain.cfg.name, error=repr(exc))

    async def republish(self) -> None:
        """Send this member's open proposals and its partials for open actions again (a lost
        message heals; a member started later learns them)."""
        for r in await self.store.action_records((*SIGNING, ActionState.PROPOSED), limit=200):
            a = r.action
            if a.origin is Origin.OPERATOR and a.proposer == self.cfg.member_index:
                self._publish_proposal(a)
            if r.action_nonce is None or r.key_epoch is None or self.share is None:
                continue
            endpoint = self.cfg.chain_by_id(a.chain_id).endpoint
            signed = await self.store.signed_item(
                a.kind, a.chain_id, endpoint, r.key_epoch, f"{a.id}@{r.action_nonce}"
            )
            if signed is not None:
                self._publish_partial(a, r.key_epoch, r.action_nonce, *signed)

    async def scan_registry(self) -> None:
        """Carry the source registry's final decisions to every gateway that follows it."""
        source = self.cfg.actions.registry_from
        if source is None or source not in self.cfg.chains:
            return
        src_cfg = self.cfg.chains[source]
        chain = self.chains.get(src_cfg.chain_id)
        if chain is None:
            return
        cursor = await self.store.registry_cursor(src_cfg.chain_id)
        first = src_cfg.start_block if cursor is None else cursor
        final = await chain.final_head()
        if first > final:
            return
        last = min(final, first + src_cfg.max_block_range - 1)
        events = await chain.registry_events(first, last)
        now = time.time()
        actions = []
        for e in events:
            kind = ActionKind.FREEZE if e.kind == "freeze" else ActionKind.ALLOW
            for follower in self.cfg.actions.registry_to:
                dst = self.cfg.chains[follower].chain_id
                actions.append(
                    Action(
                        id=registry_action_id(dst, e.block_number, e.log_index),
                        kind=kind,
                        chain_id=dst,
                        params=action_params(kind, account=e.account, flag=e.flag),
                        origin=Origin.REGISTRY,
                        proposer=0,
                        created_at=now,
                        expires_at=None,
                        position=(e.block_number, e.log_index),
                    )
                )
                log.info(
                    "registry_event_seen",
                    kind=kind.value,
                    account=e.account,
                    flag=e.flag,
                    block=e.block_number,
                    tx=e.tx_hash,
                    to=follower,
                )
        detail = f"the consortium chain's registry decided it (final on {source}); no operator step"
        await self.store.record_registry_scan(src_cfg.chain_id, last + 1, actions, detail)

    async def _endpoint_step(self, chain: ChainClient, records: list[ActionRecord]) -> None:
        state = await chain.endpoint_state()
        view = EndpointView(state.paused, state.action_nonce, state.key_epoch)
        now = time.time()
        heads: set[tuple[ActionKind, str | None]] = set()  # the registry's oldest open decision per account
        replaced = superseded(r.action for r in records)
        for r in records:
            a = r.action
            newer = replaced.get(a.id)
            if r.state is ActionState.PROPOSED:
                if a.expires_at is not None and now >= a.expires_at:
                    await self._close(
                        r, ActionState.EXPIRED, "expired before this member's operator approved it"
                    )
                else:
                    await self._follow_proposed(chain, r, view)
                continue
            if r.state is ActionState.SCHEDULED:
                await self._follow_scheduled(chain, r)
                continue
            if r.action_nonce is not None and r.action_nonce < view.action_nonce:
                r = await self._settle(chain, r, view, newer)
                if r.state is not ActionState.APPROVED:
                    continue
            if newer is not None:
                await self._supersede(r, newer)
                continue
            if a.origin is Origin.REGISTRY:
                key = (a.kind, a.account)
                if key in heads:
                    continue  # an older decision on the same account and flag goes first
                heads.add(key)
            await self._advance(chain, r, view, now)

    async def _flag(self, chain: ChainClient, a: Action) -> FlagView | None:
        if a.account is None:
            return None
        try:
            status = await chain.registry_status(a.account, final=False)
        except Exception as exc:
            log.warning("registry_read_failed", chain=chain.cfg.name, account=a.account, error=repr(exc))
            return None
        return FlagView(status.bridge_frozen if a.kind is ActionKind.FREEZE else status.allowed)

    async def _advance(self, chain: ChainClient, r: ActionRecord, view: EndpointView, now: float) -> None:
        a = r.action
        verdict = decide(a, view, await self._flag(chain, a), now)
        if verdict.decision is Decision.DONE:
            await self._executed(r, verdict.why)
            return
        if verdict.decision is Decision.REFUSE:
            state = ActionState.EXPIRED if "expired" in verdict.why else ActionState.REFUSED
            await self._close(r, state, verdict.why)
            return
        if verdict.decision is Decision.WAIT:
            if r.detail != verdict.why and r.state is ActionState.APPROVED and r.action_nonce is None:
                await self.store.set_action_state(a.id, r.state, verdict.why)
            return
        if view.key_epoch != self.public.key_epoch:
            why = (
                f"the endpoint is at key epoch {view.key_epoch}; "
                f"this member's key is epoch {self.public.key_epoch}"
            )
            if r.detail != why:
                await self.store.set_action_state(a.id, r.state, why)
            return
        if r.action_nonce != view.action_nonce or r.key_epoch != view.key_epoch:
            r = await self._sign(r, view)
        if r.signature is None:
            await self._try_combine(r)
            r = await self.store.action_record(a.id) or r
        if r.signature is not None:
            await self._submit(chain, r, view)

    async def _sign(self, r: ActionRecord, view: EndpointView) -> ActionRecord:
        a = r.action
        endpoint = self.cfg.chain_by_id(a.chain_id).endpoint
        message = action_message(a.kind, a.chain_id, endpoint, view.key_epoch, view.action_nonce, a.params)
        await self.store.set_action_state(
            a.id,
            ActionState.APPROVED,
            f"signing for action nonce {view.action_nonce} (key epoch {view.key_epoch})",
            signing=(view.action_nonce, view.key_epoch, message),
        )
        if self.share is not None:
            item = f"{a.id}@{view.action_nonce}"
            try:
                kept = await self.store.sign_item(
                    a.kind,
                    a.chain_id,
                    endpoint,
                    view.key_epoch,
                    item,
                    message,
                    partial_sign(self.share, message, self.backend),
                )
            except Equivocation as exc:
                metrics.EQUIVOCATIONS_REFUSED.inc()
                log.error("equivocation_refused", action=a.id, error=str(exc))
                return await self.store.action_record(a.id) or r
            await self.store.put_action_partial(
                a.id, view.action_nonce, view.key_epoch, self.cfg.member_index, message, kept
            )
            log.info(
                "action_signed", action=a.id, kind=a.kind.value, nonce=view.action_nonce, epoch=view.key_epoch
            )
            self._publish_partial(a, view.key_epoch, view.action_nonce, message, kept)
            crashpoint("after_action_publish")
        return await self.store.action_record(a.id) or r

    async def _try_combine(self, r: ActionRecord) -> bool:
        if r.state not in SIGNING or r.signature is not None:
            return False
        if r.action_nonce is None or r.key_epoch is None or r.message is None:
            return False
        valid: dict[int, bytes] = {}
        for member, message, partial in await self.store.action_partials(
            r.action.id, r.action_nonce, r.key_epoch
        ):
            if message == r.message:
                valid[member] = partial
        if len(valid) < self.public.threshold:
            return False
        try:
            signature = combine(self.public, valid, self.backend)
        except NotEnoughPartials:
            return False
        if not verify(self.public.group_public_key, r.message, signature, self.backend):
            log.error("combined_action_signature_invalid", action=r.action.id, members=sorted(valid))
            return False
        await self.store.set_action_state(
            r.action.id,
            r.state,
            f"signed by {sorted(valid)[: self.public.threshold]} for action nonce {r.action_nonce}",
            signature=signature,
        )
        self._aggregated_at[r.action.id] = time.monotonic()
        log.info("action_aggregated", action=r.action.id, nonce=r.action_nonce, members=sorted(valid))
        crashpoint("after_action_combine")
        return True

    def _rank(self, nonce: int) -> int:
        members = [int(m) for m in sorted(self.public.public_shares)]
        start = nonce % len(members)
        order = members[start:] + members[:start]
        return order.index(self.cfg.member_index) if self.cfg.member_index in order else len(order)

    async def _submit(self, chain: ChainClient, r: ActionRecord, view: EndpointView) -> None:
        submitter = self.submitters.get(chain.chain_id)
        if submitter is None or r.signature is None or r.key_epoch is None or r.action_nonce is None:
            return
        a = r.action
        if r.state is ActionState.SUBMITTED and r.tx_hash is not None:
            receipt = await submitter.sender.receipt(r.tx_hash)
            waited = time.time() - (r.sent_at or 0)
            if receipt is None and waited < self.cfg.relayer.receipt_timeout:
                return
            if receipt is not None and receipt.status == 1:
                return  # the nonce is used: the next step settles it
        else:
            since = self._aggregated_at.setdefault(a.id, time.monotonic())
            if time.monotonic() - since < self._rank(r.action_nonce) * self.cfg.relayer.stagger_seconds:
                return
        data = action_call_data(a.kind, r.key_epoch, a.params, r.signature)
        async with submitter.send_lock:
            try:
                gas = await submitter.sender.estimate(data)
            except Reverted as exc:
                log.warning("action_estimate_reverted", action=a.id, nonce=r.action_nonce, error=str(exc))
                return

            async def record(tx: TxRecord) -> None:
                await self.store.set_action_state(
                    a.id,
                    ActionState.SUBMITTED,
                    f"tx {tx.tx_hash} for action nonce {r.action_nonce}",
                    tx=(tx.tx_hash, tx.sent_at),
                )

            sent = await submitter.sender.send(data, gas, None, None, record, {"action": a.id})
        if sent is not None:
            log.info(
                "action_submitted", action=a.id, kind=a.kind.value, tx=sent.tx_hash, nonce=r.action_nonce
            )
            crashpoint("after_action_send")

    async def _settle(
        self, chain: ChainClient, r: ActionRecord, view: EndpointView, newer: Action | None = None
    ) -> ActionRecord:
        """The endpoint used the nonce `r` was signed for: its effect is on-chain, or another
        action took the nonce and `r` is signed again for the current one (unless the registry
        decided again on its account since: `newer`, `superseded`)."""
        a = r.action
        assert r.action_nonce is not None
        if a.kind in (ActionKind.RESUME, ActionKind.ROTATE):
            pending = await chain.pending_action(r.action_nonce)
            ours = pending.typehash == ACTION_TYPEHASHES[a.kind.value]
            if ours and pending.status != 0:
                await self.store.set_action_state(
                    a.id,
                    ActionState.SCHEDULED,
                    f"scheduled at action nonce {r.action_nonce}, executable at {pending.executable_at}",
                    executable_at=pending.executable_at,
                )
                log.info(
                    "action_scheduled", action=a.id, nonce=r.action_nonce, executable_at=pending.executable_at
                )
                return await self.store.action_record(a.id) or r
        elif a.kind is ActionKind.PAUSE and view.paused:
            await self._executed(r, f"the endpoint is paused (action nonce {r.action_nonce})")
            return await self.store.action_record(a.id) or r
        elif a.kind in (ActionKind.FREEZE, ActionKind.ALLOW):
            flag = await self._flag(chain, a)
            if flag is not None and flag.value == a.flag:
                await self._executed(r, f"{a.describe()} applied (action nonce {r.action_nonce})")
                return await self.store.action_record(a.id) or r
        if newer is not None:
            await self._supersede(r, newer)
            return await self.store.action_record(a.id) or r
        await self.store.set_action_state(
            a.id,
            ActionState.APPROVED,
            f"action nonce {r.action_nonce} was used by another action; signing again",
        )
        return await self.store.action_record(a.id) or r

    async def _follow_proposed(self, chain: ChainClient, r: ActionRecord, view: EndpointView) -> None:
        """A proposal this member's operator has not decided on, carried by the others without
        it: its outcome on-chain closes it here too (left open, it would wait for an approval that
        no longer matters until it expires, and count as pending). Seen through the partials this
        node kept for it: signed for a nonce the endpoint has used, where the endpoint holds an
        action of its kind."""
        a = r.action
        for nonce, _epoch in await self.store.action_partial_nonces(a.id):
            if nonce >= view.action_nonce:
                continue
            without = f"at action nonce {nonce}, without this member's approval"
            if a.kind is ActionKind.PAUSE and view.paused:
                await self._executed(r, f"the endpoint is paused ({without})")
                return
            if a.kind in DELAYED:
                pending = await chain.pending_action(nonce)
                if pending.typehash != ACTION_TYPEHASHES[a.kind.value]:
                    continue  # the nonce went to another action
                status = PENDING_STATUS.get(pending.status, "none")
                if status == "executed":
                    await self._executed(r, f"executed after the delay ({without})")
                    return
                if status == "cancelled":
                    await self._close(r, ActionState.CANCELLED, f"cancelled by the guardian ({without})")
                    return

    async def _follow_scheduled(self, chain: ChainClient, r: ActionRecord) -> None:
        assert r.action_nonce is not None
        pending = await chain.pending_action(r.action_nonce)
        status = PENDING_STATUS.get(pending.status, "none")
        if status == "executed":
            await self._executed(r, f"executed after the delay (action nonce {r.action_nonce})")
            return
        if status in ("cancelled", "none"):
            await self._close(r, ActionState.CANCELLED, "cancelled by the guardian during the delay")
            return
        now = await chain.chain_time()
        if now < pending.executable_at:
            return
        submitter = self.submitters.get(chain.chain_id)
        if submitter is None:
            return
        seen = self._due_seen.setdefault(r.action.id, time.monotonic())
        if time.monotonic() - seen < self._rank(r.action_nonce) * self.cfg.relayer.stagger_seconds:
            return
        data = execute_pending_data(r.action_nonce)
        async with submitter.send_lock:
            try:
                gas = await submitter.sender.estimate(data)
            except Reverted as exc:
                text = str(exc)
                if "PendingActionStale" in text or "Stale" in text:
                    await self._close(
                        r,
                        ActionState.CANCELLED,
                        f"stale: the pause it resumed ended or the key changed ({text})",
                    )
                else:
                    log.warning("action_execute_reverted", action=r.action.id, error=text)
                return

            async def record(tx: TxRecord) -> None:
                return None

            sent = await submitter.sender.send(data, gas, None, None, record, {"action": r.action.id})
        if sent is not None:
            log.info("action_execute_sent", action=r.action.id, nonce=r.action_nonce, tx=sent.tx_hash)

    async def _supersede(self, r: ActionRecord, newer: Action) -> None:
        """Close a registry decision a later one on the same account replaces (never signed again)."""
        await self._close(
            r,
            ActionState.EXPIRED,
            f"superseded by {newer.id} ({newer.describe()}), the registry's later decision on "
            f"{r.action.account}: the follower takes the latest",
        )

    async def _executed(self, r: ActionRecord, why: str) -> None:
        if await self.store.set_action_state(r.action.id, ActionState.EXECUTED, why):
            metrics.ACTIONS_EXECUTED.labels(str(r.action.chain_id), r.action.kind.value).inc()
            if r.action.origin is Origin.REGISTRY:
                metrics.REGISTRY_CARRY_SECONDS.observe(max(0.0, time.time() - r.action.created_at))
            log.info("action_executed", action=r.action.id, kind=r.action.kind.value, why=why)
        self._forget(r.action.id)

    async def _close(self, r: ActionRecord, state: ActionState, why: str) -> None:
        if await self.store.set_action_state(r.action.id, state, why):
            log.info(f"action_{state.value}", action=r.action.id, kind=r.action.kind.value, why=why)
        self._forget(r.action.id)

    def _forget(self, action_id: str) -> None:
        self._aggregated_at.pop(action_id, None)
        self._due_seen.pop(action_id, None)

    # ---- publishing ------------------------------------------------------------------------

    def _publish_partial(self, a: Action, epoch: int, nonce: int, message: bytes, partial: bytes) -> None:
        self.publisher.publish_action(
            ActionPartialMessage(
                self.cfg.member_index, a.id, a.kind, a.chain_id, epoch, nonce, a.params, message, partial
            )
        )

    def _publish_proposal(self, a: Action) -> None:
        if a.expires_at is None or a.expires_at <= time.time():
            return
        self.publisher.publish_proposal(
            ProposalMessage(self.cfg.member_index, a.id, a.kind, a.chain_id, a.created_at, a.expires_at)
        )

    async def registry_mismatches(self) -> dict[str, list[str]]:
        """Follower chain name -> the accounts whose allow-list entry or freeze differs from the
        source registry's (both read at their final heads), among the accounts the registry's
        decisions named and with no carried decision still open. Sets `qiao_registry_mismatches`."""
        source = self.cfg.actions.registry_from
        if source is None:
            return {}
        src = self.chains.get(self.cfg.chains[source].chain_id)
        if src is None:
            return {}
        records = await self.store.action_records(
            [ActionState.PROPOSED, ActionState.APPROVED, ActionState.SUBMITTED, ActionState.EXECUTED],
            limit=2000,
        )
        out: dict[str, list[str]] = {}
        for follower in self.cfg.actions.registry_to:
            chain_id = self.cfg.chains[follower].chain_id
            dst = self.chains.get(chain_id)
            if dst is None:
                continue
            mine = [r for r in records if r.action.chain_id == chain_id and r.action.account is not None]
            busy = {r.action.account for r in mine if r.state is not ActionState.EXECUTED}
            accounts = sorted({r.action.account or "" for r in mine if r.action.account not in busy} - {""})
            found = []
            for account in accounts[:500]:
                a, b = await src.registry_status(account), await dst.registry_status(account)
                why = registry_difference(account, a.allowed, a.frozen, b.allowed, b.bridge_frozen)
                if why is not None:
                    found.append(why)
            metrics.REGISTRY_MISMATCHES.labels(follower).set(len(found))
            out[follower] = found
        return out

    async def gauges(self) -> None:
        counts, oldest = await self.store.action_counts()
        for kind in ActionKind:
            for state in ActionState:
                metrics.ACTIONS.labels(kind.value, state.value).set(counts.get((kind.value, state.value), 0))
            first = oldest.get(kind.value)
            metrics.ACTION_OLDEST_OPEN_SECONDS.labels(kind.value).set(
                0 if first is None else max(0.0, time.time() - first)
            )
