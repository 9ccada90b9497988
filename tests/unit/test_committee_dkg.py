"""The pure DKG state machine: in-memory delivery, no sockets, explicit time."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from itertools import combinations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from committee.bls import CURVE_ORDER, default_backend
from committee.dkg import (
    DkgMachine,
    DkgResult,
    MessageType,
    Outgoing,
    Phase,
    SessionConfig,
    Timeouts,
    default_threshold,
)
from committee.identity import Identity, seal_share, share_binding
from committee.threshold import KeyShare, evaluate_polynomial, interpolate

Filter = Callable[[Outgoing], bytes | None]
BLS = default_backend()


def make_config(n: int, t: int | None = None) -> tuple[SessionConfig, list[Identity]]:
    ids = [Identity.generate(f"m{i}") for i in range(1, n + 1)]
    names = tuple(i.name for i in ids)
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=t or default_threshold(n),
        key_epoch=1,
        identities={i.name: i.public for i in ids},
        receivers=names,
        dealers={k + 1: name for k, name in enumerate(names)},
    )
    return config, ids


def deliver(
    machines: Sequence[DkgMachine], filters: dict[str, Filter] | None = None, start: bool = True
) -> int:
    """Run the machines to the end over a perfect broadcast channel; returns the message count."""
    filters = filters or {}
    now = 0.0
    queue: list[tuple[str, Outgoing]] = []
    if start:
        for m in machines:
            queue += [(m.identity.name, o) for o in m.start(now)]
    count = 0
    while True:
        while queue:
            sender, out = queue.pop(0)
            data = filters[sender](out) if sender in filters else out.data
            if data is None:
                continue
            count += 1
            for m in machines:
                if data != out.data and m.identity.name == sender:
                    continue  # a tampering sender keeps its own view
                queue += [(m.identity.name, o) for o in m.receive(data, now)]
        if all(m.finished for m in machines):
            return count
        now += 1000.0
        for m in machines:
            queue += [(m.identity.name, o) for o in m.tick(now)]


def resign(identity: Identity, data: bytes, edit: Callable[[dict], None]) -> bytes:  # type: ignore[type-arg]
    envelope = json.loads(data)
    payload = json.loads(envelope["payload"])
    edit(payload)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    sig = identity.sign(b"QIAO-V1-DKG-MSG\x00" + text.encode())
    return json.dumps({"payload": text, "sig": "0x" + sig.hex()}).encode()


def results(machines: Sequence[DkgMachine]) -> list[DkgResult]:
    out = [m.result for m in machines]
    assert all(r is not None for r in out), [m.failure for m in machines]
    return [r for r in out if r is not None]


@pytest.fixture(scope="module")
def seven() -> list[DkgResult]:
    config, ids = make_config(7)
    machines = [DkgMachine(config, i) for i in ids]
    assert deliver(machines) == 21  # 7 deals, 7 complaints, 7 confirmations
    return results(machines)


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_t_shares_reconstruct_the_group_key_and_t_minus_1_do_not(
    seven: list[DkgResult], data: st.DataObject
) -> None:
    public = seven[0].public
    shares = {r.share.index: r.share.secret for r in seven if r.share is not None}
    t = public.threshold
    chosen = data.draw(st.lists(st.sampled_from(sorted(shares)), min_size=t, max_size=t, unique=True))
    secret = interpolate({i: shares[i] for i in chosen})
    assert BLS.public_key(secret) == public.group_public_key
    fewer = chosen[: t - 1]
    assert BLS.public_key(interpolate({i: shares[i] for i in fewer})) != public.group_public_key


def test_all_t_subsets_of_a_dkg_agree(seven: list[DkgResult]) -> None:
    shares = {r.share.index: r.share.secret for r in seven if r.share is not None}
    secrets = {interpolate({i: shares[i] for i in c}) for c in combinations(sorted(shares), 5)}
    assert len(secrets) == 1


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 5), data=st.data())
def test_every_committee_size_and_threshold_yields_one_consistent_key(n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    config, ids = make_config(n, t)
    machines = [DkgMachine(config, i) for i in ids]
    deliver(machines)
    out = results(machines)
    assert len({r.public for r in out}) == 1
    assert len({r.transcript_hash for r in out}) == 1
    shares = {r.share.index: r.share.secret for r in out if r.share is not None}
    assert BLS.public_key(interpolate(dict(list(shares.items())[:t]))) == out[0].public.group_public_key


@pytest.fixture(scope="module")
def dealt() -> tuple[SessionConfig, list[Identity], bytes]:
    """A session and member 1's valid deal."""
    config, ids = make_config(4)
    deal = DkgMachine(config, ids[0]).start(0.0)[0]
    return config, ids, deal.data


def fresh(config: SessionConfig, identity: Identity) -> DkgMachine:
    m = DkgMachine(config, identity)
    m.start(0.0)
    return m


def accepted(m: DkgMachine) -> tuple[object, ...]:
    s = m.status()
    return (s["deals"], s["complaints"], s["justified"], s["confirms"], s["phase"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=400))
def test_arbitrary_bytes_are_never_accepted(
    dealt: tuple[SessionConfig, list[Identity], bytes], garbage: bytes
) -> None:
    config, ids, _ = dealt
    m = fresh(config, ids[1])
    before = accepted(m)
    m.receive(garbage, 0.0)
    assert accepted(m) == before
    assert sum(m.stats.rejected.values()) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def same_message(a: bytes, b: bytes) -> bool:
    """Whether two envelopes carry the same signed message as the machine reads them: the same
    payload string and the same signature bytes (hex digits in either case)."""

    def signature(envelope: dict[str, object]) -> bytes:
        sig = envelope["sig"]
        if not isinstance(sig, str) or not sig.startswith("0x"):
            raise ValueError("no 0x-hex signature")
        return bytes.fromhex(sig[2:])

    try:
        x, y = json.loads(a), json.loads(b)
        return bool(x["payload"] == y["payload"] and signature(x) == signature(y))
    except (ValueError, KeyError, TypeError):  # not JSON, not UTF-8, not an envelope any more
        return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    position=st.integers(0, 10_000),
    flip=st.integers(1, 255),
    body=json_values,
    kind=st.sampled_from([t.value for t in MessageType]),
)
# the space after '{"payload":' turned into a carriage return: the same envelope (found by hypothesis)
@example(position=11, flip=ord(" ") ^ ord("\r"), body=None, kind="deal")
def test_unsigned_tampered_foreign_or_malformed_messages_are_never_accepted(
    dealt: tuple[SessionConfig, list[Identity], bytes], position: int, flip: int, body: object, kind: str
) -> None:
    config, ids, deal = dealt
    # 1. a flipped byte anywhere in a valid deal (but where it leaves the same signed message, which
    # is rightly accepted: a space of the envelope that becomes a tab or a line break, a hex digit
    # of the signature that changes case)
    m = fresh(config, ids[1])
    before = accepted(m)
    tampered = bytearray(deal)
    tampered[position % len(tampered)] ^= flip
    m.receive(bytes(tampered), 0.0)
    if same_message(bytes(tampered), deal):
        assert accepted(m) == ([1, *before[0]], *before[1:])
        m = fresh(config, ids[1])  # the rest of the test starts from a machine without m1's deal
    assert accepted(m) == before
    # 2. the same deal signed by someone outside the roster, or carrying no signature
    outsider = Identity.generate("m1")  # same name, other keys
    m.receive(resign(outsider, deal, lambda p: None), 0.0)
    envelope = json.loads(deal)
    m.receive(json.dumps({"payload": envelope["payload"], "sig": "0x" + "00" * 64}).encode(), 0.0)
    m.receive(json.dumps({"payload": envelope["payload"]}).encode(), 0.0)
    assert accepted(m) == before
    # 3. validly signed by a member, but for another session
    m.receive(resign(ids[0], deal, lambda p: p.update(session="0x" + os.urandom(32).hex())), 0.0)
    assert accepted(m) == before
    assert m.stats.rejected["foreign session"] >= 1
    # 4. validly signed, right session, malformed body of any type
    m.receive(resign(ids[2], deal, lambda p: p.update(type=kind, body=body, **{"from": "m3"})), 0.0)
    assert m.status()["deals"] == [2]
    assert m.status()["justified"] == []


def test_oversized_messages_are_rejected_before_parsing(
    dealt: tuple[SessionConfig, list[Identity], bytes],
) -> None:
    config, ids, deal = dealt
    m = DkgMachine(config, ids[1], max_message_bytes=len(deal) + 50)
    m.start(0.0)
    m.receive(deal + b" " * 100, 0.0)  # valid JSON, valid signature, too long
    assert m.stats.rejected["oversized"] == 1
    assert m.status()["deals"] == [2]


def test_duplicates_are_ignored_and_a_second_different_deal_disqualifies_the_dealer(
    dealt: tuple[SessionConfig, list[Identity], bytes],
) -> None:
    config, ids, deal = dealt
    m = fresh(config, ids[1])
    m.receive(deal, 0.0)
    m.receive(deal, 0.0)
    assert m.stats.rejected["duplicate"] == 1
    other = DkgMachine(config, ids[0]).start(0.0)[0].data  # member 1 deals again, differently
    m.receive(other, 0.0)
    assert m.stats.rejected["conflicting"] == 1
    assert "equivocation" in m.status()["excluded"]["1"]
    assert "m1" in m.status()["misbehaving"]


def test_a_deal_after_the_deal_phase_is_stale_and_early_messages_wait(
    dealt: tuple[SessionConfig, list[Identity], bytes],
) -> None:
    config, ids, deal = dealt
    m = fresh(config, ids[1])
    # a complaint from member 3 before this machine left the deal phase is kept
    other = DkgMachine(config, ids[2])
    other.start(0.0)
    complaint = next(o for o in other.tick(100.0) if o.type is MessageType.COMPLAINT)
    m.receive(complaint.data, 1.0)
    assert m.phase is Phase.DEAL
    assert m.status()["complaints"] == [3]
    assert m.tick(5.0) == []  # before the deadline nothing moves
    m.tick(100.0)
    assert m.phase is Phase.COMPLAINT
    m.receive(deal, 100.0)
    assert m.stats.rejected["stale"] == 1
    assert m.status()["deals"] == [2]


def test_a_dealer_whose_commitments_do_not_match_its_shares_is_excluded() -> None:
    config, ids = make_config(4)
    machines = [DkgMachine(config, i) for i in ids]
    wrong = BLS.public_key(12345)

    def bad_commitments(out: Outgoing) -> bytes | None:
        if out.type is not MessageType.DEAL:
            return out.data
        return resign(ids[3], out.data, lambda p: p["body"]["commitments"].__setitem__(1, "0x" + wrong.hex()))

    deliver(machines, {"m4": bad_commitments})
    for m in machines[:3]:
        assert m.result is not None, m.failure
        assert m.result.qualified == (1, 2, 3)
        assert "does not match its commitments" in m.result.excluded[4]


def test_commitments_that_vanish_at_a_receiver_are_refused_not_a_crash() -> None:
    """Commitments chosen so that C(1) is the identity (a0 + a1 + a2 = 0): member 1's batched
    share check meets the identity among its points; the dealer is accused and excluded, and
    member 1 finishes like the others."""
    config, ids = make_config(4)
    machines = [DkgMachine(config, i) for i in ids]
    vanishing = [CURVE_ORDER - 12, 5, 7]
    commitments = ["0x" + BLS.public_key(a).hex() for a in vanishing]

    def bad_commitments(out: Outgoing) -> bytes | None:
        if out.type is not MessageType.DEAL:
            return out.data
        return resign(ids[3], out.data, lambda p: p["body"].__setitem__("commitments", commitments))

    deliver(machines, {"m4": bad_commitments})
    for m in machines[:3]:
        assert m.result is not None, m.failure
        assert m.result.qualified == (1, 2, 3)
        assert "does not match its commitments" in m.result.excluded[4]


def forged_deal(
    config: SessionConfig, dealer: Identity, index: int, coefficients: list[int], offsets: dict[int, int]
) -> Callable[[Outgoing], bytes | None]:
    """A filter replacing `dealer`'s deal by one for `coefficients`, with f(j) + offsets[j] sealed
    to receiver j: valid commitments, correctly encrypted shares, some of them wrong."""
    ephemeral = X25519PrivateKey.generate()
    shares = {}
    for j, name in enumerate(config.receivers, start=1):
        value = (evaluate_polynomial(coefficients, j) + offsets.get(j, 0)) % CURVE_ORDER
        binding = share_binding(config.session_id, index, j)
        sealed = seal_share(ephemeral, config.identities[name].encrypt_key, binding, value, os.urandom(12))
        shares[str(j)] = "0x" + sealed.hex()
    body = {
        "commitments": ["0x" + BLS.public_key(c).hex() for c in coefficients],
        "ephemeral": "0x" + ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
        "shares": shares,
    }

    def replace(out: Outgoing) -> bytes | None:
        if out.type is not MessageType.DEAL:
            return out.data
        return resign(dealer, out.data, lambda p: p.__setitem__("body", body))

    return replace


def test_wrong_shares_among_many_valid_ones_are_caught_and_blamed_on_their_dealers() -> None:
    """Member 2 receives 7 shares in one batched check; dealers 5 and 6 collude and send it shares
    off by +d and -d, so that an unweighted sum (every rho = 1) would still match. Member 2 must
    accuse exactly dealers 5 and 6 (the per-dealer fallback names them), nobody else does, and
    both are excluded when their justifications (their real polynomials) do not match the forged
    commitments."""
    config, ids = make_config(7)
    machines = [DkgMachine(config, i) for i in ids]
    t = config.threshold
    d = 1234567
    complaints: dict[str, dict[str, str]] = {}

    def record(out: Outgoing) -> bytes | None:
        if out.type is MessageType.COMPLAINT:
            complaints["m2"] = json.loads(json.loads(out.data)["payload"])["body"]["accuse"]
        return out.data

    filters: dict[str, Filter] = {
        "m2": record,
        "m5": forged_deal(config, ids[4], 5, [k + 11 for k in range(t)], {2: d}),
        "m6": forged_deal(config, ids[5], 6, [k + 23 for k in range(t)], {2: CURVE_ORDER - d}),
    }
    deliver(machines, filters)
    assert set(complaints["m2"]) == {"5", "6"}
    assert all(r == "share does not match the commitments" for r in complaints["m2"].values())
    for m in machines[:4]:
        assert m.result is not None, m.failure
        assert m.result.qualified == (1, 2, 3, 4, 7)
        assert "justification for members [2] does not match" in m.result.excluded[5]
        assert "justification for members [2] does not match" in m.result.excluded[6]


def test_a_falsely_accused_dealer_justifies_and_stays_qualified() -> None:
    config, ids = make_config(4)
    machines = [DkgMachine(config, i) for i in ids]

    def false_accusation(out: Outgoing) -> bytes | None:
        if out.type is not MessageType.COMPLAINT:
            return out.data
        return resign(ids[1], out.data, lambda p: p["body"]["accuse"].update({"1": "lies"}))

    deliver(machines, {"m2": false_accusation})
    out = [m.result for m in machines[:1] + machines[2:]]
    assert all(r is not None and r.qualified == (1, 2, 3, 4) for r in out)
    assert machines[0].stats.sent == 4  # deal, complaint, justification, confirmation


def test_too_few_dealers_fail_with_the_reason() -> None:
    config, ids = make_config(4)
    machines = [
        DkgMachine(config, i, timeouts=Timeouts(deal=1, complaint=1, justification=1, confirm=1))
        for i in ids[:2]
    ]
    deliver(machines)
    for m in machines:
        assert m.phase is Phase.FAILED
        assert m.failure is not None
        assert "only 2 dealers qualified" in m.failure.reason


def test_resharing_keeps_the_group_key_and_rejects_a_dealer_not_dealing_its_own_share() -> None:
    config, ids = make_config(4)
    machines = [DkgMachine(config, i) for i in ids]
    deliver(machines)
    old = {m.identity.name: m.result.share for m in machines if m.result and m.result.share}
    old_public = machines[0].result.public if machines[0].result else None
    assert old_public is not None
    new_ids = [Identity.generate(f"n{i}") for i in range(1, 8)]
    everyone = {i.name: i for i in [*ids, *new_ids]}
    reshare = SessionConfig(
        kind="reshare",
        nonce=os.urandom(16),
        threshold=5,
        key_epoch=1,
        identities={n: i.public for n, i in everyone.items()},
        receivers=tuple(i.name for i in new_ids),
        dealers={1: "m1", 2: "m2", 3: "m3", 4: "m4"},
        old_public=old_public,
    )
    machines2 = [DkgMachine(reshare, i, old_share=old.get(i.name)) for i in [*ids, *new_ids]]
    other = BLS.public_key(777)

    def not_my_share(out: Outgoing) -> bytes | None:
        if out.type is not MessageType.DEAL:
            return out.data
        return resign(ids[1], out.data, lambda p: p["body"]["commitments"].__setitem__(0, "0x" + other.hex()))

    deliver(machines2, {"m2": not_my_share})
    for m in machines2:
        if m.identity.name == "m2":
            continue
        assert m.result is not None, m.failure
        assert m.result.public.group_public_key == old_public.group_public_key
        assert m.result.qualified == (1, 3, 4)
        assert "published public share" in m.result.excluded[2]
        assert (m.result.share is None) == (m.identity.name in old)
    new_shares = {
        m.result.share.index: m.result.share.secret for m in machines2 if m.result and m.result.share
    }
    assert BLS.public_key(interpolate(dict(list(new_shares.items())[:5]))) == old_public.group_public_key


def test_session_description_round_trips_to_the_same_session_id() -> None:
    config, _ = make_config(4)
    again = SessionConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again.session_id == config.session_id
    with pytest.raises(ValueError, match="threshold"):
        make_config(4, 5)


def test_a_share_never_shows_in_repr(seven: list[DkgResult]) -> None:
    share = seven[0].share
    assert isinstance(share, KeyShare)
    assert str(share.secret) not in repr(seven[0])


def test_default_threshold_is_2f_plus_1() -> None:
    assert [default_threshold(n) for n in (1, 4, 7, 16, 64)] == [1, 3, 5, 11, 43]
