"""What the chain client reads of an endpoint's committee actions and of its KYC registry
(relayer.adapters.chain.ChainClient: endpoint_state, pending_action, registry_events,
registry_status). Pure values that check themselves: one that exists is well-formed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from relayer.core.encoding import ACTION_TYPEHASHES

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_UINT64 = 2**64


class PendingStatus(IntEnum):
    """QiaoEndpoint.PendingStatus: the state of a RESUME or ROTATE scheduled under an action nonce."""

    NONE = 0  # nothing was scheduled under the nonce
    PENDING = 1  # waiting out the delay, or executable
    EXECUTED = 2
    CANCELLED = 3  # by the guardian, alone or with every pending action


def _uint64(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64:
        raise ValueError(f"{what} {value!r} is not a uint64")


def _address(what: str, value: str) -> None:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a 0x-prefixed 20-byte address")


@dataclass(frozen=True, slots=True)
class EndpointState:
    """An endpoint's pause flag and action counters at one block. `pause_count`: how many pauses
    it has had (`pauseCount()`): a RESUME is signed for the current one (its params), and the
    one a scheduled RESUME lifts is in its PendingActionView."""

    paused: bool
    action_nonce: int
    key_epoch: int
    pause_count: int

    def __post_init__(self) -> None:
        _uint64("action nonce", self.action_nonce)
        _uint64("key epoch", self.key_epoch)
        if self.key_epoch < 1:
            raise ValueError("key epoch 0: an endpoint's epochs start at 1")
        _uint64("pause count", self.pause_count)
        if self.paused and self.pause_count < 1:
            raise ValueError("paused with pause count 0: every pause counts (pauseCount() >= 1)")


@dataclass(frozen=True, slots=True)
class PendingActionView:
    """`pendingAction(nonce)` of an endpoint: the RESUME or ROTATE scheduled under an action
    nonce (all zero, status NONE, if none was). `key_data`: the new key's data contract (ROTATE);
    `pause_count`: the pause a RESUME lifts (it is stale once the endpoint's count moved on)."""

    typehash: bytes
    key_epoch: int
    executable_at: int
    status: int
    key_data: str
    pause_count: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.typehash, bytes) or len(self.typehash) != 32:
            raise ValueError(f"pending action type hash {self.typehash!r} is not 32 bytes")
        _uint64("pending action key epoch", self.key_epoch)
        _uint64("pending action executableAt", self.executable_at)
        _uint64("pending action pause count", self.pause_count)
        if self.status not in tuple(PendingStatus):
            raise ValueError(f"pending action status {self.status!r} is not 0 none .. 3 cancelled")
        _address("pending action key data", self.key_data)

    @property
    def kind(self) -> str | None:
        """The action kind of the type hash ("resume" or "rotate" for a scheduled action); None
        when nothing was scheduled or the type hash is no action's."""
        return next((k for k, h in ACTION_TYPEHASHES.items() if h == self.typehash), None)


class IssuerScheduleStatus(IntEnum):
    """IssuerModule.ScheduledStatus: the state of a forced transfer or recovery it scheduled."""

    NONE = 0  # never scheduled (another op, refused at once, or not applied yet)
    PENDING = 1  # waiting out the delay (or the endpoint's pause); its tokens held on the holder
    EXECUTED = 2  # the tokens moved
    CANCELLED = 3  # by the guardian (alone, or with every scheduled action: then executing it closes it)
    FAILED = 4  # the token refused the move at execution; the hold was released


@dataclass(frozen=True, slots=True)
class IssuerScheduledView:
    """`issuerActionScheduled(token, sequence)` of a gateway (IssuerModule): a forced transfer or
    recovery scheduled by its ISSUER action, when it may be executed, and its status. `held`:
    the tokens it froze on `account` until it ends."""

    status: IssuerScheduleStatus
    executable_at: int
    action_nonce: int
    account: str
    to: str
    amount: int
    held: int

    def __post_init__(self) -> None:
        if self.status not in tuple(IssuerScheduleStatus):
            raise ValueError(f"issuer schedule status {self.status!r} is not 0 none .. 4 failed")
        _uint64("issuer schedule executableAt", self.executable_at)
        _uint64("issuer schedule action nonce", self.action_nonce)
        _address("issuer schedule account", self.account)
        _address("issuer schedule receiver", self.to)
        for what, value in (("amount", self.amount), ("held", self.held)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
                raise ValueError(f"issuer schedule {what} {value!r} is not a uint256")


@dataclass(frozen=True, slots=True)
class CurseView:
    """One route of an endpoint as the sentinels left it: `isCursed(remote)` and
    `curseCount(remote)` (the number of the current curse while cursed)."""

    cursed: bool
    count: int

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 0 <= self.count < 2**64:
            raise ValueError(f"curse count {self.count!r} is not a uint64")
        if self.cursed and self.count < 1:
            raise ValueError("cursed with curse count 0: every curse counts (curseCount() >= 1)")


REGISTRY_EVENT_KINDS = ("freeze", "allow")


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """A `FrozenSet` ("freeze") or `AllowedSet` ("allow") of a chain's KYC registry: `account`
    set to `flag` by `by` (the registry's caller: the desk, or the gateway carrying a decision),
    at its place in the chain."""

    kind: str
    account: str
    flag: bool
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    by: str

    def __post_init__(self) -> None:
        if self.kind not in REGISTRY_EVENT_KINDS:
            raise ValueError(f"registry event kind {self.kind!r} is not one of {REGISTRY_EVENT_KINDS}")
        _address("registry event account", self.account)
        _address("registry event caller", self.by)
        if not isinstance(self.flag, bool):
            raise ValueError(f"registry event flag {self.flag!r} is not a bool")
        _uint64("registry event block number", self.block_number)
        _uint64("registry event log index", self.log_index)
        for what, value in (("block hash", self.block_hash), ("transaction hash", self.tx_hash)):
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise ValueError(f"registry event {what} {value!r} is not 32 bytes of 0x hex")


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    """An account's flags in a KYC registry: `frozen` is either freeze (the registry's
    `statusOf`), `compliance_frozen` and `bridge_frozen` are each (its `freezesOf`)."""

    allowed: bool
    frozen: bool
    compliance_frozen: bool
    bridge_frozen: bool

    def __post_init__(self) -> None:
        if self.frozen != (self.compliance_frozen or self.bridge_frozen):
            raise ValueError(
                f"registry status: frozen {self.frozen} but compliance {self.compliance_frozen} and "
                f"bridge {self.bridge_frozen} (the registry's two views disagree)"
            )

    @property
    def usable(self) -> bool:
        """The registry's `isAllowed`: allowed and frozen for no reason."""
        return self.allowed and not self.frozen


@dataclass(frozen=True, slots=True)
class IssuerEvent:
    """An `IssuerAction` of the consortium chain's issuer registry: decision number `sequence` of
    `asset` (operation `op`, relayer.core.encoding.ISSUER_OPS, with its fields), taken by `by`, at
    its place in the chain."""

    asset: str
    sequence: int
    op: int
    account: str
    to: str
    amount: int
    as_of: int
    by: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    def __post_init__(self) -> None:
        for what, value in (
            ("asset", self.asset),
            ("account", self.account),
            ("to", self.to),
            ("by", self.by),
        ):
            _address(f"issuer event {what}", value)
        for what, number in (
            ("sequence", self.sequence),
            ("as of", self.as_of),
            ("block number", self.block_number),
            ("log index", self.log_index),
        ):
            _uint64(f"issuer event {what}", number)
        if isinstance(self.op, bool) or not isinstance(self.op, int) or not 0 <= self.op < 256:
            raise ValueError(f"issuer event op {self.op!r} is not a uint8")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 <= self.amount < 2**256:
            raise ValueError(f"issuer event amount {self.amount!r} is not a uint256")
        for what, value in (("block hash", self.block_hash), ("transaction hash", self.tx_hash)):
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise ValueError(f"issuer event {what} {value!r} is not 32 bytes of 0x hex")


@dataclass(frozen=True, slots=True)
class AssetState:
    """An asset's status code (relayer.core.encoding.ASSET_STATUSES) and NAV per unit with its
    timestamp, as one chain holds them (C's IssuerRegistry, or a wrapped token on E)."""

    status: int
    nav_per_unit: int
    nav_as_of: int
