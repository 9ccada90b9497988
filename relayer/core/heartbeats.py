"""Signed heartbeats (security review F6): how a member signs its heartbeat and how a receiver
judges one, pure (no I/O, no clock: the caller passes the times).

A heartbeat is signed with the member's BLS key share, like a proposal (relayer.core.messages,
`HeartbeatMessage.digest`), and verified against the member's public share in the committee public
file: no new key material. `run` counts the member's starts (relayer.adapters.instance.next_run)
and `seq` is the member's clock in milliseconds when it made the heartbeat (its wall clock at
start, advanced by its monotonic clock, raised by one when needed: strictly rising within a run,
and a wall-clock step on the member changes nothing in flight). (run, seq) orders a member's
heartbeats whatever its clock does across restarts.

A receiver never compares that clock with its own (a member hours off still counts: docs/
OPERATIONS.md, "A wrong clock"); it compares each heartbeat's delay with the member's best one:
`delay` = arrival on the receiver's monotonic clock minus `seq`/1000, the member's `Baseline` =
the smallest delay of its heartbeats accepted so far (their clock offset plus the shortest
transit), allowed to rise by BASELINE_DRIFT for the clocks' drift. An `online` heartbeat is accepted only if

- its member is in the committee and the signature verifies under a key epoch the receiver holds;
- its `run` is not below the member's latest run seen (a later run starts its `seq` and timing
  afresh: the member restarted, perhaps with its clock set back);
- its `seq` is above the last one accepted from that member through that broker (equal: a copy,
  which changes nothing, so re-delivering the latest heartbeat does not refresh it);
- it is at most MAX_LATE_SECONDS later than the baseline: a broker holding heartbeats back to
  show them after the member died (or replaying recorded ones at their pace) keeps a dead member
  "online" at most that long plus the freshness window.

An `offline` heartbeat (the last will, made at connect time, hence old when delivered) needs a
valid signature only: it can only make the member look offline through that broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from committee.bls import BlsBackend
from committee.threshold import partial_sign, verify_partial
from relayer.core.keyring import Keyring
from relayer.core.messages import HeartbeatMessage

# how much later than the member's best delay a heartbeat may arrive (a slow broker, a queue after
# a reconnect); beyond it the heartbeat is refused as `stale`
MAX_LATE_SECONDS = 30.0
# how fast the baseline may rise (seconds per second): two hosts' clocks drift apart by up to about
# this much without NTP, so a long-running receiver does not end up refusing a member for drift;
# it is also all a broker holding heartbeats back longer and longer gains (under 9 s a day)
BASELINE_DRIFT = 1e-4


class Verdict(Enum):
    ACCEPTED = "accepted"
    COPY = "copy"  # the heartbeat already accepted through this broker, again: changes nothing
    NOT_MEMBER = "not_member"
    SIGNATURE = "signature"
    STALE = "stale"
    REPLAY = "replay"

    @property
    def refused(self) -> bool:
        return self not in (Verdict.ACCEPTED, Verdict.COPY)


@dataclass(frozen=True, slots=True)
class HeartbeatKeys:
    """The committee's key epochs this node holds (public shares to verify with; its own share,
    if it holds one, to sign with) and the BLS backend."""

    keyring: Keyring
    backend: BlsBackend

    def sign(self, beat: HeartbeatMessage, network: str) -> HeartbeatMessage | None:
        """`beat` signed with this member's share of its first key epoch (as proposals are);
        None without a share of that member (a relay-only node makes no heartbeats)."""
        share = self.keyring.first.share
        if share is None or share.index != beat.member:
            return None
        return replace(beat, sig=partial_sign(share, beat.digest(network), self.backend))

    def verifies(self, beat: HeartbeatMessage, network: str) -> bool:
        """Whether `sig` is the member's signature on the heartbeat under any key epoch held."""
        digest = beat.digest(network)
        return any(
            verify_partial(key.public, beat.member, digest, beat.sig, self.backend)
            for key in map(self.keyring.get, self.keyring.epochs)
            if key is not None
        )


def delay(beat: HeartbeatMessage, arrival: float) -> float:
    """The heartbeat's delay: `arrival` (the receiver's monotonic clock, seconds) minus the member's
    clock when it made it. Meaningful only against other delays of the same member."""
    return arrival - beat.seq / 1000


@dataclass(frozen=True, slots=True)
class Baseline:
    """A member's smallest heartbeat delay (seconds), as of `at` (the receiver's monotonic clock)."""

    delay: float
    at: float

    def now(self, arrival: float) -> float:
        """The baseline at `arrival`: risen by at most BASELINE_DRIFT since it was set."""
        return self.delay + BASELINE_DRIFT * max(0.0, arrival - self.at)

    def lowered(self, beat: HeartbeatMessage, arrival: float) -> Baseline:
        """The baseline after accepting `beat` at `arrival`."""
        return Baseline(min(self.now(arrival), delay(beat, arrival)), arrival)


def first_baseline(beat: HeartbeatMessage, arrival: float) -> Baseline:
    return Baseline(delay(beat, arrival), arrival)


def judge(
    beat: HeartbeatMessage,
    *,
    member_known: bool,
    last_run: int | None,
    last_seq: int | None,
    baseline: Baseline | None,
    arrival: float,
    verifies: Callable[[], bool],
) -> tuple[Verdict, str]:
    """The verdict on one heartbeat received through one broker, and why (for the log).

    `last_run`: the member's latest run accepted (None: none yet); `last_seq`: the `seq` of the
    last online heartbeat of that run accepted through this broker (None: none yet); `baseline`:
    the smallest `delay` of the member's accepted online heartbeats (None: none yet); `arrival`:
    the receiver's monotonic clock now; `verifies`: the signature check (HeartbeatKeys.verifies),
    called last (a pairing, after the cheap checks). On ACCEPTED of an online heartbeat the caller
    records its `seq` and the baseline `lowered` by it (or `first_baseline`); on a later run it
    first forgets the member's seqs and baseline."""
    if not member_known:
        return Verdict.NOT_MEMBER, f"member {beat.member} is not in the committee"
    if beat.status == "online":
        if last_run is not None and beat.run < last_run:
            return Verdict.REPLAY, f"run {beat.run} is earlier than the member's run {last_run}"
        if last_run is None or beat.run > last_run:  # a new run: order and timing start afresh
            last_seq, baseline = None, None
        if last_seq is not None and beat.seq < last_seq:
            return Verdict.REPLAY, f"seq {beat.seq} is below {last_seq}, already accepted through this broker"
        if last_seq is not None and beat.seq == last_seq:
            return Verdict.COPY, "already accepted"
        late = 0.0 if baseline is None else delay(beat, arrival) - baseline.now(arrival)
        if late > MAX_LATE_SECONDS:
            return Verdict.STALE, (
                f"arrived {late:.0f} s later than this member's heartbeats do (at most "
                f"{MAX_LATE_SECONDS:.0f} s): held back or recorded by a broker"
            )
    if not verifies():
        return Verdict.SIGNATURE, f"not signed with member {beat.member}'s key share"
    return Verdict.ACCEPTED, ""
