"""Committee keys for transports in tests: members sign and verify heartbeats (relayer.core.heartbeats)."""

from __future__ import annotations

import functools
import random

from committee.bls import get_backend
from committee.threshold import KeyShare, deal
from relayer.core.heartbeats import HeartbeatKeys
from relayer.core.keyring import Keyring


@functools.cache
def shares(n: int = 4) -> tuple[KeyShare, ...]:
    """A committee of `n` (t = 2), dealt once per test process from a fixed seed."""
    return tuple(deal(n, 2, rng=random.Random(n)))


def keys(member: int | None, n: int = 4) -> HeartbeatKeys:
    """Member `member`'s keys (None: a relay-only node, public shares only)."""
    committee = shares(n)
    share = None if member is None else committee[member - 1]
    return HeartbeatKeys(Keyring.single(committee[0].public, share), get_backend("arkworks"))
