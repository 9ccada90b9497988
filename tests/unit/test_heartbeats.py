"""Signed heartbeats (relayer.core.heartbeats): signing, verifying and the verdict on each one."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from committee.bls import get_backend
from committee.threshold import deal
from relayer.core.heartbeats import (
    BASELINE_DRIFT,
    MAX_LATE_SECONDS,
    Baseline,
    HeartbeatKeys,
    Verdict,
    delay,
    first_baseline,
    judge,
)
from relayer.core.keyring import Keyring
from relayer.core.messages import HeartbeatMessage, heartbeat_topic
from relayer.core.types import ChainId, Route

NET = "unit"
NOW = 1_700_000_000.0
SHARES = deal(4, 3, rng=random.Random(11))
OTHER = deal(4, 3, rng=random.Random(12))  # another committee


def keys(member: int | None, shares: list = SHARES) -> HeartbeatKeys:  # type: ignore[type-arg]
    share = None if member is None else shares[member - 1]
    return HeartbeatKeys(Keyring.single(shares[0].public, share), get_backend("arkworks"))


def signed(
    member: int, status: str = "online", *, seq: int = 10_000, by: int | None = None, run: int = 1
) -> HeartbeatMessage:
    beat = HeartbeatMessage(member, status, seq // 1000, seq, (Route(ChainId(7001), ChainId(7002)),), run=run)
    if by is None:  # the member itself
        out = keys(member).sign(beat, NET)
        assert out is not None
        return out
    theirs = keys(by).sign(replace(beat, member=by), NET)  # another member's share, in member's name
    assert theirs is not None
    return replace(beat, sig=theirs.sig)


def test_a_signed_heartbeat_round_trips_and_verifies_against_the_members_public_share() -> None:
    beat = signed(2)
    parsed = HeartbeatMessage.parse(heartbeat_topic(NET, 2), beat.to_payload(), NET)
    assert parsed == beat
    assert keys(None).verifies(parsed, NET)  # a relay-only node verifies too


def test_a_relay_only_node_or_another_members_share_signs_nothing() -> None:
    beat = HeartbeatMessage(2, "online", int(NOW), 1)
    assert keys(None).sign(beat, NET) is None
    assert keys(3).sign(beat, NET) is None  # member 3's share never signs member 2's heartbeat


@pytest.mark.parametrize(
    ("beat", "why"),
    [
        (replace(signed(2), sig=b"\x00" * 48), "zero signature"),
        (signed(2, by=3), "member 3's share, in member 2's name"),
        (replace(signed(2), seq=11), "seq altered after signing"),
        (replace(signed(2), status="offline"), "status altered after signing"),
        (replace(signed(2), paused=()), "paused altered after signing"),
        (replace(signed(2), brokers=("evil",)), "brokers altered after signing"),
    ],
)
def test_a_forged_or_altered_heartbeat_does_not_verify(beat: HeartbeatMessage, why: str) -> None:
    assert not keys(1).verifies(beat, NET), why


def test_a_heartbeat_of_another_network_or_committee_does_not_verify() -> None:
    assert not keys(1).verifies(signed(2), "other-net")
    theirs = keys(2, OTHER).sign(HeartbeatMessage(2, "online", int(NOW), 1), NET)
    assert theirs is not None
    assert not keys(1).verifies(theirs, NET)


def verdict(
    beat: HeartbeatMessage, *, last: int | None, baseline: float | None, arrival: float, member: bool
) -> Verdict:
    return judge(
        beat,
        member_known=member,
        last_run=None if last is None else 1,
        last_seq=last,
        baseline=None if baseline is None else Baseline(baseline, arrival),
        arrival=arrival,
        verifies=lambda: keys(1).verifies(beat, NET),
    )[0]


# the member's clock says 10 s (seq 10_000) when it makes the heartbeat; the receiver's monotonic
# clock reads `arrival`; the member's best delay so far is `baseline`
@pytest.mark.parametrize(
    ("beat", "last", "baseline", "arrival", "member", "expected"),
    [
        (signed(2, seq=10_000), None, None, 5.0, True, Verdict.ACCEPTED),  # the first one
        (signed(2, seq=10_000), 9_000, -5.0, 5.0, True, Verdict.ACCEPTED),
        (signed(2, seq=10_000), 10_000, -5.0, 5.0, True, Verdict.COPY),  # redelivered: changes nothing
        (signed(2, seq=9_000), 10_000, -5.0, 5.0, True, Verdict.REPLAY),
        (signed(2, seq=10_000), None, None, 5.0, False, Verdict.NOT_MEMBER),
        (signed(2, seq=10_000, by=3), None, None, 5.0, True, Verdict.SIGNATURE),
        (signed(2, seq=10_000, by=3), 10_000, -5.0, 5.0, True, Verdict.COPY),  # changes nothing either
        # held back by a broker: later than the member's best delay by more than allowed
        (signed(2, seq=10_000), 9_000, -5.0, 5.0 + MAX_LATE_SECONDS + 1, True, Verdict.STALE),
        (signed(2, seq=10_000), 9_000, -5.0, 5.0 + MAX_LATE_SECONDS - 1, True, Verdict.ACCEPTED),
        # a clock hours off is a constant offset: only the delay's changes count
        (signed(2, seq=10_000), 9_000, 7200.0 - 10, 7200.0, True, Verdict.ACCEPTED),
        # a last will is made at connect time: old and below the last seq, it is taken (it can
        # only make the member look offline), but only when the member signed it
        (signed(2, "offline", seq=1), 10_000, -5.0, 3600.0, True, Verdict.ACCEPTED),
        (signed(2, "offline", seq=1, by=3), 10_000, -5.0, 5.0, True, Verdict.SIGNATURE),
    ],
)
def test_the_verdict_on_a_heartbeat(
    beat: HeartbeatMessage,
    last: int | None,
    baseline: float | None,
    arrival: float,
    member: bool,
    expected: Verdict,
) -> None:
    assert verdict(beat, last=last, baseline=baseline, arrival=arrival, member=member) is expected


def test_the_delay_is_the_arrival_minus_the_members_clock() -> None:
    assert delay(signed(2, seq=10_500), 12.0) == 1.5


def test_the_baseline_falls_to_the_best_delay_and_rises_only_by_the_drift_allowed() -> None:
    base = first_baseline(signed(2, seq=10_000), 12.0)  # delay 2 s
    assert base.delay == 2.0
    assert base.lowered(signed(2, seq=11_000), 12.5).delay == 1.5  # a faster one lowers it
    assert base.lowered(signed(2, seq=11_000), 20.0).delay == pytest.approx(2.0 + 8.0 * BASELINE_DRIFT)
    # a day later a heartbeat delayed 20 s more than the best is taken, one 40 s more is not
    later = 86_400.0
    for extra, expected in ((20.0, Verdict.ACCEPTED), (40.0, Verdict.STALE)):
        beat = signed(2, seq=int((later - 2.0 - extra) * 1000))
        got = judge(
            beat,
            member_known=True,
            last_run=1,
            last_seq=1,
            baseline=base,
            arrival=later,
            verifies=lambda: True,
        )
        assert got[0] is expected, extra


def test_a_later_run_of_the_member_starts_afresh_and_an_earlier_one_is_a_replay() -> None:
    base = Baseline(-5.0, 5.0)

    def run_verdict(beat: HeartbeatMessage) -> Verdict:
        return judge(
            beat,
            member_known=True,
            last_run=2,
            last_seq=10_000,
            baseline=base,
            arrival=5.0,
            verifies=lambda: keys(1).verifies(beat, NET),
        )[0]

    # restarted with its clock set back an hour: a lower seq, a delay an hour longer, yet new
    assert run_verdict(signed(2, seq=10_000 - 3_600_000, run=3)) is Verdict.ACCEPTED
    assert run_verdict(signed(2, seq=20_000, run=1)) is Verdict.REPLAY  # a recording of an earlier run
    assert run_verdict(signed(2, seq=10_000 - 3_600_000, run=3, by=3)) is Verdict.SIGNATURE
    assert run_verdict(signed(2, seq=10_000 - 3_600_000, run=2)) is Verdict.REPLAY
