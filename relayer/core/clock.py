"""Durations on the monotonic clock for events the store timestamps with the wall clock.

The store records wall-clock times (they must survive a restart, where a monotonic reading means
nothing). A duration computed as `time.time() - recorded` is off by however far the wall clock
stepped since (NTP correcting a wrong clock, an operator setting it): two hours back, and a standby
relayer waits two hours before taking over and a stuck transaction is not replaced for two hours;
two hours forward, and every relayer sends at once. `Elapsed` anchors each recorded event on the
monotonic clock the first time this process looks at it, from its wall-clock age at that moment
(never negative), and measures every later duration from that anchor, whatever the wall clock does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class Elapsed:
    def __init__(
        self, wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic
    ) -> None:
        self._wall = wall
        self._mono = mono
        self._anchors: dict[tuple[Hashable, float], float] = {}

    def since(self, key: Hashable, recorded_at: float) -> float:
        """Seconds since the event `key` recorded at wall-clock time `recorded_at` (a new
        `recorded_at` for the same key is a new event)."""
        anchor = self._anchors.get((key, recorded_at))
        if anchor is None:
            anchor = self._mono() - max(0.0, self._wall() - recorded_at)
            self._anchors[(key, recorded_at)] = anchor
        return self._mono() - anchor

    def retain(self, keep: Callable[[Hashable], bool]) -> None:
        """Forget the events whose key `keep` rejects (those no longer in flight)."""
        self._anchors = {k: v for k, v in self._anchors.items() if keep(k[0])}

    def __len__(self) -> int:
        return len(self._anchors)
