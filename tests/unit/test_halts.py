"""Typed halts and pauses: the texts operators read stay the free strings they were, and the rules
between a halt and a pause (the first error halt's reason stays; a pause never hides or swallows an error halt)."""

from __future__ import annotations

from typing import Any

import pytest

from relayer.core.types import ChainId, Route
from relayer.pipeline.halts import PAUSED_TEXT, Halt, HaltKind, Halts
from relayer.pipeline.watcher import DeepReorg, Watcher

A = Route(ChainId(1), ChainId(2))
B = Route(ChainId(2), ChainId(1))


@pytest.mark.parametrize(
    ("halt", "text"),
    [
        (Halt(HaltKind.NONCE_GAP, "route 1->2: nonce 7 missing"), "nonce gap: route 1->2: nonce 7 missing"),
        (Halt(HaltKind.DEEP_REORG, "block 9 changed"), "deep reorg: block 9 changed"),
        (Halt(HaltKind.UNTRUSTED, "all quarantined"), "no trustworthy RPC endpoint left: all quarantined"),
        (Halt(HaltKind.SOURCE, "malformed TransferInitiated log"), "malformed TransferInitiated log"),
    ],
)
def test_a_halt_reads_as_the_text_operators_always_saw(halt: Halt, text: str) -> None:
    halts = Halts()
    assert halts.halt(A, halt)
    assert halts.texts() == {A: text}
    assert halts.stopped(A)
    assert not halts.stopped(B)


def test_the_first_error_halt_stays() -> None:
    halts = Halts()
    assert halts.halt(A, Halt(HaltKind.NONCE_GAP, "first"))
    assert not halts.halt(A, Halt(HaltKind.DEEP_REORG, "second"))
    assert str(halts.halt_of(A)) == "nonce gap: first"
    assert halts.texts() == {A: "nonce gap: first"}


def test_a_pause_does_not_swallow_an_error_halt_raised_while_paused() -> None:
    """The watcher of a source ends on a deep reorg: had the pause swallowed the halt, the route
    would run again after the resume with nothing scanning its source and no reason shown."""
    halts = Halts()
    halts.pause(B, 10.0)
    assert halts.texts() == {B: PAUSED_TEXT}
    assert halts.halt(B, Halt(HaltKind.DEEP_REORG, "while paused"))
    assert str(halts.halt_of(B)) == "deep reorg: while paused"
    assert halts.texts() == {B: "deep reorg: while paused"}  # the halt, not the pause, is read
    assert not halts.halt(B, Halt(HaltKind.NONCE_GAP, "later"))  # still the first reason
    assert halts.resume(B)
    assert halts.stopped(B)  # halted after the resume, and the operator reads why
    assert halts.texts() == {B: "deep reorg: while paused"}
    assert halts.clear(B) == Halt(HaltKind.DEEP_REORG, "while paused")
    assert not halts.stopped(B)


def test_a_pause_keeps_an_earlier_error_halt_and_resuming_does_not_clear_it() -> None:
    halts = Halts()
    halts.halt(A, Halt(HaltKind.DEEP_REORG, "x"))
    halts.pause(A, 5.0)
    assert halts.texts() == {A: "deep reorg: x"}
    assert halts.resume(A)
    assert not halts.resume(A)
    assert halts.stopped(A)
    assert halts.clear(A) == Halt(HaltKind.DEEP_REORG, "x")
    assert not halts.stopped(A)


def test_pauses_keep_their_first_time_and_name_the_destinations_that_stand_by() -> None:
    halts = Halts()
    halts.pause(A, 5.0)
    halts.pause(A, 9.0)
    assert halts.paused_at == {A: 5.0}
    assert halts.dst_paused(ChainId(2))
    assert not halts.dst_paused(ChainId(1))
    assert halts.paused == frozenset({A})
    halts.resume(A)
    assert not halts.dst_paused(ChainId(2))
    assert halts.texts() == {}


class _Cfg:
    routes = (A, B)


class _ChainCfg:
    name = "two"
    rpc_timeout = 1.0
    poll_interval = 0.0


class _Chain:
    chain_id = ChainId(2)  # the source of B
    cfg = _ChainCfg()


class _ReorgedWatcher(Watcher):
    async def scan_once(self, chain: Any) -> bool:
        raise DeepReorg("block 9 of chain two was 0xaa when final, 0xbb now")


async def test_a_deep_reorg_found_while_the_route_is_paused_keeps_it_halted_after_the_resume() -> None:
    halts = Halts()
    halts.pause(B, 10.0)
    watcher = _ReorgedWatcher(_Cfg(), None, {}, halts, lambda: None)  # type: ignore[arg-type]
    await watcher.watch(_Chain())  # type: ignore[arg-type]  # returns: this source's scanning ends
    assert halts.resume(B)
    assert halts.stopped(B)
    assert not halts.stopped(A)  # A's source is another chain
    assert halts.texts() == {B: "deep reorg: block 9 of chain two was 0xaa when final, 0xbb now"}
