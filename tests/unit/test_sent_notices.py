"""The "sent batch X in tx H" notice: its payload is parsed strictly, and a notice holds a relayer
back only while its transaction is this batch's executeBatch pending at the node, and never longer
than the limit from the first notice for the batch (relayer.core.notices)."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from types import SimpleNamespace

import aiomqtt
import pytest

from relayer.adapters.transport import NOTICES_QUEUED, NoticesFirst
from relayer.core.messages import BadMessage, SentMessage, sent_topic
from relayer.core.notices import TxView, Verdict, claim_holds, holds, judge
from relayer.core.txmath import batch_rank
from relayer.core.types import BatchId, ChainId, Nonce, Route
from relayer.pipeline import submitter as submitter_module
from relayer.pipeline.submitter import CLAIM, MAX_NOTICES, BatchKey, Submitter

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


async def test_attack_a_flood_of_notices_neither_starves_nor_pushes_out_the_partials() -> None:
    """Anyone who can publish can send notices. A flood kept just ahead of the handling rate must
    not stop the partials waiting behind it (review N2): after NOTICES_IN_A_ROW notices a waiting
    partial goes next, and notices beyond NOTICES_QUEUED are dropped, never a partial."""

    def message(kind: str, n: int) -> aiomqtt.Message:
        return aiomqtt.Message(f"qiao/v1/{NET}/{kind}/1", str(n).encode(), 1, False, n, None)

    queue = NoticesFirst(maxsize=NOTICES_QUEUED + 100)
    for n in range(10):
        queue.put_nowait(message("partial", n))
    partials = 0
    for round_ in range(200):  # the flood: more notices arrive than are handed over
        for k in range(3):
            queue.put_nowait(message("sent", 1000 + 3 * round_ + k))
        if "/sent/" not in (await queue.get()).topic.value:
            partials += 1
    assert partials == 10  # every partial was handed over during the flood
    assert queue.qsize() <= NOTICES_QUEUED  # the notices beyond the bound were dropped
    assert queue.notices_dropped > 0
    queue.put_nowait(message("partial", 99))  # a partial still finds room
    assert queue.qsize() <= NOTICES_QUEUED + 1


# ---- the submitter's table of notices (review N1, N3, N4): no I/O, a clock of the test's own ----

N = 4


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _submitter(member: int, clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> Submitter:
    """The notice bookkeeping of a real Submitter (its __init__ wants a chain client)."""
    monkeypatch.setattr(submitter_module, "time", clock)
    s = Submitter.__new__(Submitter)
    s.member_index, s.committee_size = member, N
    s.chain = SimpleNamespace(chain_id=ChainId(7002), endpoint=SimpleNamespace(address=ENDPOINT))  # type: ignore[assignment]
    s.cfg = SimpleNamespace(receipt_timeout=60.0, stagger_seconds=3.0)  # type: ignore[assignment]
    s._notices, s._notice_verdicts, s._notice_dismissed = OrderedDict(), {}, set()
    s._notice_first, s._claimed, s._waiting = {}, {}, set()
    s._dismiss = lambda *a: None  # type: ignore[method-assign]
    return s


def _by_rank(rank: int) -> int:
    return next(m for m in range(1, N + 1) if batch_rank(m, N, 7001, 7002, 1) == rank)


def _bogus(i: int) -> BatchId:
    return BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(10**6 + i), Nonce(10**6 + i))


async def test_attack_a_flood_that_pushes_a_claim_out_of_the_table_does_not_restart_its_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim holds a later turn for a grace from when that relayer first consulted it. An
    attacker that re-sends the claim after pushing the batch's entry out of the table with
    MAX_NOTICES bogus ones must not restart the clock (it held the batch for ever: review N1)."""
    clock = _Clock()
    s = _submitter(_by_rank(1), clock, monkeypatch)
    attacker = _by_rank(0)
    s.on_sent(SentMessage(attacker, BATCH, CLAIM))
    stored = SimpleNamespace(id=BATCH)
    held = 0
    for _ in range(20):  # 50 s; the grace is max(1 s, stagger 3 s)
        clock.now += 2.5
        for i in range(MAX_NOTICES + 1):
            s.on_sent(SentMessage(attacker, _bogus(i), CLAIM))
        s.on_sent(SentMessage(attacker, BATCH, CLAIM))
        held += await s._noticed(stored, False)  # type: ignore[arg-type]
    assert held == 2  # at its first consultation (2.5 s) and 2.5 s later; the grace (3 s) then ran out


async def test_a_claim_by_a_later_turn_does_not_replace_an_earlier_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Of two claims the earlier turn's is kept (a forged late claim would free the relayers the
    earlier one holds back), and a claim never replaces a transaction's notice (review N4)."""
    clock = _Clock()
    s = _submitter(_by_rank(2), clock, monkeypatch)
    s.on_sent(SentMessage(_by_rank(1), BATCH, CLAIM))
    s.on_sent(SentMessage(_by_rank(3), BATCH, CLAIM))
    assert s._notices[BATCH][0] == _by_rank(1)
    assert await s._noticed(SimpleNamespace(id=BATCH), False)  # type: ignore[arg-type]
    tx = b"\x07" * 32
    s.on_sent(SentMessage(_by_rank(3), BATCH, tx))
    s.on_sent(SentMessage(_by_rank(0), BATCH, CLAIM))
    assert s._notices[BATCH] == (_by_rank(3), "0x" + tx.hex())


def test_a_relayer_claims_a_batch_once_per_grace_and_not_while_it_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While an endpoint refuses a batch (a pause, a curse) every relayer would otherwise claim
    every due batch on every step (review N3)."""
    clock = _Clock()
    s = _submitter(1, clock, monkeypatch)
    assert s._claim_due(BATCH)
    clock.now += 1.0
    assert not s._claim_due(BATCH)  # within the grace (3 s)
    clock.now += 2.5
    assert s._claim_due(BATCH)
    s._waiting.add(BatchKey.of(BATCH))
    clock.now += 10
    assert not s._claim_due(BATCH)
