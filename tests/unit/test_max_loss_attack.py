"""The maximum-loss benchmark's attacker and the colluders' tool: pure parts, no chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from benchmarks.max_loss import forged_amounts, sentinel_timeline
from committee.threshold import deal, verify
from harness.sentinels import Colluders
from relayer.core.encoding import batch_message
from relayer.core.types import Batch, ChainId, Nonce, Transfer

pytestmark = pytest.mark.unit

PIECE = 99


@pytest.mark.parametrize(
    ("available", "per_batch", "expected"),
    [
        (0, 100, []),
        (98, 100, [98]),  # the rest alone
        (99, 100, [99]),
        (250, 100, [99, 99, 52]),
        (990, 5, [99] * 5),  # at most per_batch, and no rest then
        (500, 5, [99] * 5),  # 5 x 99 = 495: the 5 left wait for the next block
    ],
)
def test_the_attacker_takes_the_whole_bucket_below_the_threshold(
    available: int, per_batch: int, expected: list[int]
) -> None:
    amounts = forged_amounts(available, PIECE, per_batch)
    assert amounts == expected
    assert sum(amounts) <= available
    assert all(0 < a <= PIECE for a in amounts)


def test_the_sentinel_timeline_counts_the_records_judged_before_its_first_curse(tmp_path: Path) -> None:
    log = tmp_path / "sentinel.log"
    log.write_text(
        "2026-12-03 11:35:28 [error    ] sentinel_mismatch detail='nonce 1'\n"
        "2026-12-03 11:35:29 [error    ] sentinel_mismatch detail='nonce 2'\n"
        "2026-12-03 11:35:30 [warning  ] sentinel_action_sent action=curse chain=ethereum target=7001\n"
        "2026-12-03 11:35:31 [error    ] sentinel_mismatch detail='nonce 3'\n"
        "2026-12-03 11:35:32 [warning  ] sentinel_action_sent action=curse chain=consortium target=7002\n"
    )
    assert sentinel_timeline(log) == {"findings_before_curse": 2, "finding_to_curse_seconds": 2.0}


def test_a_log_without_a_curse_has_no_detection_time(tmp_path: Path) -> None:
    log = tmp_path / "sentinel.log"
    log.write_text("2026-12-03 11:35:28 [error    ] sentinel_mismatch detail='nonce 1'\n")
    assert sentinel_timeline(log) == {"findings_before_curse": 1, "finding_to_curse_seconds": None}


def test_t_colluding_shares_sign_what_verifies_as_the_committee() -> None:
    shares = deal(4, 3)
    colluders = Colluders.from_shares(
        cast(Any, None), shares[1:]
    )  # members 2, 3, 4: no deployment needed to sign
    who = "0x" + "11" * 20
    forged = Transfer(ChainId(7001), ChainId(7002), Nonce(5), who, who, who, who, 10**24)
    batch = Batch((forged,), who, 1)
    assert verify(shares[0].public.group_public_key, batch_message(batch), colluders.sign(batch))


def test_fewer_than_t_shares_are_refused() -> None:
    shares = deal(4, 3)
    with pytest.raises(ValueError, match="colluders need t = 3"):
        Colluders.from_shares(cast(Any, None), shares[:2])
