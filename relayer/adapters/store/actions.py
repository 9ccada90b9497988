"""Committee actions (relayer.core.items): the actions, their history, the partials received and
the registry watcher's cursor. What a member signs for an action goes through `signed_items`
(`relayer.adapters.store.signed`), the signed-once record of every kind.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from relayer.adapters.store.connection import StoreBase, StoreError, rows_in_states
from relayer.core.issuer_scan import WaitingDecision
from relayer.core.items import CLOSED, Action, ActionKind, ActionRecord, ActionState, Origin
from relayer.core.onchain import IssuerEvent
from relayer.core.types import ChainId


def _record(r: aiosqlite.Row) -> ActionRecord:
    action = Action(
        id=str(r["id"]),
        kind=ActionKind(r["kind"]),
        chain_id=ChainId(int(r["chain_id"])),
        params=bytes(r["params"]),
        origin=Origin(r["origin"]),
        proposer=int(r["proposer"]),
        created_at=float(r["created_at"]),
        expires_at=None if r["expires_at"] is None else float(r["expires_at"]),
        position=(int(r["position_a"]), int(r["position_b"])),
    )

    def opt_int(key: str) -> int | None:
        return None if r[key] is None else int(r[key])

    return ActionRecord(
        action=action,
        state=ActionState(r["state"]),
        detail=str(r["detail"]),
        approved_at=None if r["approved_at"] is None else float(r["approved_at"]),
        action_nonce=opt_int("action_nonce"),
        key_epoch=opt_int("key_epoch"),
        message=None if r["message"] is None else bytes(r["message"]),
        signature=None if r["signature"] is None else bytes(r["signature"]),
        tx_hash=None if r["tx_hash"] is None else str(r["tx_hash"]),
        executable_at=opt_int("executable_at"),
        sent_at=None if r["sent_at"] is None else float(r["sent_at"]),
        updated_at=float(r["updated_at"]),
    )


async def _history(
    db: aiosqlite.Connection, action_id: str, state: ActionState, detail: str, now: float
) -> None:
    await db.execute(
        "INSERT INTO action_history (id, state, detail, at) VALUES (?, ?, ?, ?)",
        (action_id, state, detail, now),
    )


async def _insert(
    db: aiosqlite.Connection,
    a: Action,
    state: ActionState,
    detail: str,
    approved_at: float | None,
    now: float,
) -> bool:
    cur = await db.execute(
        "INSERT OR IGNORE INTO actions (id, kind, chain_id, params, origin, proposer, position_a, "
        "position_b, created_at, expires_at, approved_at, state, detail, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            a.id,
            a.kind,
            a.chain_id,
            a.params,
            a.origin,
            a.proposer,
            a.position[0],
            a.position[1],
            a.created_at,
            a.expires_at,
            approved_at,
            state,
            detail,
            now,
        ),
    )
    if cur.rowcount == 0:
        return False
    await _history(db, a.id, state, detail, now)
    return True


class Actions(StoreBase):
    """Committee actions from their proposal (or registry event) to their outcome on-chain."""

    async def put_action(
        self, a: Action, state: ActionState, detail: str, *, approved_at: float | None = None
    ) -> bool:
        """Record an action seen for the first time; False (nothing changes) if it is known."""
        now = time.time()
        async with self.transaction() as db:
            return await _insert(db, a, state, detail, approved_at, now)

    async def action_record(self, action_id: str) -> ActionRecord | None:
        rows = await self._fetchall("SELECT * FROM actions WHERE id=?", (action_id,))
        return _record(rows[0]) if rows else None

    async def action_records(
        self, states: Iterable[ActionState] | None = None, chain_id: int | None = None, limit: int = 100
    ) -> list[ActionRecord]:
        """Actions in `states` (every state if None), newest first."""
        sql, args = rows_in_states("actions", states, "created_at DESC, id", limit, chain_id=chain_id)
        return [_record(r) for r in await self._fetchall(sql, args)]

    async def open_actions(self) -> list[ActionRecord]:
        """Every action not closed (proposed, approved, submitted, scheduled), oldest first."""
        closed = [s.value for s in CLOSED]
        rows = await self._fetchall(
            f"SELECT * FROM actions WHERE state NOT IN ({','.join('?' for _ in closed)}) "  # noqa: S608
            "ORDER BY position_a, position_b, id",
            closed,
        )
        return [_record(r) for r in rows]

    async def proposals_since(self, proposer: int, since: float) -> int:
        """How many proposals of `proposer`'s operator this node recorded since `since` (any state)."""
        rows = await self._fetchall(
            "SELECT COUNT(*) AS n FROM actions WHERE origin='operator' AND proposer=? AND created_at>=?",
            (proposer, since),
        )
        return int(rows[0]["n"])

    async def action_history(self, action_id: str) -> list[tuple[str, str, float]]:
        rows = await self._fetchall(
            "SELECT state, detail, at FROM action_history WHERE id=? ORDER BY at, rowid", (action_id,)
        )
        return [(str(r["state"]), str(r["detail"]), float(r["at"])) for r in rows]

    async def set_action_state(
        self,
        action_id: str,
        state: ActionState,
        detail: str,
        *,
        approved_at: float | None = None,
        signing: tuple[int, int, bytes] | None = None,
        signature: bytes | None = None,
        tx: tuple[str, float] | None = None,
        executable_at: int | None = None,
        expect: tuple[ActionState, int | None, bytes | None] | None = None,
    ) -> bool:
        """Move an action on, with a history line (its partials stay: one per member, they say who
        signed). A closed action (executed, cancelled, expired, refused, superseded) never moves
        again: False then, or if there is no such action. `signing` is the
        (action nonce, key epoch, message) it is now signed for (its signature is forgotten: it
        was for another nonce); `tx` the (hash, sent at) of the transaction this node sent;
        `expect` the (state, nonce, message) it must still have (else False, nothing changes)."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT state, action_nonce, message FROM actions WHERE id=?", (action_id,)
            )
            row = await cur.fetchone()
            if row is None or ActionState(row["state"]) in CLOSED:
                return False
            if expect is not None:
                message = None if row["message"] is None else bytes(row["message"])
                nonce = None if row["action_nonce"] is None else int(row["action_nonce"])
                if (ActionState(row["state"]), nonce, message) != expect:
                    return False
            sets = ["state=?", "detail=?", "updated_at=?"]
            args: list[Any] = [state, detail, now]
            if approved_at is not None:
                sets.append("approved_at=?")
                args.append(approved_at)
            if signing is not None:
                sets += ["action_nonce=?", "key_epoch=?", "message=?", "signature=NULL", "tx_hash=NULL"]
                args += [signing[0], signing[1], signing[2]]
            if signature is not None:
                sets.append("signature=?")
                args.append(signature)
            if tx is not None:
                sets += ["tx_hash=?", "sent_at=?"]
                args += [tx[0], tx[1]]
            if executable_at is not None:
                sets.append("executable_at=?")
                args.append(executable_at)
            args.append(action_id)
            await db.execute(f"UPDATE actions SET {', '.join(sets)} WHERE id=?", args)  # noqa: S608
            if ActionState(row["state"]) != state or signing is not None or tx is not None:
                await _history(db, action_id, state, detail, now)
        return True

    # ---- partials ------------------------------------------------------------------------

    async def put_action_partial(
        self, action_id: str, nonce: int, key_epoch: int, member: int, message: bytes, partial: bytes
    ) -> None:
        """Keep a member's partial for the action at (nonce, epoch). One per member and action: its
        latest word replaces any earlier one, for any nonce (a member signing many nonces of one
        action cannot grow the store)."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM action_partials WHERE id=? AND member=?", (action_id, member))
            await db.execute(
                "INSERT OR REPLACE INTO action_partials (id, action_nonce, key_epoch, member, message, "
                "partial, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (action_id, nonce, key_epoch, member, message, partial, time.time()),
            )

    async def action_partials(
        self, action_id: str, nonce: int, key_epoch: int
    ) -> list[tuple[int, bytes, bytes]]:
        """(member, message, partial) kept for the action at (nonce, epoch)."""
        rows = await self._fetchall(
            "SELECT member, message, partial FROM action_partials WHERE id=? AND action_nonce=? "
            "AND key_epoch=? ORDER BY member",
            (action_id, nonce, key_epoch),
        )
        return [(int(r["member"]), bytes(r["message"]), bytes(r["partial"])) for r in rows]

    async def action_partial_nonces(self, action_id: str) -> list[tuple[int, int]]:
        """The (action nonce, key epoch) pairs this node holds partials for, for the action."""
        rows = await self._fetchall(
            "SELECT DISTINCT action_nonce, key_epoch FROM action_partials WHERE id=? ORDER BY action_nonce",
            (action_id,),
        )
        return [(int(r["action_nonce"]), int(r["key_epoch"])) for r in rows]

    async def drop_action_partial(self, action_id: str, nonce: int, key_epoch: int, member: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM action_partials WHERE id=? AND action_nonce=? AND key_epoch=? AND member=?",
                (action_id, nonce, key_epoch, member),
            )

    # ---- the registry watcher ------------------------------------------------------------

    async def registry_cursor(self, chain_id: int) -> int | None:
        rows = await self._fetchall("SELECT value FROM meta WHERE key=?", (f"registry_cursor:{chain_id}",))
        return int(rows[0]["value"]) if rows else None

    async def record_registry_scan(
        self,
        chain_id: int,
        next_block: int,
        actions: Sequence[Action],
        detail: str,
        waiting: Sequence[WaitingDecision] | None = None,
    ) -> list[Action]:
        """Record the actions carrying the registry events final on `chain_id` up to `next_block`
        and move the cursor, in one transaction; returns those that were new. `waiting` (if
        given): every issuer decision of C that waits for its asset's token pair on a follower
        (relayer.core.issuer_scan), replacing the list kept so far, in the same transaction."""
        if next_block < 0:
            raise StoreError(f"registry cursor {next_block} for chain {chain_id} is negative")
        now = time.time()
        new: list[Action] = []
        async with self.transaction() as db:
            for a in actions:
                if await _insert(db, a, ActionState.APPROVED, detail, now, now):
                    new.append(a)
            await db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"registry_cursor:{chain_id}", str(next_block)),
            )
            if waiting is not None:
                rows = [{"chain_id": int(w.chain_id), **dataclasses.asdict(w.event)} for w in waiting]
                await db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (f"issuer_waiting:{chain_id}", json.dumps(rows)),
                )
        return new

    async def issuer_waiting(self, chain_id: int) -> list[WaitingDecision]:
        """The issuer decisions final on `chain_id` (C) that wait for their asset's token pair on
        a follower, in C's order (kept with the registry's cursor; none if never recorded)."""
        rows = await self._fetchall("SELECT value FROM meta WHERE key=?", (f"issuer_waiting:{chain_id}",))
        if not rows:
            return []
        out = []
        for item in json.loads(str(rows[0]["value"])):
            dst = ChainId(int(item.pop("chain_id")))
            out.append(WaitingDecision(dst, IssuerEvent(**item)))
        return out

    async def action_counts(self) -> tuple[dict[tuple[str, str], int], dict[str, float]]:
        """((kind, state) -> number of actions, kind -> created_at of its oldest action still
        proposed, approved or submitted)."""
        counts = {
            (str(r["kind"]), str(r["state"])): int(r["n"])
            for r in await self._fetchall(
                "SELECT kind, state, COUNT(*) AS n FROM actions GROUP BY kind, state"
            )
        }
        # waiting for signatures or a submission; a scheduled action waits out the endpoint's delay
        open_states = [ActionState.PROPOSED.value, ActionState.APPROVED.value, ActionState.SUBMITTED.value]
        marks = ",".join("?" for _ in open_states)
        oldest = {
            str(r["kind"]): float(r["t"])
            for r in await self._fetchall(
                f"SELECT kind, MIN(created_at) AS t FROM actions WHERE state IN ({marks}) GROUP BY kind",  # noqa: S608
                open_states,
            )
        }
        return counts, oldest
