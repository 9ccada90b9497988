"""The reconciler's judgement, on tables of chain facts (pure)."""

from __future__ import annotations

import pytest

from relayer.ops.reconciler import Executed, Initiated, check

C, E = 7001, 7002
BOB = "0x" + "b0" * 20


def lock(nonce: int, amount: int = 10) -> Initiated:
    return Initiated((C, E, nonce), BOB, amount)


def mint(nonce: int, amount: int = 10, recipient: str = BOB) -> Executed:
    return Executed((C, E, nonce), recipient, amount)


def judge(**kw: object) -> list[tuple[str, str]]:
    args: dict[str, object] = {
        "initiated": [],
        "executed": [],
        "refunded": [],
        "failed": [],
        "queued": [],
        "wrapped_supply": 0,
        "locked": 0,
        "settled": True,
    }
    args.update(kw)
    verdict = check(**args)  # type: ignore[arg-type]
    return [(v.invariant, v.detail) for v in verdict.violations]


def test_a_clean_round_trip_passes() -> None:
    assert (
        judge(initiated=[lock(1), lock(2)], executed=[mint(1), mint(2)], wrapped_supply=20, locked=20) == []
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            {"initiated": [lock(1)], "executed": [mint(1), mint(1)], "wrapped_supply": 20, "locked": 10},
            ["S1", "S3", "S3"],
        ),
        (
            {"initiated": [lock(1)], "refunded": [(C, E, 1), (C, E, 1)], "wrapped_supply": 0, "locked": 0},
            ["S1", "S1"],  # refunded twice, and without a failure on the destination
        ),
        (
            {
                "initiated": [lock(1)],
                "executed": [mint(1)],
                "refunded": [(C, E, 1)],
                "wrapped_supply": 10,
                "locked": 10,
            },
            ["S1", "S1"],  # executed and refunded; refunded without a failure
        ),
        ({"executed": [mint(1)], "wrapped_supply": 10, "locked": 0}, ["S2", "S3", "S3"]),
        (
            {"initiated": [lock(1)], "executed": [mint(1, amount=11)], "wrapped_supply": 11, "locked": 10},
            ["S2", "S3", "S3"],
        ),
        (
            {
                "initiated": [lock(1)],
                "executed": [mint(1, recipient="0x" + "e0" * 20)],
                "wrapped_supply": 10,
                "locked": 10,
            },
            ["S2"],
        ),
        (
            {"initiated": [lock(1), lock(2)], "executed": [mint(1)], "wrapped_supply": 10, "locked": 20},
            ["S3", "L1"],
        ),
        ({"initiated": [lock(1)], "failed": [(C, E, 1)], "wrapped_supply": 0, "locked": 10}, ["S3", "L1"]),
    ],
)
def test_each_violation_is_named(case: dict[str, object], expected: list[str]) -> None:
    assert sorted(inv for inv, _ in judge(**case)) == sorted(expected)


def test_transfers_in_flight_are_fine_until_settled() -> None:
    facts = {"initiated": [lock(1), lock(2)], "executed": [mint(1)], "wrapped_supply": 10, "locked": 20}
    assert judge(**facts, settled=False) == []
    assert ("L1", f"transfer {C}->{E}#2 neither executed nor refunded") in judge(**facts)


def test_a_failed_then_refunded_transfer_settles() -> None:
    assert (
        judge(initiated=[lock(1)], failed=[(C, E, 1)], refunded=[(C, E, 1)], wrapped_supply=0, locked=0) == []
    )


def test_a_refund_of_a_transfer_that_never_failed_is_a_violation() -> None:
    facts = {"initiated": [lock(1)], "refunded": [(C, E, 1)], "wrapped_supply": 0, "locked": 0}
    assert ("S1", f"transfer {C}->{E}#1 refunded without a failure on its destination") in judge(**facts)


def test_a_held_transfer_is_pending_with_its_release_time_and_settles_once_released() -> None:
    """A transfer held for its challenge window is pending, named as held until T (not 'neither
    executed nor refunded'); released into the queue it is queued; vetoed, failed; delivered, done."""
    until = 1796300000  # 2026-12-03T12:13:20Z
    base = {"initiated": [lock(1, 500)], "held": [((C, E, 1), until)], "wrapped_supply": 0, "locked": 500}
    assert judge(**base, settled=False) == []
    violations = judge(**base)
    assert (
        "L1",
        f"transfer {C}->{E}#1 held for its challenge window until 2026-12-03T12:13:20Z (heldUntil {until})",
    ) in violations
    assert not any("neither executed nor refunded" in d for _, d in violations)
    assert ("L1", f"transfer {C}->{E}#1 queued by the rate limit") in judge(**base, queued=[(C, E, 1)])
    assert ("L1", f"transfer {C}->{E}#1 failed and not refunded") in judge(**base, failed=[(C, E, 1)])
    released = {**base, "executed": [mint(1, 500)], "wrapped_supply": 500}
    assert judge(**released) == []
    verdict = check(**{**released, "refunded": [], "failed": [], "queued": []}, settled=True)  # type: ignore[arg-type]
    assert verdict.counts["held"] == 1
