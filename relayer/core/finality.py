"""Noticing a finality stall (pure: the watcher feeds it each scan's head and final head).

With `finality = "finalized"` the final head is the chain's `finalized` tag. If the tag stops while
blocks keep coming, nothing becomes final, no transfer is observed, and the route is silently stuck:
`observe_finality` says STALLED once when the final head has not moved for `stall_after` seconds
while the head has, and RESUMED once when it moves again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FinalityEvent(Enum):
    STALLED = "stalled"
    RESUMED = "resumed"


@dataclass(frozen=True, slots=True)
class FinalityWatch:
    final: int  # the highest final head seen
    head_then: int  # the head when the final head last moved
    since: float  # when (monotonic seconds) the final head last moved
    stalled: bool = False

    def stalled_seconds(self, head: int, now: float) -> float:
        """How long the final head has stood still while the head moved on (0 if it has not)."""
        return max(0.0, now - self.since) if head > self.head_then else 0.0


def observe_finality(
    watch: FinalityWatch | None, *, head: int, final: int, now: float, stall_after: float
) -> tuple[FinalityWatch, FinalityEvent | None]:
    """The next state and the event to report, if any (each stall is reported once).

    Only a final head that moves forward is progress: one that goes back (an endpoint behind the
    one asked before) neither ends nor restarts a stall."""
    if watch is None:
        return FinalityWatch(final, head, now), None
    if final > watch.final:
        return FinalityWatch(final, head, now), FinalityEvent.RESUMED if watch.stalled else None
    if not watch.stalled and watch.stalled_seconds(head, now) >= stall_after:
        return FinalityWatch(watch.final, watch.head_then, watch.since, stalled=True), FinalityEvent.STALLED
    return watch, None
