"""The operator's side of committee actions: the admin verbs `actions.propose`, `actions.approve`,
`actions.reject`, `actions.list` and `actions.show` over the node's action stage (`node.actions`).

An operator proposes a RESUME or a PAUSE of one chain's endpoint, a ROTATE of one endpoint or of
every configured endpoint to the key the member holds as `[committee.next]`, or an UNCURSE of one
route of one endpoint (the route's remote chain, by name or id; the curse it lifts is read from the
endpoint), on one member; every member keeps
the proposal and signs it only after its own operator approves it, so t operators must agree. The
registry's FREEZE and ALLOW decisions carried from the consortium chain need no operator and show
up here too. This module checks the request, calls the stage through `ActionsPort` (the calls it
makes, nothing more), turns the stage's refusal (`ActionRefused`) into an error that says what to
do, and gives every action the same JSON shape (`ActionVerbs.action_json`):

    id             "p2-0a1b2c3d" (an operator's proposal) or "r7002-118-0" (a registry event
                   carried to chain 7002)
    kind           pause | resume | rotate | uncurse | freeze | allow
    what           the action in words: "resume the endpoint", "freeze 0xab…", "disallow 0xcd…",
                   "rotate to key epoch 2 (key hash 0x…)", "lift curse #1 of the route with consortium"
    remote_chain_id, curse_count  an uncurse's route (its remote chain id; `remote` its name here, or
                   null) and the curse it lifts (null for the other kinds)
    new_key_epoch  a rotate's key epoch, as this member holds its key (null: not held here, or
                   another kind)
    chain          the chain's name in this node's configuration; chain_id its id
    params         the ABI-encoded parameters, 0x-hex ("0x" for pause)
    account, flag  a freeze's or allow's account and value (null for the other kinds)
    origin         "operator" or "registry"; proposer the member whose operator proposed it (null)
    state          proposed | approved | submitted | scheduled | executed | cancelled | expired | refused
    detail         why it is in that state (the refusal's reason for `refused`; for `failed`, an
                   issuer decision consumed on E but refused by the token, or skipped)
    created_at     ISO 8601 UTC; expires_at likewise, or null when it does not expire
    approved_here  whether this member's operator approved it
    signers        members whose valid partial this node holds (itself included); threshold t
    onchain        "", "sent", "pending delay until <ISO time>", "executable", "executed",
                   "consumed, not applied", "cancelled by the guardian"; executable_at the ISO
                   time of a pending delay's end
    action_nonce   the endpoint's action nonce it was last signed for (null before)
    tx_hash        the transaction that carried it (null before)
    history        [{"state", "detail", "at" (ISO)}], oldest first
    member         the member whose node answered (signers and approved_here are its view)

`actions.propose` of a rotate answers {"member", "threshold", "actions": [one shape per endpoint]}.

`relayer.ops.action_view` renders it for people.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from relayer.core.encoding import issuer_fields
from relayer.core.items import PROPOSABLE, ActionRefused, describe_issuer
from relayer.ops.admin_client import AdminError

if TYPE_CHECKING:
    from relayer.pipeline.node import Node

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ID_LENGTH = 64
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]*$")
_PENDING_DELAY = re.compile(r"^pending delay until ([0-9]+)$")


class ActionLike(Protocol):
    """What this module reads of an action (relayer.core.items.Action)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...  # an ActionKind (a StrEnum): pause, resume, rotate, uncurse, freeze, allow

    @property
    def chain_id(self) -> int: ...  # the chain whose endpoint it is for

    @property
    def params(self) -> bytes: ...  # ABI-encoded (relayer.core.encoding.action_params)

    @property
    def proposer(self) -> int: ...  # the member whose operator proposed it; 0 for the registry's


class ActionViewLike(Protocol):
    """What this module reads of an action as the node sees it (relayer.core.items.ActionView)."""

    @property
    def action(self) -> ActionLike: ...

    @property
    def state(self) -> str: ...  # an ActionState (a StrEnum)

    @property
    def detail(self) -> str: ...

    @property
    def created_at(self) -> float: ...  # unix time

    @property
    def expires_at(self) -> float | None: ...

    @property
    def approved_here(self) -> bool: ...

    @property
    def signers(self) -> Sequence[int]: ...  # members whose valid partial this node holds, itself included

    @property
    def onchain(self) -> str: ...  # "", "pending delay until <unix ts>", "executable", "executed", …

    @property
    def action_nonce(self) -> int | None: ...

    @property
    def tx_hash(self) -> str | None: ...

    @property
    def history(self) -> Sequence[tuple[str, str, float]]: ...  # (state, detail, unix time), oldest first

    @property
    def new_key_epoch(self) -> int | None: ...  # a rotate: the key epoch it installs, if held here


class ActionsPort(Protocol):
    """The calls this module makes on the node's action stage (`node.actions`). Parameters are
    positional, so the stage may name them as it likes."""

    async def propose(self, kind: str, chain: str, ttl: float | None = None, /) -> ActionLike:
        """Record a proposal of `kind` (pause or resume; a rotate goes to `propose_rotation`) for the
        endpoint of the chain named `chain` and publish it to the other members; `ttl` seconds until
        it expires (None: the stage's default). Raises ActionRefused."""
        ...

    async def propose_rotation(self, chain: str | None, ttl: float | None = None, /) -> Sequence[ActionLike]:
        """Record a ROTATE of the endpoint of the chain named `chain` (None: one for every
        configured chain) to the key this member holds as `[committee.next]`, and publish each.
        Raises ActionRefused (no next key, an endpoint not at the epoch before it, a rotation open)."""
        ...

    async def propose_uncurse(self, chain: str, remote: int, ttl: float | None = None, /) -> ActionLike:
        """Record an UNCURSE of the route of the endpoint of the chain named `chain` whose remote
        chain id is `remote`, for the curse the endpoint holds now (`curseCount(remote)`), and
        publish it. Raises ActionRefused (the route not cursed, one open already for that curse)."""
        ...

    async def approve(self, action_id: str, /) -> ActionLike:
        """This member's operator approves the action: the member signs it when its own checks
        hold. Raises ActionRefused (unknown, expired, closed, its checks fail)."""
        ...

    async def reject(self, action_id: str, /) -> ActionLike:
        """This member's operator refuses the action: the member never signs it. Raises ActionRefused."""
        ...

    async def actions(self, limit: int = DEFAULT_LIMIT, /) -> Sequence[ActionViewLike]:
        """The latest `limit` actions this node knows, in the order to show them."""
        ...

    async def action(self, action_id: str, /) -> ActionViewLike | None:
        """One action, or None when this node does not know it."""
        ...


def iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def describe(
    kind: str, params: bytes, new_key_epoch: int | None = None, names: Mapping[int, str] | None = None
) -> tuple[str, str | None, bool | None]:
    """An action in words, and the account and flag of a freeze or an allow
    (params = abi.encode(address, bool)); a rotate's key epoch as this member holds its key; an
    uncurse's route by its remote chain's name in `names` (chain id -> name), else its id."""
    if kind in ("freeze", "allow") and len(params) == 64:
        account, flag = "0x" + params[12:32].hex(), params[63] == 1
        words = {("freeze", True): "freeze", ("freeze", False): "unfreeze"}
        words |= {("allow", True): "allow", ("allow", False): "disallow"}
        return f"{words[(kind, flag)]} {account}", account, flag
    if kind in ("pause", "resume"):
        return f"{kind} the endpoint", None, None
    if kind == "issuer":
        try:
            fields = issuer_fields(params)
        except ValueError:
            return "issuer decision (malformed params)", None, None
        holder = None if int(fields.account, 16) == 0 else fields.account
        return describe_issuer(fields), holder, None
    if kind == "uncurse":
        remote, count = uncurse_of(params)
        if remote is not None:
            where = (names or {}).get(remote, f"chain {remote}")
            return f"lift curse #{count} of the route with {where}", None, None
    if kind == "rotate" and len(params) == 32:
        if new_key_epoch is None:
            return f"rotate to a key this member does not hold (key hash 0x{params.hex()})", None, None
        return f"rotate to key epoch {new_key_epoch} (key hash 0x{params.hex()})", None, None
    return str(kind), None, None


def uncurse_of(params: bytes) -> tuple[int | None, int | None]:
    """(remote chain id, curse count) of an uncurse's params = abi.encode(uint256, uint64)."""
    if len(params) != 64:
        return None, None
    return int.from_bytes(params[:32], "big"), int.from_bytes(params[32:], "big")


def remote_chain(value: Any, chains: Mapping[str, int]) -> int:
    """`--remote` of an uncurse: a configured chain's name, or a chain id (digits)."""
    if isinstance(value, str) and value in chains:
        return chains[value]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**256:
        return int(value)
    raise AdminError(
        f"--remote {value!r} names no chain: give the cursed route's other end, one of "
        f"{', '.join(sorted(chains))} (the names under [chains]) or its chain id; `relayer status` "
        "shows the cursed routes"
    )


def onchain_fields(onchain: str) -> tuple[str, str | None]:
    """The stage's on-chain text with a pending delay's end as an ISO time, and that time."""
    m = _PENDING_DELAY.match(onchain)
    if m is None:
        return onchain, None
    at = iso(int(m.group(1)))
    return f"pending delay until {at}", at


def _refusal(what: str, exc: ActionRefused, todo: str) -> AdminError:
    """The operator's error for a refusal: the stage's reason, and what to do (the stage's own
    advice when its text has one after "; ", else `todo`)."""
    reason = str(exc) or "refused"
    return AdminError(f"{what}: {reason}" if "; " in reason else f"{what}: {reason}; {todo}")


def _action_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or not _ID.match(value):
        raise AdminError(
            f"{value!r} is not an action id; give the ID column of `relayer actions list` (e.g. p2-0a1b2c3d)"
        )
    return value


def _ttl(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise AdminError(f"ttl {value!r} is not a number of seconds > 0; e.g. --ttl 21600 for six hours")
    return float(value)


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise AdminError(f"limit {value!r} must be a whole number from 1 to {MAX_LIMIT}; e.g. --limit 50")
    return value


class ActionVerbs:
    """The `actions.*` admin verbs of one node: `port` is its action stage, `chains` its
    configured chains (name -> chain id)."""

    def __init__(self, port: ActionsPort, chains: Mapping[str, int], *, member: int, threshold: int) -> None:
        self.port = port
        self.chains = dict(chains)
        self.names = {chain_id: name for name, chain_id in self.chains.items()}
        self.member = member
        self.threshold = threshold

    @classmethod
    def of(cls, node: Node) -> ActionVerbs:
        port: ActionsPort = node.actions
        chains = {name: c.chain_id for name, c in node.cfg.chains.items()}
        return cls(port, chains, member=node.cfg.member_index, threshold=node.public.threshold)

    def handlers(self, args: Mapping[str, Any]) -> dict[str, Callable[[], Awaitable[Any]]]:
        """The verbs for Ops.handle, each bound to the request's `args`."""
        return {
            "actions.propose": lambda: self.propose(
                args.get("kind"), args.get("chain"), args.get("ttl"), args.get("remote")
            ),
            "actions.approve": lambda: self.approve(args.get("id")),
            "actions.reject": lambda: self.reject(args.get("id")),
            "actions.list": lambda: self.listing(args.get("limit", DEFAULT_LIMIT)),
            "actions.show": lambda: self.show(args.get("id")),
        }

    # ---- the verbs -------------------------------------------------------------------------

    async def propose(self, kind: Any, chain: Any, ttl: Any = None, remote: Any = None) -> dict[str, Any]:
        if kind not in PROPOSABLE:
            raise AdminError(
                f"an operator proposes a pause, a resume, a rotate or an uncurse, not {kind!r}; freezes "
                "and allow-list changes are carried from the consortium chain's registry without a proposal"
            )
        if kind == "uncurse":
            return await self.propose_uncurse(chain, remote, ttl)
        if remote is not None:
            raise AdminError(f"--remote is for an uncurse (the cursed route's other end), not a {kind}")
        if kind == "rotate":
            return await self.propose_rotation(chain, ttl)
        name = self._chain(chain)
        seconds = _ttl(ttl)
        port = self._port()
        try:
            action = await port.propose(str(kind), name, seconds)
        except ActionRefused as exc:
            raise _refusal(
                f"the {kind} of {name} was not proposed",
                exc,
                "`relayer actions list` shows the actions this node already holds",
            ) from exc
        return await self._shown(port, action.id)

    async def propose_rotation(self, chain: Any, ttl: Any = None) -> dict[str, Any]:
        """A ROTATE of one chain's endpoint, or of every configured one (`chain` None)."""
        name = None if chain is None else self._chain(chain)
        seconds = _ttl(ttl)
        port = self._port()
        try:
            actions = await port.propose_rotation(name, seconds)
        except ActionRefused as exc:
            where = "every endpoint" if name is None else f"the endpoint on {name}"
            raise _refusal(
                f"the rotation of {where} was not proposed",
                exc,
                "deploy/runbooks/key-rotation.md says what must hold first",
            ) from exc
        return {
            "member": self.member,
            "threshold": self.threshold,
            "actions": [await self._shown(port, a.id) for a in actions],
        }

    async def propose_uncurse(self, chain: Any, remote: Any, ttl: Any = None) -> dict[str, Any]:
        """An UNCURSE of the route of `chain`'s endpoint with `remote` (a name or a chain id)."""
        name = self._chain(chain)
        if remote is None:
            raise AdminError(
                "an uncurse needs --remote: the cursed route's other end (a chain name or id); "
                "`relayer status` shows the cursed routes"
            )
        remote_id = remote_chain(remote, self.chains)
        seconds = _ttl(ttl)
        port = self._port()
        try:
            action = await port.propose_uncurse(name, remote_id, seconds)
        except ActionRefused as exc:
            where = self.names.get(remote_id, f"chain {remote_id}")
            raise _refusal(
                f"the uncurse of the route of {name} with {where} was not proposed",
                exc,
                "deploy/runbooks/route-cursed.md says what to check first",
            ) from exc
        return await self._shown(port, action.id)

    async def approve(self, action_id: Any) -> dict[str, Any]:
        aid = _action_id(action_id)
        port = self._port()
        await self._known(port, aid)
        try:
            await port.approve(aid)
        except ActionRefused as exc:
            raise _refusal(
                f"action {aid} not approved", exc, f"`relayer actions show {aid}` shows its state and history"
            ) from exc
        return await self._shown(port, aid)

    async def reject(self, action_id: Any) -> dict[str, Any]:
        aid = _action_id(action_id)
        port = self._port()
        await self._known(port, aid)
        try:
            await port.reject(aid)
        except ActionRefused as exc:
            raise _refusal(
                f"action {aid} not rejected", exc, f"`relayer actions show {aid}` shows its state and history"
            ) from exc
        return await self._shown(port, aid)

    async def listing(self, limit: Any = DEFAULT_LIMIT) -> dict[str, Any]:
        views = await self._port().actions(_limit(limit))
        return {
            "member": self.member,
            "threshold": self.threshold,
            "actions": [self.action_json(v) for v in views],
        }

    async def show(self, action_id: Any) -> dict[str, Any]:
        aid = _action_id(action_id)
        port = self._port()
        return self.action_json(await self._known(port, aid))

    # ---- helpers ---------------------------------------------------------------------------

    def _port(self) -> ActionsPort:
        return self.port

    def _chain(self, chain: Any) -> str:
        if not isinstance(chain, str) or chain not in self.chains:
            raise AdminError(
                f"no chain named {chain!r} in this node's configuration; give one of "
                f"{', '.join(sorted(self.chains))} (the names under [chains] in its TOML)"
            )
        return chain

    async def _known(self, port: ActionsPort, aid: str) -> ActionViewLike:
        view = await port.action(aid)
        if view is None:
            raise AdminError(
                f"no action {aid} on this node (member {self.member}); `relayer actions list` shows "
                "the ones it holds (a proposal made on another member reaches this one over the "
                "broker within seconds: check the id, and that both nodes are connected)"
            )
        return view

    async def _shown(self, port: ActionsPort, aid: str) -> dict[str, Any]:
        return self.action_json(await self._known(port, aid))

    def action_json(self, view: ActionViewLike) -> dict[str, Any]:
        """An action's JSON shape (the module's docstring)."""
        a = view.action
        kind = str(a.kind)
        new_key_epoch = view.new_key_epoch if kind == "rotate" else None
        what, account, flag = describe(kind, a.params, new_key_epoch, self.names)
        remote, curse_count = uncurse_of(a.params) if kind == "uncurse" else (None, None)
        onchain, executable_at = onchain_fields(view.onchain)
        return {
            "id": a.id,
            "kind": kind,
            "what": what,
            "chain": self.names.get(int(a.chain_id), str(a.chain_id)),
            "chain_id": int(a.chain_id),
            "params": "0x" + a.params.hex(),
            "account": account,
            "flag": flag,
            "new_key_epoch": new_key_epoch,
            "remote_chain_id": remote,
            "remote": None if remote is None else self.names.get(remote),
            "curse_count": curse_count,
            "origin": ("issuer" if kind == "issuer" else "registry") if a.proposer == 0 else "operator",
            "proposer": a.proposer or None,
            "state": str(view.state),
            "detail": view.detail,
            "created_at": iso(view.created_at),
            "expires_at": iso(view.expires_at),
            "approved_here": bool(view.approved_here),
            "signers": sorted(int(m) for m in view.signers),
            "threshold": self.threshold,
            "onchain": onchain,
            "executable_at": executable_at,
            "action_nonce": view.action_nonce,
            "tx_hash": view.tx_hash,
            "history": [{"state": str(s), "detail": d, "at": iso(at)} for s, d, at in view.history],
            "member": self.member,
        }
