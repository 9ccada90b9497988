"""The signer and aggregator of a node on a real store: forged partials are detected and not used."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs

from committee.bls import get_backend
from committee.threshold import KeyShare, deal, partial_sign, verify
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import (
    ChainConfig,
    CommitteeConfig,
    MqttConfig,
    NodeConfig,
    RelayerConfig,
)
from relayer.core.batching import BatchRule, Located
from relayer.core.encoding import batch_message, batch_root
from relayer.core.messages import PartialMessage
from relayer.core.states import BatchState
from relayer.core.types import Batch, ChainId, Nonce, Route, Transfer
from relayer.pipeline import aggregator as aggregator_module
from relayer.pipeline.node import Node

ROUTE = Route(ChainId(7001), ChainId(7002))
ADDR = cs("0x" + "ab" * 20)
GATEWAY = cs("0x" + "cd" * 20)


def config(tmp_path: Path, member: int) -> NodeConfig:
    chain = lambda name, cid: ChainConfig(name, ChainId(cid), "http://127.0.0.1:1", GATEWAY, 0, 0, 0.1, 100)  # noqa: E731
    return NodeConfig(
        source="test",
        member_index=member,
        data_dir=tmp_path,
        log_level="info",
        metrics_host="127.0.0.1",
        metrics_port=0,
        committee=CommitteeConfig(tmp_path / "c.json", None, BatchRule(1, 10), 1.0),
        mqtt=MqttConfig("127.0.0.1", 1, "t", None, None),
        relayer=RelayerConfig(False, None, 1.0, 100.0, 1.0, 10.0),
        chains={"c": chain("c", 7001), "e": chain("e", 7002)},
        routes=(ROUTE,),
    )


def make_node(tmp_path: Path, store: Store, share: KeyShare) -> Node:
    cfg = config(tmp_path, int(share.index))
    return Node(
        cfg=cfg,
        store=store,
        chains={},
        public=share.public,
        share=share,
        backend=get_backend(),
        transport=Transport(cfg.mqtt, cfg.member_index),
    )


async def _one_batch_of_three(node: Node, store: Store) -> Any:
    """Transfers 1..3 of ROUTE final on the node's store, cut into one batch: the stored batch."""
    events = [
        (Located(Transfer(ROUTE.src, ROUTE.dst, Nonce(n), ADDR, ADDR, ADDR, ADDR, n), 5), "0xb", "0xt", n)
        for n in (1, 2, 3)
    ]
    await store.record_scan(ROUTE.src, 6, events)
    assert await node.cut_batches(ROUTE) == 1
    [stored] = await store.batches([BatchState.PENDING])
    return stored


async def test_forged_partials_are_dropped_and_t_valid_ones_aggregate(tmp_path: Path) -> None:
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        stored = await _one_batch_of_three(node, store)
        assert await node.sign(stored)  # member 1 signs and keeps its own partial
        assert not await node.sign(stored)  # ... once

        def partial_from(member: int, signer: KeyShare, message: bytes = stored.message) -> PartialMessage:
            return PartialMessage(
                member, stored.batch.id, 1, stored.root, message, partial_sign(signer, message)
            )

        # member 2's topic carrying member 3's partial, and member 4 signing another message
        await node.on_partial(partial_from(2, shares[2]))
        await node.on_partial(partial_from(4, shares[3], message=b"\x13" * 32))
        assert (await store.batch(ROUTE, 1)).state == BatchState.PENDING  # type: ignore[union-attr]
        assert [m for m, *_ in await store.partials_for(stored.batch.id)] == [1]  # forged ones dropped

        await node.on_partial(partial_from(3, shares[2]))
        assert (await store.batch(ROUTE, 1)).state == BatchState.PENDING  # type: ignore[union-attr]
        await node.on_partial(partial_from(2, shares[1]))
        done = await store.batch(ROUTE, 1)
        assert done is not None
        assert done.state == BatchState.AGGREGATED
        assert done.signature is not None
        assert verify(shares[0].public.group_public_key, stored.message, done.signature)


async def test_a_partial_from_a_non_member_is_ignored(tmp_path: Path) -> None:
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        from relayer.core.types import BatchId

        msg = PartialMessage(
            9, BatchId(ROUTE, Nonce(1), Nonce(1)), 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 48
        )
        await node.on_partial(msg)
        assert await store.count_partials() == 0


async def test_partials_before_the_cut_never_block_a_members_valid_one(tmp_path: Path) -> None:
    """Garbage and a valid signature on another batch, then the valid partial, all before this node
    cut the batch: the member's valid partial is the one that counts."""
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        t = Transfer(ROUTE.src, ROUTE.dst, Nonce(1), ADDR, ADDR, ADDR, ADDR, 1)
        batch = Batch((t,), GATEWAY, 1)
        message, root = batch_message(batch), batch_root(batch)
        other = b"\x13" * 32

        def from_member(member: int, signed: bytes, partial: bytes | None = None) -> PartialMessage:
            sig = partial if partial is not None else partial_sign(shares[member - 1], signed)
            return PartialMessage(member, batch.id, 1, root, signed, sig)

        for msg in (
            from_member(4, message, b"\x80" + bytes(47)),  # a point outside the subgroup
            from_member(4, other),  # member 4's real signature, on something else
            from_member(4, message),
            from_member(3, message, b"\xc0" + bytes(47)),  # the identity
        ):
            await node.on_partial(msg)
        assert [m for m, *_ in await store.partials_for(batch.id)] == [4]  # garbage never stored
        await store.record_scan(ROUTE.src, 6, [(Located(t, 5), "0xb", "0xt", 1)])
        assert await node.cut_batches(ROUTE) == 1
        [stored] = await store.batches([BatchState.PENDING])
        assert stored.message == message
        await node.sign(stored)
        await node.on_partial(from_member(2, other))  # after the cut: refused, stores nothing
        assert [m for m, *_ in await store.partials_for(batch.id)] == [1, 4]
        await node.on_partial(from_member(2, message))
        done = await store.batch(ROUTE, 1)
        assert done is not None
        assert done.state == BatchState.AGGREGATED
        await node.on_partial(from_member(3, message))  # late: not kept
        assert [m for m, *_ in await store.partials_for(batch.id)] == [1, 2, 4]


async def test_a_ticks_batches_are_signed_together_once_and_not_again_after_a_restart(tmp_path: Path) -> None:
    shares = deal(4, 3)
    path = tmp_path / "node.sqlite3"
    async with Store.open(path) as store:
        node = make_node(tmp_path, store, shares[0])
        events = [
            (Located(Transfer(ROUTE.src, ROUTE.dst, Nonce(n), ADDR, ADDR, ADDR, ADDR, n), 5), "0xb", "0xt", n)
            for n in range(1, 13)
        ]
        await store.record_scan(ROUTE.src, 6, events)
        assert await node.cut_batches(ROUTE) == 2  # max_batch 10: 1-10 and 11-12
        pending = await store.batch_heads([BatchState.PENDING])
        assert await node.signer.sign_all(pending) == {b.id for b in pending}
        assert await node.signer.sign_all(pending) == set()  # once
        for b in pending:
            [(member, _, message, partial)] = await store.partials_for(b.id)
            assert (member, message) == (1, b.message)
            assert await store.signed_partial(b.id) == partial
    async with Store.open(path) as store:  # a restart forgets what it remembered: the store answers
        node = make_node(tmp_path, store, shares[0])
        assert await node.signer.sign_all(await store.batch_heads([BatchState.PENDING])) == set()


async def test_a_partial_far_ahead_is_judged_against_the_routes_progress_read_again(tmp_path: Path) -> None:
    """The aggregator remembers the route's next nonce; a partial further ahead than the remembered
    value allows is judged against the store's current one, not refused on the stale one."""
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        from relayer.core.types import BatchId

        def far(first: int) -> PartialMessage:
            message = b"\x02" * 32
            bid = BatchId(ROUTE, Nonce(first), Nonce(first))
            return PartialMessage(2, bid, 1, b"\x01" * 32, message, partial_sign(shares[1], message))

        await node.on_partial(far(150_000))
        assert await store.count_partials() == 0  # too far ahead of nonce 1
        await store.record_batches(ROUTE, [], 6, 60_000)  # the route moved on
        await node.on_partial(far(150_000))
        assert await store.count_partials() == 1  # kept (early): within the horizon of 60,000


def received(member: int, outcome: str) -> float:
    from relayer import metrics

    return metrics.PARTIALS_RECEIVED.labels(str(member), outcome)._value.get()


async def test_republished_partials_are_duplicates_then_late_and_junk_never_displaces_a_valid_one(
    tmp_path: Path,
) -> None:
    """Re-publications are answered from what the aggregator remembers of the store; a junk partial
    claiming a member whose valid partial is kept is refused and leaves it in place; once the store
    drops the batch's partials (re-keyed, say), the member's new partial is kept and counts."""
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        stored = await _one_batch_of_three(node, store)
        bid = stored.batch.id

        def from_member(member: int, signer: KeyShare, message: bytes = stored.message) -> PartialMessage:
            return PartialMessage(member, bid, 1, stored.root, message, partial_sign(signer, message))

        valid2 = from_member(2, shares[1])
        await node.on_partial(valid2)
        dup, invalid = received(2, "duplicate"), received(2, "invalid")
        await node.on_partial(from_member(2, shares[2]))  # member 3's signature under member 2's name
        await node.on_partial(valid2)
        assert received(2, "invalid") == invalid + 1
        assert received(2, "duplicate") == dup + 1
        assert [(m, p) for m, _, _, p in await store.partials_for(bid)] == [(2, valid2.partial)]

        # the store drops the member's partial behind the aggregator's back: what it remembers
        # heals at the next aggregation attempt (the tick makes one for every pending batch every
        # re-publication interval), so the member's next re-publication is taken again
        await store.drop_partial(bid, 2)
        await node.on_partial(valid2)
        assert await store.partials_for(bid) == []  # remembered as kept: not stored
        assert not await node.aggregator.try_aggregate(bid)
        await node.on_partial(valid2)
        assert [m for m, *_ in await store.partials_for(bid)] == [2]
        await node.on_partial(from_member(3, shares[2]))
        assert await node.sign(stored)
        assert await node.aggregator.try_aggregate(bid)  # as the tick does after signing
        done = await store.batch(ROUTE, 1)
        assert done is not None
        assert done.state == BatchState.AGGREGATED
        late = received(2, "late")
        await node.on_partial(valid2)  # a re-publication after the aggregation
        assert received(2, "late") == late + 1


class _PendingChain:
    """A destination chain whose pending state says every batch executed, or none (`executed`)."""

    def __init__(self, executed: bool) -> None:
        from types import SimpleNamespace

        self.executed = executed
        self.cfg = SimpleNamespace(name="e", poll_interval=0.1)
        self.chain_id = ROUTE.dst
        self.reads: list[int] = []

    async def batches_pending(self, ranges: list[tuple[int, int, int]]) -> list[bool]:
        self.reads.append(len(ranges))
        return [self.executed] * len(ranges)

    async def batches_mined(self, ranges: list[tuple[int, int, int]]) -> list[bool]:
        """Executed in the latest block (`mined`: the other relayer's transaction is in a block
        that is not final yet)."""
        return [self.mined] * len(ranges)

    mined = False


async def _second_turn_with_t_partials(
    cfg: Any, store: Store, chain: _PendingChain, shares: Any
) -> tuple[Node, Any]:
    """Member 2's node, second in the turns of batch 1..3 (relayer.core.txmath.batch_rank), with
    the batch cut, signed and the partials of members 1 and 3 judged on arrival: t kept."""
    from types import SimpleNamespace

    from relayer.core.txmath import batch_rank

    assert batch_rank(2, 4, ROUTE.src, ROUTE.dst, 1) == 1
    node = Node(
        cfg=cfg, store=store, chains={ROUTE.dst: chain}, public=shares[1].public,  # type: ignore[dict-item]
        share=shares[1], backend=get_backend(), transport=Transport(cfg.mqtt, cfg.member_index),
    )  # fmt: skip
    node.submitters[ROUTE.dst] = SimpleNamespace(member_index=2, committee_size=4, cfg=cfg.relayer)  # type: ignore[assignment]
    stored = await _one_batch_of_three(node, store)
    assert await node.sign(stored)
    for member in (1, 3):
        partial = partial_sign(shares[member - 1], stored.message)
        await node.on_partial(
            PartialMessage(member, stored.batch.id, 1, stored.root, stored.message, partial)
        )
    return node, stored


@pytest.mark.parametrize("mined", [False, True])
async def test_a_later_turn_aggregates_when_its_turn_comes_unless_sent_and_a_pending_send_holds_it_for_a_timeout(
    tmp_path: Path, mined: bool
) -> None:
    """Member 2 is second in the turns of batch 1..3 (relayer.core.txmath.batch_rank): with t
    partials kept it does not combine at once; when its turn comes (rank * stagger after the
    quorum) it reads the destination's pending state first and does not combine a batch another
    relayer sent, but only for `receipt_timeout` (a transaction kept pending for ever must not
    hold the batch): then it combines it. `mined`: the other relayer's transaction is in the latest
    block, only not final (Ethereum's finality is longer than the timeout): the hold stays until
    the block goes away (review: it lapsed, and every later turn combined every batch)."""
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        cfg = config(tmp_path, 2)  # stagger 1.0 s, receipt timeout 10 s
        chain = _PendingChain(executed=True)
        chain.mined = mined
        node, stored = await _second_turn_with_t_partials(cfg, store, chain, shares)
        assert len(await store.partials_for(stored.batch.id)) == 3  # judged and kept on arrival

        async def state() -> BatchState:
            batch = await store.batch(ROUTE, 1)
            assert batch is not None
            return batch.state

        assert await state() == BatchState.PENDING
        quorum = node.aggregator.quorum_at(stored.batch.id)
        assert quorum is not None
        assert node.aggregator.waits_for_turn(stored.batch.id)
        await node.aggregator.try_aggregate(stored.batch.id)  # the periodic pass: not yet
        assert await state() == BatchState.PENDING

        key = (ROUTE, 1)
        wall, mono = node.aggregator._quorum[key]
        node.aggregator._quorum[key] = (wall - 1.5, mono - 1.5)  # the turn came (stagger 1.0 s)
        node.aggregator._turns[key] = mono - 0.5
        await node.tick()
        assert chain.reads  # the pending state was read
        assert await state() == BatchState.PENDING  # another relayer sent it
        assert node.aggregator.quorum_at(stored.batch.id) == quorum - 1.5  # the clock never restarts

        seen, read = node._sent_seen[stored.batch.id]
        timeout = cfg.relayer.receipt_timeout
        node._sent_seen[stored.batch.id] = (seen - timeout, read - timeout)  # still pending, too long
        node._last_republish = 0.0  # the periodic pass
        await node.tick()
        if mined:
            assert await state() == BatchState.PENDING  # mined, waiting for finality: still held
            chain.mined = False  # its block reorged away
            node._last_republish = 0.0
            await node.tick()
        done = await store.batch(ROUTE, 1)
        assert done is not None
        assert done.state == BatchState.AGGREGATED
        assert done.signature is not None
        assert verify(shares[0].public.group_public_key, stored.message, done.signature)


async def test_a_held_batch_is_read_at_the_pending_state_again_only_after_a_while_and_a_dropped_send_is_taken_over(
    tmp_path: Path,
) -> None:
    """A later turn holding a batch for another relayer's pending transaction read its pending
    state again at every pass (every 2 s, one call at the pending tag per held batch, each of which
    makes an anvil execute every transaction in its pool). It reads it again HELD_REREAD_SECONDS
    after the last read; when the transaction is gone by then (dropped), it combines the batch."""
    from relayer.pipeline.node import HELD_REREAD_SECONDS

    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        cfg = config(tmp_path, 2)  # stagger 1.0 s, receipt timeout 10 s
        chain = _PendingChain(executed=True)
        node, stored = await _second_turn_with_t_partials(cfg, store, chain, shares)
        key, bid = (ROUTE, 1), stored.batch.id
        wall, mono = node.aggregator._quorum[key]
        node.aggregator._quorum[key] = (wall - 1.5, mono - 1.5)  # the turn came (stagger 1.0 s)
        node.aggregator._turns[key] = mono - 0.5
        await node.tick()
        assert chain.reads == [1]  # read: another relayer's transaction is pending
        for _ in range(3):  # periodic passes inside the re-read interval: no read, still held
            node._last_republish = 0.0
            await node.tick()
        assert chain.reads == [1]
        assert (await store.batch(ROUTE, 1)).state == BatchState.PENDING  # type: ignore[union-attr]
        chain.executed = False  # the transaction was dropped
        seen, read = node._sent_seen[bid]
        node._sent_seen[bid] = (seen, read - HELD_REREAD_SECONDS)
        node._last_republish = 0.0
        await node.tick()
        assert chain.reads == [1, 1]
        done = await store.batch(ROUTE, 1)
        assert done is not None
        assert done.state == BatchState.AGGREGATED
        assert bid not in node._sent_seen


async def test_a_wall_clock_stepped_back_does_not_hold_a_later_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the turns were timed on the wall clock. Stepped back an hour (NTP) after the quorum,
    a later turn's `waits_for_turn` stayed true for that hour, even on the periodic pass, while the
    turn's relayer (rank 0) was down. Timed on the monotonic clock, the turn comes after the stagger."""
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        cfg = config(tmp_path, 2)  # stagger 1 s
        chain = _PendingChain(executed=False)  # nothing sent: rank 0 is down
        node, stored = await _second_turn_with_t_partials(cfg, store, chain, shares)
        assert node.aggregator.waits_for_turn(stored.batch.id)
        real = time.time
        monkeypatch.setattr(aggregator_module.time, "time", lambda: real() - 3600)  # stepped back 1 h
        await asyncio.sleep(1.2)  # the stagger (1 s) has passed on the monotonic clock
        node._last_republish = 0.0  # the periodic pass
        await node.tick()
        batch = await store.batch(ROUTE, 1)
        assert batch is not None
        assert batch.state == BatchState.AGGREGATED, node.aggregator.waits_for_turn(stored.batch.id)
