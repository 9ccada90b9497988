"""Typed halts and pauses: the texts operators read stay the free strings they were, and the rules
between a halt and a pause (the first reason stays; a pause never hides or loses an error halt)."""

from __future__ import annotations

import pytest

from relayer.core.types import ChainId, Route
from relayer.pipeline.halts import PAUSED_TEXT, Halt, HaltKind, Halts

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


def test_the_first_halt_stays_and_a_paused_route_takes_no_error_halt() -> None:
    halts = Halts()
    assert halts.halt(A, Halt(HaltKind.NONCE_GAP, "first"))
    assert not halts.halt(A, Halt(HaltKind.DEEP_REORG, "second"))
    assert str(halts.halt_of(A)) == "nonce gap: first"
    halts.pause(B, 10.0)
    assert not halts.halt(B, Halt(HaltKind.DEEP_REORG, "while paused"))
    assert halts.halt_of(B) is None
    assert halts.texts() == {A: "nonce gap: first", B: PAUSED_TEXT}


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
