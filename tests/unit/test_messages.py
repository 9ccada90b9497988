"""MQTT payloads are parsed strictly: anything malformed is rejected with a reason."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace

import pytest

from relayer.core.items import ActionKind
from relayer.core.messages import (
    MAX_BROKERS,
    MAX_HEARTBEAT_BYTES,
    MAX_PAUSED_ROUTES,
    MAX_PAYLOAD_BYTES,
    ActionPartialMessage,
    BadMessage,
    HeartbeatMessage,
    PartialMessage,
    ProposalMessage,
    heartbeat_topic,
    partial_topic,
    topic_root,
)
from relayer.core.types import BatchId, ChainId, Nonce, Route

NET = "testnet"


def sample() -> PartialMessage:
    return PartialMessage(
        member=2,
        batch=BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(1), Nonce(4)),
        key_epoch=1,
        root=b"\x01" * 32,
        message=b"\x02" * 32,
        partial=b"\x03" * 48,
    )


def test_a_partial_round_trips_through_its_payload() -> None:
    msg = sample()
    assert PartialMessage.parse(partial_topic(NET, 2), msg.to_payload(), NET) == msg


def mutate(**changes: object) -> bytes:
    data = json.loads(sample().to_payload())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("topic_member", "payload", "reason"),
    [
        (2, b"not json", "not JSON"),
        (2, b"[1, 2]", "not a JSON object"),
        (2, b"\xff\xfe", "not JSON"),
        (2, b"x" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
        (3, sample().to_payload(), "member 2 in payload, 3 in topic"),
        (2, mutate(v=2), "unsupported version"),
        (2, mutate(partial="0x" + "03" * 47), "partial: expected 48 bytes"),
        (2, mutate(partial="0xzz"), "partial: not hex"),
        (2, mutate(root=None), "root: expected 0x-prefixed hex"),
        (2, mutate(first=5, last=4), "first <= last"),
        (2, mutate(first=0), "first: expected an integer"),
        (2, mutate(member=True), "member: expected an integer"),
        (2, mutate(extra=1), "unknown fields"),
        (2, mutate(src=7002), "source and destination are the same"),
        (2, mutate(first=10**600), "first: expected an integer"),
        (2, mutate(epoch=2**64), "epoch: expected an integer"),
        (2, mutate(member="2"), "member: expected an integer"),
        (2, mutate(first=1.0), "first: expected an integer"),
        (2, mutate(partial=["0x" + "03" * 48]), "partial: expected 0x-prefixed hex"),
        (2, b'{"v": 1, "type": "partial", "member": NaN}', "member: expected an integer"),
        (2, b"\xc3\x28" + sample().to_payload(), "not JSON"),
        (2, mutate(type="heartbeat"), "unsupported version/type"),
    ],
)
def test_malformed_partials_are_rejected_with_a_reason(
    topic_member: int, payload: bytes, reason: str
) -> None:
    with pytest.raises(BadMessage, match=reason):
        PartialMessage.parse(partial_topic(NET, topic_member), payload, NET)


def test_a_partial_on_another_network_is_rejected() -> None:
    with pytest.raises(BadMessage, match="not under"):
        PartialMessage.parse(partial_topic("other", 2), sample().to_payload(), NET)


def test_a_partial_topic_must_end_in_an_ascii_member_index() -> None:
    for tail in ("\u00b2", "\u0663", "-1", "", "1/2", "99999"):
        with pytest.raises(BadMessage, match="does not end in a member index"):
            PartialMessage.parse(f"{topic_root(NET)}/partial/{tail}", sample().to_payload(), NET)


SIG = b"\x07" * 48  # parsing checks the shape; the signature is checked by relayer.core.heartbeats


def test_a_heartbeat_round_trips_through_its_payload() -> None:
    beat = HeartbeatMessage(3, "online", 1_700_000_000, 1_700_000_000_123, sig=SIG)
    assert HeartbeatMessage.parse(heartbeat_topic(NET, 3), beat.to_payload(), NET) == beat


def test_a_paused_members_heartbeat_carries_its_paused_routes() -> None:
    routes = (Route(ChainId(7001), ChainId(7002)), Route(ChainId(7002), ChainId(7001)))
    beat = HeartbeatMessage(3, "online", 1_700_000_000, 5, routes, sig=SIG)
    assert json.loads(beat.to_payload())["paused"] == [[7001, 7002], [7002, 7001]]
    assert HeartbeatMessage.parse(heartbeat_topic(NET, 3), beat.to_payload(), NET) == beat
    assert "paused" not in json.loads(HeartbeatMessage(3, "online", 1).to_payload())


def test_a_heartbeat_names_the_brokers_its_member_reaches_and_omits_none() -> None:
    hb = HeartbeatMessage(3, "online", 1_700_000_000, 5, (), ("bank-a", "10.0.0.7:1883"), SIG)
    assert json.loads(hb.to_payload())["brokers"] == ["bank-a", "10.0.0.7:1883"]
    assert HeartbeatMessage.parse(heartbeat_topic(NET, 3), hb.to_payload(), NET) == hb
    assert "brokers" not in json.loads(HeartbeatMessage(3, "online", 1).to_payload())


def test_the_heartbeat_digest_covers_every_field_and_the_network() -> None:
    hb = HeartbeatMessage(3, "online", 1_700_000_000, 5, (Route(ChainId(7001), ChainId(7002)),), ("a",))
    others = [
        replace(hb, member=4),
        replace(hb, status="offline"),
        replace(hb, ts=hb.ts + 1),
        replace(hb, seq=6),
        replace(hb, run=2),
        replace(hb, paused=()),
        replace(hb, brokers=("b",)),
    ]
    digests = {hb.digest(NET), hb.digest("other"), *(o.digest(NET) for o in others)}
    assert len(digests) == 2 + len(others)
    assert replace(hb, sig=SIG).digest(NET) == hb.digest(NET)  # the signature is not signed


@pytest.mark.parametrize("brokers", [("bad name",), ("",), tuple(f"b{i}" for i in range(MAX_BROKERS + 1))])
def test_a_heartbeat_with_bad_broker_names_cannot_be_made(brokers: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="brokers"):
        HeartbeatMessage(3, "online", 1, 1, (), brokers)


def beat(drop: tuple[str, ...] = (), **fields: object) -> bytes:
    data: dict[str, object] = {
        "member": 3,
        "status": "online",
        "ts": 1,
        "run": 1,
        "seq": 1,
        "sig": "0x" + SIG.hex(),
    }
    data.update(fields)
    for key in drop:
        del data[key]
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (heartbeat_topic(NET, 4), beat(), "member 3 in payload, 4 in topic"),
        (heartbeat_topic(NET, 3), beat(status="awake"), "status: expected one of"),
        (heartbeat_topic(NET, 3), beat(status=["online"]), "status: expected one of"),
        (heartbeat_topic(NET, 3), beat(ts="now"), "ts: expected an integer"),
        (heartbeat_topic(NET, 3), beat(member=True), "member: expected an integer"),
        (heartbeat_topic(NET, 3), beat(extra=1), "unknown fields"),
        (heartbeat_topic(NET, 3), beat(drop=("sig",)), "unsigned heartbeat"),
        (heartbeat_topic(NET, 3), beat(drop=("run", "seq", "sig")), "unsigned heartbeat"),  # a build before
        (heartbeat_topic(NET, 3), beat(drop=("run",)), "unsigned heartbeat"),
        (heartbeat_topic(NET, 3), beat(run="2"), "run: expected an integer"),
        (heartbeat_topic(NET, 3), beat(sig="0x00"), "sig: expected 48 bytes"),
        (heartbeat_topic(NET, 3), beat(seq=-1), "seq: expected an integer"),
        (heartbeat_topic(NET, 3), beat(paused="all"), "paused: expected a list"),
        (heartbeat_topic(NET, 3), beat(paused=[[1, 2]] * (MAX_PAUSED_ROUTES + 1)), "paused: expected a list"),
        (heartbeat_topic(NET, 3), beat(paused=[[7001]]), "paused: expected .src, dst."),
        (heartbeat_topic(NET, 3), beat(paused=[[7001, "x"]]), "paused: expected an integer"),
        (heartbeat_topic(NET, 3), beat(paused=[[7001, 7001]]), "paused: route 7001->7001"),
        (heartbeat_topic(NET, 3), beat(paused=[[0, 7001]]), "paused: expected an integer"),
        (heartbeat_topic(NET, 3), beat(brokers="a"), "brokers: expected a list"),
        (heartbeat_topic(NET, 3), beat(brokers=[1]), "brokers: expected a list"),
        (heartbeat_topic(NET, 3), beat(brokers=["a b"]), "brokers: expected a list"),
        (heartbeat_topic(NET, 3), beat(brokers=["a"] * (MAX_BROKERS + 1)), "brokers: expected a list"),
        (heartbeat_topic(NET, 3), b" " * (MAX_HEARTBEAT_BYTES + 1), "exceeds"),
        (heartbeat_topic(NET, 3), b"\xff", "not JSON"),
        (heartbeat_topic(NET, 3), b'"online"', "not a JSON object"),
        (f"{topic_root(NET)}/heartbeat/x", beat(), "does not end in a member index"),
        (heartbeat_topic("other", 3), beat(), "not under"),
    ],
)
def test_malformed_heartbeats_are_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        HeartbeatMessage.parse(topic, payload, NET)


@pytest.mark.parametrize("payload", [b"[" * 2000, b"[" * 1020 + b"]" * 1020])
def test_a_payload_nested_past_the_parsers_depth_is_rejected(payload: bytes) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # the interpreter's default (py_ecc raises it when imported)
    try:
        with pytest.raises(BadMessage, match="nested too deeply"):
            PartialMessage.parse(partial_topic(NET, 2), payload, NET)
    finally:
        sys.setrecursionlimit(limit)


# ---- committee actions: partials and proposals ------------------------------------------


def _action_partial(**kw: object) -> ActionPartialMessage:
    base: dict[str, object] = {
        "member": 2,
        "action_id": "r7002-10-1",
        "kind": ActionKind.FREEZE,
        "chain_id": 7002,
        "key_epoch": 1,
        "nonce": 0,
        "params": b"\x00" * 63 + b"\x01",
        "message": b"\x11" * 32,
        "partial": b"\x22" * 48,
    }
    base.update(kw)
    return ActionPartialMessage(**base)  # type: ignore[arg-type]


def test_action_partial_round_trip() -> None:
    msg = _action_partial()
    assert ActionPartialMessage.parse("qiao/v1/devnet/action/2", msg.to_payload(), "devnet") == msg


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"member": 3}, "member 3 in payload, 2 in topic"),
        ({"kind": "mint"}, "kind: expected one of"),
        ({"id": "../../etc"}, "not an action id"),
        ({"params": "0x" + "00" * 257}, "params: expected"),
        ({"partial": "0x" + "22" * 47}, "partial: expected 48 bytes"),
        ({"nonce": -1}, "nonce: expected an integer"),
        ({"type": "partial"}, "unsupported version/type"),
        ({"extra": 1}, "unknown fields"),
    ],
)
def test_a_bad_action_partial_is_refused_with_the_reason(change: dict[str, object], why: str) -> None:
    data = json.loads(_action_partial().to_payload())
    data.update(change)
    with pytest.raises(BadMessage, match=re.escape(why)):
        ActionPartialMessage.parse("qiao/v1/devnet/action/2", json.dumps(data).encode(), "devnet")


def _proposal(**kw: object) -> ProposalMessage:
    base: dict[str, object] = {
        "member": 1,
        "action_id": "p1-0123abcd",
        "kind": ActionKind.RESUME,
        "chain_id": 7002,
        "created_at": 1000.0,
        "expires_at": 4600.0,
        "params": b"",
        "sig": b"\x33" * 48,
    }
    base.update(kw)
    return ProposalMessage(**base)  # type: ignore[arg-type]


def test_proposal_round_trip() -> None:
    msg = _proposal()
    assert ProposalMessage.parse("qiao/v1/devnet/proposal/1", msg.to_payload(), "devnet") == msg


def test_a_proposals_digest_covers_every_field_but_its_signature() -> None:
    msg = _proposal()
    assert _proposal(sig=b"\x44" * 48).digest() == msg.digest()
    for change in (
        {"expires_at": 4601.0},
        {"kind": ActionKind.PAUSE},
        {"chain_id": 7001},
        {"params": b"\x01"},
    ):
        assert _proposal(**change).digest() != msg.digest(), change


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"id": "p2-0123abcd"}, "is not a proposal of member 1"),
        ({"kind": "freeze"}, "only ['pause', 'resume', 'rotate', 'uncurse'] are proposed"),
        ({"expires": 999}, "expires: must be after created"),
        ({"created": True}, "created: expected a unix time"),
        ({"chain": 0}, "chain: expected an integer"),
        ({"sig": "0x" + "33" * 47}, "sig: expected 48 bytes"),
    ],
)
def test_a_bad_proposal_is_refused_with_the_reason(change: dict[str, object], why: str) -> None:
    data = json.loads(_proposal().to_payload())
    data.update(change)
    with pytest.raises(BadMessage, match=re.escape(why)):
        ProposalMessage.parse("qiao/v1/devnet/proposal/1", json.dumps(data).encode(), "devnet")
