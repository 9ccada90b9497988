"""The release stage's own steps (relayer.pipeline.releaser) on fakes of its ports: it waits its
turn, stands by while another relayer's release is pending, takes a NotQueued estimate as done and
any other revert as a wait (nothing sent), and records a transfer released only once the
destination delivered it at its final head."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from eth_utils.crypto import keccak

from relayer.adapters.txsender import Reverted
from relayer.core.lifecycle import OutcomeKind
from relayer.core.releases import ReleaseFacts
from relayer.core.states import TransferRow, TransferState, TxRecord
from relayer.core.types import ChainId, Nonce, Transfer
from relayer.pipeline.releaser import Releaser

A = "0x" + "11" * 20
T = Transfer(ChainId(7001), ChainId(7002), Nonce(3), A, A, A, A, 500)
# held, its window over at time 1000
OVER = ReleaseFacts(2, 1000, False, False, b"l" * 32, 500, None, 0, 0, 1000)


@dataclasses.dataclass
class Chain:
    facts: ReleaseFacts = OVER
    final: int = 2  # transferStatus at the final head
    pending: tuple[int, int] = (2, 1000)  # (status, heldUntil) with the node's mempool

    @property
    def chain_id(self) -> ChainId:
        return ChainId(7002)

    async def release_facts(self, t: Transfer, leaf: bytes) -> ReleaseFacts:
        return self.facts

    async def transfer_status(self, src: ChainId, nonce: int) -> int | None:
        return self.final

    async def kept_at(self, src: ChainId, nonce: int, block: int | str) -> tuple[int, int]:
        return self.pending


@dataclasses.dataclass
class Store:
    state: TransferState = TransferState.HELD
    released: list[str] = dataclasses.field(default_factory=list)

    async def waiting(self, dst: int, limit: int = 100) -> list[TransferRow]:
        if self.state is not TransferState.HELD:
            return []
        return [TransferRow(T, self.state, 1, "0xt", "held", 0.0, 0.0)]

    async def mark_released(self, route: Any, nonce: int, detail: str) -> bool:
        self.released.append(detail)
        self.state = TransferState.RELEASED
        return True


@dataclasses.dataclass
class Sender:
    revert: str | None = None
    sent: list[bytes] = dataclasses.field(default_factory=list)

    async def estimate(self, data: bytes) -> int:
        if self.revert is not None:
            raise Reverted("reverted", self.revert)
        return 100_000

    async def send(
        self, data: bytes, gas: int, nonce: Any, previous: Any, record: Any, what: Any
    ) -> TxRecord:
        self.sent.append(data)
        return TxRecord("0x" + "ab" * 32, 7002, A, len(self.sent) - 1, 1, 1, 1e18)  # sent "in the future"

    async def receipt(self, tx_hash: str) -> None:
        return None

    async def confirmed_nonce(self) -> int:
        return 0


@dataclasses.dataclass
class Submitter:
    sender: Sender = dataclasses.field(default_factory=Sender)
    send_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


def stage(chain: Chain, store: Store, sub: Submitter, member: int = 3, stagger: float = 0.0) -> Releaser:
    return Releaser(chain, store, {ChainId(7002): sub}, member, 4, stagger, 60.0, 0.0, "ethereum")  # type: ignore[dict-item]


def _error(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex() + "00" * 64


async def test_the_relayer_whose_turn_it_is_sends_once_and_the_next_waits_its_stagger() -> None:
    sub = Submitter()
    first = stage(Chain(), Store(), sub, member=3)  # nonce 3: member 3 has rank 0
    outcome = await first.release(T)
    assert outcome.kind is OutcomeKind.SENT
    assert len(sub.sender.sent) == 1
    assert (await first.release(T)).kind is OutcomeKind.SENT  # its tx waits for its receipt
    assert len(sub.sender.sent) == 1
    other = Submitter()
    second = stage(Chain(), Store(), other, member=4, stagger=60.0)  # rank 1: 60 s later
    assert "turn" in (await second.release(T)).detail
    assert other.sender.sent == []


async def test_a_release_pending_from_another_relayer_is_not_sent_again() -> None:
    sub = Submitter()
    # another relayer's release is in the mempool: no longer held there (released into the queue)
    assert (await stage(Chain(pending=(2, 0)), Store(), sub).release(T)).kind is OutcomeKind.NOT_READY
    # or delivered there
    assert (await stage(Chain(pending=(1, 0)), Store(), sub).release(T)).kind is OutcomeKind.NOT_READY
    assert sub.sender.sent == []


async def test_a_not_queued_revert_is_done_and_the_others_wait_nothing_is_sent() -> None:
    done = Submitter(Sender(revert=_error("NotQueued(uint256,uint64)")))
    outcome = await stage(Chain(), Store(), done).release(T)
    assert outcome.kind is OutcomeKind.CONFIRMED
    assert not outcome.ours
    for sig in ("ChallengeWindowOpen(uint256,uint64,uint64)", "RouteIsCursed(uint256)", "Panic(uint256)"):
        waits = Submitter(Sender(revert=_error(sig)))
        outcome = await stage(Chain(), Store(), waits).release(T)
        assert outcome.kind is OutcomeKind.NOT_READY, sig
        assert waits.sender.sent == []


async def test_a_release_of_a_suspended_asset_waits_and_is_sent_once_the_suspension_is_lifted() -> None:
    sub = Submitter(Sender(revert=_error("AssetSuspended()")))
    chain = Chain()
    # member 4 has rank 1 for nonce 3: it sends one stagger after it first sees the release possible
    releaser = stage(chain, Store(), sub, member=4, stagger=0.05)
    assert "turn" in (await releaser.release(T)).detail
    await asyncio.sleep(0.06)
    outcome = await releaser.release(T)  # its turn: the estimate reverts, suspended
    assert outcome.kind is OutcomeKind.NOT_READY
    assert "AssetSuspended" in outcome.detail
    assert sub.sender.sent == []
    # its turn starts again from when the release can pass, not from the suspension's start
    assert "turn" in (await releaser.release(T)).detail
    sub.sender.revert = None  # lifted
    await asyncio.sleep(0.06)
    for _ in range(3):  # tried again at every step
        outcome = await releaser.release(T)
        if outcome.kind is OutcomeKind.SENT:
            break
    assert outcome.kind is OutcomeKind.SENT
    assert len(sub.sender.sent) == 1


async def test_a_transfer_is_recorded_released_only_when_delivered_at_the_final_head() -> None:
    store, sub = Store(), Submitter()
    releaser = stage(Chain(facts=dataclasses.replace(OVER, status=1), final=2), store, sub)
    await releaser.step(force=True)  # delivered at the latest block only: not recorded yet
    assert store.released == []
    assert sub.sender.sent == []
    releaser.chain = Chain(final=1)
    await releaser.step(force=True)
    assert store.state is TransferState.RELEASED
    assert store.released
    assert "delivered on the destination" in store.released[0]
    # failed at the final head (vetoed): never released, nothing sent
    vetoed = Store()
    await stage(Chain(final=3), vetoed, sub).step(force=True)
    assert vetoed.released == []
    assert sub.sender.sent == []


async def test_while_the_window_is_open_nothing_is_read_again_before_it_ends() -> None:
    chain = Chain(facts=dataclasses.replace(OVER, now=900))
    releaser = stage(chain, Store(), Submitter())
    assert "until 1000" in (await releaser.release(T)).detail
    chain.facts = OVER  # the window is over on the chain, but the stage waits (at most 30 s)
    assert "window is open" in (await releaser.release(T)).detail


@dataclasses.dataclass
class Mined:
    status: int
    block_number: int = 1
    gas_used: int | None = None


@dataclasses.dataclass
class MinedSender(Sender):
    """Each release transaction is mined at once, reverted while `reverting`."""

    reverting: bool = True

    async def receipt(self, tx_hash: str) -> Mined:  # type: ignore[override]
        return Mined(0 if self.reverting else 1)


async def test_a_reverted_release_is_sent_again_only_after_a_growing_bounded_backoff() -> None:
    sender = MinedSender()
    releaser = stage(Chain(), Store(), Submitter(sender))
    now = [1000.0]
    releaser.clock = lambda: now[0]
    assert (await releaser.release(T)).kind is OutcomeKind.SENT
    waits = []
    for _ in range(9):  # each one reverts: not sent again before its backoff, which doubles
        outcome = await releaser.release(T)  # its receipt: reverted
        assert outcome.kind is OutcomeKind.NOT_READY, outcome.detail
        assert "reverted" in outcome.detail
        sent = len(sender.sent)
        start = now[0]
        while (await releaser.release(T)).kind is not OutcomeKind.SENT:
            assert len(sender.sent) == sent
            now[0] += 1.0
        waits.append(now[0] - start)
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0]
    assert max(waits) == 600.0  # bounded
    # once one is mined (not reverted), the next revert waits the first backoff again
    sender.reverting = False
    assert (await releaser.release(T)).kind is OutcomeKind.SENT  # mined: no wait before the next
    sender.reverting = True
    outcome = await releaser.release(T)
    assert outcome.kind is OutcomeKind.NOT_READY
    assert "reverted 1 time(s); next try in 5 s" in outcome.detail
