"""The DKG over a real mosquitto: every member a runner with its own MQTT connection."""

from __future__ import annotations

import json
import os
import random

import pytest

from committee.dkg import DkgMachine, MessageType, Outgoing, SessionConfig, Timeouts, default_threshold
from committee.dkg_runner import DkgFailed, run_machines
from committee.identity import Identity
from committee.threshold import CommitteePublic, combine, interpolate, partial_sign, verify, verify_partial

pytestmark = pytest.mark.integration

FAST = Timeouts(deal=3.0, complaint=2.0, justification=2.0, confirm=2.0)


def make_session(n: int, t: int | None = None) -> tuple[SessionConfig, list[Identity]]:
    identities = [Identity.generate(f"node-{i}") for i in range(1, n + 1)]
    names = tuple(i.name for i in identities)
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=t or default_threshold(n),
        key_epoch=1,
        identities={i.name: i.public for i in identities},
        receivers=names,
        dealers={k + 1: name for k, name in enumerate(names)},
    )
    return config, identities


def check_committee_signs(public: CommitteePublic, shares: dict[int, int], rounds: int = 2) -> None:
    """Random t-subsets of the shares make partials that verify and combine to a valid signature."""
    message = b"qiao dkg test" + os.urandom(8)
    rng = random.Random(7)
    for _ in range(rounds):
        chosen = rng.sample(sorted(shares), public.threshold)
        partials = {}
        for i in chosen:
            from committee.threshold import KeyShare, MemberIndex

            share = KeyShare(index=MemberIndex(i), secret=shares[i], public=public)
            partials[i] = partial_sign(share, message)
            assert verify_partial(public, i, message, partials[i])
        assert verify(public.group_public_key, message, combine(public, partials))


@pytest.mark.parametrize("n", [4, 7, 16])
async def test_dkg_over_the_broker_gives_every_member_a_share_of_one_key(
    n: int, mosquitto_port: int, network: str
) -> None:
    config, identities = make_session(n)
    machines = [
        DkgMachine(config, i, timeouts=Timeouts(deal=30, complaint=30, justification=30, confirm=30))
        for i in identities
    ]
    results = await run_machines(machines, host="127.0.0.1", port=mosquitto_port, network=network)
    assert all(not isinstance(r, DkgFailed) for r in results), results
    publics = {r.public for r in results if not isinstance(r, DkgFailed)}
    assert len(publics) == 1
    public = publics.pop()
    assert public.size == n
    assert public.threshold == default_threshold(n)
    transcripts = {r.transcript_hash for r in results if not isinstance(r, DkgFailed)}
    assert len(transcripts) == 1
    shares = {}
    for r in results:
        assert not isinstance(r, DkgFailed)
        assert r.share is not None
        assert r.qualified == tuple(range(1, n + 1))
        assert not r.excluded
        assert not r.misbehaving
        assert r.confirmed_by == tuple(range(1, n + 1))
        shares[r.share.index] = r.share.secret
    # no machine holds the key, but the shares interpolate to it
    from committee.bls import default_backend

    assert default_backend().public_key(interpolate(dict(list(shares.items())[: public.threshold]))) == (
        public.group_public_key
    )
    check_committee_signs(public, shares)
    # every machine sent one deal, one complaint and one confirmation, and nothing was rejected
    # except its own messages echoed back by the broker and the last ones arriving after its end
    for m in machines:
        assert m.stats.sent == 3
        assert set(m.stats.rejected) <= {"duplicate", "after the end"}


async def test_dkg_completes_with_f_members_offline(mosquitto_port: int, network: str) -> None:
    config, identities = make_session(7)  # f = 2
    online = [i for i in identities if i.name not in ("node-3", "node-6")]
    machines = [DkgMachine(config, i, timeouts=FAST) for i in online]
    results = await run_machines(machines, host="127.0.0.1", port=mosquitto_port, network=network)
    assert all(not isinstance(r, DkgFailed) for r in results), results
    first = results[0]
    assert not isinstance(first, DkgFailed)
    assert first.qualified == (1, 2, 4, 5, 7)
    assert set(first.excluded) == {3, 6}
    assert "offline" in first.excluded[3]
    assert first.public.members == tuple(range(1, 8))  # the offline members keep their seats
    shares = {r.share.index: r.share.secret for r in results if not isinstance(r, DkgFailed) and r.share}
    assert len({r.public for r in results if not isinstance(r, DkgFailed)}) == 1
    check_committee_signs(first.public, shares)


def bad_dealer(identity: Identity, session_id: bytes) -> object:
    """An outgoing filter: member's deal carries garbage shares (re-encrypted, validly signed)
    and the member never justifies."""

    def corrupt(message: Outgoing) -> bytes | None:
        if message.type is MessageType.JUSTIFICATION:
            return None
        if message.type is not MessageType.DEAL:
            return message.data
        envelope = json.loads(message.data)
        payload = json.loads(envelope["payload"])
        for j in payload["body"]["shares"]:
            raw = bytearray(bytes.fromhex(payload["body"]["shares"][j][2:]))
            raw[20] ^= 0xFF  # breaks the AEAD tag: the share does not decrypt
            payload["body"]["shares"][j] = "0x" + raw.hex()
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        sig = identity.sign(b"QIAO-V1-DKG-MSG\x00" + text.encode())
        return json.dumps({"payload": text, "sig": "0x" + sig.hex()}).encode()

    return corrupt


async def test_a_member_sending_bad_shares_is_excluded_and_named(mosquitto_port: int, network: str) -> None:
    config, identities = make_session(4)
    machines = [DkgMachine(config, i, timeouts=FAST) for i in identities]
    filters = {"node-2": bad_dealer(identities[1], config.session_id)}
    results = await run_machines(
        machines,
        host="127.0.0.1",
        port=mosquitto_port,
        network=network,
        filters=filters,  # type: ignore[arg-type]
    )
    honest = [r for m, r in zip(machines, results, strict=True) if m.identity.name != "node-2"]
    assert all(not isinstance(r, DkgFailed) for r in honest), honest
    publics = {r.public for r in honest if not isinstance(r, DkgFailed)}
    assert len(publics) == 1
    for r in honest:
        assert not isinstance(r, DkgFailed)
        assert r.qualified == (1, 3, 4)
        assert "did not justify" in r.excluded[2]
        assert "node-2" in r.misbehaving
    shares = {r.share.index: r.share.secret for r in honest if not isinstance(r, DkgFailed) and r.share}
    check_committee_signs(publics.pop(), shares)


async def test_a_dkg_that_cannot_qualify_enough_dealers_fails_and_says_why(
    mosquitto_port: int, network: str
) -> None:
    config, identities = make_session(4)  # t = 3; only 2 online
    machines = [
        DkgMachine(config, i, timeouts=Timeouts(deal=1, complaint=1, justification=1, confirm=1))
        for i in identities[:2]
    ]
    results = await run_machines(machines, host="127.0.0.1", port=mosquitto_port, network=network)
    for r in results:
        assert isinstance(r, DkgFailed)
        assert "only 2 dealers qualified" in r.failure.reason
        assert "need 3" in r.failure.reason
