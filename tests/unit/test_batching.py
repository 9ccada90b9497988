"""The deterministic batch rule: same final chain data, same batches, on every member."""

from __future__ import annotations

import random

import pytest
from eth_utils.address import to_checksum_address as cs
from hypothesis import given
from hypothesis import strategies as st

from relayer.core.batching import BatchRule, Located, NonceGap, plan_batches
from relayer.core.types import ChainId, Nonce, Transfer


def located(nonce: int, block: int) -> Located:
    addr = cs("0x" + "12" * 20)
    return Located(Transfer(ChainId(1), ChainId(2), Nonce(nonce), addr, addr, addr, addr, 1), block)


def nonces(batches: list[tuple[Transfer, ...]]) -> list[list[int]]:
    return [[t.nonce for t in b] for b in batches]


def test_windows_split_batches_and_chunks_cap_their_size() -> None:
    rule = BatchRule(window_blocks=10, max_batch=2)
    items = [located(1, 3), located(2, 4), located(3, 9), located(4, 10), located(5, 25)]
    assert nonces(plan_batches(rule, items, 1)) == [[1, 2], [3], [4], [5]]


def test_order_of_input_does_not_change_the_batches() -> None:
    rule = BatchRule(window_blocks=4, max_batch=3)
    items = [located(n, 100 + n // 2) for n in range(1, 30)]
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    assert plan_batches(rule, items, 1) == plan_batches(rule, shuffled, 1)


def test_a_missing_nonce_stops_batching() -> None:
    rule = BatchRule(window_blocks=4, max_batch=3)
    with pytest.raises(NonceGap, match="expected nonce 2, found 3"):
        plan_batches(rule, [located(1, 1), located(3, 1)], 1)


def test_batching_starts_at_the_expected_nonce() -> None:
    rule = BatchRule(window_blocks=4, max_batch=3)
    with pytest.raises(NonceGap):
        plan_batches(rule, [located(5, 1)], 4)


def test_last_complete_block_is_the_end_of_the_last_whole_window() -> None:
    rule = BatchRule(window_blocks=5, max_batch=1)
    assert rule.last_complete_block(3) == -1
    assert rule.last_complete_block(4) == 4
    assert rule.last_complete_block(8) == 4
    assert rule.last_complete_block(9) == 9


@pytest.mark.parametrize(("window", "max_batch"), [(0, 1), (1, 0), (1, 401)])
def test_invalid_rules_are_refused(window: int, max_batch: int) -> None:
    with pytest.raises(ValueError):
        BatchRule(window, max_batch)


@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=80),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=1, max_value=9),
)
def test_batches_cover_every_nonce_once_in_order(gaps: list[int], window: int, max_batch: int) -> None:
    block, items = 0, []
    for n, gap in enumerate(gaps, start=1):
        block += gap
        items.append(located(n, block))
    batches = plan_batches(BatchRule(window, max_batch), items, 1)
    flat = [t.nonce for b in batches for t in b]
    assert flat == list(range(1, len(gaps) + 1))
    assert all(1 <= len(b) <= max_batch for b in batches)
    for b in batches:
        assert (
            len({it.block_number // window for it in items if it.transfer.nonce in {t.nonce for t in b}}) == 1
        )


def test_a_blocks_window_ends_where_the_window_becomes_complete() -> None:
    rule = BatchRule(window_blocks=4, max_batch=10)
    assert [rule.window_end(b) for b in (0, 3, 4, 9, 11, 12)] == [3, 3, 7, 11, 11, 15]
    for block in range(40):  # the end is the first scanned height at which the window is complete
        end = rule.window_end(block)
        assert rule.last_complete_block(end) >= block > rule.last_complete_block(end - 1)
