"""Distributed key generation and resharing: a pure state machine (no I/O, no clock).

A Pedersen/GJKR-style DKG with Feldman commitments in G2 (see docs/DKG.md). Every participant
runs one `DkgMachine`; the runner (committee.dkg_runner) feeds it the bytes received from the
broker and the current time, and publishes the bytes it returns. Timeouts are explicit: `tick(now)`
moves a phase on once its deadline has passed.

Phases, each ending when every expected message is in or at its deadline:

1. DEAL: each dealer i picks f_i of degree t-1 (for a resharing f_i(0) is its current share),
   broadcasts Feldman commitments C_ik = a_ik·G2 and f_i(j) encrypted to every receiver j.
2. COMPLAINT: each receiver broadcasts the dealers whose share to it fails to decrypt or does
   not match the commitments (an empty complaint says "all fine" and ends the phase early).
3. JUSTIFICATION: an accused dealer reveals the accusers' shares in public; anyone checks them.
4. CONFIRM: the qualified set is every dealer with a valid deal, no conflicting deal and every
   accusation answered; each receiver derives its share, the group key and every public share,
   and signs the transcript hash. The DKG succeeds when a majority (and at least t) of the
   receivers signed the same transcript.

A resharing is the same protocol where the dealers are the current committee (any t of it,
identified by their old indices), each deals its own share (C_i0 must equal its published
public share), and the new shares are the Lagrange combination of the qualified dealers' shares:
the group key does not change.

Every message is signed with the sender's Ed25519 identity key and names the session id, the
hash of the session's parameters. Oversized, malformed, unsigned, foreign-session, unknown-sender,
wrong-role, duplicate and stale messages are rejected and counted; a second, different message of
the same type from the same sender is a conflict, and for a deal it disqualifies the dealer.

Longer than the layout's ~500 lines: the DKG's phases are one state machine; its transitions are
read in order.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from committee.bls import CURVE_ORDER, G2_IDENTITY, G2_LEN, BlsBackend, InvalidPoint, default_backend
from committee.identity import (
    SEALED_LEN,
    Identity,
    PublicIdentity,
    open_share,
    roster_from_json,
    seal_share,
    share_binding,
)
from committee.threshold import (
    CommitteePublic,
    KeyEpoch,
    KeyShare,
    MemberIndex,
    evaluate_polynomial,
    lagrange_coefficients,
)

__all__ = [
    "DkgFailure",
    "DkgMachine",
    "DkgResult",
    "MessageType",
    "Outgoing",
    "Phase",
    "SessionConfig",
    "Timeouts",
    "default_threshold",
]

WIRE_VERSION: Final = 1
_SIGN_DOMAIN: Final = b"QIAO-V1-DKG-MSG\x00"
_TRANSCRIPT_DOMAIN: Final = b"QIAO-V1-DKG-TRANSCRIPT\x00"
_SESSION_DOMAIN: Final = b"QIAO-V1-DKG-SESSION\x00"
DEFAULT_MAX_MESSAGE_BYTES: Final = 1 << 20


def default_threshold(n: int) -> int:
    """t = 2f + 1 for n = 3f + 1 (rounding f down for other n): any t can sign, f may fail."""
    if n < 1:
        raise ValueError("a committee needs at least one member")
    return 2 * ((n - 1) // 3) + 1


class Phase(enum.Enum):
    DEAL = "deal"
    COMPLAINT = "complaint"
    JUSTIFICATION = "justification"
    CONFIRM = "confirm"
    DONE = "done"
    FAILED = "failed"


_ORDER: Final = {p: i for i, p in enumerate(Phase)}


class MessageType(enum.Enum):
    DEAL = "deal"
    COMPLAINT = "complaint"
    JUSTIFICATION = "justification"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each phase waits at most (local settings, not part of the session)."""

    deal: float = 10.0
    complaint: float = 5.0
    justification: float = 5.0
    confirm: float = 5.0

    def __post_init__(self) -> None:
        for name in ("deal", "complaint", "justification", "confirm"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 86400:
                raise ValueError(f"timeout {name} must be a number of seconds in (0, 86400)")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything every participant must agree on; `session_id` is its hash.

    receivers: the new committee, member index = position + 1. dealers: dealer index -> name
    (for a DKG the receivers themselves; for a resharing the current members by old index).
    identities: the public identity of every participant.
    """

    kind: Literal["dkg", "reshare"]
    nonce: bytes
    threshold: int
    key_epoch: int
    identities: Mapping[str, PublicIdentity]
    receivers: tuple[str, ...]
    dealers: Mapping[int, str]
    old_public: CommitteePublic | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("dkg", "reshare"):
            raise ValueError(f"kind must be 'dkg' or 'reshare', got {self.kind!r}")
        if not isinstance(self.nonce, bytes) or not 16 <= len(self.nonce) <= 64:
            raise ValueError("nonce must be 16 to 64 bytes")
        receivers = tuple(self.receivers)
        if not receivers or len(set(receivers)) != len(receivers):
            raise ValueError("receivers must be distinct and non-empty")
        n = len(receivers)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise ValueError("threshold must be an int")
        if not 1 <= self.threshold <= n:
            raise ValueError(f"threshold {self.threshold} must be in [1, {n}]")
        dealers = dict(self.dealers)
        for name in (*receivers, *dealers.values()):
            if name not in self.identities:
                raise ValueError(f"participant {name!r} has no identity in the roster")
        if len(set(dealers.values())) != len(dealers):
            raise ValueError("a name may deal only once")
        if self.kind == "dkg":
            if self.old_public is not None:
                raise ValueError("a DKG has no old committee")
            if dealers != {i + 1: name for i, name in enumerate(receivers)}:
                raise ValueError("in a DKG the dealers are the receivers, with the same indices")
        else:
            old = self.old_public
            if old is None:
                raise ValueError("a resharing needs the current committee's public data")
            if not set(dealers) <= set(old.members) or len(dealers) < old.threshold:
                raise ValueError(
                    f"resharing dealers {sorted(dealers)} must be at least {old.threshold}"
                    f" members of the current committee {list(old.members)}"
                )
        object.__setattr__(self, "receivers", receivers)
        object.__setattr__(self, "dealers", dict(sorted(dealers.items())))
        object.__setattr__(self, "identities", dict(self.identities))

    @property
    def n(self) -> int:
        return len(self.receivers)

    @property
    def qualified_minimum(self) -> int:
        """How many dealers must qualify: t (DKG) or the old threshold (resharing)."""
        return self.threshold if self.old_public is None else self.old_public.threshold

    @property
    def confirm_quorum(self) -> int:
        return max(self.threshold, self.n // 2 + 1)

    def to_json(self) -> dict[str, Any]:
        """The canonical description the operator hands to every participant."""
        names = sorted(set(self.receivers) | set(self.dealers.values()))
        old = self.old_public
        return {
            "version": WIRE_VERSION,
            "kind": self.kind,
            "nonce": "0x" + self.nonce.hex(),
            "threshold": self.threshold,
            "key_epoch": self.key_epoch,
            "identities": [self.identities[name].to_json() for name in names],
            "receivers": list(self.receivers),
            "dealers": {str(i): name for i, name in self.dealers.items()},
            "old_committee": None
            if old is None
            else {
                "threshold": old.threshold,
                "key_epoch": old.key_epoch,
                "group_public_key": "0x" + old.group_public_key.hex(),
                "public_shares": {str(i): "0x" + old.public_shares[i].hex() for i in old.members},
            },
        }

    @classmethod
    def from_json(cls, document: Any) -> SessionConfig:
        """Parse a session description; raises ValueError saying what is wrong."""
        try:
            return cls._from_json(document)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed session description ({exc!r})") from None

    @classmethod
    def _from_json(cls, document: Any) -> SessionConfig:
        if not isinstance(document, dict) or document.get("version") != WIRE_VERSION:
            raise ValueError("not a version 1 session description")
        old_doc = document["old_committee"]
        old = None
        if old_doc is not None:
            shares = {MemberIndex(int(k)): _unhex(v, G2_LEN) for k, v in old_doc["public_shares"].items()}
            old = CommitteePublic(
                threshold=old_doc["threshold"],
                members=tuple(sorted(shares)),
                public_shares=shares,
                group_public_key=_unhex(old_doc["group_public_key"], G2_LEN),
                key_epoch=KeyEpoch(old_doc["key_epoch"]),
            )
        return cls(
            kind=document["kind"],
            nonce=_unhex(document["nonce"]),
            threshold=document["threshold"],
            key_epoch=document["key_epoch"],
            identities=roster_from_json(document["identities"]),
            receivers=tuple(document["receivers"]),
            dealers={int(k): v for k, v in document["dealers"].items()},
            old_public=old,
        )

    @property
    def session_id(self) -> bytes:
        return hashlib.sha256(_SESSION_DOMAIN + _canonical(self.to_json())).digest()


@dataclass(frozen=True, slots=True)
class Outgoing:
    type: MessageType
    data: bytes


@dataclass(frozen=True, slots=True)
class DkgResult:
    """A finished DKG or resharing as this participant saw it."""

    session_id: bytes
    public: CommitteePublic
    share: KeyShare | None  # None for a dealer that is not in the new committee
    qualified: tuple[int, ...]
    excluded: Mapping[int, str]
    misbehaving: Mapping[str, tuple[str, ...]]
    transcript_hash: bytes
    confirmed_by: tuple[int, ...]

    def summary(self) -> dict[str, Any]:
        return {
            "session": self.session_id.hex(),
            "group_public_key": "0x" + self.public.group_public_key.hex(),
            "threshold": self.public.threshold,
            "members": list(self.public.members),
            "my_index": None if self.share is None else self.share.index,
            "qualified": list(self.qualified),
            "excluded": {str(k): v for k, v in self.excluded.items()},
            "misbehaving": {k: list(v) for k, v in self.misbehaving.items()},
            "transcript_hash": "0x" + self.transcript_hash.hex(),
            "confirmed_by": list(self.confirmed_by),
        }


@dataclass(frozen=True, slots=True)
class DkgFailure:
    """Why a DKG failed, with who misbehaved."""

    reason: str
    misbehaving: Mapping[str, tuple[str, ...]]


@dataclass(slots=True)
class _Deal:
    digest: bytes
    commitments: tuple[bytes, ...]


@dataclass(slots=True)
class _Stats:
    sent: int = 0
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class DkgMachine:
    """One participant's view of a DKG or resharing session."""

    def __init__(
        self,
        config: SessionConfig,
        identity: Identity,
        *,
        timeouts: Timeouts | None = None,
        old_share: KeyShare | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        backend: BlsBackend | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.timeouts = timeouts or Timeouts()
        self.max_message_bytes = max_message_bytes
        self.bls = default_backend(backend)
        self.session_id = config.session_id
        name = identity.name
        if config.identities.get(name) != identity.public:
            raise ValueError(f"identity {name!r} does not match the session's roster")
        self.dealer_index = next((i for i, n in config.dealers.items() if n == name), None)
        self.receiver_index = config.receivers.index(name) + 1 if name in config.receivers else None
        if self.dealer_index is None and self.receiver_index is None:
            raise ValueError(f"{name!r} is neither a dealer nor a receiver of this session")
        if config.kind == "reshare" and self.dealer_index is not None:
            if old_share is None or old_share.index != self.dealer_index:
                raise ValueError(f"dealer {name!r} needs its current share (member {self.dealer_index})")
            if old_share.public != config.old_public:
                raise ValueError("the current share is of another committee than the session's")
        self._old_share = old_share
        self._dealer_by_name = {n: i for i, n in config.dealers.items()}
        self._receiver_by_name = {n: i + 1 for i, n in enumerate(config.receivers)}

        self.phase = Phase.DEAL
        self.deadline = math.inf
        self.stats = _Stats()
        self.result: DkgResult | None = None
        self.failure: DkgFailure | None = None
        self._started = False
        self._seen: dict[tuple[MessageType, str], bytes] = {}
        self._deals: dict[int, _Deal] = {}
        self._my_shares: dict[int, int] = {}
        self._my_accusations: dict[int, str] = {}
        self._complaints: dict[int, dict[int, str]] = {}
        self._justifications: dict[int, dict[int, int]] = {}
        self._confirms: dict[int, bytes] = {}
        self._excluded: dict[int, str] = {}
        self._faults: dict[str, list[str]] = {}
        self._accused: dict[int, dict[int, str]] = {}
        self._transcript: bytes | None = None
        self._pending: tuple[CommitteePublic, KeyShare | None, tuple[int, ...]] | None = None
        self._coefficients: list[int] = []
        self._unchecked: dict[int, int] = {}
        self._generator = self.bls.public_key(1)

    # --- driving --------------------------------------------------------------------------

    def start(self, now: float) -> list[Outgoing]:
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        self.deadline = now + self.timeouts.deal
        out: list[Outgoing] = []
        if self.dealer_index is not None:
            out.append(self._emit(MessageType.DEAL, self._make_deal()))
        return out + self._advance(now)

    def receive(self, data: bytes, now: float) -> list[Outgoing]:
        """Handle one message from the broker; returns what to publish."""
        if not self._started or self.phase in (Phase.DONE, Phase.FAILED):
            self.stats.rejected["after the end" if self._started else "not started"] += 1
            return []
        self.stats.received += 1
        problem = self._accept(data)
        if problem is not None:
            self.stats.rejected[problem] += 1
        return self._advance(now)

    def tick(self, now: float) -> list[Outgoing]:
        """The clock moved: end a phase whose deadline has passed."""
        if not self._started or self.phase in (Phase.DONE, Phase.FAILED):
            return []
        return self._advance(now)

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)

    def status(self) -> dict[str, Any]:
        """Progress for operators (no secrets)."""
        return {
            "session": self.session_id.hex(),
            "me": self.identity.name,
            "phase": self.phase.value,
            "deals": sorted(self._deals),
            "complaints": sorted(self._complaints),
            "accused": {str(i): sorted(a) for i, a in self._accused.items()},
            "justified": sorted(self._justifications),
            "confirms": sorted(self._confirms),
            "excluded": {str(k): v for k, v in self._excluded.items()},
            "misbehaving": {k: list(v) for k, v in self._faults.items()},
            "sent": self.stats.sent,
            "received": self.stats.received,
            "rejected": dict(self.stats.rejected),
            "failure": None if self.failure is None else self.failure.reason,
        }

    # --- message intake -------------------------------------------------------------------

    def _accept(self, data: bytes) -> str | None:
        """Check and store one message; returns why it was rejected, or None."""
        if not isinstance(data, bytes | bytearray) or len(data) > self.max_message_bytes:
            return "oversized"
        try:
            envelope = json.loads(data)
            if not isinstance(envelope, dict) or set(envelope) != {"payload", "sig"}:
                return "malformed"
            payload_text, sig_hex = envelope["payload"], envelope["sig"]
            if not isinstance(payload_text, str) or not isinstance(sig_hex, str):
                return "malformed"
            signature = _unhex(sig_hex, 64)
            payload = json.loads(payload_text)
        except (ValueError, TypeError, RecursionError):
            return "malformed"
        if not isinstance(payload, dict) or set(payload) != {"v", "session", "type", "from", "body"}:
            return "malformed"
        if payload["v"] != WIRE_VERSION:
            return "unknown version"
        if payload["session"] != "0x" + self.session_id.hex():
            return "foreign session"
        sender = payload["from"]
        identity = self.config.identities.get(sender) if isinstance(sender, str) else None
        if identity is None:
            return "unknown sender"
        if not identity.verify(signature, _SIGN_DOMAIN + payload_text.encode()):
            return "bad signature"
        try:
            kind = MessageType(payload["type"])
        except ValueError:
            return "malformed"
        body = payload["body"]
        if not isinstance(body, dict):
            self._fault(sender, f"sent a malformed {kind.value}")
            return "malformed"
        key = (kind, sender)
        digest = hashlib.sha256(payload_text.encode()).digest()
        previous = self._seen.get(key)
        if previous is not None:
            if previous == digest:
                return "duplicate"
            self._fault(sender, f"sent two different {kind.value} messages")
            if kind is MessageType.DEAL and sender in self._dealer_by_name:
                self._exclude(self._dealer_by_name[sender], "sent two different deals (equivocation)")
            return "conflicting"
        handler = {
            MessageType.DEAL: self._on_deal,
            MessageType.COMPLAINT: self._on_complaint,
            MessageType.JUSTIFICATION: self._on_justification,
            MessageType.CONFIRM: self._on_confirm,
        }[kind]
        problem = handler(sender, body, digest)
        if problem is None or problem.startswith("invalid"):
            self._seen[key] = digest
        return problem

    def _on_deal(self, sender: str, body: dict[str, Any], digest: bytes) -> str | None:
        dealer = self._dealer_by_name.get(sender)
        if dealer is None:
            return "wrong role"
        if self.phase is not Phase.DEAL:
            return "stale"
        try:
            commitments, ephemeral, sealed = self._parse_deal(dealer, body)
        except (ValueError, KeyError, TypeError, InvalidPoint) as exc:
            self._exclude(dealer, f"invalid deal: {exc}")
            return "invalid deal"
        self._deals[dealer] = _Deal(digest=digest, commitments=commitments)
        if self.receiver_index is not None:
            j = self.receiver_index
            value = open_share(self.identity, ephemeral, share_binding(self.session_id, dealer, j), sealed[j])
            if value is None:
                self._my_accusations[dealer] = "share does not decrypt"
            elif not 0 < value < CURVE_ORDER:
                self._my_accusations[dealer] = "share out of range"
            else:
                self._unchecked[dealer] = value  # checked in one batch when the phase ends
        return None

    def _parse_deal(
        self, dealer: int, body: dict[str, Any]
    ) -> tuple[tuple[bytes, ...], bytes, dict[int, bytes]]:
        if set(body) != {"commitments", "ephemeral", "shares"}:
            raise ValueError("fields must be commitments, ephemeral, shares")
        raw = body["commitments"]
        t = self.config.threshold
        if not isinstance(raw, list) or len(raw) != t:
            raise ValueError(f"expected {t} commitments")
        commitments = tuple(_unhex(c, G2_LEN) for c in raw)
        for c in commitments:
            self.bls.check_g2(c)
        old = self.config.old_public
        if old is not None and commitments[0] != old.public_shares[MemberIndex(dealer)]:
            raise ValueError("commitment to f(0) is not the dealer's published public share")
        ephemeral = _unhex(body["ephemeral"], 32)
        X25519PublicKey.from_public_bytes(ephemeral)
        shares = body["shares"]
        expected = {str(j) for j in range(1, self.config.n + 1)}
        if not isinstance(shares, dict) or set(shares) != expected:
            raise ValueError("must carry one encrypted share per receiver")
        sealed = {int(k): _unhex(v, SEALED_LEN) for k, v in shares.items()}
        return commitments, ephemeral, sealed

    def _on_complaint(self, sender: str, body: dict[str, Any], digest: bytes) -> str | None:
        receiver = self._receiver_by_name.get(sender)
        if receiver is None:
            return "wrong role"
        if _ORDER[self.phase] > _ORDER[Phase.COMPLAINT]:
            return "stale"
        accuse = body.get("accuse")
        if set(body) != {"accuse"} or not isinstance(accuse, dict):
            self._fault(sender, "sent a malformed complaint")
            return "invalid complaint"
        parsed: dict[int, str] = {}
        for k, reason in accuse.items():
            if not (isinstance(k, str) and k.isdigit()) or int(k) not in self.config.dealers:
                self._fault(sender, "accused a dealer that does not exist")
                return "invalid complaint"
            parsed[int(k)] = str(reason)[:200]
        self._complaints[receiver] = parsed
        return None

    def _on_justification(self, sender: str, body: dict[str, Any], digest: bytes) -> str | None:
        dealer = self._dealer_by_name.get(sender)
        if dealer is None:
            return "wrong role"
        if _ORDER[self.phase] > _ORDER[Phase.JUSTIFICATION]:
            return "stale"
        reveal = body.get("reveal")
        if set(body) != {"reveal"} or not isinstance(reveal, dict):
            self._fault(sender, "sent a malformed justification")
            return "invalid justification"
        parsed: dict[int, int] = {}
        try:
            for k, v in reveal.items():
                j = int(k)
                if not 1 <= j <= self.config.n:
                    raise ValueError
                parsed[j] = int.from_bytes(_unhex(v, 32), "big")
        except (ValueError, TypeError):
            self._fault(sender, "sent a malformed justification")
            return "invalid justification"
        self._justifications[dealer] = parsed
        return None

    def _on_confirm(self, sender: str, body: dict[str, Any], digest: bytes) -> str | None:
        receiver = self._receiver_by_name.get(sender)
        if receiver is None:
            return "wrong role"
        try:
            if set(body) != {"transcript"}:
                raise ValueError
            transcript = _unhex(body["transcript"], 32)
        except (ValueError, TypeError):
            self._fault(sender, "sent a malformed confirmation")
            return "invalid confirmation"
        self._confirms[receiver] = transcript
        return None

    # --- phases ---------------------------------------------------------------------------

    def _advance(self, now: float) -> list[Outgoing]:
        out: list[Outgoing] = []
        while True:
            phase = self.phase
            if phase is Phase.DEAL:
                waiting = set(self.config.dealers) - set(self._deals) - set(self._excluded)
                if waiting and now < self.deadline:
                    return out
                self._enter(Phase.COMPLAINT, now + self.timeouts.complaint)
                self._check_my_shares()
                if self.receiver_index is not None:
                    accuse = {str(i): r for i, r in sorted(self._my_accusations.items())}
                    out.append(self._emit(MessageType.COMPLAINT, {"accuse": accuse}))
            elif phase is Phase.COMPLAINT:
                if len(self._complaints) < self.config.n and now < self.deadline:
                    return out
                self._collect_accusations()
                self._enter(Phase.JUSTIFICATION, now + self.timeouts.justification)
                mine = self._accused.get(self.dealer_index) if self.dealer_index is not None else None
                if mine:
                    out.append(self._emit(MessageType.JUSTIFICATION, self._make_justification(mine)))
            elif phase is Phase.JUSTIFICATION:
                waiting = set(self._accused) - set(self._justifications)
                if waiting and now < self.deadline:
                    return out
                self._qualify()
                if self.failure is not None:
                    self.phase = Phase.FAILED
                    return out
                self._enter(Phase.CONFIRM, now + self.timeouts.confirm)
                if self.receiver_index is not None:
                    assert self._transcript is not None
                    out.append(self._emit(MessageType.CONFIRM, {"transcript": "0x" + self._transcript.hex()}))
            elif phase is Phase.CONFIRM:
                live = set(self._complaints) | set(self._confirms)
                if not live <= set(self._confirms) and now < self.deadline:
                    return out
                self._decide()
                return out
            else:
                return out

    def _enter(self, phase: Phase, deadline: float) -> None:
        self.phase = phase
        self.deadline = deadline

    def _emit(self, kind: MessageType, body: dict[str, Any]) -> Outgoing:
        payload = _canonical(
            {
                "v": WIRE_VERSION,
                "session": "0x" + self.session_id.hex(),
                "type": kind.value,
                "from": self.identity.name,
                "body": body,
            }
        ).decode()
        signature = self.identity.sign(_SIGN_DOMAIN + payload.encode())
        data = json.dumps({"payload": payload, "sig": "0x" + signature.hex()}).encode()
        self.stats.sent += 1
        problem = self._accept(data)  # our own message counts like everyone else's
        if problem is not None:
            raise RuntimeError(f"own {kind.value} message rejected: {problem}")
        return Outgoing(kind, data)

    def _make_deal(self) -> dict[str, Any]:
        t = self.config.threshold
        first = (
            self._old_share.secret if self._old_share is not None else secrets.randbelow(CURVE_ORDER - 1) + 1
        )
        coefficients = [first] + [secrets.randbelow(CURVE_ORDER - 1) + 1 for _ in range(t - 1)]
        self._coefficients = coefficients
        self._old_share = None  # the current share is needed no longer than this
        ephemeral = X25519PrivateKey.generate()
        assert self.dealer_index is not None
        shares = {}
        for j, name in enumerate(self.config.receivers, start=1):
            value = evaluate_polynomial(coefficients, j)
            binding = share_binding(self.session_id, self.dealer_index, j)
            sealed = seal_share(
                ephemeral, self.config.identities[name].encrypt_key, binding, value, secrets.token_bytes(12)
            )
            shares[str(j)] = "0x" + sealed.hex()
        return {
            "commitments": ["0x" + self.bls.public_key(c).hex() for c in coefficients],
            "ephemeral": "0x" + ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
            "shares": shares,
        }

    def _make_justification(self, accusers: Mapping[int, str]) -> dict[str, Any]:
        reveal = {
            str(j): "0x" + evaluate_polynomial(self._coefficients, j).to_bytes(32, "big").hex()
            for j in sorted(accusers)
        }
        return {"reveal": reveal}

    def _collect_accusations(self) -> None:
        for receiver, accusations in sorted(self._complaints.items()):
            for dealer, reason in accusations.items():
                if dealer in self._deals and dealer not in self._excluded:
                    self._accused.setdefault(dealer, {})[receiver] = reason

    def _check_my_shares(self) -> None:
        """Check every decrypted share against its dealer's commitments: first all at once with
        random weights (one multiexp), then one by one only if the batch fails."""
        j = self.receiver_index
        if j is None or not self._unchecked:
            return
        items = [(self._deals[d].commitments, j, v) for d, v in sorted(self._unchecked.items())]
        if len(items) > 1 and self._shares_match(items):
            good = dict(self._unchecked)
        else:
            good = {
                d: v
                for d, v in self._unchecked.items()
                if self._shares_match([(self._deals[d].commitments, j, v)])
            }
        for dealer, value in sorted(self._unchecked.items()):
            if dealer in good:
                self._my_shares[dealer] = value
            else:
                self._my_accusations[dealer] = "share does not match the commitments"
        self._unchecked.clear()

    def _shares_match(self, items: Sequence[tuple[Sequence[bytes], int, int]]) -> bool:
        """Whether value·G2 = Σ_k j^k·C_k for every (C, j, value), checked as one random linear
        combination Σ rho·C(j) - (Σ rho·value)·G2 = O with independent 128-bit weights rho from
        the OS's CSPRNG (a false pass has probability ~2^-128; a single item has rho = 1). Each
        C(j) is evaluated by Horner's rule with the small index j and the evaluations are summed
        with their weights inside the backend (`g2_polynomials_combined`): no evaluation is
        compressed and parsed again."""
        polynomials: list[Sequence[bytes]] = []
        xs: list[int] = []
        weights: list[int] = []
        total = 0
        for commitments, j, value in items:
            if not 0 < value < CURVE_ORDER:
                return False
            rho = secrets.randbits(128) | 1 if len(items) > 1 else 1
            polynomials.append(commitments)
            xs.append(j)
            weights.append(rho)
            total = (total + rho * value) % CURVE_ORDER
        polynomials.append((self._generator,))
        xs.append(0)
        weights.append((-total) % CURVE_ORDER)
        return self.bls.g2_polynomials_combined(polynomials, xs, weights) == G2_IDENTITY

    def _qualify(self) -> None:
        cfg = self.config
        for dealer, _name in cfg.dealers.items():
            if dealer in self._excluded:
                continue
            if dealer not in self._deals:
                self._exclude(dealer, "sent no deal in time (offline?)")
                continue
            accusers = self._accused.get(dealer, {})
            if not accusers:
                continue
            revealed = self._justifications.get(dealer)
            if revealed is None:
                who = ", ".join(f"{j} ({r})" for j, r in sorted(accusers.items()))
                self._exclude(dealer, f"accused by members {who} and did not justify")
                continue
            commitments = self._deals[dealer].commitments
            bad = [
                j
                for j in accusers
                if j not in revealed or not self._shares_match([(commitments, j, revealed[j])])
            ]
            if bad:
                self._exclude(
                    dealer, f"justification for members {sorted(bad)} does not match its commitments"
                )
                continue
            if self.receiver_index in accusers:
                self._my_shares[dealer] = revealed[self.receiver_index]
        qualified = tuple(d for d in cfg.dealers if d not in self._excluded)
        if len(qualified) < cfg.qualified_minimum:
            self.failure = DkgFailure(
                f"only {len(qualified)} dealers qualified ({list(qualified)}), need {cfg.qualified_minimum};"
                f" excluded: {self._excluded_text()}",
                self._frozen_faults(),
            )
            return
        weights = dict.fromkeys(qualified, 1) if cfg.old_public is None else lagrange_coefficients(qualified)
        t = cfg.threshold
        aggregated = [
            self.bls.g2_weighted_sum(
                [self._deals[d].commitments[k] for d in qualified], [weights[d] for d in qualified]
            )
            for k in range(t)
        ]
        group_key = aggregated[0]
        if cfg.old_public is not None and group_key != cfg.old_public.group_public_key:
            self.failure = DkgFailure(
                "the reshared group key differs from the current one", self._frozen_faults()
            )
            return
        values = self.bls.g2_polynomial_values(aggregated, cfg.n)
        shares = {MemberIndex(m): value for m, value in enumerate(values, start=1)}
        epoch = cfg.key_epoch if cfg.old_public is None else cfg.old_public.key_epoch
        try:
            public = CommitteePublic(
                threshold=t,
                members=tuple(shares),
                public_shares=shares,
                group_public_key=group_key,
                key_epoch=KeyEpoch(epoch),
            )
        except ValueError as exc:
            self.failure = DkgFailure(f"the derived committee is invalid: {exc}", self._frozen_faults())
            return
        share = None
        if self.receiver_index is not None:
            missing = [d for d in qualified if d not in self._my_shares]
            if missing:
                self.failure = DkgFailure(
                    f"no valid share from qualified dealers {missing}", self._frozen_faults()
                )
                return
            secret = sum(weights[d] * self._my_shares[d] for d in qualified) % CURVE_ORDER
            try:
                share = KeyShare(index=MemberIndex(self.receiver_index), secret=secret, public=public)
            except ValueError as exc:
                self.failure = DkgFailure(f"own share is invalid: {exc}", self._frozen_faults())
                return
        transcript = hashlib.sha256(_TRANSCRIPT_DOMAIN + self.session_id)
        for d in qualified:
            transcript.update(d.to_bytes(4, "big") + self._deals[d].digest)
        transcript.update(group_key)
        for m in public.members:
            transcript.update(public.public_shares[m])
        self._transcript = transcript.digest()
        self._pending = (public, share, qualified)
        self._my_shares.clear()
        self._coefficients = []

    def _decide(self) -> None:
        assert self._pending is not None
        assert self._transcript is not None
        public, share, qualified = self._pending
        agree = tuple(sorted(j for j, h in self._confirms.items() if h == self._transcript))
        for j, h in sorted(self._confirms.items()):
            if h != self._transcript:
                self._fault(self.config.receivers[j - 1], "signed a different transcript")
        if len(agree) < self.config.confirm_quorum:
            silent = sorted(set(range(1, self.config.n + 1)) - set(self._confirms))
            self.failure = DkgFailure(
                f"only {len(agree)} receivers signed our transcript (members {list(agree)}), need"
                f" {self.config.confirm_quorum}; silent: {silent}",
                self._frozen_faults(),
            )
            self.phase = Phase.FAILED
            self._pending = None
            return
        self.result = DkgResult(
            session_id=self.session_id,
            public=public,
            share=share,
            qualified=qualified,
            excluded=dict(self._excluded),
            misbehaving=self._frozen_faults(),
            transcript_hash=self._transcript,
            confirmed_by=agree,
        )
        self._pending = None
        self.phase = Phase.DONE

    # --- bookkeeping ----------------------------------------------------------------------

    def _exclude(self, dealer: int, reason: str) -> None:
        if dealer not in self._excluded:
            self._excluded[dealer] = reason
            if "offline" not in reason:
                self._fault(self.config.dealers[dealer], reason)

    def _fault(self, name: str, reason: str) -> None:
        reasons = self._faults.setdefault(name, [])
        if reason not in reasons:
            reasons.append(reason)

    def _frozen_faults(self) -> dict[str, tuple[str, ...]]:
        faults = {k: tuple(v) for k, v in self._faults.items()}
        for dealer, reason in self._excluded.items():
            name = self.config.dealers[dealer]
            if reason not in faults.get(name, ()):
                faults[name] = (*faults.get(name, ()), reason)
        return faults

    def _excluded_text(self) -> str:
        if not self._excluded:
            return "none"
        return "; ".join(
            f"{self.config.dealers[d]} (dealer {d}): {r}" for d, r in sorted(self._excluded.items())
        )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _unhex(value: object, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError("expected a 0x-prefixed hex string")
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise ValueError(f"expected {length} bytes, got {len(raw)}")
    return raw
