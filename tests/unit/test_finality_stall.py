"""A finality stall is reported once when the final head stands still while the head moves on,
and once more when it moves again."""

from __future__ import annotations

import pytest

from relayer.core.finality import FinalityEvent, FinalityWatch, observe_finality

STALL = 60.0


def run(steps: list[tuple[float, int, int]]) -> list[FinalityEvent | None]:
    """(time, head, final) per scan -> the event of each."""
    watch: FinalityWatch | None = None
    events = []
    for now, head, final in steps:
        watch, event = observe_finality(watch, head=head, final=final, now=now, stall_after=STALL)
        events.append(event)
    return events


S, R = FinalityEvent.STALLED, FinalityEvent.RESUMED


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # the final head follows the head: never stalled
        ([(0, 100, 36), (30, 110, 46), (61, 120, 56), (200, 130, 66)], [None] * 4),
        # frozen final head, growing head: one STALLED after 60 s, not every scan, then RESUMED once
        (
            [(0, 100, 36), (30, 110, 36), (60, 120, 36), (90, 130, 36), (120, 140, 36), (121, 141, 68)],
            [None, None, S, None, None, R],
        ),
        # head and final head both frozen: a chain stall (QiaoChainStalled), not a finality stall
        ([(0, 100, 36), (100, 100, 36), (300, 100, 36)], [None, None, None]),
        # the final head moves just before the limit each time (finality every epoch): never stalled
        ([(0, 100, 36), (59, 132, 36), (60, 132, 68), (119, 164, 68), (120, 164, 100)], [None] * 5),
        # a final head that goes back (another endpoint, behind) is not progress
        ([(0, 100, 36), (30, 110, 35), (61, 120, 36)], [None, None, S]),
        # a second stall after resuming is reported again
        (
            [(0, 100, 36), (60, 110, 36), (61, 111, 40), (121, 130, 40), (150, 140, 40)],
            [None, S, R, S, None],
        ),
    ],
)
def test_a_frozen_final_head_under_a_growing_head_is_reported_once(
    steps: list[tuple[float, int, int]], expected: list[FinalityEvent | None]
) -> None:
    assert run(steps) == expected


def test_the_stalled_seconds_count_only_while_the_head_moves_on() -> None:
    watch, _ = observe_finality(None, head=100, final=36, now=10.0, stall_after=STALL)
    assert watch.stalled_seconds(100, 50.0) == 0.0
    assert watch.stalled_seconds(101, 50.0) == 40.0
    watch, _ = observe_finality(watch, head=120, final=40, now=70.0, stall_after=STALL)
    assert watch.stalled_seconds(125, 70.0) == 0.0
