"""Releases of what a destination keeps (relayer.core.releases), pure: whether `releaseQueued` passes,
what its reverts mean, whose turn it is; the calldata; decoding TransferHeld / TransferQueued; the
held / queued / released states in the one order of a transfer's states."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import AsyncWeb3, Web3

from relayer.adapters.abi import ENDPOINT_ABI
from relayer.adapters.chain import (
    TRANSFER_FAILED_TOPIC,
    TRANSFER_HELD_TOPIC,
    TRANSFER_QUEUED_TOPIC,
    ChainClient,
    MalformedEvent,
)
from relayer.config import ChainConfig
from relayer.core.calldata import release_data
from relayer.core.releases import (
    ReleaseDecision,
    ReleaseFacts,
    classify_release_revert,
    decide_release,
    release_rank,
)
from relayer.core.states import TRANSFER_ORDER, ObservedFailure, ObservedWait, TransferState, WaitReason
from relayer.core.states import transfer_may_move as may
from relayer.core.types import ChainId, Nonce, Transfer

D = ReleaseDecision
LEAF = b"\x0a" * 32
OTHER = b"\x0b" * 32
# a held transfer of 500 at time 1000, released from 1100; the bucket has no limit
HELD = ReleaseFacts(
    status=2,
    held_until=1100,
    paused=False,
    cursed=False,
    leaf=LEAF,
    amount=500,
    head_leaf=None,
    available=0,
    capacity=0,
    now=1000,
)
# a queued transfer of 500, the head of its token's queue, the bucket (capacity 1000) holding 600
QUEUED = dataclasses.replace(HELD, held_until=0, head_leaf=LEAF, available=600, capacity=1000)


@pytest.mark.parametrize(
    ("facts", "decision", "why"),
    [
        (HELD, D.WAIT, "held for its challenge window until 1100"),
        (dataclasses.replace(HELD, now=1099), D.WAIT, "until 1100"),
        (dataclasses.replace(HELD, now=1100), D.SEND, "window is over"),  # from heldUntil on
        (dataclasses.replace(HELD, now=5000, cursed=True), D.WAIT, "cursed"),
        (dataclasses.replace(HELD, now=5000, paused=True), D.WAIT, "paused"),
        (dataclasses.replace(HELD, now=5000, status=1), D.DONE, "delivered"),
        (dataclasses.replace(HELD, status=3), D.DONE, "failed"),  # vetoed: the refund path
        (dataclasses.replace(HELD, status=0), D.WAIT, "not queued"),  # a node behind the event
        (QUEUED, D.SEND, "queue head"),
        (dataclasses.replace(QUEUED, head_leaf=OTHER), D.WAIT, "ahead in the queue"),
        (dataclasses.replace(QUEUED, head_leaf=None), D.WAIT, "ahead in the queue"),
        (dataclasses.replace(QUEUED, available=499), D.WAIT, "holds 499 of its 500"),
        (dataclasses.replace(QUEUED, available=500), D.SEND, "room"),
        (dataclasses.replace(QUEUED, capacity=0, available=0), D.SEND, "room"),  # no limit
        # above the capacity it can never pass: the release fails it (refundable), freeing the queue
        (dataclasses.replace(QUEUED, capacity=400, available=0), D.SEND, "above the capacity"),
        (dataclasses.replace(QUEUED, cursed=True), D.WAIT, "cursed"),
        (dataclasses.replace(QUEUED, paused=True), D.WAIT, "paused"),
        (dataclasses.replace(QUEUED, status=1), D.DONE, "delivered"),
    ],
)
def test_a_release_is_sent_only_when_it_passes(
    facts: ReleaseFacts, decision: ReleaseDecision, why: str
) -> None:
    verdict = decide_release(facts)
    assert verdict.decision is decision, verdict
    assert why in verdict.why
    if decision is D.SEND:
        assert verdict.reason is (WaitReason.HELD if facts.held_until else WaitReason.QUEUED)


def _revert(signature: str, *args: object, types: tuple[str, ...] = ()) -> str:
    return "0x" + keccak(text=signature)[:4].hex() + encode(list(types), list(args)).hex()


@pytest.mark.parametrize(
    ("data", "decision", "name", "expected"),
    [
        (
            _revert("NotQueued(uint256,uint64)", 7001, 3, types=("uint256", "uint64")),
            D.DONE,
            "NotQueued",
            True,
        ),
        (
            _revert(
                "NotQueueHead(uint256,uint64,bytes32)", 7001, 3, OTHER, types=("uint256", "uint64", "bytes32")
            ),
            D.WAIT,
            "NotQueueHead",
            True,
        ),
        (_revert("RateLimited(address,uint8,uint256,uint256)"), D.WAIT, "RateLimited", True),
        (_revert("ChallengeWindowOpen(uint256,uint64,uint64)"), D.WAIT, "ChallengeWindowOpen", True),
        (_revert("RouteIsCursed(uint256)"), D.WAIT, "RouteIsCursed", True),
        (_revert("EnforcedPause()"), D.WAIT, "EnforcedPause", True),
        # the issuer suspended the asset: queued until the suspension is lifted, then released
        (_revert("AssetSuspended()"), D.WAIT, "AssetSuspended", True),
        # anything else waits too (never given up), but is not one the endpoint gives a release
        (_revert("Panic(uint256)"), D.WAIT, "revert data", False),
        (None, D.WAIT, "revert data None", False),
        ("0x", D.WAIT, "revert data", False),
    ],
)
def test_every_revert_of_a_release_is_a_wait_or_done_never_an_alarm(
    data: object, decision: ReleaseDecision, name: str, expected: bool
) -> None:
    r = classify_release_revert(data)
    assert (r.decision, r.expected) == (decision, expected)
    assert r.name.startswith(name)


def test_the_turns_of_a_release_rotate_by_nonce_and_each_nonce_has_one_first() -> None:
    for n in (1, 4, 7):
        for nonce in range(1, 20):
            ranks = sorted(release_rank(m, n, nonce) for m in range(1, n + 1))
            assert ranks == list(range(n))  # one relayer per rank: one sends first
    assert [release_rank(1, 4, k) for k in (1, 2, 3, 4)] == [0, 3, 2, 1]


def test_the_release_calldata_is_what_web3_encodes() -> None:
    t = Transfer(
        ChainId(7001),
        ChainId(7002),
        Nonce(9),
        Web3.to_checksum_address("0x" + "11" * 20),
        Web3.to_checksum_address("0x" + "12" * 20),
        Web3.to_checksum_address("0x" + "22" * 20),
        Web3.to_checksum_address("0x" + "33" * 20),
        10**21,
    )
    endpoint = Web3().eth.contract(address=Web3.to_checksum_address("0x" + "44" * 20), abi=ENDPOINT_ABI)
    expected = endpoint.functions.releaseQueued(t.as_abi_tuple())._encode_transaction_data()
    assert "0x" + release_data(t).hex() == expected


# ---- decoding the destination's TransferHeld / TransferQueued ------------------------------------

ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def client() -> ChainClient:
    cfg = ChainConfig("e", ChainId(7002), "http://127.0.0.1:1", ENDPOINT, 0, 0, 1.0, 100)
    return ChainClient(cfg, AsyncWeb3())


def entry(topics: list[bytes], data: bytes) -> dict[str, object]:
    return {
        "address": ENDPOINT,
        "topics": topics,
        "data": data,
        "blockNumber": 5,
        "blockHash": b"\x01" * 32,
        "transactionHash": b"\x02" * 32,
        "logIndex": 0,
        "transactionIndex": 0,
        "removed": False,
    }


def held(nonce: int = 4, amount: int = 500, after: int = 1100, src: int = 7001) -> dict[str, object]:
    data = encode(["uint64", "bytes32", "uint256", "uint64"], [nonce, LEAF, amount, after])
    return entry([bytes.fromhex(TRANSFER_HELD_TOPIC[2:]), src.to_bytes(32, "big")], data)


def queued(nonce: int = 4, amount: int = 500, src: int = 7001) -> dict[str, object]:
    topics = [bytes.fromhex(TRANSFER_QUEUED_TOPIC[2:]), src.to_bytes(32, "big"), nonce.to_bytes(32, "big")]
    return entry(topics, encode(["bytes32", "uint256"], [LEAF, amount]))


def test_held_and_queued_logs_become_waits_toward_this_chain() -> None:
    h = client().decode_outcome(held())
    assert isinstance(h, ObservedWait)
    assert (h.route.src, h.route.dst, h.nonce, h.reason, h.leaf, h.amount, h.release_after) == (
        7001,
        7002,
        4,
        WaitReason.HELD,
        LEAF,
        500,
        1100,
    )
    q = client().decode_outcome(queued())
    assert isinstance(q, ObservedWait)
    assert (q.nonce, q.reason, q.amount, q.release_after) == (4, WaitReason.QUEUED, 500, 0)
    failed = entry(
        [bytes.fromhex(TRANSFER_FAILED_TOPIC[2:]), (7001).to_bytes(32, "big"), (4).to_bytes(32, "big")],
        (6).to_bytes(32, "big"),
    )
    f = client().decode_outcome(failed)
    assert isinstance(f, ObservedFailure)
    assert f.reason == 6  # Vetoed


@pytest.mark.parametrize(
    "bad",
    [
        held(nonce=0),
        held(amount=0),
        queued(nonce=0),
        {**held(), "data": b"\x00" * 96},  # too short
        {**queued(), "topics": held()["topics"]},  # the queued data under the held topic
        {**held(), "data": encode(["uint256", "bytes32", "uint256", "uint64"], [2**64, LEAF, 5, 1])},
    ],
)
def test_a_malformed_held_or_queued_log_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(MalformedEvent):
        client().decode_outcome(bad)


# ---- the states -------------------------------------------------------------------------------

S = TransferState


@pytest.mark.parametrize(
    ("current", "proposed", "allowed"),
    [
        (S.SUBMITTED, S.HELD, True),  # the TransferHeld seen before the batch's receipt
        (S.EXECUTED, S.HELD, True),
        (S.EXECUTED, S.QUEUED, True),
        (S.HELD, S.QUEUED, True),  # released from its hold into its token's queue
        (S.HELD, S.RELEASED, True),
        (S.QUEUED, S.RELEASED, True),
        (S.HELD, S.FAILED, True),  # vetoed
        (S.QUEUED, S.FAILED, True),  # failed at its release
        (S.HELD, S.EXECUTED, False),  # the batch's execution learnt after its TransferHeld
        (S.RELEASED, S.HELD, False),
        (S.RELEASED, S.QUEUED, False),
        (S.QUEUED, S.HELD, False),
        (S.FAILED, S.RELEASED, False),
        (S.REFUNDED, S.HELD, False),
    ],
)
def test_held_queued_and_released_move_forward_only(current: S, proposed: S, allowed: bool) -> None:
    assert may(current, proposed) is allowed


def test_any_arrival_order_of_a_release_ends_released_and_of_a_veto_refunded() -> None:
    for facts, end in (
        ([S.EXECUTED, S.HELD, S.QUEUED, S.RELEASED], S.RELEASED),
        ([S.EXECUTED, S.HELD, S.FAILED, S.REFUNDED], S.REFUNDED),
    ):
        for order in itertools.permutations(facts):
            state = S.SUBMITTED
            for fact in order:
                if may(state, fact):
                    state = fact
            assert state == end, order
    assert TRANSFER_ORDER.index(S.EXECUTED) < TRANSFER_ORDER.index(S.HELD) < TRANSFER_ORDER.index(S.FAILED)


# ---- what operators see ------------------------------------------------------------------------


def test_transfers_list_shows_until_when_a_held_transfer_waits() -> None:
    from relayer.adapters.store.releases import wait_detail
    from relayer.cli import _state_cell
    from relayer.core.types import Route

    w = ObservedWait(
        Route(ChainId(7001), ChainId(7002)), 4, WaitReason.HELD, LEAF, 500, 1796300000, 5, "0xb", "0xt", 0
    )
    detail = wait_detail(w)
    assert "held for its challenge window until 2026-12-03T12:13:20Z (heldUntil 1796300000)" in detail
    assert _state_cell({"state": "held", "detail": detail}) == "held until 2026-12-03T12:13:20Z"
    q = dataclasses.replace(w, reason=WaitReason.QUEUED, release_after=0)
    assert "queued by the destination's inbound rate limit" in wait_detail(q)
    assert _state_cell({"state": "queued", "detail": wait_detail(q)}) == "queued"
    assert _state_cell({"state": "executed", "detail": "(heldUntil 5)"}) == "executed"
