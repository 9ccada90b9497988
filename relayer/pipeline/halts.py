"""Why a route stopped: typed halts and operator pauses, the only state shared with operations.

A route is stopped while it is halted (an error the node found: a nonce gap, a reorg deeper than
finality, a malformed event, no trustworthy RPC endpoint) or paused (by the operator, recorded in
the store by `relayer.ops.admin`). Stages ask `stopped(route)`; operations halt, clear, pause and
resume through the methods here, never by editing the mappings. The operator-visible texts
(`status`, the `route_halted` log line) are exactly the strings the free-text halts had.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import structlog

from relayer import metrics
from relayer.core.types import ChainId, Route

log = structlog.get_logger(__name__)

PAUSED_TEXT = "paused by operator"


class HaltKind(enum.Enum):
    """What stopped a route; the value is the prefix the operator reads before the detail."""

    NONCE_GAP = "nonce gap"  # the batcher found a hole in the source's nonces (reobserve heals it)
    DEEP_REORG = "deep reorg"  # a block treated as final was replaced
    UNTRUSTED = "no trustworthy RPC endpoint left"  # every endpoint of the source quarantined
    SOURCE = "source"  # a malformed event or a store refusal while scanning: the detail says it all


@dataclass(frozen=True, slots=True)
class Halt:
    """One route's halt: its kind and the detail, rendered as the text operators always saw."""

    kind: HaltKind
    detail: str

    def __str__(self) -> str:
        if self.kind is HaltKind.SOURCE:
            return self.detail
        return f"{self.kind.value}: {self.detail}"


@dataclass
class Halts:
    """The halted and the paused routes of one node (in memory; pauses are also in the store)."""

    _halted: dict[Route, Halt] = field(default_factory=dict)
    _paused: dict[Route, float] = field(default_factory=dict)  # route -> paused since (wall clock)

    # ---- reading -------------------------------------------------------------------------

    def stopped(self, route: Route) -> bool:
        """Whether the pipeline leaves `route` alone (halted or paused)."""
        return route in self._halted or route in self._paused

    def halt_of(self, route: Route) -> Halt | None:
        return self._halted.get(route)

    @property
    def halted(self) -> Mapping[Route, Halt]:
        return MappingProxyType(self._halted)

    @property
    def paused(self) -> frozenset[Route]:
        return frozenset(self._paused)

    @property
    def paused_at(self) -> Mapping[Route, float]:
        return MappingProxyType(self._paused)

    def dst_paused(self, dst: ChainId) -> bool:
        """Whether a paused route leads into `dst` (its submitter stands by)."""
        return any(r.dst == dst for r in self._paused)

    def texts(self) -> dict[Route, str]:
        """Route -> what an operator reads: the halt's text, or the pause's for a paused route
        that is not halted (a pause never hides an error halt, before or after it)."""
        out = {r: PAUSED_TEXT for r in self._paused}
        out.update({r: str(h) for r, h in self._halted.items()})
        return out

    # ---- changing ------------------------------------------------------------------------

    def halt(self, route: Route, halt: Halt) -> bool:
        """Stop `route` on an error (counted and logged once); a halted route keeps its first
        reason. A paused route is halted too: a pause never swallows an error (the stage that
        raised it may have stopped, e.g. the source's watcher), so after the resume the route
        stays halted and its reason is read first. True if it was halted now."""
        if route in self._halted:
            return False
        self._halted[route] = halt
        metrics.ROUTE_HALTED.labels(str(route.src), str(route.dst)).set(1)
        log.error("route_halted", route=str(route), reason=str(halt))
        return True

    def clear(self, route: Route) -> Halt | None:
        """Clear an error halt (the operator's retry or reobserve); returns what was cleared."""
        halt = self._halted.pop(route, None)
        metrics.ROUTE_HALTED.labels(str(route.src), str(route.dst)).set(0)
        return halt

    def pause(self, route: Route, at: float) -> None:
        """Pause `route` (since `at`, kept from the first pause)."""
        self._paused.setdefault(route, at)

    def resume(self, route: Route) -> bool:
        """Undo a pause; True if the route was paused."""
        return self._paused.pop(route, None) is not None
