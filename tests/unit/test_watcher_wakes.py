"""When a scan wakes the pipeline (relayer.pipeline.watcher.Watcher._wakes_pipeline): when it
stored something, or when it completed the batch window of a transfer read earlier (the batcher
cuts a window only once every block of it is scanned); a scan of empty blocks does not."""

from __future__ import annotations

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
    assert [w._wakes_pipeline(C, end, [], False) for end in range(10, 20)] == [False] * 10


def test_a_transfer_wakes_it_and_so_does_the_scan_that_completes_its_window() -> None:
    w = watcher()
    assert w._wakes_pipeline(C, 9, [9], True)  # stored, in window 8..11
    assert not w._wakes_pipeline(C, 10, [], False)  # the window is not complete yet
    assert w._wakes_pipeline(C, 11, [], False)  # block 11 scanned: the batcher can cut 8..11
    assert not w._wakes_pipeline(C, 12, [], False)  # once


def test_a_scan_past_several_windows_wakes_it_once_for_the_newest() -> None:
    w = watcher()
    assert w._wakes_pipeline(C, 5, [5], True)  # window 4..7 open
    assert w._wakes_pipeline(C, 13, [13], True)  # stored again (window 12..15)
    assert not w._wakes_pipeline(C, 14, [], False)
    assert w._wakes_pipeline(C, 20, [], False)  # 12..15 (and 4..7) complete
    assert not w._wakes_pipeline(C, 21, [], False)


def test_failures_and_waits_wake_it_and_chains_are_counted_apart() -> None:
    w = watcher()
    assert w._wakes_pipeline(C, 3, [], True)  # a failure or a wait stored, no transfer
    assert w._wakes_pipeline(ChainId(7002), 2, [2], True)  # window 0..3 of the other chain
    assert not w._wakes_pipeline(C, 7, [], False)  # this chain has nothing due
    assert w._wakes_pipeline(ChainId(7002), 3, [], False)


def test_a_transfer_read_again_but_stored_before_still_has_its_window_completion_wake_it() -> None:
    """A restart's re-read, or a transfer `relayer reobserve` stored above the cursor: nothing new
    is stored by the scan that reads it, yet the scan completing its window must wake the cut."""
    w = watcher()
    assert not w._wakes_pipeline(C, 9, [9], False)  # read, already stored: nothing to do yet
    assert w._wakes_pipeline(C, 11, [], False)  # its window 8..11 complete
