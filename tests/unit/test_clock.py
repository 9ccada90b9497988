"""Durations of recorded events keep their length when the wall clock steps."""

from __future__ import annotations

from relayer.core.clock import Elapsed


class Clocks:
    """A wall clock an operator (or NTP) can step, and a monotonic clock that only moves on."""

    def __init__(self) -> None:
        self.wall_time = 1_000_000.0
        self.mono_time = 50.0

    def wall(self) -> float:
        return self.wall_time

    def mono(self) -> float:
        return self.mono_time

    def run(self, seconds: float) -> None:
        self.wall_time += seconds
        self.mono_time += seconds


def test_an_event_first_seen_late_counts_its_wall_clock_age() -> None:
    c = Clocks()
    elapsed = Elapsed(c.wall, c.mono)
    assert elapsed.since("batch", c.wall_time - 5.0) == 5.0
    c.run(2.0)
    assert elapsed.since("batch", c.wall_time - 7.0) == 7.0


def test_a_wall_clock_step_back_does_not_stretch_a_wait() -> None:
    c = Clocks()
    elapsed = Elapsed(c.wall, c.mono)
    aggregated_at = c.wall_time
    assert elapsed.since("batch", aggregated_at) == 0.0
    c.run(1.0)
    c.wall_time -= 7200.0  # NTP corrects a clock two hours fast
    c.run(3.0)
    assert elapsed.since("batch", aggregated_at) == 4.0  # not 4 - 7200


def test_a_wall_clock_step_forward_does_not_end_a_wait_early() -> None:
    c = Clocks()
    elapsed = Elapsed(c.wall, c.mono)
    sent_at = c.wall_time
    elapsed.since("tx", sent_at)
    c.wall_time += 7200.0
    c.run(1.0)
    assert elapsed.since("tx", sent_at) == 1.0  # a 30 s receipt timeout is not over


def test_an_event_recorded_in_the_future_of_this_clock_starts_at_zero() -> None:
    c = Clocks()
    elapsed = Elapsed(c.wall, c.mono)
    # recorded before a restart with the clock two hours fast, read after it was corrected
    assert elapsed.since("batch", c.wall_time + 7200.0) == 0.0
    c.run(2.5)
    assert elapsed.since("batch", c.wall_time + 7200.0 - 2.5) == 2.5


def test_a_new_recording_of_the_same_key_is_a_new_event_and_retain_forgets() -> None:
    c = Clocks()
    elapsed = Elapsed(c.wall, c.mono)
    first = c.wall_time
    elapsed.since(("b1", "aggregated"), first)
    c.run(10.0)
    assert elapsed.since(("b1", "aggregated"), c.wall_time) == 0.0
    elapsed.since(("b2", "aggregated"), c.wall_time)
    assert len(elapsed) == 3
    elapsed.retain(lambda key: isinstance(key, tuple) and key[0] == "b2")
    assert len(elapsed) == 1
