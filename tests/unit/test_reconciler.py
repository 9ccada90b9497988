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


# ---- a vault backing two wrapped chains (a third chain: Ethereum and an L2) --------------------

L = 7003
ALICE = "0x" + "a1" * 20


def to(dst: int, nonce: int, amount: int) -> Initiated:
    return Initiated((C, dst, nonce), BOB, amount)


def minted(dst: int, nonce: int, amount: int) -> Executed:
    return Executed((C, dst, nonce), BOB, amount)


def burnt(src: int, nonce: int, amount: int) -> Initiated:
    return Initiated((src, C, nonce), ALICE, amount)


def unlocked(src: int, nonce: int, amount: int) -> Executed:
    return Executed((src, C, nonce), ALICE, amount)


# both pairs: 10 locked toward E (nonce 1), 30 toward L (nonce 1), 4 burnt on E and unlocked
TWO_PAIRS = {
    "initiated": [to(E, 1, 10), to(L, 1, 30), burnt(E, 1, 4)],
    "executed": [minted(E, 1, 10), minted(L, 1, 30), unlocked(E, 1, 4)],
    "home": C,
}


@pytest.mark.parametrize(
    ("wrapped", "locked", "settled", "expected"),
    [
        ({E: 6, L: 30}, 36, True, []),  # exact per pair and in sum
        ({E: 6, L: 30}, 36, False, []),
        # the L2 minted 5 more than locked for it; the sum is still backed (E's share pays for it)
        ({E: 1, L: 35}, 36, False, [("S3", f"pair {C}<->{L}")]),
        (
            {E: 1, L: 35},
            36,
            True,
            [("S3", f"pair {C}<->{E}"), ("S3", f"pair {C}<->{L}"), ("S3", f"pair {C}<->{L}")],
        ),
        # a vault short of both: the sum check and each pair's stand
        ({E: 6, L: 30}, 30, False, [("S3", "wrapped supply 36 exceeds")]),
    ],
)
def test_a_vault_backing_two_wrapped_chains_is_judged_per_pair(
    wrapped: dict[int, int], locked: int, settled: bool, expected: list[tuple[str, str]]
) -> None:
    found = judge(
        **TWO_PAIRS,
        wrapped_by_chain=wrapped,
        wrapped_supply=sum(wrapped.values()),
        locked=locked,
        settled=settled,
    )
    assert len(found) == len(expected), found
    for (inv, detail), (want_inv, want_start) in zip(found, expected, strict=True):
        assert inv == want_inv, (inv, detail)
        assert detail.startswith(want_start), (inv, detail)


def test_per_pair_locked_counts_refunds_and_in_flight_transfers() -> None:
    # toward L: 30 minted, 7 locked still in flight, 5 refunded after failing; from L: 2 burnt in
    # flight (not unlocked yet), 3 burnt and refunded on L (minted back there, never unlocked)
    facts = {
        "initiated": [to(L, 1, 30), to(L, 2, 7), to(L, 3, 5), burnt(L, 1, 2), burnt(L, 2, 3)],
        "executed": [minted(L, 1, 30)],
        "refunded": [(C, L, 3), (L, C, 2)],
        "failed": [(C, L, 3), (L, C, 2)],
        "queued": [],
        "home": C,
        "wrapped_by_chain": {E: 0, L: 28},  # 30 minted, 2 burnt
        "wrapped_supply": 28,
        "locked": 37,
        "settled": False,
    }
    verdict = check(**facts)  # type: ignore[arg-type]
    assert verdict.ok, verdict.violations
    assert [(p.wrapped_chain, p.wrapped, p.locked) for p in verdict.pairs] == [(E, 0, 0), (L, 28, 37)]


def test_one_wrapped_chain_keeps_the_vault_balance_check_alone() -> None:
    verdict = check(  # type: ignore[arg-type]
        initiated=[lock(1)],
        executed=[mint(1)],
        refunded=[],
        failed=[],
        queued=[],
        wrapped_supply=10,
        locked=10,
        settled=True,
        home=C,
        wrapped_by_chain={E: 10},
    )
    assert verdict.ok
    assert verdict.pairs == []
