"""Who counts as online and in the signing margin (relayer.core.presence)."""

from __future__ import annotations

import pytest

from relayer.core.presence import presence
from relayer.core.types import ChainId, Route

A = Route(ChainId(7001), ChainId(7002))
B = Route(ChainId(7002), ChainId(7001))
OTHER = Route(ChainId(7001), ChainId(9999))


@pytest.mark.parametrize(
    ("seen", "paused", "online", "held", "margin"),
    [
        ({1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}, {}, (1, 2, 3, 4), {}, 1),
        # a member paused on every route is not online and not in the margin
        ({1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}, {2: [A, B]}, (1, 3, 4), {2: (A, B)}, 0),
        # paused on one route: absent from the margin (the weakest route's)
        ({1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}, {2: [B]}, (1, 3, 4), {2: (B,)}, 0),
        # a route this node does not carry changes nothing here
        ({1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}, {2: [OTHER]}, (1, 2, 3, 4), {}, 1),
        # a stale heartbeat is offline, paused or not
        ({1: 100.0, 2: 70.0, 3: 100.0}, {2: [A]}, (1, 3), {}, -1),
        ({}, {}, (), {}, -3),
    ],
)
def test_paused_and_stale_members_do_not_count(
    seen: dict[int, float],
    paused: dict[int, list[Route]],
    online: tuple[int, ...],
    held: dict[int, tuple[Route, ...]],
    margin: int,
) -> None:
    p = presence(seen, paused, [A, B], now=105.0, fresh=20.0, threshold=3)
    assert p.online == online
    assert dict(p.paused) == held
    assert p.margin == margin


def test_each_member_is_online_paused_or_offline() -> None:
    p = presence({1: 100.0, 2: 100.0}, {2: [A]}, [A, B], now=100.0, fresh=20.0, threshold=3)
    assert [p.heartbeat(m) for m in (1, 2, 3)] == ["online", "paused", "offline"]
