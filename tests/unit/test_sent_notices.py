"""The "sent batch X in tx H" notice: its payload is parsed strictly, and a notice holds a relayer
back only while its transaction is this batch's executeBatch pending at the node, and never longer
than the limit from the first notice for the batch (relayer.core.notices)."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from relayer.adapters.transport import NoticesFirst
from relayer.core.messages import BadMessage, SentMessage, sent_topic
from relayer.core.notices import TxView, Verdict, claim_holds, holds, judge
from relayer.core.types import BatchId, ChainId, Nonce, Route

NET = "testnet"
BATCH = BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(1), Nonce(100))
ENDPOINT = "0x" + "ab" * 20
CALLDATA = b"\x12\x34\x56\x78" + b"\x00" * 64


def sample() -> SentMessage:
    return SentMessage(member=3, batch=BATCH, tx_hash=b"\x07" * 32)


def test_a_notice_round_trips() -> None:
    msg = sample()
    assert SentMessage.parse(sent_topic(NET, 3), msg.to_payload(), NET) == msg


def _fields() -> dict[str, object]:
    data = json.loads(sample().to_payload())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tx": "0x" + "07" * 31}, "tx: expected 32 bytes"),
        ({"tx": "07" * 32}, "tx: expected 0x-prefixed hex"),
        ({"tx": "0x" + "zz" * 32}, "tx: not hex"),
        ({"tx": None}, "tx: expected 0x-prefixed hex"),
        ({"first": 0}, "first: expected an integer"),
        ({"first": 5, "last": 4}, "need 1 <= first <= last"),
        ({"src": "7001"}, "src: expected an integer"),
        ({"member": 2}, "member 2 in payload, 3 in topic"),
        ({"type": "partial"}, "unsupported version/type"),
        ({"extra": 1}, "unknown fields"),
    ],
)
def test_a_malformed_notice_is_refused_with_its_reason(change: dict[str, object], reason: str) -> None:
    data = _fields() | change
    with pytest.raises(BadMessage, match=reason):
        SentMessage.parse(sent_topic(NET, 3), json.dumps(data).encode(), NET)


@pytest.mark.parametrize("payload", [b"", b"not json", b"[1,2]", b"{" * 5000, b"x" * 5000])
def test_a_notice_that_is_not_a_json_object_is_refused(payload: bytes) -> None:
    with pytest.raises(BadMessage):
        SentMessage.parse(sent_topic(NET, 3), payload, NET)


def test_a_notice_on_another_topic_is_refused() -> None:
    with pytest.raises(BadMessage, match="does not end in a member index"):
        SentMessage.parse(f"{sent_topic(NET, 3)}/x", sample().to_payload(), NET)


def test_a_pending_transaction_of_this_batch_holds() -> None:
    assert (
        judge(TxView(ENDPOINT.upper().replace("0X", "0x"), CALLDATA, False), ENDPOINT, CALLDATA)
        is Verdict.PENDING
    )


def test_a_mined_transaction_is_left_to_the_bitmap() -> None:
    assert judge(TxView(ENDPOINT, CALLDATA, True), ENDPOINT, CALLDATA) is Verdict.MINED


@pytest.mark.parametrize(
    ("tx", "verdict"),
    [
        (None, Verdict.UNKNOWN),  # a made-up hash
        (TxView("0x" + "cd" * 20, CALLDATA, False), Verdict.NOT_ENDPOINT),
        (TxView(None, CALLDATA, False), Verdict.NOT_ENDPOINT),  # a contract creation
        (TxView(ENDPOINT, CALLDATA[:-1] + b"\x01", False), Verdict.NOT_THIS_BATCH),  # another batch
        (TxView(ENDPOINT, b"", False), Verdict.NOT_THIS_BATCH),
    ],
)
def test_a_notice_whose_transaction_is_not_this_batch_pending_does_not_hold(
    tx: TxView | None, verdict: Verdict
) -> None:
    assert judge(tx, ENDPOINT, CALLDATA) is verdict


def test_a_notice_holds_for_the_limit_from_the_first_notice_and_never_longer() -> None:
    assert holds(100.0, 100.0, 60.0)
    assert holds(100.0, 159.9, 60.0)
    assert not holds(100.0, 160.0, 60.0)
    assert not holds(100.0, 10_000.0, 60.0)
    assert not holds(100.0, 100.0, 0.0)  # no wait at all when the limit is 0


async def test_the_incoming_queue_hands_notices_over_before_the_partials_waiting() -> None:
    """A notice behind hundreds of partials (each judged in turn) would come too late to hold the
    next relayer back: the broker client's queue hands notices first, in their own order, and
    bounds both together."""

    def message(kind: str, n: int) -> aiomqtt.Message:
        return aiomqtt.Message(f"qiao/v1/{NET}/{kind}/1", str(n).encode(), 1, False, n, None)

    queue = NoticesFirst(maxsize=4)
    for m in (message("partial", 1), message("partial", 2), message("sent", 3), message("sent", 4)):
        queue.put_nowait(m)
    assert queue.full()
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait(message("sent", 5))
    got = [(await queue.get()).payload for _ in range(4)]
    assert got == [b"3", b"4", b"1", b"2"]
    assert queue.empty()


def test_a_claim_holds_back_only_a_later_turn_and_only_for_the_grace() -> None:
    """Two relayers claiming at once: the later turn stands back, the earlier one does not (no one
    waits for the other); a forged claim delays a batch by the grace at most."""
    assert claim_holds(0, 1, 100.0, 100.5, 2.0)
    assert not claim_holds(1, 0, 100.0, 100.5, 2.0)  # the claimant's turn comes after ours
    assert not claim_holds(1, 1, 100.0, 100.5, 2.0)
    assert not claim_holds(0, 1, 100.0, 102.0, 2.0)  # past the grace from the first notice
