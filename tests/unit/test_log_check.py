"""Which logs of an eth_getLogs reply a member may use: only logs of the endpoint, inside the range
asked, not removed, with well-formed hashes, from the canonical block at their number."""

from __future__ import annotations

import pytest

from relayer.core.logcheck import LogFault, LogPlace, blocks_to_check, judge_logs

ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CANON = {5: "0x" + "aa" * 32, 7: "0x" + "bb" * 32}


def raw(**over: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "address": ENDPOINT.lower(),
        "blockNumber": "0x5",
        "blockHash": "0x" + "aa" * 32,
        "transactionHash": "0x" + "cc" * 32,
        "logIndex": "0x0",
        "removed": False,
    }
    return entry | over


def judge(*entries: dict[str, object], canonical: dict[int, str] | None = CANON) -> LogFault | None:
    places = [LogPlace.of(e) for e in entries]
    refusal = judge_logs(places, endpoint=ENDPOINT, first=5, last=7, canonical=canonical)
    return None if refusal is None else refusal.fault


def test_logs_of_the_canonical_blocks_pass() -> None:
    assert judge(raw(), raw(blockNumber="0x7", blockHash="0x" + "BB" * 32, logIndex="0x3")) is None


def test_a_reply_without_logs_needs_no_block_hash() -> None:
    assert blocks_to_check([]) == ()
    assert judge_logs([], endpoint=ENDPOINT, first=5, last=7, canonical=None) is None


def test_the_blocks_to_check_are_the_distinct_blocks_that_carry_logs() -> None:
    places = [LogPlace.of(raw(blockNumber=n, logIndex=i)) for i, n in enumerate(("0x7", "0x5", "0x7"))]
    assert blocks_to_check(places) == (5, 7)


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        (raw(blockHash="0x" + "ab" * 32), LogFault.NOT_CANONICAL),  # another fork's block at 5
        (raw(blockNumber="0x6", blockHash="0x" + "aa" * 32), LogFault.NOT_CANONICAL),  # a block unknown
        (raw(blockNumber="0x4"), LogFault.OUT_OF_RANGE),
        (raw(blockNumber="0x8"), LogFault.OUT_OF_RANGE),
        (raw(address="0x" + "11" * 20), LogFault.WRONG_ADDRESS),
        (raw(removed=True), LogFault.REMOVED),
        (raw(removed="false"), LogFault.REMOVED),  # not a JSON boolean false
        (raw(blockHash="0x" + "aa" * 31), LogFault.BAD_HASH),
        (raw(blockHash="aa" * 32), LogFault.BAD_HASH),
        (raw(transactionHash="0x" + "cc" * 33), LogFault.BAD_HASH),
        (raw(transactionHash="0x" + "zz" * 32), LogFault.BAD_HASH),
        (raw(blockHash=None), LogFault.BAD_HASH),
    ],
)
def test_a_log_that_is_not_the_endpoints_canonical_log_is_refused(
    entry: dict[str, object], fault: LogFault
) -> None:
    assert judge(raw(blockNumber="0x7", blockHash=CANON[7]), entry) == fault


def test_a_log_with_a_rewritten_block_hash_is_refused_even_when_its_content_is_true() -> None:
    assert judge(raw(blockHash="0x" + "00" * 32)) == LogFault.NOT_CANONICAL


def test_the_shape_is_judged_before_any_block_hash_is_known() -> None:
    assert judge(raw(), canonical=None) is None  # canonical hashes not fetched yet: shape only
    assert judge(raw(blockNumber="0x9"), canonical=None) == LogFault.OUT_OF_RANGE
    assert judge(raw(removed=True), canonical=None) == LogFault.REMOVED


def test_a_missing_removed_field_is_not_removed() -> None:
    entry = raw()
    del entry["removed"]
    assert judge(entry) is None


def test_the_refusal_names_the_log_and_both_hashes() -> None:
    places = [LogPlace.of(raw(blockHash="0x" + "ab" * 32))]
    refusal = judge_logs(places, endpoint=ENDPOINT, first=5, last=7, canonical=CANON)
    assert refusal is not None
    text = refusal.describe()
    assert "0x" + "ab" * 32 in text
    assert CANON[5] in text
    assert "block 5" in text
