"""Copies of one message through several brokers: the first is handed over, the copies within the
window are not, a re-publication after the window is again; memory stays bounded."""

from __future__ import annotations

import pytest

from relayer.core.dedup import Dedup, content_key

A = content_key("qiao/v1/n/partial/1", b'{"x":1}')
B = content_key("qiao/v1/n/partial/1", b'{"x":2}')


def test_the_key_is_the_topic_and_the_payload() -> None:
    assert content_key("t/1", b"p") == content_key("t/1", b"p")
    assert content_key("t/1", b"p") != content_key("t/2", b"p")  # same payload, another sender's topic
    assert content_key("t/1", b"p") != content_key("t/1", b"q")  # one byte changed: another message
    assert content_key("t", b"/1p") != content_key("t/1", b"p")  # topic and payload do not run together


@pytest.mark.parametrize(
    ("arrivals", "handed"),
    [
        # (key, time) in arrival order -> whether each is handed over
        ([(A, 0.0)], [True]),
        ([(A, 0.0), (A, 0.0), (A, 0.1)], [True, False, False]),  # three brokers, one message
        ([(A, 0.0), (B, 0.0), (A, 0.5), (B, 0.7)], [True, True, False, False]),
        ([(A, 0.0), (A, 1.99)], [True, False]),  # a slow broker, still within the window
        ([(A, 0.0), (A, 2.0)], [True, True]),  # the window is over: a re-publication goes through
        ([(A, 0.0), (A, 1.5), (A, 2.5)], [True, False, True]),  # a copy does not extend the window
        ([(A, 0.0), (A, 2.5), (A, 3.0), (A, 4.5)], [True, True, False, True]),
    ],
)
def test_the_first_copy_in_the_window_is_handed_over(
    arrivals: list[tuple[bytes, float]], handed: list[bool]
) -> None:
    seen = Dedup(window=2.0)
    assert [seen.first(key, at) for key, at in arrivals] == handed


def test_a_zero_window_hands_over_everything() -> None:
    seen = Dedup(window=0.0)
    assert [seen.first(A, 1.0) for _ in range(3)] == [True, True, True]


def test_memory_is_bounded_and_the_oldest_is_forgotten_first() -> None:
    seen = Dedup(window=60.0, capacity=3)
    keys = [content_key("t", bytes([i])) for i in range(5)]
    assert all(seen.first(k, 0.0) for k in keys)
    assert len(seen) == 3
    assert seen.first(keys[0], 0.1) is True  # forgotten: handed over again (harmless: judged a duplicate)
    assert seen.first(keys[4], 0.1) is False  # still remembered


def test_expired_entries_are_let_go() -> None:
    seen = Dedup(window=1.0)
    for i in range(100):
        seen.first(content_key("t", bytes([i])), float(i))
    assert len(seen) == 1


@pytest.mark.parametrize(("window", "capacity"), [(-1.0, 10), (float("nan"), 10), (1.0, 0)])
def test_invalid_settings_are_refused(window: float, capacity: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        Dedup(window=window, capacity=capacity)


def test_a_forgotten_first_copy_lets_the_next_copy_through() -> None:
    seen = Dedup(window=2.0)
    key = content_key("t", b"p")
    assert seen.first(key, 0.0) is True
    seen.forget(key)  # its handling failed
    assert seen.first(key, 0.5) is True  # another broker's copy is handed over
    assert seen.first(key, 0.6) is False
    seen.forget(content_key("t", b"never seen"))  # nothing to forget: no error
