"""Which copy of a message received through several brokers is the first (pure: no I/O, no clock).

A member publishes every message to each of its brokers, so a receiver connected to the same
brokers gets one copy per broker. It keeps the first and drops the copies that follow within
`window` seconds, judged by content: the topic and the payload bytes. Nothing else is needed to
tell copies apart: a message is signed over its content, and a broker that altered a byte would
have made another message (which its receiver judges, and refuses, on its own).

The window is counted from the first copy and never extended by a later one, and it is shorter
than the committee's re-publication interval: a member re-publishes what it signed until it is
executed, and a re-publication after the window is handed over again, so a receiver that could
not use the first copy (a batch it did not know yet, a store that could not write) gets another
chance, as with one broker. A copy that a slow broker delivers after the window is handed over
too, and the receiver judges it a `duplicate` (relayer.core.arrivals): at-least-once, as MQTT's
QoS 1 already is.

Memory is bounded: at most `capacity` contents are remembered; past it the oldest is forgotten
(a copy of it would then be handed over again, which is harmless).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field


def content_key(topic: str, payload: bytes) -> bytes:
    """What identifies a message's copies: a digest of its topic and payload."""
    return hashlib.sha256(topic.encode() + b"\x00" + payload).digest()


@dataclass(slots=True)
class Dedup:
    window: float
    capacity: int = 10_000
    _seen: OrderedDict[bytes, float] = field(default_factory=OrderedDict)  # key -> first copy's time

    def __post_init__(self) -> None:
        if not self.window >= 0:
            raise ValueError(f"window {self.window!r} must be >= 0 seconds")
        if self.capacity < 1:
            raise ValueError(f"capacity {self.capacity} must be >= 1")

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, key: bytes, now: float) -> bool:
        """True for the first copy of `key` in the window (hand it over), False for a copy."""
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: bytes) -> None:
        """`key`'s first copy could not be used (its handling failed): the next copy, from
        another broker, is handed over as a first."""
        self._seen.pop(key, None)

    def _expire(self, now: float) -> None:
        # entries are in the order of their first copy, so the expired ones are at the front
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.window:
                return
            del self._seen[key]
