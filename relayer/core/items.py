"""Committee actions as the pipeline carries them: what they are, their states, and the checks a
member makes on its own before it signs one. Pure: no I/O.

An action is one committee-signed call to one endpoint (docs/PROTOCOL.md, "Signed actions"):
PAUSE, RESUME, ROTATE, UNCURSE, FREEZE, ALLOW or ISSUER. It comes from one of three origins:

- the consortium chain's KYC registry: a `FrozenSet` or `AllowedSet` event final on C becomes a
  FREEZE or ALLOW for the gateway on E. Every member sees the event through its own watcher and
  signs it with no operator step (its check: the event is final on its own view of C, from C's
  registry); its id is derived from the event's position, so every member names it alike;
- the consortium chain's issuer registry (`IssuerRegistry`, issue 19): an `IssuerAction` event
  final on C becomes an ISSUER action (origin ISSUER) for each gateway that has the asset's
  wrapped token, signed like the registry's with no operator step; it is the token's next
  decision in C's numbering or waits (`decide_issuer`: #1 first, never one skipped), and the
  members keep C's order around it per token and per account (relayer.core.issuer_scan);
- an operator: `relayer actions propose resume --chain ethereum` on one member publishes a
  proposal; every member keeps it as `proposed` and signs only after its own operator approves it
  (`relayer actions approve ID`), so t operators must agree. A proposal expires.

An action is signed for the endpoint's next action nonce under its current key epoch, and the
contract consumes that nonce when it accepts one. An action that lost the race for a nonce
(another consumed it first) is signed again for the next nonce while its effect is still not
on-chain; each (action, nonce) is one signed item, signed at most once (the store's signed-once
rule, `signed_items`). Members sign the first few approved actions of their own queue for an
endpoint (`queue_order`: a pause first, then the registry's decisions in the consortium chain's
order, then the other proposals oldest first; for the registry, only the oldest open decision per
account and flag), so members that know the same actions sign the same ones, and one a member's
operator has not approved does not hold back the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from relayer.core.arrivals import Facts, Judgement, PartialOutcome
from relayer.core.encoding import (
    ASSET_STATUSES,
    ISSUER_OPS,
    IssuerFields,
    issuer_fields,
    resume_fields,
    uncurse_fields,
)
from relayer.core.onchain import AssetState, CurseView
from relayer.core.types import ChainId


class ActionKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    ROTATE = "rotate"
    FREEZE = "freeze"
    ALLOW = "allow"
    UNCURSE = "uncurse"  # lifts one curse of one route (the sentinels'), after the delay
    ISSUER = "issuer"  # an issuer's decision recorded on C (IssuerRegistry), applied by IssuerModule


# what an operator proposes (CLI)
PROPOSABLE = (ActionKind.PAUSE, ActionKind.RESUME, ActionKind.ROTATE, ActionKind.UNCURSE)
DELAYED = (ActionKind.RESUME, ActionKind.ROTATE, ActionKind.UNCURSE)  # scheduled, executed after the delay
# the issuer's decisions that move balances: IssuerModule schedules them (their tokens held on the
# holder) and `executeIssuerAction` moves them after the endpoint's delay, unless the guardian
# cancels them (docs/PROTOCOL.md, "Issuer actions, asset status and NAV")
DELAYED_ISSUER_OPS = ("forced_transfer", "recovery")


class ActionState(StrEnum):
    PROPOSED = "proposed"  # known here, waiting for this member's operator
    APPROVED = "approved"  # this member signs it (for the endpoint's current action nonce)
    SUBMITTED = "submitted"  # this node sent the signed action; waiting for its outcome
    SCHEDULED = "scheduled"  # a RESUME, ROTATE, UNCURSE, forced transfer or recovery waiting out the delay
    EXECUTED = "executed"  # its effect is on-chain
    CANCELLED = "cancelled"  # the guardian cancelled it while it was scheduled
    EXPIRED = "expired"  # a proposal not executed before it expired
    REFUSED = "refused"  # this member will not sign it (the reason is in its detail)
    SUPERSEDED = "superseded"  # a registry decision C made again later for the same account
    # consumed on-chain in its turn but not applied: an ISSUER decision the token refused
    # (IssuerActionFailed), or one the endpoint passed without applying it (its turn is gone)
    FAILED = "failed"


OPEN = (ActionState.PROPOSED, ActionState.APPROVED, ActionState.SUBMITTED, ActionState.SCHEDULED)
SIGNING = (ActionState.APPROVED, ActionState.SUBMITTED)  # partials are made and taken for these
CLOSED = (
    ActionState.EXECUTED,
    ActionState.CANCELLED,
    ActionState.EXPIRED,
    ActionState.REFUSED,
    ActionState.SUPERSEDED,
    ActionState.FAILED,
)


class Origin(StrEnum):
    REGISTRY = "registry"  # a decision of the consortium chain's KYC registry
    OPERATOR = "operator"  # proposed by a member's operator
    ISSUER = "issuer"  # a decision of the consortium chain's issuer registry (IssuerRegistry)


class ActionRefused(Exception):
    """An operator's request about an action that cannot be done; the text says why and what to do."""


ACTION_ID = re.compile(r"^(r[0-9]{1,20}-[0-9]{1,20}-[0-9]{1,10}|p[0-9]{1,4}-[0-9a-f]{8})$")
MAX_TTL_SECONDS = 7 * 24 * 3600


def registry_action_id(chain_id: int, block_number: int, log_index: int) -> str:
    """The id every member gives the action carrying the registry event at this position of C."""
    return f"r{chain_id}-{block_number}-{log_index}"


def proposal_id(member: int, random_hex: str) -> str:
    return f"p{member}-{random_hex}"


def check_action_id(text: str) -> str:
    if not isinstance(text, str) or not ACTION_ID.match(text):
        raise ValueError(f"{text!r} is not an action id (r<chain>-<block>-<log> or p<member>-<8 hex>)")
    return text


@dataclass(frozen=True, slots=True)
class Action:
    """One action to sign for the endpoint of `chain_id`. `params` are its ABI-encoded fields
    (relayer.core.encoding.action_params). `position` orders the registry's decisions as C did
    (block, log index); an operator's proposal has (created_at, 0)."""

    id: str
    kind: ActionKind
    chain_id: ChainId
    params: bytes
    origin: Origin
    proposer: int  # the member whose operator proposed it; 0 for the registry's decisions
    created_at: float
    expires_at: float | None
    position: tuple[int, int]

    def __post_init__(self) -> None:
        check_action_id(self.id)
        if self.chain_id <= 0:
            raise ValueError(f"action {self.id}: chain id must be positive")
        if self.kind in (ActionKind.FREEZE, ActionKind.ALLOW) and len(self.params) != 64:
            raise ValueError(f"action {self.id}: a {self.kind} takes (address, bool), 64 bytes")
        if self.kind is ActionKind.PAUSE and self.params:
            raise ValueError(f"action {self.id}: a pause has no parameters")
        if self.kind is ActionKind.ROTATE and len(self.params) != 32:
            raise ValueError(f"action {self.id}: a rotate takes the new key's hash, 32 bytes")
        if self.kind is ActionKind.RESUME:
            _, deadline = resume_fields(self.params)  # ValueError unless (pause count, deadline)
            if self.expires_at != float(deadline):
                raise ValueError(f"action {self.id}: a resume expires at its signed deadline {deadline}")
        if self.kind is ActionKind.ISSUER:
            issuer_fields(self.params)  # ValueError unless an issuer decision's seven words
            if self.origin is not Origin.ISSUER:
                raise ValueError(f"action {self.id}: an issuer decision comes from C's issuer registry only")
        if self.kind is ActionKind.UNCURSE:
            remote, _ = uncurse_fields(self.params)  # ValueError unless (remote chain id, curse count)
            if remote == self.chain_id:
                raise ValueError(f"action {self.id}: an uncurse names a remote chain, not the endpoint's own")

    @property
    def account(self) -> str | None:
        """The account a FREEZE or ALLOW is about (lower-case hex)."""
        if self.kind not in (ActionKind.FREEZE, ActionKind.ALLOW):
            return None
        return "0x" + self.params[12:32].hex()

    @property
    def issuer(self) -> IssuerFields | None:
        """The fields of an ISSUER action (token, sequence, op, account, to, amount, asOf)."""
        return issuer_fields(self.params) if self.kind is ActionKind.ISSUER else None

    @property
    def delayed_issuer(self) -> bool:
        """Whether this is an ISSUER action that IssuerModule schedules (a forced transfer or a
        recovery): applied, it waits out the endpoint's delay, then `executeIssuerAction`."""
        f = self.issuer
        return f is not None and ISSUER_OPS.get(f.op) in DELAYED_ISSUER_OPS

    @property
    def pause_count(self) -> int | None:
        """The pause a RESUME lifts (the endpoint's `pauseCount()` when it was proposed)."""
        return resume_fields(self.params)[0] if self.kind is ActionKind.RESUME else None

    @property
    def remote_chain_id(self) -> int | None:
        """The remote chain of the route an UNCURSE lifts the curse of."""
        return uncurse_fields(self.params)[0] if self.kind is ActionKind.UNCURSE else None

    @property
    def curse_count(self) -> int | None:
        """The curse an UNCURSE lifts (the endpoint's `curseCount(remote)` when it was proposed)."""
        return uncurse_fields(self.params)[1] if self.kind is ActionKind.UNCURSE else None

    @property
    def flag(self) -> bool | None:
        """The value a FREEZE or ALLOW sets."""
        if self.kind not in (ActionKind.FREEZE, ActionKind.ALLOW):
            return None
        return self.params[63] == 1

    @property
    def new_key_hash(self) -> bytes | None:
        """The keccak256 of the 256-byte EIP-2537 key a ROTATE installs."""
        return self.params if self.kind is ActionKind.ROTATE else None

    def describe(self) -> str:
        if self.kind is ActionKind.ROTATE:
            return f"rotate to the key with hash 0x{self.params.hex()}"
        if self.kind is ActionKind.FREEZE:
            return f"{'freeze' if self.flag else 'unfreeze'} {self.account}"
        if self.kind is ActionKind.ALLOW:
            return f"{'allow' if self.flag else 'disallow'} {self.account}"
        if self.kind is ActionKind.UNCURSE:
            return f"lift curse #{self.curse_count} of the route with chain {self.remote_chain_id}"
        if self.kind is ActionKind.ISSUER:
            return describe_issuer(issuer_fields(self.params))
        return str(self.kind)


def describe_issuer(f: IssuerFields) -> str:
    """An issuer decision in words (its number on C, what it does to which token)."""
    op = ISSUER_OPS[f.op]
    what = {
        "freeze_wallet": f"freeze wallet {f.account}",
        "unfreeze_wallet": f"unfreeze wallet {f.account}",
        "freeze_partial": f"freeze {f.amount} of {f.account}",
        "unfreeze_partial": f"unfreeze {f.amount} of {f.account}",
        "forced_transfer": f"force {f.amount} from {f.account} to {f.to}",
        "recovery": f"recover wallet {f.account} to {f.to}",
        "set_status": f"set the asset status to {ASSET_STATUSES.get(f.amount, f'code {f.amount}')}",
        "set_nav": f"set the NAV per unit to {f.amount} as of {f.as_of}",
    }[op]
    return f"issuer decision #{f.sequence} on {f.token}: {what}"


def same_subject(a: Action, b: Action) -> bool:
    """Whether two actions of a delayed kind do the same thing to the same endpoint, so that
    they are duplicates of each other: two RESUMEs of the same pause (whatever their deadlines),
    two UNCURSEs of the same curse of the same route, two ROTATEs to the same key. A member
    approves and signs at most one of them, and the guardian's cancel of one closes them all:
    a duplicate signed after that cancel would schedule again what the guardian stopped."""
    if a.kind not in DELAYED or a.kind is not b.kind or a.chain_id != b.chain_id or a.id == b.id:
        return False
    if a.kind is ActionKind.RESUME:
        return a.pause_count == b.pause_count
    return a.params == b.params


def queue_order(a: Action) -> tuple[int, int, int, str]:
    """Sort key of an endpoint's open actions: a pause first, then the registry's decisions in
    C's order, then the other proposals oldest first (ties by id)."""
    if a.kind is ActionKind.PAUSE:
        return (0, int(a.created_at * 1000), 0, a.id)
    if a.origin in (Origin.REGISTRY, Origin.ISSUER):
        return (1, a.position[0], a.position[1], a.id)
    return (2, int(a.created_at * 1000), 0, a.id)


@dataclass(frozen=True, slots=True)
class EndpointView:
    """What a member reads of an endpoint before it signs an action for it."""

    paused: bool
    action_nonce: int
    key_epoch: int
    pause_count: int = 0


@dataclass(frozen=True, slots=True)
class FlagView:
    """The flag a FREEZE or ALLOW sets, as the destination's registry holds it now (the bridge
    freeze for a FREEZE, the allow-list entry for an ALLOW)."""

    value: bool


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A key epoch this member holds, as a ROTATE names it (by the keccak256 of its 256-byte
    EIP-2537 form): its epoch, its 96-byte group key, and whether this member holds a share of it
    (it took part in the DKG that made it)."""

    epoch: int
    group_key: bytes
    has_share: bool


def carried_action(
    kind: ActionKind, chain_id: ChainId, params: bytes, origin: Origin, position: tuple[int, int], now: float
) -> Action:
    """The action every member makes of a decision C recorded at `position` (block, log index):
    the same id, kind, chain, parameters and place on every member, for `chain_id`'s endpoint."""
    return Action(
        id=registry_action_id(chain_id, *position),
        kind=kind,
        chain_id=chain_id,
        params=params,
        origin=origin,
        proposer=0,
        created_at=now,
        expires_at=None,
        position=position,
    )


@dataclass(frozen=True, slots=True)
class RotationView:
    """What a member knows, besides the endpoint, before it approves or signs a ROTATE: the keys
    it holds by hash, and another ROTATE of the same endpoint that goes first (scheduled, or
    approved here and older), by id."""

    keys: Mapping[bytes, HeldKey]
    other: str | None = None


@dataclass(frozen=True, slots=True)
class IssuerView:
    """The destination's record of an ISSUER action's token: the number of the last decision
    applied (or recorded failed) there (IssuerModule.issuerSequence); and `lowest_open`, the
    lowest number above it among the ISSUER actions this member holds open for the same token
    and chain (None: none but the one judged)."""

    applied: int
    lowest_open: int | None = None


def decide_issuer(a: Action, issuer: IssuerView | None) -> Verdict:
    """A member's own check of an ISSUER action: it is the token's next decision on the
    destination, or its turn there is consumed already (applied, or refused by the token). The
    module takes a token's first decision at any number, then only the next one. A member signs
    the lowest-numbered decision above the last consumed one among those it holds open for the
    token: every decision C recorded before the token's pair was registered is held (waiting, then
    carried in order: relayer.core.issuer_scan), so none of those is skipped; and a decision the
    member never held (C recorded it before this chain became a follower, before the configured
    start block, or an older build dropped it) does not stall every later one for ever (review of
    issue 19, finding 1 of the second review). Members scanning the same registry from the same
    start block hold the same decisions, so they agree on which goes first; a skipped number shows
    as a difference of the last decision's number in the reconciler (relayer.pipeline.issuer_check)."""
    f = issuer_fields(a.params)
    if issuer is None:
        return Verdict(Decision.WAIT, "the destination's issuer record could not be read")
    if issuer.applied >= f.sequence:
        return Verdict(
            Decision.DONE, f"decision #{f.sequence} of {f.token}: its turn is consumed on the destination"
        )
    first = f.sequence if issuer.lowest_open is None else min(issuer.lowest_open, f.sequence)
    if first != f.sequence:
        return Verdict(
            Decision.WAIT,
            f"decision #{first} of {f.token} goes first (C's order; #{issuer.applied} is the last "
            f"consumed on the destination); this is #{f.sequence}",
        )
    return Verdict(Decision.SIGN, f"{describe_issuer(f)}, as the issuer decided on the consortium chain")


class Decision(Enum):
    SIGN = "sign"
    DONE = "done"  # its effect is already on-chain: nothing to sign
    WAIT = "wait"  # not now (the endpoint's state may change)
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    why: str


def decide_rotation(a: Action, endpoint: EndpointView, rotation: RotationView | None) -> Verdict:
    """A member's own check of a ROTATE (before its operator's approval counts, and before each
    signature): it holds the key the ROTATE installs, that key is the endpoint's next epoch, it
    holds a share of it (so it took part in the DKG that made it), and no other ROTATE of the
    endpoint goes first (one rotation per endpoint at a time)."""
    digest = "0x" + a.params.hex()
    held = None if rotation is None else rotation.keys.get(a.params)
    if held is not None and held.epoch == endpoint.key_epoch:
        return Verdict(Decision.DONE, f"the endpoint is at key epoch {held.epoch} (key {digest}) already")
    if held is None:
        return Verdict(
            Decision.REFUSE,
            f"this member holds no key epoch whose key hashes to {digest}: it rotates only to a key "
            f"it helped generate; run the DKG for epoch {endpoint.key_epoch + 1} with the other members, "
            "configure its result as [committee.next] and restart, then approve a rotation to that key "
            "(deploy/runbooks/key-rotation.md)",
        )
    if held.epoch != endpoint.key_epoch + 1:
        return Verdict(
            Decision.REFUSE,
            f"key {digest} is key epoch {held.epoch} here, and the endpoint is at key epoch "
            f"{endpoint.key_epoch}: a rotation installs epoch {endpoint.key_epoch + 1}; run the DKG with "
            f"--key-epoch {endpoint.key_epoch + 1} and propose a rotation to its key",
        )
    if not held.has_share:
        return Verdict(
            Decision.REFUSE,
            f"this member holds no share of key {digest} (epoch {held.epoch}): it rotates only to a "
            f"key it helped generate; run the DKG for epoch {held.epoch} with the other members and "
            "configure this member's share as [committee.next] (key_file or keystore_file)",
        )
    assert rotation is not None
    if rotation.other is not None:
        return Verdict(
            Decision.REFUSE,
            f"rotation {rotation.other} of this endpoint goes first (one rotation per endpoint at a "
            f"time); `relayer actions show {rotation.other}` shows it, and if it is cancelled propose "
            "again",
        )
    return Verdict(
        Decision.SIGN, f"rotate to key epoch {held.epoch}, this member's share of it from the DKG is held"
    )


def decide_uncurse(a: Action, curse: CurseView | None) -> Verdict:
    """A member's own check of an UNCURSE (before its operator's approval counts, and before each
    signature): the route is cursed, in exactly the curse the UNCURSE names. One for a curse
    lifted already, for a later curse (cursed again since) or for a curse that has not happened
    (a signature made in advance would lift the next curse as soon as a sentinel placed it) is
    refused, saying why and what to do."""
    remote, count = uncurse_fields(a.params)
    route = f"the route with chain {remote}"
    if curse is None:
        return Verdict(Decision.WAIT, f"the curse of {route} could not be read")
    if curse.cursed and curse.count == count:
        return Verdict(Decision.SIGN, f"{route} is in curse #{count}")
    if not curse.cursed and curse.count == count:
        why = f"curse #{count} of {route} is lifted already: there is nothing to lift"
    elif curse.count > count:
        state = "cursed" if curse.cursed else "not cursed"
        why = (
            f"{route} was cursed again since (curse #{curse.count}, {state} now): this UNCURSE lifts "
            f"only curse #{count}; read the sentinel's evidence for curse #{curse.count} "
            "(deploy/runbooks/route-cursed.md) and propose an uncurse of it if it is to be lifted"
        )
    else:
        why = (
            f"{route} has had {curse.count} curse(s) and this UNCURSE is for curse #{count}, which "
            "has not happened: members never sign a lifting in advance; reject it, and check which "
            "member proposed it (`relayer actions show ID`)"
        )
    return Verdict(Decision.REFUSE, why)


def decide(
    a: Action,
    endpoint: EndpointView,
    flag: FlagView | None,
    now: float,
    *,
    expiring: bool = True,
    rotation: RotationView | None = None,
    curse: CurseView | None = None,
    issuer: IssuerView | None = None,
) -> Verdict:
    """What a member that approved `a` does with it now, from its own reads of the chain.
    `expiring`: whether its expiry still applies (not once this node sent it: the chain decides).
    `rotation`: for a ROTATE, the keys this member holds and any other rotation going first.
    `curse`: for an UNCURSE, its route's curse as the endpoint holds it (None: not read).
    `issuer`: for an ISSUER action, its token's record on the destination (None: not read)."""
    if expiring and a.expires_at is not None and now >= a.expires_at:
        return Verdict(Decision.REFUSE, "expired before it was executed")
    if a.kind is ActionKind.PAUSE:
        if endpoint.paused:
            return Verdict(Decision.DONE, "the endpoint is paused")
        return Verdict(Decision.SIGN, "the endpoint is not paused")
    if a.kind is ActionKind.RESUME:
        if endpoint.pause_count != a.pause_count or not endpoint.paused:
            return Verdict(
                Decision.REFUSE,
                f"the pause it was proposed for (#{a.pause_count}) ended; propose again if the endpoint "
                "is to be resumed",
            )
        return Verdict(Decision.SIGN, f"the endpoint is in pause #{a.pause_count}")
    if a.kind in (ActionKind.FREEZE, ActionKind.ALLOW):
        if flag is None:
            return Verdict(Decision.WAIT, "the destination's registry could not be read")
        if flag.value == a.flag:
            return Verdict(Decision.DONE, f"already so on the destination ({a.describe()})")
        return Verdict(Decision.SIGN, f"{a.describe()} as the consortium chain's registry decided")
    if a.kind is ActionKind.ROTATE:
        return decide_rotation(a, endpoint, rotation)
    if a.kind is ActionKind.UNCURSE:
        return decide_uncurse(a, curse)
    if a.kind is ActionKind.ISSUER:
        return decide_issuer(a, issuer)
    return Verdict(Decision.REFUSE, f"a {a.kind} is not carried by this build")


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """An action as this node's store holds it."""

    action: Action
    state: ActionState
    detail: str
    approved_at: float | None
    action_nonce: int | None  # the nonce it was last signed for
    key_epoch: int | None
    message: bytes | None
    signature: bytes | None
    tx_hash: str | None
    executable_at: int | None  # a scheduled action: when it can be executed (chain time)
    sent_at: float | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class ActionView:
    """What an operator sees of an action (`relayer actions list|show`, relayer.ops.actions)."""

    action: Action
    state: ActionState
    detail: str
    created_at: float
    expires_at: float | None
    approved_here: bool
    signers: tuple[int, ...]  # members whose valid partial this node holds for its current nonce
    onchain: str
    action_nonce: int | None
    tx_hash: str | None
    history: tuple[tuple[str, str, float], ...]
    new_key_epoch: int | None = None  # a ROTATE: the epoch of the key it installs, if held here


def onchain_text(state: ActionState, executable_at: int | None, chain_now: int | None) -> str:
    """The on-chain side of an action in words."""
    if state is ActionState.SCHEDULED and executable_at is not None:
        if chain_now is not None and chain_now >= executable_at:
            return "executable"
        return f"pending delay until {executable_at}"
    if state is ActionState.EXECUTED:
        return "executed"
    if state is ActionState.FAILED:
        return "consumed, not applied"
    if state is ActionState.CANCELLED:
        return "cancelled by the guardian"
    if state is ActionState.SUBMITTED:
        return "sent"
    return ""


def registry_difference(
    account: str, src_allowed: bool, src_frozen: bool, dst_allowed: bool, dst_bridge_frozen: bool
) -> str | None:
    """How the follower's registry differs from the source's for `account` (None: it follows).
    The follower's allow-list entry follows the source's; its bridge freeze follows the source's
    freeze (for either reason there). The follower's own compliance freeze is a local restriction
    and not compared."""
    problems = []
    if src_allowed != dst_allowed:
        problems.append(f"allowed {src_allowed} on the source, {dst_allowed} here")
    if src_frozen != dst_bridge_frozen:
        problems.append(f"frozen {src_frozen} on the source, bridge-frozen {dst_bridge_frozen} here")
    return f"{account}: " + "; ".join(problems) if problems else None


def asset_difference(token: str, source: AssetState, follower: AssetState) -> str | None:
    """How a wrapped token's asset status and NAV differ from the issuer registry's on the
    source (None: it follows)."""
    problems = []
    if source.status != follower.status:
        c = ASSET_STATUSES.get(source.status, str(source.status))
        e = ASSET_STATUSES.get(follower.status, str(follower.status))
        problems.append(f"status {c} on the source, {e} here")
    if (source.nav_per_unit, source.nav_as_of) != (follower.nav_per_unit, follower.nav_as_of):
        problems.append(
            f"NAV {source.nav_per_unit} as of {source.nav_as_of} on the source, "
            f"{follower.nav_per_unit} as of {follower.nav_as_of} here"
        )
    return f"{token}: " + "; ".join(problems) if problems else None


def nav_age(state: AssetState, now: float) -> float | None:
    """Seconds since the NAV's timestamp (None: no NAV recorded yet)."""
    if state.nav_as_of == 0:
        return None
    return max(0.0, now - state.nav_as_of)


def superseded(actions: Sequence[Action]) -> dict[str, str]:
    """Registry decisions C made again later for the same account and flag: id -> the id of the
    latest one (the follower carries C's latest decision, not each in turn)."""
    latest: dict[tuple[ActionKind, str | None], Action] = {}
    for a in actions:
        if a.origin is Origin.REGISTRY:
            key = (a.kind, a.account)
            if key not in latest or a.position > latest[key].position:
                latest[key] = a
    return {
        a.id: latest[(a.kind, a.account)].id
        for a in actions
        if a.origin is Origin.REGISTRY and latest[(a.kind, a.account)].id != a.id
    }


def action_facts(
    record: ActionRecord | None,
    kind: ActionKind,
    chain_id: int,
    params: bytes,
    message: bytes,
    expected: bytes | None,
    duplicate: bool,
    *,
    nonce: int | None = None,
    endpoint_nonce: int | None = None,
) -> Facts:
    """What an action partial is, as this node finds out on its own (relayer.core.arrivals): the
    action it holds by that id (None: a proposal not seen yet, or a registry event not final
    here), the message this node computes for it at the partial's nonce and key epoch
    (`expected`), and whether the store keeps exactly that partial for the member already.
    `nonce`: the action nonce the partial signs for; `endpoint_nonce`: the endpoint's action
    nonce as this node last read it. A partial for a nonce below it is late: that nonce was used
    before it arrived, so it can sign nothing that still matters, and kept, it would tie the
    action to whatever used that nonce (an old cancelled action of its kind: review #15)."""
    if record is None:
        why = "no such action here (a proposal not seen yet, or a registry event not final here)"
        return Facts(subject=Judgement(PartialOutcome.UNKNOWN_ACTION, why))
    a = record.action
    wrong = None
    if kind is not a.kind or chain_id != a.chain_id or params != a.params:
        wrong = f"claims another action than {a.id} here ({kind} on chain {chain_id})"
    elif expected != message:
        wrong = f"signs another message than {a.id} at its nonce and key epoch here"
    late = (
        f"{a.id} is {record.state} here"
        if record.state in CLOSED or record.state is ActionState.SCHEDULED
        else None
    )
    if late is None and nonce is not None and endpoint_nonce is not None and nonce < endpoint_nonce:
        late = (
            f"signed for action nonce {nonce}, used on the endpoint before it arrived (its action "
            f"nonce is {endpoint_nonce} here)"
        )
    return Facts(
        late=late,
        duplicate=duplicate,
        mismatch=wrong,
    )
