"""When a scan wakes the pipeline (relayer.pipeline.watcher.Watcher._stored_something): when it
stored something, or when it completed the batch window of a transfer stored earlier (the batcher
cuts a window only once every block of it is scanned); a scan of empty blocks does not."""

from __future__ import annotations

from typing import Any

from relayer.core.batching import BatchRule
from relayer.core.types import ChainId
from relayer.pipeline.halts import Halts
from relayer.pipeline.watcher import Watcher

C = ChainId(7001)


class _Committee:
    rule = BatchRule(window_blocks=4, max_batch=100)


class _Cfg:
    routes = ()
    committee = _Committee()


def watcher() -> Watcher:
    return Watcher(_Cfg(), None, {}, Halts(), lambda: None)  # type: ignore[arg-type]


def test_a_scan_of_empty_blocks_does_not_wake_the_pipeline() -> None:
    w = watcher()
    assert [w._stored_something(C, end, [], []) for end in range(10, 20)] == [False] * 10


def test_a_transfer_wakes_it_and_so_does_the_scan_that_completes_its_window() -> None:
    w = watcher()
    assert w._stored_something(C, 9, [9], [])  # stored, in window 8..11
    assert not w._stored_something(C, 10, [], [])  # the window is not complete yet
    assert w._stored_something(C, 11, [], [])  # block 11 scanned: the batcher can cut 8..11
    assert not w._stored_something(C, 12, [], [])  # once


def test_a_scan_past_several_windows_wakes_it_once_for_the_newest() -> None:
    w = watcher()
    assert w._stored_something(C, 5, [5], [])  # window 4..7 open
    assert w._stored_something(C, 13, [13], [])  # stored again (window 12..15)
    assert not w._stored_something(C, 14, [], [])
    assert w._stored_something(C, 20, [], [])  # 12..15 (and 4..7) complete
    assert not w._stored_something(C, 21, [], [])


def test_failures_and_waits_wake_it_and_chains_are_counted_apart() -> None:
    w = watcher()
    outcome: list[Any] = ["a failure"]
    assert w._stored_something(C, 3, [], outcome)
    assert w._stored_something(ChainId(7002), 2, [2], [])  # window 0..3 of the other chain
    assert not w._stored_something(C, 7, [], [])  # this chain has nothing due
    assert w._stored_something(ChainId(7002), 3, [], [])
