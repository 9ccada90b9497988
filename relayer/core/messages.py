"""MQTT topics and payloads, parsed strictly: a bad message is rejected with a reason, never half-used.

Topics live under `qiao/v1/<network>/`:
  partial/<member>    one member's partial signature over one batch (QoS 1)
  refund/<member>     one member's partial signature over the REFUND message of one failed transfer
  heartbeat/<member>  retained liveness, replaced by the broker's last-will on disconnect
  action/<member>     one member's partial signature over one committee action for one action nonce
  proposal/<member>   an action an operator of this member proposed (relayer.core.items)
  sent/<member>       a notice: this member's relayer sent batch X in transaction H (a hint only,
                      unauthenticated: relayer.core.notices says how far a receiver trusts it)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from relayer.core.items import PROPOSABLE, ActionKind, check_action_id
from relayer.core.types import BROKER_NAME, MAX_BROKERS, BatchId, ChainId, Nonce, Route

MAX_PAYLOAD_BYTES = 2048
MAX_HEARTBEAT_BYTES = 2048
MAX_PAUSED_ROUTES = 64  # routes a heartbeat may name paused
PROTOCOL_VERSION = 1


class BadMessage(ValueError):
    """A message that is not a valid Qiao message; the text says what was wrong."""


def topic_root(network: str) -> str:
    return f"qiao/v1/{network}"


def partial_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/partial/{member}"


def refund_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/refund/{member}"


def action_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/action/{member}"


def proposal_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/proposal/{member}"


def sent_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/sent/{member}"


def heartbeat_topic(network: str, member: int) -> str:
    return f"{topic_root(network)}/heartbeat/{member}"


def _load_object(payload: bytes, limit: int) -> dict[str, Any]:
    """The payload as a JSON object; anything else (too big, not UTF-8, not JSON, nested past the
    parser's depth, an integer too long to convert) is a `BadMessage`, never another exception."""
    if len(payload) > limit:
        raise BadMessage(f"payload of {len(payload)} bytes exceeds {limit}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessage(f"payload is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadMessage("payload is not JSON: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise BadMessage(f"payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadMessage("payload is not a JSON object")
    return data


def _topic_member(topic: str, prefix: str) -> int:
    if not topic.startswith(prefix):
        raise BadMessage(f"topic {topic!r} is not under {prefix}")
    tail = topic[len(prefix) :]
    if not (tail.isascii() and tail.isdigit()) or len(tail) > 4:
        raise BadMessage(f"topic {topic!r} does not end in a member index")
    return int(tail)


def _hex_field(data: dict[str, Any], key: str, length: int) -> bytes:
    value = data.get(key)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BadMessage(f"{key}: expected 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise BadMessage(f"{key}: not hex") from exc
    if len(raw) != length:
        raise BadMessage(f"{key}: expected {length} bytes, got {len(raw)}")
    return raw


def _int_field(data: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise BadMessage(f"{key}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PartialMessage:
    member: int
    batch: BatchId
    key_epoch: int
    root: bytes
    message: bytes
    partial: bytes

    def to_payload(self) -> bytes:
        route, first, last = self.batch.route, self.batch.first_nonce, self.batch.last_nonce
        return _payload(
            "partial",
            self.member,
            src=route.src,
            dst=route.dst,
            first=first,
            last=last,
            epoch=self.key_epoch,
            root=_hex(self.root),
            message=_hex(self.message),
            partial=_hex(self.partial),
        )

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> PartialMessage:
        allowed = {"src", "dst", "first", "last", "epoch", "root", "message", "partial"}
        member, data = _envelope(topic, payload, "partial", allowed, f"{topic_root(network)}/partial/")
        batch = _batch_field(data)
        return cls(
            member=member,
            batch=batch,
            key_epoch=_int_field(data, "epoch", 1, 2**64 - 1),
            root=_hex_field(data, "root", 32),
            message=_hex_field(data, "message", 32),
            partial=_hex_field(data, "partial", 48),
        )


@dataclass(frozen=True, slots=True)
class RefundPartialMessage:
    """One member's partial signature on the REFUND message of transfer (src, dst, nonce).

    The receiver never takes the message's word for the transfer: it computes the REFUND message
    from the transfer its own source watcher stored and keeps the partial only if it matches."""

    member: int
    route: Route
    nonce: int
    key_epoch: int
    message: bytes
    partial: bytes

    def to_payload(self) -> bytes:
        return _payload(
            "refund",
            self.member,
            src=self.route.src,
            dst=self.route.dst,
            nonce=self.nonce,
            epoch=self.key_epoch,
            message=_hex(self.message),
            partial=_hex(self.partial),
        )

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> RefundPartialMessage:
        allowed = {"src", "dst", "nonce", "epoch", "message", "partial"}
        member, data = _envelope(topic, payload, "refund", allowed, f"{topic_root(network)}/refund/")
        try:
            route = Route(
                ChainId(_int_field(data, "src", 1, 2**64)), ChainId(_int_field(data, "dst", 1, 2**64))
            )
        except ValueError as exc:
            raise BadMessage(str(exc)) from exc
        return cls(
            member=member,
            route=route,
            nonce=_int_field(data, "nonce", 1, 2**64 - 1),
            key_epoch=_int_field(data, "epoch", 1, 2**64 - 1),
            message=_hex_field(data, "message", 32),
            partial=_hex_field(data, "partial", 48),
        )


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A relayer's notice: "I sent batch `batch` in transaction `tx_hash`", so the next relayer in
    turn waits for that transaction instead of racing it. Nothing signs it: a receiver treats it
    as a hint it checks against its node and bounds in time (relayer.core.notices)."""

    member: int
    batch: BatchId
    tx_hash: bytes  # 32 bytes; all zero: a claim, sent before the estimate (no transaction yet)

    def to_payload(self) -> bytes:
        route = self.batch.route
        return _payload(
            "sent",
            self.member,
            src=route.src,
            dst=route.dst,
            first=self.batch.first_nonce,
            last=self.batch.last_nonce,
            tx=_hex(self.tx_hash),
        )

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> SentMessage:
        allowed = {"src", "dst", "first", "last", "tx"}
        member, data = _envelope(topic, payload, "sent", allowed, f"{topic_root(network)}/sent/")
        batch = _batch_field(data)
        return cls(member=member, batch=batch, tx_hash=_hex_field(data, "tx", 32))


def _batch_field(data: dict[str, Any]) -> BatchId:
    """The batch a message names by its `src`, `dst`, `first` and `last` fields."""
    try:
        return BatchId(
            Route(ChainId(_int_field(data, "src", 1, 2**64)), ChainId(_int_field(data, "dst", 1, 2**64))),
            Nonce(_int_field(data, "first", 1, 2**64 - 1)),
            Nonce(_int_field(data, "last", 1, 2**64 - 1)),
        )
    except ValueError as exc:
        raise BadMessage(str(exc)) from exc


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _payload(message_type: str, member: int, /, **fields: object) -> bytes:
    """A signed item's partial as JSON: version, type and member first, then its fields in order."""
    head = {"v": PROTOCOL_VERSION, "type": message_type, "member": member}
    return json.dumps(head | fields, separators=(",", ":")).encode()


def _envelope(
    topic: str, payload: bytes, kind: str, fields: set[str], prefix: str
) -> tuple[int, dict[str, Any]]:
    """(member, fields) of a message of `kind` on `topic` (checked first) whose own fields are `fields`."""
    _topic_member(topic, prefix)
    data = _load_object(payload, MAX_PAYLOAD_BYTES)
    return _checked(data, kind, fields | {"v", "type", "member"}, topic, prefix), data


def _checked(data: dict[str, Any], kind: str, allowed: set[str], topic: str, prefix: str) -> int:
    """The member of a message of `kind` whose fields are `allowed`: its version, type and the
    member in its payload and topic checked."""
    topic_member = _topic_member(topic, prefix)
    extra = set(data) - allowed
    if extra:
        raise BadMessage(f"unknown fields {sorted(extra)}")
    if data.get("v") != PROTOCOL_VERSION or data.get("type") != kind:
        raise BadMessage(f"unsupported version/type {data.get('v')!r}/{data.get('type')!r}")
    member = _int_field(data, "member", 1, 1024)
    if member != topic_member:
        raise BadMessage(f"member {member} in payload, {topic_member} in topic")
    return member


def _action_id_field(data: dict[str, Any]) -> str:
    try:
        return check_action_id(data.get("id"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise BadMessage(f"id: {exc}") from exc


def _kind_field(data: dict[str, Any]) -> ActionKind:
    try:
        return ActionKind(str(data.get("kind")))
    except ValueError as exc:
        raise BadMessage(f"kind: expected one of {[k.value for k in ActionKind]}") from exc


def _params_field(data: dict[str, Any]) -> bytes:
    value = data.get("params")
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 2 + 2 * 256:
        raise BadMessage("params: expected 0x-prefixed hex of at most 256 bytes")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise BadMessage("params: not hex") from exc


def _time_field(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 2**40:
        raise BadMessage(f"{key}: expected a unix time in seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ActionPartialMessage:
    """One member's partial signature on committee action `action_id` for action nonce `nonce` of
    the endpoint on `chain_id` under `key_epoch`. The receiver recomputes the message from these
    fields and its own configuration (the endpoint's address) and keeps the partial only if both
    agree and it verifies against the member's public share."""

    member: int
    action_id: str
    kind: ActionKind
    chain_id: int
    key_epoch: int
    nonce: int
    params: bytes
    message: bytes
    partial: bytes

    def to_payload(self) -> bytes:
        return _payload(
            "action",
            self.member,
            id=self.action_id,
            kind=self.kind.value,
            chain=self.chain_id,
            epoch=self.key_epoch,
            nonce=self.nonce,
            params=_hex(self.params),
            message=_hex(self.message),
            partial=_hex(self.partial),
        )

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> ActionPartialMessage:
        data = _load_object(payload, MAX_PAYLOAD_BYTES)
        allowed = {
            "v",
            "type",
            "member",
            "id",
            "kind",
            "chain",
            "epoch",
            "nonce",
            "params",
            "message",
            "partial",
        }
        member = _checked(data, "action", allowed, topic, f"{topic_root(network)}/action/")
        return cls(
            member=member,
            action_id=_action_id_field(data),
            kind=_kind_field(data),
            chain_id=_int_field(data, "chain", 1, 2**64),
            key_epoch=_int_field(data, "epoch", 1, 2**64 - 1),
            nonce=_int_field(data, "nonce", 0, 2**64 - 1),
            params=_params_field(data),
            message=_hex_field(data, "message", 32),
            partial=_hex_field(data, "partial", 48),
        )


PROPOSAL_DOMAIN = b"QIAO-V1-PROPOSAL\x00"


@dataclass(frozen=True, slots=True)
class ProposalMessage:
    """An action proposed by the operator of `member`: the others keep it as `proposed` until
    their own operator approves it. Only a pause or a resume is proposed this way. `params` are
    the action's signed fields (relayer.core.encoding.action_params); `sig` is the member's BLS
    signature with its key share on `digest()` (its partial on a message no contract accepts:
    the domain tag keeps it apart from every on-chain message), so a proposal cannot be forged
    in another member's name even through a misconfigured broker."""

    member: int
    action_id: str
    kind: ActionKind
    chain_id: int
    created_at: float
    expires_at: float
    params: bytes = b""
    sig: bytes = b""

    def _fields(self) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "type": "proposal",
            "member": self.member,
            "id": self.action_id,
            "kind": self.kind.value,
            "chain": self.chain_id,
            "created": round(self.created_at, 3),
            "expires": round(self.expires_at, 3),
            "params": "0x" + self.params.hex(),
        }

    def digest(self) -> bytes:
        """What `sig` signs: keccak256(domain tag || the canonical JSON of every other field)."""
        body = json.dumps(self._fields(), separators=(",", ":"), sort_keys=True).encode()
        return keccak(PROPOSAL_DOMAIN + body)

    def to_payload(self) -> bytes:
        return json.dumps({**self._fields(), "sig": "0x" + self.sig.hex()}, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> ProposalMessage:
        data = _load_object(payload, MAX_PAYLOAD_BYTES)
        allowed = {"v", "type", "member", "id", "kind", "chain", "created", "expires", "params", "sig"}
        member = _checked(data, "proposal", allowed, topic, f"{topic_root(network)}/proposal/")
        action_id = _action_id_field(data)
        if not action_id.startswith(f"p{member}-"):
            raise BadMessage(f"id {action_id!r} is not a proposal of member {member} (p{member}-...)")
        kind = _kind_field(data)
        if kind not in PROPOSABLE:
            raise BadMessage(f"kind: only {[k.value for k in PROPOSABLE]} are proposed, not {kind.value}")
        created, expires = _time_field(data, "created"), _time_field(data, "expires")
        if expires <= created:
            raise BadMessage("expires: must be after created")
        return cls(
            member,
            action_id,
            kind,
            _int_field(data, "chain", 1, 2**64),
            created,
            expires,
            _params_field(data),
            _hex_field(data, "sig", 48),
        )


HEARTBEAT_STATUSES = ("online", "offline")
HEARTBEAT_DOMAIN = b"QIAO-V1-HEARTBEAT\x00"


@dataclass(frozen=True, slots=True)
class HeartbeatMessage:
    """A member's retained liveness message (its last-will says "offline").

    `paused` lists the routes the member paused locally (`relayer pause`): it signs nothing on
    them, so the others do not count it in their signing margin. Left out when nothing is paused.

    `brokers` names the brokers the member reaches, when it is configured with several
    (`[[mqtt.brokers]]`); left out with one broker.

    Signed (security review F6): `sig` is the member's BLS signature with its key share on
    `digest(network)`, a domain-separated digest of every other field and the network (its
    partial on a message no contract accepts), verified by the receiver against the member's
    public share (relayer.core.heartbeats). `run` counts the member's starts (kept in its data
    directory) and `seq` rises with every heartbeat within a run (its clock in milliseconds): a
    receiver refuses a heartbeat of an earlier run, or whose `seq` is below the last it accepted
    from that member through that broker (a replay), or that arrives much later than the member's
    heartbeats usually do (held back or recorded: relayer.core.heartbeats). The
    last-will ("offline") is made and signed when the member connects, so it is old when it is
    delivered: an offline heartbeat is taken as advisory, never checked for age or order, and can
    only make the member look offline through that broker (what a broker can do anyway by
    withholding its heartbeats). Builds before the signature refuse these heartbeats (unknown
    fields `run`, `seq`, `sig`) and are refused by them (docs/OPERATIONS.md, "Upgrading to signed
    heartbeats"). Heartbeats feed only the operators' view of who is online (status, readiness,
    the margin gauge), never what is signed or submitted (docs/PROTOCOL.md, "Brokers").
    """

    member: int
    status: str
    ts: int
    seq: int = 0
    paused: tuple[Route, ...] = ()
    brokers: tuple[str, ...] = ()
    sig: bytes = b""
    run: int = 0

    def __post_init__(self) -> None:
        if self.status not in HEARTBEAT_STATUSES:
            raise ValueError(f"heartbeat status {self.status!r} is not one of {HEARTBEAT_STATUSES}")
        if len(self.paused) > MAX_PAUSED_ROUTES:
            raise ValueError(f"{len(self.paused)} paused routes; at most {MAX_PAUSED_ROUTES}")
        if len(self.brokers) > MAX_BROKERS or not all(BROKER_NAME.fullmatch(b) for b in self.brokers):
            raise ValueError(f"brokers {self.brokers!r}: at most {MAX_BROKERS} names like 'broker-a'")

    def _fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "member": self.member,
            "status": self.status,
            "ts": self.ts,
            "run": self.run,
            "seq": self.seq,
        }
        if self.paused:
            data["paused"] = [[r.src, r.dst] for r in self.paused]
        if self.brokers:
            data["brokers"] = list(self.brokers)
        return data

    def digest(self, network: str) -> bytes:
        """What `sig` signs: keccak256(domain tag || network || 0x00 || the canonical JSON of
        every other field). The network keeps a heartbeat of one network out of another."""
        body = json.dumps(self._fields(), separators=(",", ":"), sort_keys=True).encode()
        return keccak(HEARTBEAT_DOMAIN + network.encode() + b"\x00" + body)

    def to_payload(self) -> bytes:
        return json.dumps({**self._fields(), "sig": _hex(self.sig)}).encode()

    @classmethod
    def parse(cls, topic: str, payload: bytes, network: str) -> HeartbeatMessage:
        member = _topic_member(topic, f"{topic_root(network)}/heartbeat/")
        data = _load_object(payload, MAX_HEARTBEAT_BYTES)
        extra = set(data) - {"member", "status", "ts", "run", "seq", "paused", "brokers", "sig"}
        if extra:
            raise BadMessage(f"unknown fields {sorted(extra)}")
        if _int_field(data, "member", 1, 1024) != member:
            raise BadMessage(f"member {data['member']} in payload, {member} in topic")
        status = data.get("status")
        if status not in HEARTBEAT_STATUSES:
            raise BadMessage(f"status: expected one of {HEARTBEAT_STATUSES}, got {status!r}")
        if not {"sig", "seq", "run"} <= set(data):
            raise BadMessage(
                "unsigned heartbeat (no run/seq/sig): a build before signed heartbeats, or forged"
            )
        return cls(
            member=member,
            status=str(status),
            ts=_int_field(data, "ts", 0, 2**63 - 1),
            seq=_int_field(data, "seq", 0, 2**63 - 1),
            paused=_paused_field(data),
            brokers=_brokers_field(data),
            sig=_hex_field(data, "sig", 48),
            run=_int_field(data, "run", 0, 2**63 - 1),
        )


def _brokers_field(data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("brokers", [])
    if (
        not isinstance(raw, list)
        or len(raw) > MAX_BROKERS
        or not all(isinstance(b, str) and BROKER_NAME.fullmatch(b) for b in raw)
    ):
        raise BadMessage(f"brokers: expected a list of at most {MAX_BROKERS} broker names")
    return tuple(raw)


def _paused_field(data: dict[str, Any]) -> tuple[Route, ...]:
    raw = data.get("paused", [])
    if not isinstance(raw, list) or len(raw) > MAX_PAUSED_ROUTES:
        raise BadMessage(f"paused: expected a list of at most {MAX_PAUSED_ROUTES} [src, dst] pairs")
    routes = []
    for pair in raw:
        if not isinstance(pair, list) or len(pair) != 2:
            raise BadMessage(f"paused: expected [src, dst] chain ids, got {pair!r}")
        src, dst = (_int_field({"paused": v}, "paused", 1, 2**64) for v in pair)
        try:
            routes.append(Route(ChainId(src), ChainId(dst)))
        except ValueError as exc:
            raise BadMessage(f"paused: {exc}") from exc
    return tuple(routes)
