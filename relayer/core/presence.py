"""Who of the committee can sign now, from the members' heartbeats: one pure decision.

A member counts as online (and in the signing margin) while its last heartbeat said `online`,
arrived within `fresh` seconds (on this node's monotonic clock) and names none of this node's
routes as paused. A member that paused a route locally (`relayer pause`) signs nothing on it; its
heartbeat carries the paused routes and it is listed as paused instead. The margin counts a member
paused on any route as absent: it is the committee's margin on its weakest route.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from relayer.core.types import Route


@dataclass(frozen=True, slots=True)
class Presence:
    online: tuple[int, ...]  # fresh heartbeat, nothing paused: can sign on every route
    paused: Mapping[int, tuple[Route, ...]]  # fresh heartbeat, these routes of ours paused
    threshold: int

    @property
    def margin(self) -> int:
        """Members online minus the threshold; below 0 no batch can be signed."""
        return len(self.online) - self.threshold

    def heartbeat(self, member: int) -> str:
        """`online`, `paused` or `offline` (no fresh heartbeat, or its last will)."""
        if member in self.online:
            return "online"
        return "paused" if member in self.paused else "offline"


def presence(
    last_seen: Mapping[int, float],
    paused: Mapping[int, Collection[Route]],
    routes: Collection[Route],
    *,
    now: float,
    fresh: float,
    threshold: int,
) -> Presence:
    """`last_seen`: member -> arrival time of its last `online` heartbeat; `paused`: member -> the
    routes its last heartbeat named paused; `routes`: this node's routes."""
    online: list[int] = []
    held: dict[int, tuple[Route, ...]] = {}
    for member in sorted(last_seen):
        if now - last_seen[member] > fresh:
            continue
        ours = tuple(sorted((r for r in paused.get(member, ()) if r in routes), key=str))
        if ours:
            held[member] = ours
        else:
            online.append(member)
    return Presence(tuple(online), held, threshold)
