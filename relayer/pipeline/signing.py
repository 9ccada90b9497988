"""The steps every kind of signed item shares (batches, refunds, committee actions).

- `signed_once`: record this member's partial through the signed-once rule before it is
  published (`relayer.core.signing`); an equivocation is refused, counted and logged.
- `Combiner`: take the partials kept for one item, check each (a cache of those verified on
  arrival, else the pairing check against the member's public share of the item's key epoch),
  combine t of them, verify the group signature, and say which members were combined and which
  partials were not valid;
- `Partials`: a stage's partials of its kind: the Combiner, and `judge` for one arriving from the
  broker by the steps every kind shares (`relayer.core.arrivals`), kept if it earns a place and
  counted once under its outcome.

Each kind keeps its own checks (what makes a partial its item's), records, metrics and log lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypeVar

import structlog
from prometheus_client import Counter

from committee.bls import BlsBackend, InvalidPoint
from committee.threshold import CommitteePublic, NotEnoughPartials, combine, verify, verify_partial
from relayer import metrics
from relayer.core.arrivals import Arrival, Facts, Judgement, PartialOutcome, judge_arrival
from relayer.core.keyring import Keyring, as_keyring
from relayer.core.states import Equivocation

log = structlog.get_logger(__name__)

R = TypeVar("R")


class Refused(Enum):
    EQUIVOCATION = "equivocation"


EQUIVOCATION = Refused.EQUIVOCATION


async def signed_once(record: Awaitable[R], **ids: object) -> R | Literal[Refused.EQUIVOCATION]:
    """What `record` (a store method recording this member's partial through the signed-once rule)
    returns, or EQUIVOCATION if signing would contradict what this member signed before (counted
    in `qiao_equivocations_refused_total` and logged with `ids`; nothing was recorded)."""
    try:
        return await record
    except Equivocation as exc:
        return refused(exc, **ids)


def refused(exc: Equivocation, **ids: object) -> Literal[Refused.EQUIVOCATION]:
    """Count and log a signature the signed-once rule refused (`exc`), named by `ids`."""
    metrics.EQUIVOCATIONS_REFUSED.inc()
    log.error("equivocation_refused", **ids, error=str(exc))
    return Refused.EQUIVOCATION


@dataclass(frozen=True, slots=True)
class Offered:
    """A partial the store keeps for `member`, offered for combining an item; `mismatch` is why the
    kind's own check found it is not on the item (None: it claims to be)."""

    member: int
    message: bytes
    partial: bytes
    mismatch: str | None = None


@dataclass(frozen=True, slots=True)
class Combined:
    """The outcome of combining one item's partials."""

    signature: bytes | None  # the group signature, verified; None: not (yet)
    valid: tuple[int, ...]  # the members whose partials are valid on the item, ascending
    invalid: tuple[tuple[int, str], ...]  # (member, why) of the kept partials that are not
    threshold: int
    unverified: bool = False  # t valid partials made a signature that does not verify

    @property
    def members(self) -> tuple[int, ...]:
        """The members whose partials the signature is made of (the t lowest valid ones)."""
        return self.valid[: self.threshold]


@dataclass
class Combiner:
    """Combines t partials of an item, remembering which partials were verified already (keyed by
    the item and member; bounded by the items still collecting: `forget` one when it is done).

    `public`: the committee of one key epoch, or the member's keyring (relayer.core.keyring): an
    item is checked and combined under the key epoch it was signed in."""

    public: CommitteePublic | Keyring
    backend: BlsBackend
    _verified: dict[tuple[Hashable, int], tuple[bytes, bytes, int]] = field(default_factory=dict, init=False)
    keyring: Keyring = field(init=False)

    def __post_init__(self) -> None:
        self.keyring = as_keyring(self.public)

    def verified(self, item: Hashable, member: int, message: bytes, partial: bytes, key_epoch: int) -> None:
        """`partial` was checked as `member`'s signature on `message` under `key_epoch`'s key (on
        arrival: the epoch the partial claims). It counts as checked only when the item is
        combined under that same epoch: a member's share of another epoch signing the item's
        message is a valid signature there, and no partial of this one."""
        self._verified[(item, member)] = (message, partial, key_epoch)

    def forget(self, item: Hashable, members: Iterable[int] | None = None) -> None:
        """Drop what is remembered of `item` (of `members` only, if given)."""
        for member in self.keyring.members if members is None else members:
            self._verified.pop((item, int(member)), None)

    def forget_items(self, which: Callable[[Hashable], bool]) -> None:
        """Drop what is remembered of every item `which` names (an action closed at any nonce)."""
        for key in [k for k in self._verified if which(k[0])]:
            del self._verified[key]

    def combine(
        self, item: Hashable, message: bytes, offered: Iterable[Offered], key_epoch: int | None = None
    ) -> Combined:
        """Combine t valid offered partials on `message` into the group signature, checked
        against the group key of `key_epoch` (None: the keyring's first). What was verified is
        forgotten once combined.

        A partial verified before (on arrival: `verified`) is not checked again. The others (this
        node's own partial, one kept before the item was known here, any after a restart) are
        checked together first: the t lowest members' partials are combined and the group
        signature verified, one pairing check for all of them. Only if that signature fails is
        each unverified partial checked against its member's public share, so an invalid one is
        named and left out. With fewer than t on offer nothing is combined and nothing checked
        (a node tries each batch it signs at once, with its own partial alone); a partial that
        does not claim the item (`mismatch`, another message) is named at once, without a
        pairing check. A partial of a member above the t combined is neither used nor checked."""
        key = self.keyring.first if key_epoch is None else self.keyring.get(key_epoch)
        if key is None:
            unheld = f"signed under key epoch {key_epoch}; this member holds {list(self.keyring.epochs)}"
            return Combined(None, (), tuple((o.member, unheld) for o in offered), 0)
        public = key.public
        t = public.threshold
        valid: dict[int, bytes] = {}
        unchecked: dict[int, bytes] = {}
        invalid: list[tuple[int, str]] = []
        for o in offered:
            why = o.mismatch
            if why is None and o.message != message:
                why = "signs another message than the item this node would sign"
            if why is not None:
                invalid.append((o.member, why))
                self.forget(item, [o.member])
            elif self._verified.get((item, o.member)) == (message, o.partial, key.epoch):
                valid[o.member] = o.partial
            else:
                unchecked[o.member] = o.partial
        if len(valid) + len(unchecked) < t:  # nothing to combine yet: checked once t are on offer
            return Combined(None, tuple(sorted(valid)), tuple(invalid), t)
        if unchecked:
            lowest = dict(sorted({**valid, **unchecked}.items())[:t])
            signature = self._group_signature(public, lowest, message)
            if signature is not None:
                members = tuple(sorted(valid.keys() | lowest.keys()))
                self.forget(item, members)
                return Combined(signature, members, tuple(invalid), t)
        for member, partial in unchecked.items():
            if verify_partial(public, member, message, partial, self.backend):
                self.verified(item, member, message, partial, key.epoch)
                valid[member] = partial
            else:
                invalid.append((member, f"does not verify against member {member}'s public share"))
                self.forget(item, [member])
        members = tuple(sorted(valid))
        if len(valid) < t:
            return Combined(None, members, tuple(invalid), t)
        signature = self._group_signature(public, valid, message)
        if signature is None:
            return Combined(None, members, tuple(invalid), t, unverified=True)
        self.forget(item, members)
        return Combined(signature, members, tuple(invalid), t)

    def _group_signature(
        self, public: CommitteePublic, partials: dict[int, bytes], message: bytes
    ) -> bytes | None:
        """The group signature combined from `partials` (t lowest members), if it verifies."""
        try:
            signature = combine(public, partials, self.backend)
        except (NotEnoughPartials, InvalidPoint):  # an unchecked partial that is not a G1 point
            return None
        if not verify(public.group_public_key, message, signature, self.backend):
            return None
        return signature


@dataclass
class Partials(Combiner):
    """The partials of one kind as a stage handles them: each arriving one judged the same way for
    every kind (`relayer.core.arrivals`) under the stages' shared `lock` (the transport and the
    pipeline both judge, one at a time), from the facts the kind finds itself, kept if it earns a
    place, and counted once in `counter` by (member, or "unknown" for a sender not in the
    committee, outcome); t of them combined (`Combiner`)."""

    own_member: int
    lock: asyncio.Lock
    counter: Counter

    async def judge(
        self,
        arrival: Arrival,
        facts: Callable[[], Awaitable[Facts]],
        keep: Callable[[Judgement], Awaitable[None]],
    ) -> Judgement:
        """The judgement of `arrival`; `keep` stores it when it takes (or replaces) its member's
        place. A failure while judging or keeping counts as invalid."""
        judged = Judgement(PartialOutcome.INVALID, "the node failed while judging it")
        try:
            async with self.lock:
                found = await facts()
                verdict = judge_arrival(
                    arrival, found, public=self.keyring, own_member=self.own_member, backend=self.backend
                )
                if verdict.outcome.stored:
                    await keep(verdict)
                judged = verdict
        finally:
            who = "unknown" if judged.outcome is PartialOutcome.NOT_MEMBER else str(arrival.member)
            self.counter.labels(who, judged.outcome.value).inc()
        return judged
