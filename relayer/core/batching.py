"""The deterministic batch rule (DESIGN.md section 4), as a pure function.

Every member applies the same rule to the same final chain data, so honest members sign identical
messages without a leader:

* blocks are grouped in windows of ``window_blocks`` consecutive heights, window ``w`` covering
  ``[w * window_blocks, (w + 1) * window_blocks - 1]`` (independent of where anyone started);
* a window is batched only once every block in it is final and scanned;
* the transfers of a window, in nonce order, are cut into chunks of at most ``max_batch``,
  counted from the window's first transfer; each chunk is one batch.

Both parameters are committee configuration and must be equal on every member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relayer.core.types import Transfer

MAX_BATCH_LIMIT = 400
"""The largest `max_batch`: executeBatch of 400 fresh-holder transfers is about 12.7M gas
(docs/GAS.md: 3.33M for 100, 31.2k for each further transfer), leaving a quarter of EIP-7825's
2^24 per-transaction gas cap (Ethereum since Osaka) as margin for dearer transfers."""


@dataclass(frozen=True, slots=True)
class BatchRule:
    window_blocks: int
    max_batch: int

    def __post_init__(self) -> None:
        if self.window_blocks < 1:
            raise ValueError(f"batch rule: window_blocks {self.window_blocks} must be >= 1")
        if not 1 <= self.max_batch <= MAX_BATCH_LIMIT:
            raise ValueError(
                f"batch rule: max_batch {self.max_batch} must be in 1..{MAX_BATCH_LIMIT} (a batch must fit "
                "in one transaction: 400 transfers to fresh holders take about 12.7M gas, under the "
                "16,777,216 per-transaction cap of EIP-7825 with a margin; a batch above the cap "
                "could never execute)"
            )

    def window_of(self, block_number: int) -> int:
        return block_number // self.window_blocks

    def window_end(self, block_number: int) -> int:
        """The last block of the window that holds `block_number`: once it is scanned, the window
        is complete and may be cut."""
        return (self.window_of(block_number) + 1) * self.window_blocks - 1

    def last_complete_block(self, final_scanned_through: int) -> int:
        """The last block of the last window that is entirely at or below the scanned height."""
        return ((final_scanned_through + 1) // self.window_blocks) * self.window_blocks - 1


@dataclass(frozen=True, slots=True)
class Located:
    """A transfer with the block that holds its event."""

    transfer: Transfer
    block_number: int


class NonceGap(Exception):
    """The next transfer is not the one expected: a lock was missed and nothing may be batched."""


def plan_batches(
    rule: BatchRule, located: Sequence[Located], expected_first_nonce: int
) -> list[tuple[Transfer, ...]]:
    """Cut the transfers of complete windows into batches.

    `located` must hold every transfer of the windows being planned (the caller selects whole
    windows) in any order; `expected_first_nonce` is the route's next unbatched nonce.
    """
    ordered = sorted(located, key=lambda x: x.transfer.nonce)
    expected = expected_first_nonce
    for item in ordered:
        if item.transfer.nonce != expected:
            raise NonceGap(f"expected nonce {expected}, found {item.transfer.nonce}")
        expected += 1
    batches: list[tuple[Transfer, ...]] = []
    window: list[Transfer] = []
    current: int | None = None
    for item in ordered:
        w = rule.window_of(item.block_number)
        if current is not None and w < current:
            raise NonceGap(f"nonce {item.transfer.nonce} is in an earlier block than its predecessor")
        if w != current and window:
            batches.extend(_chunks(window, rule.max_batch))
            window = []
        current = w
        window.append(item.transfer)
    if window:
        batches.extend(_chunks(window, rule.max_batch))
    return batches


def _chunks(transfers: list[Transfer], size: int) -> list[tuple[Transfer, ...]]:
    return [tuple(transfers[i : i + size]) for i in range(0, len(transfers), size)]
