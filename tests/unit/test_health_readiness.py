"""Readiness is the conjunction of its checks and turns false again when any one is lost."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from relayer.adapters.sdnotify import watchdog_interval
from relayer.ops.health import Health


class FakeOps:
    def __init__(self) -> None:
        self.rpc_ok = {7001: True, 7002: True}
        self.cfg = SimpleNamespace(chain_by_id=lambda c: SimpleNamespace(name={7001: "c", 7002: "e"}[c]))
        self.connected = asyncio.Event()
        self.connected.set()
        self.node = SimpleNamespace(
            transport=SimpleNamespace(connected=self.connected),
            public=SimpleNamespace(threshold=3),
            store=SimpleNamespace(writable=True),
        )
        self.online = [1, 2, 3, 4]

    def members_online(self) -> list[int]:
        return self.online

    def members_paused(self) -> dict[str, list[str]]:
        return {}

    def margin(self) -> int:
        return len(self.online) - 3

    def brokers(self) -> dict[str, Any]:
        return {"brokers": {"a": True, "b": False}, "min_brokers": 2, "members_brokers": {"2": ["a"]}}


def health(ops: FakeOps, alive: bool = True) -> Health:
    return Health(ops, lambda: alive)  # type: ignore[arg-type]


def test_ready_when_every_check_holds() -> None:
    ready, detail = health(FakeOps()).readiness()
    assert ready
    assert detail["checks"] == {
        "rpc:c": True,
        "rpc:e": True,
        "broker": True,
        "store": True,
        "signing_margin": True,
        "loops": True,
    }


@pytest.mark.parametrize(
    ("lose", "check"),
    [
        (lambda o: o.rpc_ok.__setitem__(7002, False), "rpc:e"),
        (lambda o: o.connected.clear(), "broker"),
        (lambda o: setattr(o.node.store, "writable", False), "store"),
        (lambda o: setattr(o, "online", [1, 2]), "signing_margin"),
    ],
)
def test_readiness_turns_false_again_when_one_is_lost(lose: Any, check: str) -> None:
    ops = FakeOps()
    h = health(ops)
    assert h.readiness()[0]
    lose(ops)
    ready, detail = h.readiness()
    assert not ready
    assert detail["checks"][check] is False
    assert sum(1 for ok in detail["checks"].values() if not ok) == 1


def test_margin_zero_is_still_ready_and_dead_loops_are_not_live() -> None:
    ops = FakeOps()
    ops.online = [1, 2, 3]
    assert health(ops).readiness()[0]
    dead = health(FakeOps(), alive=False)
    assert dead.liveness() == (False, {"live": False})
    assert not dead.readiness()[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_readiness_says_which_brokers_this_node_and_each_member_reach() -> None:
    ready, detail = health(FakeOps()).readiness()
    assert ready  # one broker of two is enough to work: the alert says it is below the minimum
    assert detail["brokers"] == {"a": True, "b": False}
    assert detail["min_brokers"] == 2
    assert detail["members_brokers"] == {"2": ["a"]}
