"""The store's committee actions on a real SQLite file: the one signed-once record survives a
restart and refuses a second message, a closed action never moves again, and the registry
watcher's cursor moves with the actions it found in one transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from relayer.adapters.store import Equivocation, Store
from relayer.core.encoding import action_params
from relayer.core.items import Action, ActionKind, ActionState, Origin, registry_action_id
from relayer.core.types import ChainId

GATEWAY = "0x0165878A594ca255338adfa4d48449f69242Eb8F"


def resume(action_id: str = "p1-0123abcd") -> Action:
    params = action_params("resume", pause_count=1, deadline=5000)
    return Action(
        action_id, ActionKind.RESUME, ChainId(7002), params, Origin.OPERATOR, 1, 1000.0, 5000.0, (1, 0)
    )


def freeze(block: int) -> Action:
    params = bytes(12) + b"\xab" * 20 + bytes(31) + b"\x01"
    return Action(
        registry_action_id(7002, block, 0),
        ActionKind.FREEZE,
        ChainId(7002),
        params,
        Origin.REGISTRY,
        0,
        1.0,
        None,
        (block, 0),
    )


def test_signed_once_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "qiao.sqlite3"

    async def first() -> bytes:
        async with Store.open(path) as store:
            return await store.sign_item(
                "resume", 7002, GATEWAY, 1, "p1-0123abcd@4", b"\x01" * 32, b"\x02" * 48
            )

    async def second() -> tuple[bytes, tuple[bytes, bytes] | None]:
        async with Store.open(path) as store:
            again = await store.sign_item(
                "resume", 7002, GATEWAY.lower(), 1, "p1-0123abcd@4", b"\x01" * 32, b"\x09" * 48
            )
            with pytest.raises(Equivocation, match="refusing 0x0303"):
                await store.sign_item("resume", 7002, GATEWAY, 1, "p1-0123abcd@4", b"\x03" * 32, b"\x04" * 48)
            # the same action for the next nonce is another item
            await store.sign_item("resume", 7002, GATEWAY, 1, "p1-0123abcd@5", b"\x03" * 32, b"\x04" * 48)
            return again, await store.signed_item("resume", 7002, GATEWAY, 1, "p1-0123abcd@4")

    assert asyncio.run(first()) == b"\x02" * 48
    again, kept = asyncio.run(second())
    assert again == b"\x02" * 48  # the partial recorded first, not the new one
    assert kept == (b"\x01" * 32, b"\x02" * 48)


def test_a_closed_action_never_moves(tmp_path: Path) -> None:
    async def run() -> None:
        async with Store.open(tmp_path / "qiao.sqlite3") as store:
            assert await store.put_action(resume(), ActionState.PROPOSED, "proposed by member 1")
            assert not await store.put_action(resume(), ActionState.APPROVED, "again")
            assert await store.set_action_state("p1-0123abcd", ActionState.APPROVED, "ok", approved_at=2.0)
            await store.put_action_partial("p1-0123abcd", 4, 1, 2, b"\x01" * 32, b"\x02" * 48)
            assert await store.set_action_state(
                "p1-0123abcd", ActionState.APPROVED, "signing", signing=(4, 1, b"\x01" * 32)
            )
            assert len(await store.action_partials("p1-0123abcd", 4, 1)) == 1
            assert await store.set_action_state("p1-0123abcd", ActionState.EXPIRED, "expired")
            assert not await store.set_action_state("p1-0123abcd", ActionState.APPROVED, "back")
            record = await store.action_record("p1-0123abcd")
            assert record is not None
            assert record.state is ActionState.EXPIRED
            assert record.action_nonce == 4
            assert record.approved_at == 2.0
            assert len(await store.action_partials("p1-0123abcd", 4, 1)) == 1  # who signed stays
            states = [s for s, _, _ in await store.action_history("p1-0123abcd")]
            assert states == ["proposed", "approved", "approved", "expired"]
            assert not await store.set_action_state("p9-00000000", ActionState.APPROVED, "unknown")

    asyncio.run(run())


def test_registry_scan_records_actions_and_cursor_together(tmp_path: Path) -> None:
    async def run() -> None:
        async with Store.open(tmp_path / "qiao.sqlite3") as store:
            assert await store.registry_cursor(7001) is None
            new = await store.record_registry_scan(7001, 20, [freeze(11), freeze(12)], "carried")
            assert [a.id for a in new] == ["r7002-11-0", "r7002-12-0"]
            again = await store.record_registry_scan(7001, 25, [freeze(12)], "carried")
            assert again == []  # seen already (a rescan after a restart)
            assert await store.registry_cursor(7001) == 25
            records = await store.action_records([ActionState.APPROVED])
            assert {r.action.id for r in records} == {"r7002-11-0", "r7002-12-0"}
            assert all(r.approved_at is not None for r in records)
            counts, oldest = await store.action_counts()
            assert counts[("freeze", "approved")] == 2
            assert oldest["freeze"] > 0

    asyncio.run(run())


def test_one_partial_per_member_and_action_whatever_the_nonce(tmp_path: Path) -> None:
    async def run() -> None:
        async with Store.open(tmp_path / "qiao.sqlite3") as store:
            await store.put_action(resume(), ActionState.PROPOSED, "proposed by member 1")
            for nonce in range(50):  # a member signing every nonce of one action
                await store.put_action_partial("p1-0123abcd", nonce, 1, 2, b"\x01" * 32, b"\x02" * 48)
            await store.put_action_partial("p1-0123abcd", 3, 1, 3, b"\x01" * 32, b"\x03" * 48)
            assert await store.action_partials("p1-0123abcd", 49, 1) == [(2, b"\x01" * 32, b"\x02" * 48)]
            assert await store.action_partials("p1-0123abcd", 3, 1) == [(3, b"\x01" * 32, b"\x03" * 48)]
            assert await store.action_partial_nonces("p1-0123abcd") == [(3, 1), (49, 1)]
            assert await store.action_partial_nonces("p9-00000000") == []
            assert await store.proposals_since(1, 0.0) == 1
            assert await store.proposals_since(1, 2000.0) == 0
            assert await store.proposals_since(2, 0.0) == 0
            assert [r.action.id for r in await store.open_actions()] == ["p1-0123abcd"]

    asyncio.run(run())


def test_issuer_decisions_waiting_for_their_pair_are_kept_with_the_cursor(tmp_path: Path) -> None:
    """Review #5: a decision whose asset has no token pair on the follower yet is kept (not
    dropped) in the scan's transaction, read back after a restart, and replaced by the next scan's
    list (empty once carried)."""
    from relayer.core.issuer_scan import WaitingDecision
    from relayer.core.onchain import IssuerEvent

    def waiting(sequence: int, block: int) -> WaitingDecision:
        e = IssuerEvent(
            "0x" + "aa" * 20, sequence, 5, "0x" + "b0" * 20, "0x" + "a1" * 20, 2**255, 2**63, "0x" + "cc" * 20,
            block, "0x" + "01" * 32, "0x" + "02" * 32, 3,
        )  # fmt: skip
        return WaitingDecision(ChainId(7002), e)

    async def run() -> None:
        path = tmp_path / "qiao.sqlite3"
        async with Store.open(path) as store:
            assert await store.issuer_waiting(7001) == []
            held = [waiting(1, 11), waiting(2, 12)]
            await store.record_registry_scan(7001, 20, [freeze(11)], "carried", held)
        async with Store.open(path) as store:  # a restart
            assert await store.issuer_waiting(7001) == held
            await store.record_registry_scan(7001, 25, [], "carried")  # no issuer registry: kept
            assert await store.issuer_waiting(7001) == held
            await store.record_registry_scan(7001, 30, [], "carried", [])
            assert await store.issuer_waiting(7001) == []
            assert await store.registry_cursor(7001) == 30

    asyncio.run(run())
