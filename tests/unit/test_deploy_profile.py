"""The deployment profiles' action delay (the guardian's time to cancel a RESUME or ROTATE) and
challenge period (the sentinels' time to veto a held transfer)."""

from __future__ import annotations

import pytest

from relayer.provisioning.deploy import (
    DAY,
    DEVNET_ACTION_DELAY,
    DEVNET_CHALLENGE_PERIOD,
    MAX_ACTION_DELAY,
    MAX_CHALLENGE_PERIOD,
    TESTNET_ACTION_DELAY,
    TESTNET_CHALLENGE_PERIOD,
    TESTNET_CHALLENGE_THRESHOLD,
    Profile,
    devnet_profile,
)


def test_the_devnet_waits_seconds_and_a_testnet_profile_at_least_a_day() -> None:
    # (the delay the deployed endpoints report is checked on anvil: test_contracts_onchain.py)
    assert devnet_profile().action_delay == DEVNET_ACTION_DELAY
    assert Profile(name="testnet").action_delay == TESTNET_ACTION_DELAY >= DAY


@pytest.mark.parametrize(
    ("delay", "minimum", "ok"),
    [
        (DAY, DAY, True),
        (MAX_ACTION_DELAY, DAY, True),
        (DAY - 1, DAY, False),  # shorter than the profile allows
        (60, DAY, False),
        (MAX_ACTION_DELAY + 1, DAY, False),  # the endpoints refuse more than 30 days
        (0, 1, False),
        (2, 1, True),  # the devnet's bound
        (0, 0, False),
    ],
)
def test_a_profile_refuses_an_action_delay_out_of_bounds(delay: int, minimum: int, ok: bool) -> None:
    if ok:
        assert Profile(name="p", action_delay=delay, min_action_delay=minimum).action_delay == delay
    else:
        with pytest.raises(ValueError, match="action delay"):
            Profile(name="p", action_delay=delay, min_action_delay=minimum)


def test_the_devnet_holds_for_seconds_and_a_testnet_profile_for_hours() -> None:
    assert devnet_profile().challenge_period == DEVNET_CHALLENGE_PERIOD < 60
    assert Profile(name="testnet").challenge_period == TESTNET_CHALLENGE_PERIOD >= 3600
    assert devnet_profile().challenge_threshold == 0  # nothing held unless asked
    # a testnet deployment holds large transfers by default: the sentinels' window is not opt-in
    assert Profile(name="testnet").challenge_threshold == TESTNET_CHALLENGE_THRESHOLD > 0


@pytest.mark.parametrize(
    ("period", "threshold", "ok"),
    [
        (1, 0, True),
        (MAX_CHALLENGE_PERIOD, 10**24, True),
        (0, 0, False),  # the endpoints refuse 0
        (MAX_CHALLENGE_PERIOD + 1, 0, False),
        (60, -1, False),
        (60, 2**256, False),
    ],
)
def test_a_profile_refuses_a_challenge_out_of_bounds(period: int, threshold: int, ok: bool) -> None:
    if ok:
        p = Profile(name="p", challenge_period=period, challenge_threshold=threshold)
        assert (p.challenge_period, p.challenge_threshold) == (period, threshold)
    else:
        with pytest.raises(ValueError, match="challenge"):
            Profile(name="p", challenge_period=period, challenge_threshold=threshold)
