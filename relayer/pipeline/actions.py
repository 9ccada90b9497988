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
5. a scheduled RESUME, ROTATE or UNCURSE is executed once its delay is over (`executePending`),
   unless the guardian cancelled it; so is an issuer's forced transfer or recovery, which the
   gateway's IssuerModule schedules (`executeIssuerAction`; its tokens are held on the holder
   meanwhile), or closed if the guardian cancelled it with every scheduled action.

A ROTATE (`relayer actions propose rotate`) installs the key this member holds as `[committee.next]`
(the keyring's last epoch, from the DKG the members ran); each member signs it only for a key epoch
it holds a share of (relayer.core.items.decide_rotation), and a relayer submits `rotateKey` with the
new key found in its own keyring by the hash the action carries.
An UNCURSE (`relayer actions propose uncurse --chain N --remote M`) lifts one curse the sentinels
put on one route of an endpoint: it names the route's remote chain and the curse number
(`curseCount(remote)` when proposed); each member signs it only while the route is in exactly that
curse (relayer.core.items.decide_uncurse), and it is recognised on-chain by those two fields
(`pendingAction(n).pauseCount`, `uncurseRoute(n)`), not only by its type hash.
Everything is read back from the store and the chains at each step, so a crash anywhere resumes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

import structlog
from eth_utils.crypto import keccak

from committee.bls import BlsBackend
from committee.threshold import partial_sign, verify_partial
from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.txsender import Reverted
from relayer.config import NodeConfig
from relayer.core.arrivals import Facts, PartialOutcome
from relayer.core.calldata import action_call_data, execute_issuer_data, execute_pending_data
from relayer.core.encoding import (
    ACTION_TYPEHASHES,
    ISSUER_OPS,
    action_message,
    action_params,
    issuer_params,
    resume_fields,
)
from relayer.core.issuer_scan import WaitingDecision, c_order_waits, order_item, plan_issuer_scan
from relayer.core.items import (
    CLOSED,
    DELAYED,
    MAX_TTL_SECONDS,
    OPEN,
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
    HeldKey,
    IssuerView,
    Origin,
    RotationView,
    Verdict,
    action_facts,
    carried_action,
    decide,
    decide_rotation,
    decide_uncurse,
    onchain_text,
    proposal_id,
    queue_order,
    registry_difference,
    same_subject,
    superseded,
)
from relayer.core.keyring import EndpointEpochs, Keyring
from relayer.core.lifecycle import (
    Outcome,
    OutcomeKind,
    confirmed,
    not_ready,
    refused,
    retry,
    scheduled,
    sent,
    states_of_every_kind,
)
from relayer.core.messages import ActionPartialMessage, ProposalMessage
from relayer.core.onchain import (
    CurseView,
    EndpointState,
    IssuerScheduleStatus,
    PendingActionView,
    PendingStatus,
)
from relayer.core.reverts import revert_name
from relayer.core.states import TxRecord
from relayer.core.types import ChainId
from relayer.pipeline import issuer_check
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.issuer_check import RegisteredPairs
from relayer.pipeline.ports import ActionPublisher
from relayer.pipeline.signing import EQUIVOCATION, Offered, Partials, signed_once
from relayer.pipeline.submitter import Submitter

log = structlog.get_logger(__name__)

STEP_SECONDS = 1.0  # the stage reads the endpoints at most this often
SIGN_WINDOW = 4  # approved actions of one endpoint signed per nonce, first in the queue first
PROPOSALS_PER_DAY = 32  # kept per proposing member: a member flooding proposals cannot grow the store
PENDING_STATUS = {0: "none", 1: "pending", 2: "executed", 3: "cancelled"}
# what two duplicates of a delayed kind have in common (relayer.core.items.same_subject)
SUBJECT = {ActionKind.RESUME: "pause", ActionKind.UNCURSE: "curse", ActionKind.ROTATE: "key"}
# partials not logged as refused: taken, heard again, after the fact, or this member's own back from
# the broker
QUIET = (
    PartialOutcome.KEPT,
    PartialOutcome.DUPLICATE,
    PartialOutcome.LATE,
    PartialOutcome.UNKNOWN_ACTION,
    PartialOutcome.OWN,
)


@dataclass
class ActionStage:
    cfg: NodeConfig
    store: Store
    chains: Mapping[ChainId, ChainClient]
    keyring: Keyring  # the key epochs this member holds (relayer.core.keyring)
    epochs: EndpointEpochs  # the key epoch each endpoint is at, as last read
    backend: BlsBackend
    publisher: ActionPublisher
    submitters: Mapping[ChainId, Submitter]
    lock: asyncio.Lock
    _last_step: float = -1e18
    _aggregated_at: dict[str, float] = field(default_factory=dict)
    _due_seen: dict[str, float] = field(default_factory=dict)
    _sent: dict[str, TxRecord] = field(default_factory=dict)  # action -> this node's last transaction
    _executing: dict[str, TxRecord] = field(default_factory=dict)  # action -> its executePending
    _nonce_seen: dict[int, int] = field(default_factory=dict)  # chain id -> endpoint's action nonce
    _closed_now: set[str] = field(default_factory=set)  # duplicates closed during this endpoint step
    _pairs: RegisteredPairs = field(default_factory=RegisteredPairs)  # the gateways' pairs, as read
    partials: Partials = field(init=False)
    held_keys: dict[bytes, HeldKey] = field(init=False)  # keccak(256-byte key) -> the epoch held

    def __post_init__(self) -> None:
        self.partials = Partials(
            self.keyring, self.backend, self.cfg.member_index, self.lock, metrics.ACTION_PARTIALS_RECEIVED
        )
        self.held_keys = {}
        for epoch in self.keyring.epochs:
            key = self.keyring.get(epoch)
            assert key is not None
            group_key = bytes(key.public.group_public_key)
            digest = keccak(self.backend.g2_to_eip2537(group_key))
            self.held_keys[digest] = HeldKey(epoch, group_key, key.share is not None)

    # ---- what operators do (relayer actions ...) -----------------------------------------

    def _chain_named(self, name: str) -> ChainId:
        chain = self.cfg.chains.get(name)
        if chain is None:
            raise ActionRefused(f"no chain {name!r} here; configured: {', '.join(sorted(self.cfg.chains))}")
        return chain.chain_id

    async def propose(self, kind: str, chain: str, ttl: float | None = None) -> Action:
        """Propose a pause, a resume or a rotation of `chain`'s endpoint: recorded, approved by this
        member's operator (who proposed it), and published for the other members' operators."""
        if kind == ActionKind.ROTATE.value:
            return (await self.propose_rotation(chain, ttl))[0]
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
        if k is ActionKind.UNCURSE:
            raise ActionRefused(
                "an uncurse names the cursed route: propose it with its remote chain "
                "(`relayer actions propose uncurse --chain NAME --remote REMOTE`)"
            )
        chain_id = self._chain_named(chain)
        ttl = self._ttl(ttl)
        state = await self._check_endpoint(k, chain_id)
        now = time.time()
        deadline = int(now + ttl)
        params = b""
        if k is ActionKind.RESUME:  # bound to this pause and to its deadline on-chain
            params = action_params(k, pause_count=state.pause_count, deadline=deadline)
        return await self._proposed(k, chain_id, params, now, deadline)

    async def propose_uncurse(self, chain: str, remote: int, ttl: float | None = None) -> Action:
        """Propose lifting the curse the sentinels put on the route of `chain`'s endpoint with
        remote chain id `remote`: the curse is read from the endpoint now (`isCursed`,
        `curseCount`) and signed into the action, so it lifts that curse and no later one."""
        chain_id = self._chain_named(chain)
        if isinstance(remote, bool) or not isinstance(remote, int) or not 0 < remote < 2**256:
            raise ActionRefused(f"remote chain {remote!r} is not a chain id (a positive integer)")
        if remote == chain_id:
            raise ActionRefused(
                f"--remote names the other end of the route; {remote} is {chain}'s own chain id"
            )
        ttl = self._ttl(ttl)
        client = self.chains.get(chain_id)
        if client is None:
            raise ActionRefused(f"this node does not read chain {chain_id}; use a member that does")
        curse = await self._read_curse(client, remote, final=False)
        route = f"the route of the endpoint on {chain} with chain {remote}"
        if curse is None:
            raise ActionRefused(f"cannot read the curse of {route}; try again when its RPC answers")
        if not curse.cursed:
            raise ActionRefused(
                f"{route} is not cursed (it had {curse.count} curse(s)): there is nothing to lift; "
                "`relayer status` shows the cursed routes"
            )
        params = action_params(ActionKind.UNCURSE, remote_chain_id=remote, curse_count=curse.count)
        now = time.time()
        return await self._proposed(ActionKind.UNCURSE, chain_id, params, now, int(now + ttl))

    async def _read_curse(self, chain: ChainClient, remote: int, *, final: bool) -> CurseView | None:
        try:
            return await chain.route_curse(remote, final=final)
        except Exception as exc:
            log.warning("route_curse_read_failed", chain=chain.cfg.name, remote=remote, error=repr(exc))
            return None

    async def _curse_of(self, chain: ChainClient, a: Action, *, final: bool) -> CurseView | None:
        """An UNCURSE's route's curse as the endpoint holds it (None for another kind, or unread)."""
        if a.remote_chain_id is None:
            return None
        return await self._read_curse(chain, a.remote_chain_id, final=final)

    def _ttl(self, ttl: float | None) -> float:
        ttl = self.cfg.actions.proposal_ttl if ttl is None else ttl
        if not 0 < ttl <= MAX_TTL_SECONDS:
            raise ActionRefused(f"--ttl {ttl}: must be between 0 and {MAX_TTL_SECONDS} seconds")
        return ttl

    async def propose_rotation(self, chain: str | None, ttl: float | None = None) -> list[Action]:
        """Propose rotating the endpoint of `chain` (None: of every configured chain, one action
        each) to the key this member holds as `[committee.next]` (the keyring's last epoch), which
        must be each endpoint's current epoch + 1. Every endpoint is checked before any is proposed."""
        names = sorted(self.cfg.chains) if chain is None else [chain]
        chain_ids = [self._chain_named(name) for name in names]
        ttl = self._ttl(ttl)
        if len(self.keyring.epochs) < 2:
            raise ActionRefused(
                f"this member holds only key epoch {self.keyring.first.epoch}: there is no next key to "
                f"rotate to; run the DKG for epoch {self.keyring.first.epoch + 1} with the other members, "
                "add its result as [committee.next] to every member's configuration and restart them one "
                "at a time (deploy/runbooks/key-rotation.md)"
            )
        target = self.keyring.last
        params = action_params(
            ActionKind.ROTATE, new_key_hash=keccak(self.backend.g2_to_eip2537(target.public.group_public_key))
        )
        for name, chain_id in zip(names, chain_ids, strict=True):
            state = await self._check_endpoint(ActionKind.ROTATE, chain_id)
            if target.epoch != state.key_epoch + 1:
                raise ActionRefused(
                    f"the endpoint on {name} is at key epoch {state.key_epoch} and this member's next key "
                    f"([committee.next]) is epoch {target.epoch}: a rotation installs epoch "
                    f"{state.key_epoch + 1}; configure the key of that epoch as [committee.next], or "
                    "propose for the endpoints at the epoch before it (--chain)"
                )
            others = [r for r in await self.store.open_actions() if self._rotation_of(r, chain_id)]
            view = EndpointView(state.paused, state.action_nonce, state.key_epoch, state.pause_count)
            probe = Action(
                id=proposal_id(self.cfg.member_index, "00000000"),
                kind=ActionKind.ROTATE,
                chain_id=chain_id,
                params=params,
                origin=Origin.OPERATOR,
                proposer=self.cfg.member_index,
                created_at=0.0,
                expires_at=None,
                position=(0, 0),
            )
            verdict = decide_rotation(
                probe, view, RotationView(self.held_keys, others[0].action.id if others else None)
            )
            if verdict.decision is not Decision.SIGN:
                raise ActionRefused(f"the endpoint on {name}: {verdict.why}")
        now = time.time()
        deadline = int(now + ttl)
        return [await self._proposed(ActionKind.ROTATE, c, params, now, deadline) for c in chain_ids]

    @staticmethod
    def _rotation_of(r: ActionRecord, chain_id: ChainId, *, states: tuple[ActionState, ...] = OPEN) -> bool:
        return r.action.kind is ActionKind.ROTATE and r.action.chain_id == chain_id and r.state in states

    async def _proposed(
        self, k: ActionKind, chain_id: ChainId, params: bytes, now: float, deadline: int
    ) -> Action:
        a = Action(
            id=proposal_id(self.cfg.member_index, secrets.token_hex(4)),
            kind=k,
            chain_id=chain_id,
            params=params,
            origin=Origin.OPERATOR,
            proposer=self.cfg.member_index,
            created_at=now,
            expires_at=float(deadline),
            position=(int(now * 1000), 0),
        )
        duplicates = await self._duplicates(a)  # one open RESUME of a pause, UNCURSE of a curse, ...
        if duplicates:
            r = duplicates[0]
            raise ActionRefused(
                f"{k} {r.action.id} of this {SUBJECT[k]} is {r.state} already; "
                f"approve that one (`relayer actions show {r.action.id}`)"
            )
        await self.store.put_action(
            a, ActionState.APPROVED, "proposed and approved by this member's operator", approved_at=now
        )
        log.info(
            "action_proposed",
            action=a.id,
            kind=a.kind.value,
            chain=self.cfg.chain_by_id(chain_id).name,
            expires_at=a.expires_at,
        )
        self._publish_proposal(a)
        return a

    async def _duplicates(self, a: Action, states: tuple[ActionState, ...] = OPEN) -> list[ActionRecord]:
        """The other actions open here (in `states`) that do what `a` does
        (relayer.core.items.same_subject)."""
        if a.kind not in DELAYED:
            return []
        return [r for r in await self.store.open_actions() if r.state in states and same_subject(r.action, a)]

    async def _check_endpoint(
        self, kind: ActionKind, chain_id: ChainId, pause_count: int | None = None
    ) -> EndpointState:
        """A resume is proposed and approved only while the endpoint is paused (in the pause it was
        proposed for: `pause_count`), a pause only while it is not: an approval given in advance
        would sign for a pause that has not happened."""
        chain = self.chains.get(chain_id)
        if chain is None:
            raise ActionRefused(f"this node does not read chain {chain_id}; use a member that does")
        try:
            state = await chain.endpoint_state()
        except Exception as exc:
            raise ActionRefused(
                f"cannot read the endpoint on {chain.cfg.name} ({exc!r}); try again when its RPC answers"
            ) from exc
        if kind is ActionKind.RESUME and not state.paused:
            raise ActionRefused(f"the endpoint on {chain.cfg.name} is not paused: there is nothing to resume")
        if kind is ActionKind.RESUME and pause_count is not None and pause_count != state.pause_count:
            raise ActionRefused(
                f"it resumes pause #{pause_count} of the endpoint on {chain.cfg.name}, which is in pause "
                f"#{state.pause_count} now: propose a resume of this pause if it is to be lifted"
            )
        if kind is ActionKind.PAUSE and state.paused:
            raise ActionRefused(f"the endpoint on {chain.cfg.name} is paused already")
        return state

    async def approve(self, action_id: str) -> Action:
        """This member's operator approves a proposal: this member signs it from now on."""
        record = await self._known(action_id)
        if record.state is not ActionState.PROPOSED:
            raise ActionRefused(f"action {action_id} is {record.state}, not waiting for an approval")
        if record.action.expires_at is not None and time.time() >= record.action.expires_at:
            raise ActionRefused(f"action {action_id} expired; propose it again if it is still needed")
        signed = await self._duplicates(record.action, (*SIGNING, ActionState.SCHEDULED))
        if signed:
            k, first = record.action.kind, signed[0]
            raise ActionRefused(
                f"{k} {first.action.id} of the same {SUBJECT[k]} is {first.state} here already: this "
                f"member approves and signs one {k} of a {SUBJECT[k]}, and {action_id} is a duplicate "
                f"of it (proposed at the same time, or by a member that did not have it yet); reject it "
                f"(`relayer actions reject {action_id}`) and approve {first.action.id} on the members "
                "that have not"
            )
        state = await self._check_endpoint(
            record.action.kind, record.action.chain_id, record.action.pause_count
        )
        if record.action.kind is ActionKind.ROTATE:
            # this member's own check before its operator's approval counts (and before each signature)
            view = EndpointView(state.paused, state.action_nonce, state.key_epoch, state.pause_count)
            approved = [
                r
                for r in await self.store.open_actions()
                if r.action.id != action_id
                and self._rotation_of(
                    r,
                    record.action.chain_id,
                    states=(ActionState.APPROVED, ActionState.SUBMITTED, ActionState.SCHEDULED),
                )
            ]
            other = approved[0].action.id if approved else None
            verdict = decide_rotation(record.action, view, RotationView(self.held_keys, other))
            if verdict.decision is not Decision.SIGN:
                raise ActionRefused(verdict.why)
        if record.action.kind is ActionKind.UNCURSE:
            # this member's own check before its operator's approval counts (and before each signature)
            client = self.chains[record.action.chain_id]  # _check_endpoint read it
            verdict = decide_uncurse(record.action, await self._curse_of(client, record.action, final=False))
            if verdict.decision is not Decision.SIGN:
                raise ActionRefused(verdict.why)
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
        held = self.held_keys.get(record.action.params) if record.action.kind is ActionKind.ROTATE else None
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
            new_key_epoch=held.epoch if held is not None else None,
        )

    async def actions(self, limit: int = 100) -> list[ActionView]:
        return [await self.view(r) for r in await self.store.action_records(limit=limit)]

    async def action(self, action_id: str) -> ActionView | None:
        record = await self.store.action_record(action_id)
        return None if record is None else await self.view(record)

    # ---- what arrives from the broker ------------------------------------------------------

    async def on_proposal(self, msg: ProposalMessage) -> None:
        """Keep another member's proposal as `proposed` (this member's operator decides) if it is
        signed with that member's key share; at most PROPOSALS_PER_DAY per member are kept."""
        why = None
        if msg.member == self.cfg.member_index:
            return  # its own, back from the broker
        if not self.keyring.is_member(msg.member):
            why = f"member {msg.member} is not in the committee"
        elif msg.chain_id not in {c.chain_id for c in self.cfg.chains.values()}:
            why = f"unknown chain {msg.chain_id}"
        elif not any(  # signed with the proposer's share of a key epoch this member holds too
            verify_partial(k.public, msg.member, msg.digest(), msg.sig, self.backend)
            for k in map(self.keyring.get, self.keyring.epochs)
            if k is not None
        ):
            why = f"not signed with member {msg.member}'s key share"
        if why is not None:
            log.warning("action_proposal_refused", action=msg.action_id, member=msg.member, why=why)
            return
        now = time.time()
        if msg.expires_at <= now or await self.store.action_record(msg.action_id) is not None:
            return  # expired, or known (a re-publication)
        if await self.store.proposals_since(msg.member, now - 86_400) >= PROPOSALS_PER_DAY:
            log.warning(
                "action_proposal_refused",
                action=msg.action_id,
                member=msg.member,
                why=f"member {msg.member} proposed {PROPOSALS_PER_DAY} actions in the last day already",
            )
            return
        try:
            expires = msg.expires_at
            if msg.kind is ActionKind.RESUME:
                expires = float(resume_fields(msg.params)[1])  # the deadline it is signed with
                if expires > msg.expires_at or expires > now + MAX_TTL_SECONDS:
                    raise ValueError(
                        f"its signed deadline {int(expires)} is later than it says or a week away"
                    )
            elif expires > now + MAX_TTL_SECONDS:
                raise ValueError("it expires more than a week from now")
            a = Action(
                id=msg.action_id,
                kind=msg.kind,
                chain_id=ChainId(msg.chain_id),
                params=msg.params,
                origin=Origin.OPERATOR,
                proposer=msg.member,
                created_at=now,  # this node's clock: the proposer's cannot age it
                expires_at=expires,
                position=(int(now * 1000), 0),
            )
        except ValueError as exc:
            log.warning("action_proposal_refused", action=msg.action_id, member=msg.member, why=str(exc))
            return
        detail = f"proposed by member {msg.member}; waiting for this member's operator"
        duplicates = await self._duplicates(a)
        if duplicates:
            # kept, not dropped: its outcome on-chain (a guardian's cancel) closes its duplicates here
            # too; this member's operator cannot approve it while the other is signed here
            first = duplicates[0].action.id
            detail = (
                f"proposed by member {msg.member}; a duplicate of {a.kind} {first}, open here, of the "
                f"same {SUBJECT[a.kind]}: approve only one of them (`relayer actions show {first}`)"
            )
            log.warning(
                "action_proposal_duplicate", action=a.id, member=msg.member, kind=a.kind.value, of=first
            )
        if await self.store.put_action(a, ActionState.PROPOSED, detail):
            log.info("action_proposed", action=a.id, kind=a.kind.value, by=msg.member, chain=msg.chain_id)

    async def on_partial(self, msg: ActionPartialMessage) -> None:
        """Keep a member's partial if it is that member's valid signature on exactly the item this
        node would sign (recomputed here), then try to combine (judged as every kind's partials)."""
        judged = await self.partials.judge(msg, lambda: self._facts(msg), lambda _: self._keep(msg))
        outcome = judged.outcome
        if outcome not in QUIET:
            log.warning(
                "action_partial_refused", action=msg.action_id, member=msg.member, outcome=outcome.value
            )
        if outcome is PartialOutcome.KEPT:
            record = await self.store.action_record(msg.action_id)
            if record is not None:
                await self._try_combine(record)

    async def _facts(self, msg: ActionPartialMessage) -> Facts:
        if not self.keyring.is_member(msg.member) or not self.keyring.holds(msg.key_epoch):
            return Facts()  # refused by the common steps before anything is read
        record = await self.store.action_record(msg.action_id)
        expected = None
        duplicate = False
        if record is not None:
            a = record.action
            endpoint = self.cfg.chain_by_id(a.chain_id).endpoint
            expected = action_message(a.kind, a.chain_id, endpoint, msg.key_epoch, msg.nonce, a.params)
            kept = await self.store.action_partials(a.id, msg.nonce, msg.key_epoch)
            duplicate = (msg.member, msg.message, msg.partial) in kept
        used = await self._endpoint_nonce(record.action.chain_id) if record is not None else None
        return action_facts(
            record,
            msg.kind,
            msg.chain_id,
            msg.params,
            msg.message,
            expected,
            duplicate,
            nonce=msg.nonce,
            endpoint_nonce=used,
        )

    async def _endpoint_nonce(self, chain_id: int) -> int | None:
        """The endpoint's action nonce as this node last read it (each endpoint step reads it);
        read now if no step has yet. None if it cannot be read (then no partial is late for it)."""
        seen = self._nonce_seen.get(chain_id)
        if seen is not None:
            return seen
        chain = self.chains.get(ChainId(chain_id))
        if chain is None:
            return None
        try:
            state = await chain.endpoint_state()
        except Exception as exc:
            log.warning("action_nonce_unread", chain=chain_id, error=repr(exc))
            return None
        self._nonce_seen[chain_id] = max(self._nonce_seen.get(chain_id, 0), state.action_nonce)
        return self._nonce_seen[chain_id]

    async def _keep(self, msg: ActionPartialMessage) -> None:
        await self.store.put_action_partial(
            msg.action_id, msg.nonce, msg.key_epoch, msg.member, msg.message, msg.partial
        )
        item = (msg.action_id, msg.nonce, msg.key_epoch)
        self.partials.verified(item, msg.member, msg.message, msg.partial, msg.key_epoch)

    # ---- the step --------------------------------------------------------------------------

    async def step(self, *, force: bool = False) -> None:
        """One pass over the registry and every endpoint with open actions (at most every
        STEP_SECONDS). The registry's trouble (its chain down) does not stop the endpoints, and one
        endpoint's trouble does not stop the others."""
        if not force and time.monotonic() - self._last_step < STEP_SECONDS:
            return
        self._last_step = time.monotonic()
        try:
            await self.scan_registry()
        except Exception as exc:
            source = self.cfg.actions.registry_from or "?"
            metrics.RPC_ERRORS.labels(source).inc()
            log.warning("registry_scan_failed", chain=source, error=repr(exc))
        by_chain: dict[ChainId, list[ActionRecord]] = {}
        for r in await self.store.open_actions():
            by_chain.setdefault(r.action.chain_id, []).append(r)
        for chain_id, records in by_chain.items():
            chain = self.chains.get(chain_id)
            if chain is None:
                continue
            try:
                await self._endpoint_step(chain, sorted(records, key=lambda r: queue_order(r.action)))
            except Exception as exc:
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("action_step_failed", chain=chain.cfg.name, error=repr(exc))

    async def republish(self) -> None:
        """Send this member's open proposals and its partials for open actions again (a lost
        message heals; a member started later learns them)."""
        for r in await self.store.action_records((*SIGNING, ActionState.PROPOSED), limit=200):
            a = r.action
            if a.origin is Origin.OPERATOR and a.proposer == self.cfg.member_index:
                self._publish_proposal(a)
            if r.action_nonce is None or r.key_epoch is None or self.keyring.share(r.key_epoch) is None:
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
        if first > final and not await self.store.issuer_waiting(src_cfg.chain_id):
            return
        last = min(final, first + src_cfg.max_block_range - 1)  # below `first`: only what waits
        events = await chain.registry_events(first, last) if first <= last else []
        now = time.time()
        actions = []
        for e in events:
            kind = ActionKind.FREEZE if e.kind == "freeze" else ActionKind.ALLOW
            for follower in self.cfg.actions.registry_to:
                dst = self.cfg.chains[follower].chain_id
                params = action_params(kind, account=e.account, flag=e.flag)
                position = (e.block_number, e.log_index)
                actions.append(carried_action(kind, dst, params, Origin.REGISTRY, position, now))
                log.info(
                    "registry_event_seen",
                    kind=kind.value,
                    account=e.account,
                    flag=e.flag,
                    block=e.block_number,
                    tx=e.tx_hash,
                    to=follower,
                )
        issuer_actions, waiting = await self._issuer_actions(chain, first, last, now)
        detail = f"the consortium chain's registry decided it (final on {source}); no operator step"
        await self.store.record_registry_scan(
            src_cfg.chain_id, max(first, last + 1), actions + issuer_actions, detail, waiting
        )

    async def _issuer_actions(
        self, chain: ChainClient, first: int, last: int, now: float
    ) -> tuple[list[Action], list[WaitingDecision] | None]:
        """The ISSUER actions carrying the issuer registry's final decisions in [first, last], and
        those that waited in earlier scans, to every follower that has the asset's wrapped token
        (`localTokenOf` there, final, trusted); and the decisions that still wait for their
        asset's pair (relayer.core.issuer_scan: never dropped, carried in C's order once the pair
        is registered; None without an issuer registry). A follower that cannot be read fails
        the scan (retried from the same block: nothing is skipped)."""
        registry = self.cfg.actions.issuer_registry
        if registry is None:
            return [], None
        events = await chain.issuer_events(registry, first, last) if first <= last else []
        followers = [self.cfg.chains[f].chain_id for f in self.cfg.actions.registry_to]
        # kept for a chain no longer among the followers: left as they are (not read, not dropped)
        waiting: list[WaitingDecision] = []
        elsewhere: list[WaitingDecision] = []
        for w in await self.store.issuer_waiting(chain.chain_id):
            (waiting if w.chain_id in followers else elsewhere).append(w)
        tokens: dict[tuple[ChainId, str], str] = {}
        for dst, asset in [(w.chain_id, w.event.asset) for w in waiting] + [
            (d, e.asset) for e in events for d in followers
        ]:
            if (dst, asset) in tokens:
                continue
            client = self.chains.get(dst)
            if client is None:
                raise RuntimeError(f"no client for chain {dst}: the issuer's decisions cannot be carried")
            tokens[(dst, asset)] = await client.local_token_of(chain.chain_id, asset)
        carried, still = plan_issuer_scan(waiting, events, followers, tokens)
        still += elsewhere
        names = {c.chain_id: c.name for c in self.cfg.chains.values()}
        held = {(w.chain_id, w.position) for w in waiting}
        for w in still:
            if (w.chain_id, w.position) not in held:
                log.warning(
                    "issuer_event_waits_for_pair",
                    asset=w.event.asset,
                    sequence=w.event.sequence,
                    to=names.get(w.chain_id, w.chain_id),
                    why="the asset's token pair is not registered there (at its final head): "
                    "carried in C's order once it is",
                )
        metrics.ISSUER_DECISIONS_WAITING.set(len(still))
        actions = []
        for c in carried:
            e = c.event
            params = issuer_params(
                token=c.token,
                sequence=e.sequence,
                op=e.op,
                account=e.account,
                to=e.to,
                amount=e.amount,
                as_of=e.as_of,
            )
            position = (e.block_number, e.log_index)
            actions.append(
                carried_action(ActionKind.ISSUER, c.chain_id, params, Origin.ISSUER, position, now)
            )
            log.info(
                "issuer_event_seen",
                asset=e.asset,
                sequence=e.sequence,
                op=ISSUER_OPS.get(e.op, e.op),
                block=e.block_number,
                tx=e.tx_hash,
                to=names.get(c.chain_id, c.chain_id),
                waited=(c.chain_id, (e.block_number, e.log_index)) in held,
            )
        return actions, still

    async def _endpoint_step(self, chain: ChainClient, records: list[ActionRecord]) -> None:
        """`records`: the endpoint's open actions in queue order (relayer.core.items.queue_order)."""
        state = await chain.endpoint_state()
        view = EndpointView(state.paused, state.action_nonce, state.key_epoch, state.pause_count)
        self._nonce_seen[chain.chain_id] = state.action_nonce  # partials for a nonce below are late
        now = time.time()
        records, later = await self._supersede(records, view)
        scheduled_resume = any(
            r.state is ActionState.SCHEDULED and r.action.kind is ActionKind.RESUME for r in records
        )
        scheduled_uncurse = {  # the curses an UNCURSE scheduled here lifts: one is enough
            r.action.params
            for r in records
            if r.state is ActionState.SCHEDULED and r.action.kind is ActionKind.UNCURSE
        }
        heads: set[tuple[ActionKind, str | None]] = set()  # the registry's oldest open decision per account
        signed_now = 0
        went_out = False
        # C's order per subject (relayer.core.issuer_scan.c_order_waits): per token, and per account
        waits_c = c_order_waits(
            order_item(r.action)
            for r in records
            if r.action.origin in (Origin.REGISTRY, Origin.ISSUER) and r.state in SIGNING
        )
        self._closed_now.clear()
        for r in records:
            a = r.action
            if a.id in self._closed_now:
                continue  # closed with a duplicate the guardian cancelled, earlier in this step
            # C's order around the issuer's decisions, per token and per account (the registry's
            # own keep their order per account and flag). Settling below is not held back.
            waits_for_c = a.id in waits_c
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
                settled = await self._settle(chain, r)
                if settled.kind is not OutcomeKind.RETRY:
                    continue  # not final yet, or its effect is on-chain
                r = await self.store.action_record(a.id) or r  # approved again, for the next nonce
                if r.state is not ActionState.APPROVED:
                    continue  # it moved on meanwhile
                if a.id in later:  # not what used the nonce, and C decided again since
                    await self._close(
                        r, ActionState.SUPERSEDED, f"superseded by {later[a.id]}, a later decision of C"
                    )
                    continue
            if waits_for_c:
                why = "an earlier decision of C on the same token or account goes first (C's order)"
                if r.detail != why and r.state is ActionState.APPROVED:
                    await self.store.set_action_state(a.id, r.state, why)
                continue
            if a.origin is Origin.REGISTRY:
                key = (a.kind, a.account)
                if key in heads:
                    continue  # an older decision on the same account and flag goes first
                heads.add(key)
            if a.kind is ActionKind.RESUME and scheduled_resume:
                why = "a resume of this pause is scheduled already"
                if r.detail != why:
                    await self.store.set_action_state(a.id, r.state, why)
                continue
            if a.kind is ActionKind.UNCURSE and a.params in scheduled_uncurse:
                why = "an uncurse of this curse is scheduled already"
                if r.detail != why:
                    await self.store.set_action_state(a.id, r.state, why)
                continue
            if signed_now >= SIGN_WINDOW:
                continue  # the first ones in the queue first; the others in a later step
            signed_now += 1
            rotation = None
            if a.kind is ActionKind.ROTATE:
                rotation = RotationView(self.held_keys, self._rotation_first(r, records))
            before = self._sent.get(a.id)
            outcome = await self._advance(chain, r, view, now, may_send=not went_out, rotation=rotation)
            # one new transaction per endpoint and step (only one action can take the nonce); one
            # still in flight from an earlier step does not hold back the others
            went_out = went_out or (outcome.kind is OutcomeKind.SENT and self._sent.get(a.id) is not before)

    @staticmethod
    def _rotation_first(r: ActionRecord, records: list[ActionRecord]) -> str | None:
        """Another ROTATE of the endpoint that goes before `r` (`records` in queue order): one
        scheduled, or one this member signs that is ahead in the queue; one rotation at a time."""
        ahead = True
        for other in records:
            if other.action.id == r.action.id:
                ahead = False
                continue
            if other.action.kind is not ActionKind.ROTATE:
                continue
            if other.state is ActionState.SCHEDULED or (ahead and other.state in SIGNING):
                return other.action.id
        return None

    async def _supersede(
        self, records: list[ActionRecord], view: EndpointView
    ) -> tuple[list[ActionRecord], dict[str, str]]:
        """Close every approved registry decision of an account that C decided again later (final
        too; relayer.core.items.superseded). One signed for a nonce the endpoint has used since is
        settled first (it may be the one that used it: executed, not superseded). Returns the
        rest, and the superseded ones among them (id -> the later decision's id)."""
        signing = [r for r in records if r.state in SIGNING]
        newer = superseded([r.action for r in signing])
        kept = []
        for r in records:
            latest = newer.get(r.action.id)
            used = r.action_nonce is not None and r.action_nonce < view.action_nonce
            if latest is not None and r.state is ActionState.APPROVED and not used:
                await self._close(r, ActionState.SUPERSEDED, f"superseded by {latest}, a later decision of C")
                continue
            kept.append(r)
        return kept, newer

    async def _issuer_of(self, chain: ChainClient, a: Action, *, final: bool) -> IssuerView | None:
        """An ISSUER action's token record on the destination (None for another kind, or unread)."""
        f = a.issuer
        if f is None:
            return None
        try:
            applied = await chain.issuer_sequence(f.token, final=final)
        except Exception as exc:
            log.warning("issuer_read_failed", chain=chain.cfg.name, token=f.token, error=repr(exc))
            return None
        held = [
            o.action.issuer.sequence
            for o in await self.store.open_actions()
            if o.action.kind is ActionKind.ISSUER
            and o.action.chain_id == a.chain_id
            and o.action.issuer is not None
            and o.action.issuer.token == f.token
            and o.action.issuer.sequence > applied
        ]
        return IssuerView(applied, min(held) if held else None)

    async def _issuer_done(self, chain: ChainClient, r: ActionRecord) -> str:
        """Close an ISSUER action whose turn on the destination is consumed (final), as what it
        is: EXECUTED if the token applied it (IssuerActionApplied); FAILED if the token refused it
        (IssuerActionFailed) or its turn passed without it (skipped: the token's decisions there
        started at a later number), each counted in `qiao_issuer_actions_failed_total` and logged;
        never reported as applied. Returns the words recorded."""
        a = r.action
        f = a.issuer
        assert f is not None
        if await chain.issuer_action_failed(f.token, f.sequence):
            metrics.ISSUER_ACTIONS_FAILED.labels(chain.cfg.name).inc()
            why = (
                f"{a.describe()}: consumed in its turn but REFUSED by the token, not applied "
                "(IssuerActionFailed has its error); the issuer decides again on C"
            )
            log.warning("issuer_action_failed", action=a.id, token=f.token, sequence=f.sequence, why=why)
            await self._close(r, ActionState.FAILED, why)
            return why
        if not await chain.issuer_action_applied(f.token, f.sequence):
            why = (
                f"{a.describe()}: SKIPPED, not applied: its turn on the destination passed without it "
                "(the token's decisions there went on from a later number); the issuer decides again on C"
            )
            log.error("issuer_action_skipped", action=a.id, token=f.token, sequence=f.sequence, why=why)
            metrics.ISSUER_ACTIONS_FAILED.labels(chain.cfg.name).inc()
            await self._close(r, ActionState.FAILED, why)
            return why
        why = f"{a.describe()} applied"
        await self._executed(r, why)
        return why

    async def _issuer_consumed(self, chain: ChainClient, r: ActionRecord) -> Outcome:
        """An ISSUER action whose turn on the destination is consumed (final): a forced transfer or
        recovery the module scheduled is SCHEDULED here until it is executed after the delay
        (`_follow_issuer`); any other is closed as `_issuer_done` finds it (applied, refused,
        skipped)."""
        a = r.action
        f = a.issuer
        assert f is not None
        if a.delayed_issuer:
            d = await chain.issuer_scheduled(f.token, f.sequence, final=True)
            if d.status in (IssuerScheduleStatus.PENDING, IssuerScheduleStatus.CANCELLED):
                why = (
                    f"{a.describe()}: scheduled, {d.amount} of {d.account} held; executable at "
                    f"{d.executable_at} unless the guardian cancels it "
                    f"(cancelIssuerAction({f.token}, {f.sequence}))"
                )
                await self.store.set_action_state(
                    a.id, ActionState.SCHEDULED, why, executable_at=d.executable_at
                )
                log.info(
                    "issuer_action_scheduled",
                    action=a.id,
                    token=f.token,
                    sequence=f.sequence,
                    executable_at=d.executable_at,
                )
                return scheduled(f"executable at {d.executable_at}")
        return confirmed(await self._issuer_done(chain, r), ours=False)

    async def _follow_issuer(self, chain: ChainClient, r: ActionRecord) -> Outcome:
        """A forced transfer or recovery the gateway's IssuerModule scheduled: executed, refused by
        the token at execution, or cancelled by the guardian (read at the final head), or executed
        by this node (`executeIssuerAction`) once its delay is over, the endpoint is not paused
        and it is its turn. One the guardian cut off with `cancelAllPending` still holds the
        holder's tokens until someone calls `executeIssuerAction`, which then only releases them:
        this node sends it too, and closes the action once it is closed on-chain."""
        a = r.action
        f = a.issuer
        assert f is not None
        d = await chain.issuer_scheduled(f.token, f.sequence, final=True)
        if d.status is IssuerScheduleStatus.EXECUTED:
            why = f"{a.describe()}: executed after the delay"
            await self._executed(r, why)
            return confirmed(why, ours=False)
        if d.status in (IssuerScheduleStatus.FAILED, IssuerScheduleStatus.NONE):
            # refused by the token at execution (or at once): FAILED, as `_issuer_done` says
            return confirmed(await self._issuer_done(chain, r), ours=False)
        if d.status is IssuerScheduleStatus.PENDING:
            if await chain.chain_time() < d.executable_at:
                return scheduled(f"executable at {d.executable_at}")
            if (await chain.endpoint_state()).paused:
                return not_ready("the endpoint is paused: the forced move executes after the resume")

        async def refusal(name: str) -> Outcome | None:
            if name != "NoScheduledIssuerAction":
                return None
            if d.status is not IssuerScheduleStatus.CANCELLED:
                return not_ready("ended on-chain, not final yet")
            why = (
                f"{a.describe()}: cancelled by the guardian during its delay, the holder's tokens "
                "released; the issuer decides again on C if the order still stands"
            )
            log.warning("issuer_action_cancelled", action=a.id, token=f.token, sequence=f.sequence, why=why)
            await self._close(r, ActionState.CANCELLED, why)
            return refused(why)

        # the nonce its signature used on-chain: a member that found it applied before signing it
        # has none of its own, and every member must give it the same turn
        return await self._send_execute(
            chain, r, d.action_nonce, execute_issuer_data(f.token, f.sequence), refusal
        )

    async def _flag(self, chain: ChainClient, a: Action, *, final: bool) -> FlagView | None:
        if a.account is None:
            return None
        try:
            status = await chain.registry_status(a.account, final=final)
        except Exception as exc:
            log.warning("registry_read_failed", chain=chain.cfg.name, account=a.account, error=repr(exc))
            return None
        return FlagView(status.bridge_frozen if a.kind is ActionKind.FREEZE else status.allowed)

    async def _advance(
        self,
        chain: ChainClient,
        r: ActionRecord,
        view: EndpointView,
        now: float,
        *,
        may_send: bool,
        rotation: RotationView | None = None,
    ) -> Outcome:
        """Sign, combine and (if `may_send`) send `r` for the endpoint's current nonce; its
        outcome (`_submit`'s once it is signed and may be sent). `rotation`: for a ROTATE, the
        keys this member holds and any rotation going first."""
        a = r.action
        # a proposal expires until this node sent it; once sent, the chain decides (settled above)
        verdict: Verdict = decide(
            a,
            view,
            await self._flag(chain, a, final=False),
            now,
            expiring=r.state is ActionState.APPROVED,
            rotation=rotation,
            curse=await self._curse_of(chain, a, final=False),
            issuer=await self._issuer_of(chain, a, final=False),
        )
        if verdict.decision is Decision.DONE:
            final = await chain.endpoint_state(final=True)
            flag = await self._flag(chain, a, final=True)
            again = decide(
                a,
                EndpointView(final.paused, final.action_nonce, final.key_epoch, final.pause_count),
                flag,
                now,
                expiring=False,
                rotation=rotation,
                curse=await self._curse_of(chain, a, final=True),
                issuer=await self._issuer_of(chain, a, final=True),
            )
            if again.decision is Decision.DONE:
                if a.kind is ActionKind.ISSUER:
                    return await self._issuer_consumed(chain, r)
                await self._executed(r, again.why)
                return confirmed(again.why, ours=False)
            return not_ready(f"{verdict.why}, not final yet")
        if verdict.decision is Decision.REFUSE:
            state = ActionState.EXPIRED if "expired" in verdict.why else ActionState.REFUSED
            await self._close(r, state, verdict.why)
            return refused(verdict.why)
        if verdict.decision is Decision.WAIT:
            if r.detail != verdict.why and r.state is ActionState.APPROVED:
                await self.store.set_action_state(a.id, r.state, verdict.why)
            return not_ready(verdict.why)
        if not self.keyring.holds(view.key_epoch):
            held = " and ".join(str(e) for e in self.keyring.epochs)
            why = f"the endpoint is at key epoch {view.key_epoch}; this member's key is epoch {held}"
            if r.detail != why:
                await self.store.set_action_state(a.id, r.state, why)
            return not_ready(why)
        if (
            r.action_nonce != view.action_nonce
            or r.key_epoch != view.key_epoch
            or await self._unsigned(r, view)
        ):
            r = await self._sign(r, view)
        if r.signature is None:
            await self._try_combine(r)
            r = await self.store.action_record(a.id) or r
        if r.signature is None:
            return not_ready(f"collecting partials for action nonce {r.action_nonce}")
        if not may_send:
            return not_ready("another action of this endpoint went out in this step")
        return await self._submit(chain, r)

    async def _unsigned(self, r: ActionRecord, view: EndpointView) -> bool:
        """Whether this member (a signer) has not signed `r` for the current nonce yet: a crash
        between recording the nonce and signing leaves it so."""
        if self.keyring.share(view.key_epoch) is None:
            return False
        endpoint = self.cfg.chain_by_id(r.action.chain_id).endpoint
        item = f"{r.action.id}@{view.action_nonce}"
        return (
            await self.store.signed_item(r.action.kind, r.action.chain_id, endpoint, view.key_epoch, item)
            is None
        )

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
        share = self.keyring.share(view.key_epoch)
        if share is not None:
            item = f"{a.id}@{view.action_nonce}"
            partial = partial_sign(share, message, self.backend)
            record = self.store.sign_item(
                a.kind, a.chain_id, endpoint, view.key_epoch, item, message, partial
            )
            kept = await signed_once(record, action=a.id)
            if kept is EQUIVOCATION:
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
        kept = await self.store.action_partials(r.action.id, r.action_nonce, r.key_epoch)
        item = (r.action.id, r.action_nonce, r.key_epoch)
        # each kept partial was checked on arrival against this item's message; any other is left aside
        offered = [
            Offered(member, message, partial) for member, message, partial in kept if message == r.message
        ]
        combined = self.partials.combine(item, r.message, offered, r.key_epoch)
        if combined.unverified:
            log.error("combined_action_signature_invalid", action=r.action.id, members=list(combined.valid))
        if combined.signature is None:
            return False
        if not await self.store.set_action_state(
            r.action.id,
            r.state,
            f"signed by {list(combined.members)} for action nonce {r.action_nonce}",
            signature=combined.signature,
            expect=(r.state, r.action_nonce, r.message),
        ):
            return False  # it moved on meanwhile (signed again for another nonce, sent, settled)
        self._aggregated_at[r.action.id] = time.monotonic()
        log.info("action_aggregated", action=r.action.id, nonce=r.action_nonce, members=list(combined.valid))
        crashpoint("after_action_combine")
        return True

    def _rank(self, nonce: int) -> int:
        members = [int(m) for m in self.keyring.members]
        start = nonce % len(members)
        order = members[start:] + members[:start]
        return order.index(self.cfg.member_index) if self.cfg.member_index in order else len(order)

    async def _submit(self, chain: ChainClient, r: ActionRecord) -> Outcome:
        """Send the signed action once it is this member's turn; follow a transaction sent: a
        transaction not mined within `receipt_timeout` is replaced (same account nonce, fees
        bumped). SENT while this node's transaction is in flight (`_sent` holds the one that
        went out last); its effect is settled from the chain (`_settle`)."""
        submitter = self.submitters.get(chain.chain_id)
        if submitter is None or r.signature is None or r.key_epoch is None or r.action_nonce is None:
            return not_ready("no relayer account for this chain here, or not signed")
        a = r.action
        previous = self._sent.get(a.id)
        if r.state is ActionState.SUBMITTED and r.tx_hash is not None:
            receipt = await submitter.sender.receipt(r.tx_hash)
            waited = time.time() - (r.sent_at or 0)
            if receipt is not None and receipt.status == 1:
                # the nonce is used: a later step settles it at the final head
                return sent(f"tx {r.tx_hash} mined; settled once final")
            if receipt is None and waited < self.cfg.relayer.receipt_timeout:
                return sent(f"tx {r.tx_hash} waits for its receipt")
            if receipt is not None:
                previous = None  # reverted (the nonce was taken meanwhile): a fresh transaction
        else:
            since = self._aggregated_at.setdefault(a.id, time.monotonic())
            if time.monotonic() - since < self._rank(r.action_nonce) * self.cfg.relayer.stagger_seconds:
                return not_ready("not this relayer's turn yet")
        new_key = None
        if a.kind is ActionKind.ROTATE:
            held = self.held_keys.get(a.params)
            if held is None:  # decided before signing; a relayer-only node may still hold the partials
                log.warning(
                    "rotate_key_unknown",
                    action=a.id,
                    key_hash="0x" + a.params.hex(),
                    why="this node's keyring holds no key with that hash; another member submits it",
                )
                return not_ready("this node's keyring holds no key with that hash; another member submits it")
            new_key = held.group_key
        data = action_call_data(a.kind, r.key_epoch, a.params, r.signature, new_key=new_key)

        async def record(tx: TxRecord) -> None:
            await self.store.set_action_state(
                a.id,
                ActionState.SUBMITTED,
                f"tx {tx.tx_hash} for action nonce {r.action_nonce}",
                tx=(tx.tx_hash, tx.sent_at),
            )

        tx = await self._send(submitter, data, record, {"action": a.id}, previous)
        if tx == "ActionExpired":  # a RESUME past its signed deadline: the chain refuses it for good
            why = "its signed deadline passed before it was accepted"
            await self._close(r, ActionState.EXPIRED, why)
            return refused(why)
        if isinstance(tx, str):  # logged by _send; the nonce may have moved on (settled next step)
            return retry(f"estimate reverts {tx}")
        if tx is None:
            return not_ready("fees above the cap")
        self._sent[a.id] = tx
        log.info("action_submitted", action=a.id, kind=a.kind.value, tx=tx.tx_hash, nonce=r.action_nonce)
        crashpoint("after_action_send")
        return sent(f"tx {tx.tx_hash} for action nonce {r.action_nonce}")

    async def _send(
        self,
        submitter: Submitter,
        data: bytes,
        record: Callable[[TxRecord], Awaitable[None]],
        what: dict[str, str],
        previous: TxRecord | None,
    ) -> TxRecord | str | None:
        """Estimate and send `data` through the chain's submitter (one sender of the account at a
        time); a replacement of `previous` if it is still unmined. The revert's error name if the
        estimate reverts; None if the fees are above the cap."""
        async with submitter.send_lock:
            if previous is not None and await submitter.sender.confirmed_nonce() > previous.nonce:
                previous = None  # its nonce is used (by it or another): not a replacement
            try:
                gas = await submitter.sender.estimate(data)
            except Reverted as exc:
                name = revert_name(exc.data)
                log.warning("action_estimate_reverted", **what, error=name)
                return name
            return await submitter.sender.send(
                data, gas, None if previous is None else previous.nonce, previous, record, what
            )

    async def _settle(self, chain: ChainClient, r: ActionRecord) -> Outcome:
        """The endpoint used the nonce `r` was signed for: once that is final, its effect is
        on-chain (CONFIRMED: executed; SCHEDULED: a RESUME or ROTATE waiting out its delay), or
        another action took the nonce and `r` is approved again, to be signed for the current one
        (RETRY). NOT_READY while the nonce's use is not final."""
        a = r.action
        assert r.action_nonce is not None
        final = await chain.endpoint_state(final=True)
        if final.action_nonce <= r.action_nonce:
            # used in a block not final yet: a reorg may still undo it
            return not_ready(f"action nonce {r.action_nonce} used in a block not final yet")
        if a.kind in DELAYED:
            pending = await chain.pending_action(r.action_nonce, final=True)
            if await self._pending_is(chain, a, r.action_nonce, pending) and pending.status != 0:
                await self.store.set_action_state(
                    a.id,
                    ActionState.SCHEDULED,
                    f"scheduled at action nonce {r.action_nonce}, executable at {pending.executable_at}",
                    executable_at=pending.executable_at,
                )
                log.info(
                    "action_scheduled", action=a.id, nonce=r.action_nonce, executable_at=pending.executable_at
                )
                return scheduled(f"executable at {pending.executable_at}")
        elif a.kind is ActionKind.PAUSE and final.paused:
            why = f"the endpoint is paused (action nonce {r.action_nonce})"
            await self._executed(r, why)
            return confirmed(why, ours=False)
        elif a.kind in (ActionKind.FREEZE, ActionKind.ALLOW):
            flag = await self._flag(chain, a, final=True)
            if flag is None:
                return not_ready("the destination's registry could not be read")
            if flag.value == a.flag:
                why = f"{a.describe()} applied (action nonce {r.action_nonce})"
                await self._executed(r, why)
                return confirmed(why, ours=False)
        elif a.kind is ActionKind.ISSUER:
            issuer = await self._issuer_of(chain, a, final=True)
            if issuer is None:
                return not_ready("the destination's issuer record could not be read")
            f = a.issuer
            assert f is not None
            if issuer.applied >= f.sequence:
                return await self._issuer_consumed(chain, r)
        why = f"action nonce {r.action_nonce} was used by another action; signing again"
        await self.store.set_action_state(a.id, ActionState.APPROVED, why)
        self._sent.pop(a.id, None)
        return retry(why)

    async def _follow_proposed(self, chain: ChainClient, r: ActionRecord, view: EndpointView) -> None:
        """A proposal this member's operator has not decided on, carried by the others without
        it: its outcome on-chain closes it here too (left open, it would wait for an approval that
        no longer matters until it expires, and count as pending). Seen through the partials this
        node kept for it: signed for a nonce the endpoint has used (read at the final head), where
        the endpoint holds an action of its kind."""
        a = r.action
        for nonce, _epoch in await self.store.action_partial_nonces(a.id):
            if nonce >= view.action_nonce:
                continue
            final = await chain.endpoint_state(final=True)
            if nonce >= final.action_nonce:
                continue
            without = f"at action nonce {nonce}, without this member's approval"
            if a.kind is ActionKind.PAUSE and final.paused:
                await self._executed(r, f"the endpoint is paused ({without})")
                return
            if a.kind in DELAYED:
                pending = await chain.pending_action(nonce, final=True)
                if not await self._pending_is(chain, a, nonce, pending):
                    continue  # the nonce went to another action
                status = PENDING_STATUS.get(pending.status, "none")
                if status == "executed":
                    await self._executed(r, f"executed after the delay ({without})")
                    return
                if status == "cancelled":
                    await self._close(r, ActionState.CANCELLED, f"cancelled by the guardian ({without})")
                    return

    async def _pending_is(
        self, chain: ChainClient, a: Action, nonce: int, pending: PendingActionView, *, final: bool = True
    ) -> bool:
        """Whether the action scheduled under `nonce` (`pending`, read at the final head, or at the
        head if not `final`) is `a`:
        its type hash and its subject. A RESUME: the pause it lifts (`pendingAction(n).pauseCount`);
        a ROTATE: the key (the hash of the key its `keyData` contract holds); an UNCURSE: the curse
        number (`pendingAction(n).pauseCount`) and the route (`uncurseRoute(n)`). Another pause's
        RESUME, another key's ROTATE, another route's or curse's UNCURSE that took the nonce is not
        `a`: its outcome (executed, cancelled) says nothing of `a`, which is then signed again."""
        if pending.typehash != ACTION_TYPEHASHES[a.kind.value]:
            return False
        if a.kind is ActionKind.RESUME:
            return pending.pause_count == a.pause_count
        if a.kind is ActionKind.ROTATE:
            return await chain.key_data_hash(pending.key_data, final=final) == a.new_key_hash
        if a.kind is not ActionKind.UNCURSE:
            return True
        if pending.pause_count != a.curse_count:
            return False
        return await chain.uncurse_route(nonce, final=final) == a.remote_chain_id

    async def _follow_scheduled(self, chain: ChainClient, r: ActionRecord) -> Outcome:
        """A scheduled RESUME, ROTATE or UNCURSE: executed or cancelled (read at the final head), or
        executed by this node (`executePending`) once its delay is over and it is its turn.
        SCHEDULED while the delay runs; a cancelled or stale one is REFUSED (it never executes)."""
        if r.action.kind is ActionKind.ISSUER:
            return await self._follow_issuer(chain, r)
        assert r.action_nonce is not None
        pending = await chain.pending_action(r.action_nonce, final=True)
        status = PENDING_STATUS.get(pending.status, "none")
        if status == "executed":
            why = f"executed after the delay (action nonce {r.action_nonce})"
            await self._executed(r, why)
            return confirmed(why, ours=False)
        if status in ("cancelled", "none"):
            why = "cancelled by the guardian during the delay"
            await self._close(r, ActionState.CANCELLED, why)
            await self._close_duplicates(chain, r, why)
            return refused(why)
        if await chain.chain_time() < pending.executable_at:
            return scheduled(f"executable at {pending.executable_at}")

        async def refusal(name: str) -> Outcome | None:
            if name != "PendingActionStale":
                return None
            why = {
                ActionKind.UNCURSE: "stale: the route is no longer in the curse it lifts "
                "(lifted by another UNCURSE), or the endpoint's key epoch changed",
                ActionKind.ROTATE: "stale: the endpoint's key epoch changed",
            }.get(
                r.action.kind,
                "stale: the endpoint left the pause it resumed, or its key epoch changed",
            )
            await self._close(r, ActionState.CANCELLED, why)
            await self._close_duplicates(chain, r, why)
            return refused(why)

        nonce = r.action_nonce
        return await self._send_execute(chain, r, nonce, execute_pending_data(nonce), refusal)

    async def _send_execute(
        self,
        chain: ChainClient,
        r: ActionRecord,
        nonce: int,
        data: bytes,
        refusal: Callable[[str], Awaitable[Outcome | None]],
    ) -> Outcome:
        """Send `data` (the execution of scheduled action `r`, whose signature used action nonce
        `nonce`; anyone may send it) from this node's relayer account when it is its turn
        (members take turns by the nonce's rank), unless a transaction of this node executing it
        is in flight. A revert of the estimate goes to `refusal` (its error name): its outcome, or
        RETRY when it returns None."""
        submitter = self.submitters.get(chain.chain_id)
        if submitter is None:
            return not_ready("no relayer account for this chain here")
        executing = self._executing.get(r.action.id)
        if executing is not None:
            receipt = await submitter.sender.receipt(executing.tx_hash)
            if receipt is not None and receipt.status == 1:
                return sent(f"tx {executing.tx_hash} executed it; final in a later step")
            if receipt is None and time.time() - executing.sent_at < self.cfg.relayer.receipt_timeout:
                return sent(f"tx {executing.tx_hash} waits for its receipt")
        seen = self._due_seen.setdefault(r.action.id, time.monotonic())
        if time.monotonic() - seen < self._rank(nonce) * self.cfg.relayer.stagger_seconds:
            return not_ready("not this relayer's turn to execute it yet")
        async with submitter.send_lock:
            try:
                gas = await submitter.sender.estimate(data)
            except Reverted as exc:
                name = revert_name(exc.data)
                outcome = await refusal(name)
                if outcome is not None:
                    return outcome
                log.warning("action_execute_reverted", action=r.action.id, error=name)
                return retry(f"the execution reverts {name}")

            async def record(tx: TxRecord) -> None:
                return None

            tx = await submitter.sender.send(data, gas, None, None, record, {"action": r.action.id})
        if tx is None:
            return not_ready("fees above the cap")
        self._executing[r.action.id] = tx
        log.info("action_execute_sent", action=r.action.id, nonce=nonce, tx=tx.tx_hash)
        return sent(f"tx {tx.tx_hash} executes it")

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

    async def _close_duplicates(self, chain: ChainClient, r: ActionRecord, why: str) -> None:
        """`r` (a RESUME, ROTATE or UNCURSE this node signed and saw scheduled at its own action
        nonce) was cancelled on-chain (or went stale): every other action open here that does the
        same (relayer.core.items.same_subject) is closed with it. Left open, a duplicate approved
        here would be signed for the next action nonce and scheduled again, and the guardian's
        cancel would stop nothing; doing it again takes a new proposal and t operators' approvals.
        Only this node's own record closes duplicates: a peer's proposal followed through the
        partials it sent (`_follow_proposed`) is that peer's word, not this node's (review #15).
        A duplicate signed for a nonce of its own that is still pending on-chain there is not
        closed: marked cancelled here it would stay executable by anyone; it stays followed, and
        an error says the guardian must cancel it too (review #16)."""
        a = r.action
        for other in await self._duplicates(a):
            if other.action_nonce is not None:
                pending = await chain.pending_action(other.action_nonce)
                if pending.status == PendingStatus.PENDING and await self._pending_is(
                    chain, other.action, other.action_nonce, pending, final=False
                ):
                    log.error(
                        "action_duplicate_still_scheduled",
                        action=other.action.id,
                        kind=a.kind.value,
                        nonce=other.action_nonce,
                        cancelled=a.id,
                        why=f"duplicate still scheduled at nonce {other.action_nonce}: the guardian "
                        f"must cancel it too (it cancelled {a.id} at action nonce {r.action_nonce})",
                    )
                    continue
            detail = (
                f"closed with {a.id}, a {a.kind} of the same {SUBJECT[a.kind]}: {why}; a duplicate is "
                "not signed again after that; propose again if it is still to be done"
            )
            if await self.store.set_action_state(other.action.id, ActionState.CANCELLED, detail):
                log.info("action_cancelled", action=other.action.id, kind=a.kind.value, why=detail)
            self._forget(other.action.id)
            self._closed_now.add(other.action.id)

    def _forget(self, action_id: str) -> None:
        self.partials.forget_items(lambda item: isinstance(item, tuple) and item[0] == action_id)
        self._aggregated_at.pop(action_id, None)
        self._due_seen.pop(action_id, None)
        self._sent.pop(action_id, None)
        self._executing.pop(action_id, None)

    # ---- publishing ------------------------------------------------------------------------

    def _publish_partial(self, a: Action, epoch: int, nonce: int, message: bytes, partial: bytes) -> None:
        self.publisher.publish_action(
            ActionPartialMessage(
                self.cfg.member_index, a.id, a.kind, a.chain_id, epoch, nonce, a.params, message, partial
            )
        )

    def _publish_proposal(self, a: Action) -> None:
        share = self.keyring.first.share
        if a.expires_at is None or a.expires_at <= time.time() or share is None:
            return
        msg = ProposalMessage(
            self.cfg.member_index, a.id, a.kind, a.chain_id, a.created_at, a.expires_at, a.params
        )
        sig = partial_sign(share, msg.digest(), self.backend)
        self.publisher.publish_proposal(replace(msg, sig=sig))

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

    async def asset_mismatches(self) -> dict[str, list[str]]:
        """Follower chain name -> how each wrapped token its gateway paired with an asset of the
        source differs from the issuer registry there (status, NAV, last decision's number; both
        at their final heads), skipping a token with a decision still open or waiting for its pair
        (relayer.pipeline.issuer_check). Sets `qiao_asset_status_mismatch`, `qiao_nav_age_seconds`
        and `qiao_nav_stale`."""
        source, registry = self.cfg.actions.registry_from, self.cfg.actions.issuer_registry
        if source is None or registry is None:
            return {}
        src = self.chains.get(self.cfg.chains[source].chain_id)
        if src is None:
            return {}
        followers = {
            f: client
            for f in self.cfg.actions.registry_to
            if (client := self.chains.get(self.cfg.chains[f].chain_id)) is not None
        }
        busy: dict[ChainId, set[str]] = {}
        for r in await self.store.action_records(list(OPEN), limit=5000):
            if r.action.issuer is not None:
                busy.setdefault(r.action.chain_id, set()).add(r.action.issuer.token)
        for w in await self.store.issuer_waiting(src.chain_id):
            for client in followers.values():
                if client.chain_id == w.chain_id:
                    busy.setdefault(w.chain_id, set()).add(
                        await client.local_token_of(src.chain_id, w.event.asset)
                    )
        return await issuer_check.asset_mismatches(
            followers, src, registry, self._pairs, busy, self.cfg.actions.nav_max_age, time.time()
        )

    async def gauges(self) -> dict[str, int]:
        """Set the actions' gauges; returns the number of actions per state, every kind together
        (for `qiao_signed_items`)."""
        counts, oldest = await self.store.action_counts()
        for kind in ActionKind:
            for state in ActionState:
                metrics.ACTIONS.labels(kind.value, state.value).set(counts.get((kind.value, state.value), 0))
            first = oldest.get(kind.value)
            metrics.ACTION_OLDEST_OPEN_SECONDS.labels(kind.value).set(
                0 if first is None else max(0.0, time.time() - first)
            )
        return states_of_every_kind(counts)
