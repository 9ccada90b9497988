"""The SQLite store on real files: atomic state changes, the signed-once guard across restarts."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs

from relayer.adapters.store import SCHEMA_VERSION, Store, StoreError
from relayer.core.batching import Located
from relayer.core.states import (
    BatchState,
    Equivocation,
    ObservedFailure,
    RefundState,
    TransferState,
    TxRecord,
)
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route, Transfer

ROUTE = Route(ChainId(7001), ChainId(7002))
ADDR = cs("0x" + "ab" * 20)


def transfer(nonce: int, amount: int = 1) -> Transfer:
    return Transfer(ROUTE.src, ROUTE.dst, Nonce(nonce), ADDR, ADDR, ADDR, ADDR, amount)


def events(*nonces: int) -> list[tuple[Located, str, str, int]]:
    return [(Located(transfer(n), 10 + n), "0xblock", f"0xtx{n}", 0) for n in nonces]


async def test_scan_results_and_cursor_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    async with Store.open(path) as store:
        new = await store.record_scan(ROUTE.src, 50, events(1, 2, 3))
        assert [t.nonce for t in new] == [1, 2, 3]
    async with Store.open(path) as store:
        assert await store.cursor(ROUTE.src) == 50
        again = await store.record_scan(ROUTE.src, 60, events(3, 4))
        assert [t.nonce for t in again] == [4]
        assert (await store.counts_by_state()) == {"final": 4}


async def test_a_ticks_signatures_are_recorded_together_and_an_equivocation_is_refused_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    first, clash, third = (BatchId(ROUTE, Nonce(a), Nonce(b)) for a, b in ((1, 2), (2, 3), (4, 4)))
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3, 4))
        out = await store.record_signatures(
            1,
            [
                (first, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48),
                (clash, 1, b"\x04" * 32, b"\x05" * 32, b"\x06" * 48),  # overlaps the first: refused
                (third, 1, b"\x07" * 32, b"\x08" * 32, b"\x09" * 48),
            ],
        )
        assert out[0] == (b"\x03" * 48, True)
        assert isinstance(out[1], Equivocation)
        assert out[2] == (b"\x09" * 48, True)
        # each new partial is kept as this member's own, in the same transaction
        assert [m for m, *_ in await store.partials_for(first)] == [1]
        assert await store.partials_for(clash) == []
        assert [m for m, *_ in await store.partials_for(third)] == [1]
    async with Store.open(path) as store:  # after a restart: the recorded partial, nothing new
        assert await store.signed_partial(clash) is None
        [again] = await store.record_signatures(1, [(first, 1, b"\x01" * 32, b"\x02" * 32, b"\x0a" * 48)])
        assert again == (b"\x03" * 48, False)
        with pytest.raises(Equivocation):
            await store.record_signature(clash, 1, b"\x04" * 32, b"\x05" * 32, b"\x06" * 48)


async def test_a_batch_and_its_partials_are_read_together(tmp_path: Path) -> None:
    bid = BatchId(ROUTE, Nonce(1), Nonce(2))
    async with Store.open(tmp_path / "s.sqlite3") as store:
        assert await store.batch_and_partials(bid) == (None, [])
        await store.put_partial(bid, 3, b"\x02" * 32, b"\x03" * 48)  # before the cut
        await store.put_partial(bid, 2, b"\x04" * 32, b"\x05" * 48)
        head, partials = await store.batch_and_partials(bid)
        assert head is None
        assert partials == await store.partials_for(bid)
        assert [m for m, *_ in partials] == [2, 3]
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        batch = Batch((transfer(1), transfer(2)), cs("0x" + "cd" * 20), 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 20, 3)
        head, partials = await store.batch_and_partials(bid)
        assert head == await store.batch_head(ROUTE, 1)
        assert partials == await store.partials_for(bid)


async def test_a_transfer_seen_again_with_other_fields_is_a_conflict(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.src, 20, events(1))
        forged = [(Located(transfer(1, amount=999), 11), "0xb", "0xt", 0)]
        with pytest.raises(StoreError, match="different fields"):
            await store.record_scan(ROUTE.src, 30, forged)
        assert await store.cursor(ROUTE.src) == 20  # nothing of the failed scan was kept


async def test_signed_once_guard_refuses_a_different_root_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    bid = BatchId(ROUTE, Nonce(1), Nonce(3))
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3, 4))
        kept = await store.record_signature(bid, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48)
        assert kept == b"\x03" * 48
    async with Store.open(path) as store:
        # the same batch again: the stored partial comes back, nothing new is signed
        again = await store.record_signature(bid, 1, b"\x01" * 32, b"\x02" * 32, b"\x09" * 48)
        assert again == b"\x03" * 48
        with pytest.raises(Equivocation):
            await store.record_signature(bid, 1, b"\x07" * 32, b"\x02" * 32, b"\x09" * 48)
        with pytest.raises(Equivocation):  # overlapping range
            await store.record_signature(
                BatchId(ROUTE, Nonce(3), Nonce(4)), 1, b"\x01" * 32, b"\x02" * 32, b"\x09" * 48
            )
        # a disjoint range is fine
        await store.record_signature(
            BatchId(ROUTE, Nonce(4), Nonce(4)), 1, b"\x05" * 32, b"\x06" * 32, b"\x08" * 48
        )


async def test_batch_states_move_transfers_and_keep_history(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 3)
        assert await store.route_progress(ROUTE) == (19, 3)
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, signature=b"\x05" * 48)
        await store.set_batch_state(batch.id, BatchState.EXECUTED, "done")
        stored = await store.batch(ROUTE, 1)
        assert stored is not None
        assert stored.state == BatchState.EXECUTED
        assert stored.signature == b"\x05" * 48
        assert [r.state for r in await store.transfers()] == [TransferState.EXECUTED] * 2
        states = [s for s, _, _ in await store.history(ROUTE, 2)]
        assert states == ["final", "batched", "aggregated", "executed"]


async def test_signing_a_batch_seen_executed_already_leaves_its_transfers_executed(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 3)
        # after a restart the node combined the others' partials and saw the batch executed ...
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, signature=b"\x05" * 48)
        await store.set_batch_state(batch.id, BatchState.EXECUTED, "done")
        # ... before its own signer ran on the batch it had listed as pending
        kept = await store.record_signature(batch.id, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48)
        assert kept == b"\x03" * 48  # the signed-once guard still holds it
        assert [r.state for r in await store.transfers()] == [TransferState.EXECUTED] * 2
        states = [s for s, _, _ in await store.history(ROUTE, 1)]
        assert states[-1] == "executed"
        # a pending batch's transfers do move to signed
        second = Batch((transfer(3),), ADDR, 1)
        await store.record_scan(ROUTE.src, 30, events(3))
        await store.record_batches(ROUTE, [(second, b"\x04" * 32, b"\x06" * 32)], 29, 4)
        await store.record_signature(second.id, 1, b"\x04" * 32, b"\x06" * 32, b"\x07" * 48)
        states_by_nonce = {r.transfer.nonce: r.state for r in await store.transfers()}
        assert states_by_nonce == {1: "executed", 2: "executed", 3: "signed"}


async def test_one_partial_per_member_and_batch_is_kept(tmp_path: Path) -> None:
    bid = BatchId(ROUTE, Nonce(1), Nonce(2))
    async with Store.open(tmp_path / "s.sqlite3") as store:
        assert await store.add_partial(bid, 2, b"\x01" * 32, b"\x02" * 48)
        assert not await store.add_partial(bid, 2, b"\x01" * 32, b"\x03" * 48)
        assert [m for m, *_ in await store.partials_for(bid)] == [2]


async def test_a_file_that_is_not_sqlite_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "qiao.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="restore qiao.sqlite3 from a backup, or delete"):
        async with Store.open(path):
            pass


def failure(nonce: int, block: int = 30) -> ObservedFailure:
    return ObservedFailure(ROUTE, nonce, 1, block, "0xdstblock", f"0xdsttx{nonce}", 0)


async def test_a_failure_is_stored_with_the_cursor_and_a_refund_moves_the_transfer_to_refunded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        await store.record_scan(ROUTE.dst, 40, [], failures=[failure(2)])
    async with Store.open(path) as store:  # durable with the destination's cursor
        assert await store.cursor(ROUTE.dst) == 40
        [seen] = await store.refunds([RefundState.OBSERVED])
        assert (seen.route, seen.nonce, seen.reason) == (ROUTE, 2, 1)
        # the same failure seen again (a rescan) changes nothing
        await store.record_scan(ROUTE.dst, 50, [], failures=[failure(2, block=45)])
        assert (await store.refund(ROUTE, 2)).detail == seen.detail  # type: ignore[union-attr]
        kept = await store.approve_refund(ROUTE, 2, 1, b"\x01" * 32, b"\x02" * 48)
        assert kept == b"\x02" * 48
        # approved once: the recorded partial comes back, a different message is refused
        assert await store.approve_refund(ROUTE, 2, 1, b"\x01" * 32, b"\x09" * 48) == b"\x02" * 48
        with pytest.raises(Equivocation):
            await store.approve_refund(ROUTE, 2, 1, b"\x07" * 32, b"\x09" * 48)
        await store.set_refund_state(ROUTE, 2, RefundState.AGGREGATED, "t", signature=b"\x05" * 48)
        tx = TxRecord("0xabc", 7001, ADDR, 4, 10, 1, 123.0)
        await store.record_refund_tx(ROUTE, 2, tx)
        sent = await store.refund(ROUTE, 2)
        assert sent is not None
        assert sent.state == RefundState.SUBMITTED
        assert sent.signature == b"\x05" * 48
        assert sent.tx is not None
        assert (sent.tx.tx_hash, sent.tx.nonce, sent.tx.max_fee) == ("0xabc", 4, 10)
        await store.set_refund_state(ROUTE, 2, RefundState.REFUNDED, "refunded on the source (final)")
        assert (await store.counts_by_state()) == {"final": 1, "refunded": 1}
        history = await store.history(ROUTE, 2)
        assert [s for s, _, _ in history] == ["final", "failed", "refunded"]
        assert history[1][1].startswith(
            "recipient not allowed on the destination (RecipientNotAllowed, reason 1)"
        )
        assert await store.refunds([RefundState.SUBMITTED]) == []


async def test_a_refunded_transfer_stays_refunded_when_its_batch_is_recorded_executed_later(
    tmp_path: Path,
) -> None:
    """The order of issue 14: the refund seen final before this member records the batch executed."""
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"r" * 32, b"m" * 32)], 20, 3)
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, "signed by [1, 2, 3]", signature=b"s")
        await store.record_scan(ROUTE.dst, 40, [], failures=[failure(2)])
        await store.approve_refund(ROUTE, 2, 1, b"\x01" * 32, None)
        await store.set_refund_state(ROUTE, 2, RefundState.REFUNDED, "refunded on the source (final)")
        await store.set_batch_state(batch.id, BatchState.EXECUTED, "executed on-chain by another relayer")
        assert (await store.counts_by_state()) == {"executed": 1, "refunded": 1}
        states = [s for s, _, _ in await store.history(ROUTE, 2)]
        assert states == ["final", "batched", "aggregated", "failed", "refunded"]
        # an operator's retry of the executed batch moves nothing back either
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, "retried by operator", retry=True)
        assert (await store.counts_by_state()) == {"executed": 1, "refunded": 1}


async def test_a_transfer_stored_after_its_failure_is_recorded_failed_at_once(tmp_path: Path) -> None:
    """A member whose source watcher lags sees the destination's failure first."""
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.dst, 40, [], failures=[failure(3)])
        await store.record_scan(ROUTE.src, 20, events(3))
        history = await store.history(ROUTE, 3)
        assert [s for s, _, _ in history] == ["final", "failed"]
        assert "recipient not allowed" in history[1][1]
        batch = Batch((transfer(3),), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"r" * 32, b"m" * 32)], 20, 4)
        assert (await store.counts_by_state()) == {"failed": 1}
        [row] = await store.transfers()
        assert row.state == TransferState.FAILED


async def test_an_unknown_failure_cannot_be_approved(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        with pytest.raises(StoreError, match="no failure"):
            await store.approve_refund(ROUTE, 9, 1, b"\x01" * 32, None)


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def schema_version(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])


def signed_batches(path: Path, signed_at: bool = False) -> list[tuple[Any, ...]]:
    """Every batch this member signed, as `signed_items` holds it, in the columns of a version-5
    store's `signed` (src, dst, first, last, key epoch, root, message, partial[, signed at])."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT CAST(substr(sequence, 1, instr(sequence, ':') - 1) AS INTEGER), chain_id, span_first, "
            f"span_last, key_epoch, content, message, partial{', signed_at' if signed_at else ''} "
            "FROM signed_items WHERE kind='batch' ORDER BY span_first, key_epoch"
        ).fetchall()


# the table every store up to version 5 has: each batch this member signed (version 6 dropped it)
SIGNED_TABLE = """
CREATE TABLE signed (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    first_nonce INTEGER NOT NULL,
    last_nonce INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    root BLOB NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    signed_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, first_nonce)
)
"""


def as_version_5(path: Path, signed: list[tuple[Any, ...]]) -> None:
    """Make the store at `path` what a version-5 build left behind: `signed` holding `signed`."""
    with sqlite3.connect(path) as db:
        db.execute(SIGNED_TABLE)
        db.executemany("INSERT INTO signed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", signed)
        db.execute("UPDATE meta SET value='5' WHERE key='schema'")
    db.close()


async def test_a_version_1_store_is_migrated_in_place_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1))
    with sqlite3.connect(path) as db:  # what a version-1 build left behind
        db.execute("DROP TABLE refunds")
        db.execute("DROP TABLE refund_partials")
        db.execute("DROP TABLE pauses")
        db.execute(SIGNED_TABLE)
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    async with Store.open(path) as store:
        assert await store.cursor(ROUTE.src) == 20
        await store.record_scan(ROUTE.dst, 30, [], failures=[failure(1)])
        assert len(await store.refunds([RefundState.OBSERVED])) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(SCHEMA_VERSION),)
    assert "signed" not in tables(path)


BACK = Route(ROUTE.dst, ROUTE.src)


async def test_a_version_2_store_is_migrated_and_then_keeps_pauses_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.dst, 30, [], failures=[failure(1)])
    with sqlite3.connect(path) as db:  # what a version-2 build (refunds, no pauses) left behind
        db.execute("DROP TABLE pauses")
        db.execute(SIGNED_TABLE)
        db.execute("UPDATE meta SET value='2' WHERE key='schema'")
    async with Store.open(path) as store:
        assert len(await store.refunds([RefundState.OBSERVED])) == 1
        assert await store.pauses() == {}
        await store.pause_routes([ROUTE], 1000.0)
        await store.pause_routes([ROUTE, BACK], 2000.0)  # a paused route keeps its time
    async with Store.open(path) as store:
        assert await store.pauses() == {ROUTE: 1000.0, BACK: 2000.0}
        await store.resume_routes([ROUTE])
    async with Store.open(path) as store:
        assert await store.pauses() == {BACK: 2000.0}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(SCHEMA_VERSION),)


async def test_a_version_1_store_with_damaged_tables_is_refused_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1))
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE refunds")
        db.execute("DROP TABLE refund_partials")
        db.execute("DROP TABLE pauses")  # and no `signed`, which every version up to 5 has
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    with pytest.raises(StoreError, match="table 'signed' is missing"):
        async with Store.open(path):
            pass
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("1",)


async def test_a_batch_range_signed_under_one_key_epoch_is_never_signed_under_another(tmp_path: Path) -> None:
    """The signed-once rule of a batch holds across key epochs: the route's nonces it took are
    never signed again with anything else (another range starting there, or overlapping it)."""
    path = tmp_path / "s.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3, 4))
        batch = Batch((transfer(1), transfer(2), transfer(3)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 4)
        assert (
            await store.record_signature(batch.id, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48)
            == b"\x03" * 48
        )
    async with Store.open(path) as store:
        for bid in (BatchId(ROUTE, Nonce(1), Nonce(2)), BatchId(ROUTE, Nonce(3), Nonce(4))):
            with pytest.raises(Equivocation, match="signed earlier under key epoch 1"):
                await store.record_signature(bid, 2, b"\x01" * 32, b"\x04" * 32, b"\x09" * 48)
        with pytest.raises(Equivocation, match="signed earlier under key epoch 1"):  # other content
            await store.record_signature(batch.id, 2, b"\x0a" * 32, b"\x04" * 32, b"\x09" * 48)
        assert await store.signed_partial(batch.id) == b"\x03" * 48
        assert await store.signed_partial(BatchId(ROUTE, Nonce(1), Nonce(2))) is None


async def test_a_batch_is_rekeyed_with_the_same_transfers_and_root_and_signed_again(tmp_path: Path) -> None:
    """A key rotation: the batch, not yet combined, takes the destination's new epoch and a new
    message; its old partials go; this member signs it once more (a re-key, not an equivocation),
    across a restart; an executed batch is never re-keyed."""
    path = tmp_path / "s.sqlite3"
    root = b"\x01" * 32
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        done = Batch((transfer(3),), ADDR, 1)
        await store.record_batches(
            ROUTE, [(batch, root, b"\x02" * 32), (done, b"\x05" * 32, b"\x06" * 32)], 19, 4
        )
        await store.record_signature(batch.id, 1, root, b"\x02" * 32, b"\x03" * 48)
        await store.add_partial(batch.id, 2, b"\x02" * 32, b"\x04" * 48)
        await store.set_batch_state(done.id, BatchState.EXECUTED, "done")
        assert await store.rekey_batch(batch.id, 2, b"\x12" * 32, "re-keyed from key epoch 1 to 2")
        assert not await store.rekey_batch(batch.id, 2, b"\x13" * 32, "again")  # has epoch 2 already
        assert not await store.rekey_batch(done.id, 2, b"\x16" * 32, "executed")
    async with Store.open(path) as store:
        stored = await store.batch(ROUTE, 1)
        assert stored is not None
        assert (stored.key_epoch, stored.message, stored.root, stored.state) == (
            2,
            b"\x12" * 32,
            root,
            BatchState.PENDING,
        )
        assert await store.partials_for(batch.id) == []
        states = {t.transfer.nonce: t.state for t in await store.transfers()}
        assert states == {1: TransferState.BATCHED, 2: TransferState.BATCHED, 3: TransferState.EXECUTED}
        assert await store.signed_partial(batch.id, 2) is None
        assert await store.signed_partial(batch.id, 1) == b"\x03" * 48
        assert await store.record_signature(batch.id, 2, root, b"\x12" * 32, b"\x07" * 48) == b"\x07" * 48
        assert await store.signed_partial(batch.id, 2) == b"\x07" * 48
        with pytest.raises(Equivocation):  # and never back under epoch 1 with another message
            await store.record_signature(batch.id, 1, root, b"\x22" * 32, b"\x08" * 48)
        assert (await store.batch(ROUTE, 3)).key_epoch == 1  # type: ignore[union-attr]


async def test_a_refund_not_sent_is_approved_again_under_the_sources_new_epoch(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        await store.record_scan(ROUTE.dst, 40, [], failures=[failure(1), failure(2)])
        await store.approve_refund(ROUTE, 1, 1, b"\x01" * 32, b"\x02" * 48, contract=ADDR)
        await store.put_refund_partial(ROUTE, 1, 3, b"\x01" * 32, b"\x03" * 48)
        kept = await store.rekey_refund(ROUTE, 1, 2, b"\x11" * 32, b"\x12" * 48, contract=ADDR, detail="rk")
        assert kept == b"\x12" * 48
        r = await store.refund(ROUTE, 1)
        assert r is not None
        assert (r.state, r.key_epoch, r.message, r.partial) == (RefundState.APPROVED, 2, b"\x11" * 32, kept)
        assert await store.refund_partials_for(ROUTE, 1) == []
        # not again at the same epoch, and never a refund only observed (not approved) or sent
        assert (
            await store.rekey_refund(ROUTE, 1, 2, b"\x21" * 32, b"\x22" * 48, contract=ADDR, detail="x")
            is False
        )
        assert await store.rekey_refund(ROUTE, 2, 2, b"\x31" * 32, None, contract=ADDR, detail="x") is False


async def test_a_batch_signed_again_under_a_later_key_epoch_is_recorded_beside_the_first(
    tmp_path: Path,
) -> None:
    """A re-key (relayer.core.signing.rekeyed): the same range and root signed under a later key
    epoch is a second row of `signed_items` and the first one stays, so every partial this member
    published is on record; the same again gives back its partial."""
    path = tmp_path / "s.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 3)
        await store.record_signature(batch.id, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48)
        assert (
            await store.record_signature(batch.id, 2, b"\x01" * 32, b"\x04" * 32, b"\x05" * 48)
            == b"\x05" * 48
        )
    async with Store.open(path) as store:
        assert (
            await store.record_signature(batch.id, 2, b"\x01" * 32, b"\x04" * 32, b"\x09" * 48)
            == b"\x05" * 48
        )
    assert sorted(signed_batches(path)) == [
        (ROUTE.src, ROUTE.dst, 1, 2, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48),
        (ROUTE.src, ROUTE.dst, 1, 2, 2, b"\x01" * 32, b"\x04" * 32, b"\x05" * 48),
    ]


A, B = BatchId(ROUTE, Nonce(1), Nonce(2)), BatchId(ROUTE, Nonce(3), Nonce(3))


async def two_signed_batches(path: Path) -> None:
    """Batches A (nonces 1-2) and B (3) cut and signed under key epoch 1."""
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3))
        cut = [
            (Batch((transfer(1), transfer(2)), ADDR, 1), b"\x01" * 32, b"\x02" * 32),
            (Batch((transfer(3),), ADDR, 1), b"\x04" * 32, b"\x05" * 32),
        ]
        await store.record_batches(ROUTE, cut, 19, 4)
        await store.record_signature(A, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48)
        await store.record_signature(B, 1, b"\x04" * 32, b"\x05" * 32, b"\x06" * 48)


async def test_a_version_5_store_drops_signed_and_forgets_nothing_it_recorded(tmp_path: Path) -> None:
    """A version-5 build recorded each signed batch in `signed_items` and in `signed`. Version 6
    drops `signed`; a row of it with no counterpart in `signed_items` (B here, recorded in `signed`
    alone) is copied in first, so the rule still knows B: it gives back B's partial and refuses
    anything else on its nonce, and every field of each row is kept."""
    path = tmp_path / "v5.sqlite3"
    await two_signed_batches(path)
    written = signed_batches(path, signed_at=True)  # what version 5 also wrote into `signed`
    assert len(written) == 2
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM signed_items WHERE item_id=?", (f"{ROUTE.src}:3",))
    db.close()
    as_version_5(path, written)
    assert signed_batches(path) == [w[:-1] for w in written[:1]]
    async with Store.open(path) as store:
        assert await store.signed_partial(A) == b"\x03" * 48
        assert await store.signed_partial(B) == b"\x06" * 48
        assert await store.record_signature(B, 1, b"\x04" * 32, b"\x05" * 32, b"\x09" * 48) == b"\x06" * 48
        with pytest.raises(Equivocation, match="overlaps 3-3 signed earlier under key epoch 1"):
            await store.record_signature(B, 1, b"\x0a" * 32, b"\x0b" * 32, b"\x09" * 48)
        with pytest.raises(Equivocation, match="overlaps 3-3 signed earlier under key epoch 1"):
            await store.record_signature(
                BatchId(ROUTE, Nonce(3), Nonce(4)), 1, b"\x04" * 32, b"\x05" * 32, b"\x09" * 48
            )
    assert schema_version(path) == "6"
    assert "signed" not in tables(path)
    assert signed_batches(path, signed_at=True) == written
    with contextlib.closing(sqlite3.connect(path)) as db:  # B's endpoint, from its batch
        assert db.execute(
            "SELECT contract FROM signed_items WHERE item_id=?", (f"{ROUTE.src}:3",)
        ).fetchone() == (ADDR.lower(),)
    async with Store.open(path) as store:  # and it opens again as this build's store
        assert await store.signed_partial(B) == b"\x06" * 48


async def test_a_version_5_store_whose_two_records_of_a_batch_disagree_is_refused_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    """If `signed` says this member signed A with another partial than `signed_items` holds for the
    same batch and key epoch, the row cannot be copied (its place is taken) and dropping `signed`
    would lose it: the store is refused, naming the batch, and nothing of the migration is kept
    (not even B, copied before the check)."""
    path = tmp_path / "v5.sqlite3"
    await two_signed_batches(path)
    written = signed_batches(path, signed_at=True)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM signed_items WHERE item_id=?", (f"{ROUTE.src}:3",))
    db.close()
    disagreeing = [(*written[0][:7], b"\x07" * 48, written[0][8]), written[1]]
    as_version_5(path, disagreeing)
    with pytest.raises(StoreError) as refused:
        async with Store.open(path):
            pass
    message = str(refused.value)
    assert "its table 'signed' records 1 signed batch(es)" in message
    assert f"{ROUTE}#1-2 (key epoch 1)" in message
    assert "left at version 5" in message
    assert "restore v5.sqlite3 from a backup" in message
    assert schema_version(path) == "5"
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT * FROM signed ORDER BY first_nonce").fetchall() == disagreeing
    assert signed_batches(path, signed_at=True) == written[:1]


async def test_a_new_store_has_no_signed_table_and_records_a_signed_batch_in_signed_items(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.sqlite3"
    await two_signed_batches(path)
    assert schema_version(path) == "6"
    assert "signed" not in tables(path)
    assert signed_batches(path) == [
        (ROUTE.src, ROUTE.dst, 1, 2, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48),
        (ROUTE.src, ROUTE.dst, 3, 3, 1, b"\x04" * 32, b"\x05" * 32, b"\x06" * 48),
    ]


V4_SIGNED_ITEMS = """
CREATE TABLE signed_items (
    kind TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    contract TEXT NOT NULL,
    key_epoch INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    signed_at REAL NOT NULL,
    PRIMARY KEY (kind, chain_id, contract, key_epoch, item_id)
)
"""


async def test_a_version_4_store_keeps_what_it_signed_after_the_migration_to_signed_items(
    tmp_path: Path,
) -> None:
    """A version-4 build recorded signed batches in `signed` and signed refunds in `refunds` only;
    after the upgrade the one signed-once rule (`signed_items`) knows them: the same batch and
    refund give back their partials, anything else is refused, under any key epoch."""
    path = tmp_path / "v4.sqlite3"
    batch = Batch((transfer(1), transfer(2)), ADDR, 1)
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 20, events(1, 2, 3))
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 3)
        await store.record_scan(ROUTE.dst, 40, [], failures=[failure(3)])
        await store.sign_item("resume", 7002, ADDR, 1, "p1-0123abcd@4", b"\x05" * 32, b"\x06" * 48)
    with sqlite3.connect(path) as db:  # what a version-4 build left behind
        db.execute(SIGNED_TABLE)
        db.execute(
            "INSERT INTO signed VALUES (?, ?, 1, 2, 1, ?, ?, ?, 100.0)",
            (ROUTE.src, ROUTE.dst, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48),
        )
        db.execute(
            "UPDATE refunds SET state='approved', key_epoch=1, message=?, partial=? WHERE nonce=3",
            (b"\x07" * 32, b"\x08" * 48),
        )
        rows = db.execute(
            "SELECT kind, chain_id, contract, key_epoch, item_id, message, partial, signed_at FROM signed_items"
        ).fetchall()
        db.execute("DROP TABLE signed_items")
        db.execute(V4_SIGNED_ITEMS)
        db.executemany("INSERT INTO signed_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE meta SET value='4' WHERE key='schema'")
    async with Store.open(path) as store:
        assert await store.signed_partial(batch.id) == b"\x03" * 48
        assert (
            await store.record_signature(batch.id, 1, b"\x01" * 32, b"\x02" * 32, b"\x09" * 48)
            == b"\x03" * 48
        )
        for bid, epoch, root, message in [
            (batch.id, 1, b"\x0a" * 32, b"\x0b" * 32),  # another root
            (batch.id, 2, b"\x0d" * 32, b"\x0c" * 32),  # another key epoch and root
            (BatchId(ROUTE, Nonce(2), Nonce(3)), 1, b"\x01" * 32, b"\x02" * 32),  # overlapping
        ]:
            with pytest.raises(Equivocation, match="overlaps 1-2"):
                await store.record_signature(bid, epoch, root, message, b"\x09" * 48)
        again = await store.approve_refund(ROUTE, 3, 1, b"\x07" * 32, b"\x09" * 48, contract=ADDR)
        assert again == b"\x08" * 48
        with pytest.raises(Equivocation):
            await store.approve_refund(ROUTE, 3, 2, b"\x0d" * 32, b"\x09" * 48, contract=ADDR)
        # the actions a version-4 build signed keep their rule too
        with pytest.raises(Equivocation, match="refusing 0x0e0e"):
            await store.sign_item("resume", 7002, ADDR, 1, "p1-0123abcd@4", b"\x0e" * 32, b"\x06" * 48)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(SCHEMA_VERSION),)
        assert db.execute(
            "SELECT COUNT(*) FROM signed_items WHERE kind IN ('batch', 'refund')"
        ).fetchone() == (2,)
    assert "signed" not in tables(path)


async def test_the_health_probes_reads_find_their_rows_by_index_and_count_only_the_pipeline(
    tmp_path: Path,
) -> None:
    """The health probe reads the pending transfers per route and the history since its last look
    every 2 s: each by an index, not a scan of every transfer and state change ever stored (which
    grows with every transfer the node relays). A store made before the history's time index
    gets it when opened."""
    from relayer.adapters.store.operator import LATENCY_MARKS, PENDING_BY_ROUTE, PIPELINE_STATES

    path = tmp_path / "s.sqlite3"
    async with Store.open(path) as store:
        await store.record_scan(ROUTE.src, 30, events(*range(1, 13)))
        batch = Batch((transfer(1), transfer(2)), ADDR, 1)
        await store.record_batches(ROUTE, [(batch, b"\x01" * 32, b"\x02" * 32)], 19, 3)
        await store.set_batch_state(batch.id, BatchState.AGGREGATED, signature=b"\x05" * 48)
        since = (await store.latency_marks(0.0))[0][1] - 1
        await store.set_batch_state(batch.id, BatchState.EXECUTED, "done")
    with contextlib.closing(sqlite3.connect(path)) as db:  # the other states, as the stages set them
        states = ["held", "queued", "released", "failed", "refunded", "signed", "submitted"]
        for nonce, state in enumerate(states, start=3):
            db.execute("UPDATE transfers SET state=? WHERE nonce=?", (state, nonce))
        db.execute("DROP INDEX transfer_history_at")  # as a store made before the index was
        db.commit()
    async with Store.open(path) as store:
        # final (10, 11, 12), signed (8) and submitted (9): five in the pipeline, oldest nonce 8's time
        pending = await store.pending_by_route()
        assert list(pending) == [ROUTE]
        assert pending[ROUTE][0] == 5
        marks = await store.latency_marks(since)
        assert [(state, aggregated is not None) for state, _, _, aggregated in marks] == [
            ("aggregated", True),
            ("aggregated", True),
            ("executed", True),
            ("executed", True),
        ]
        assert await store.latency_marks(marks[-1][1]) == []
    with contextlib.closing(sqlite3.connect(path)) as db:
        plans = {
            "pending": db.execute(f"EXPLAIN QUERY PLAN {PENDING_BY_ROUTE}", PIPELINE_STATES).fetchall(),
            "history": db.execute(f"EXPLAIN QUERY PLAN {LATENCY_MARKS}", (since,)).fetchall(),
        }
    steps = {name: " / ".join(str(row[-1]) for row in plan) for name, plan in plans.items()}
    assert "SEARCH transfers USING INDEX transfers_state" in steps["pending"], steps
    assert "SEARCH h USING INDEX transfer_history_at" in steps["history"], steps
    assert "SCAN" not in steps["pending"] + steps["history"], steps
