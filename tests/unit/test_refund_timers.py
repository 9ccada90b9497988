"""A refund's stagger is measured on the monotonic clock, whatever the wall clock does."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from relayer.config import RelayerConfig
from relayer.core.clock import Elapsed
from relayer.core.states import RefundState, StoredRefund
from relayer.core.types import ChainId, Nonce, Route, Transfer
from relayer.pipeline import submitter as submitter_module
from relayer.pipeline.submitter import Submitter

SRC, DST = ChainId(31337), ChainId(31338)
STAGGER = 10.0


class Clocks:
    """A wall clock an operator (or NTP) can step, and a monotonic clock that only moves on."""

    def __init__(self) -> None:
        self.wall_time = 1_000_000.0
        self.mono_time = 50.0

    def wall(self) -> float:
        return self.wall_time

    def mono(self) -> float:
        return self.mono_time

    def run(self, seconds: float) -> None:
        self.wall_time += seconds
        self.mono_time += seconds


class Sent(Exception):
    """Raised by the fake endpoint when the relayer builds the refund call: its wait is over."""


class FakeFunctions:
    def __init__(self) -> None:
        self.refund_calls = 0

    def refund(self, *args: Any) -> Any:
        self.refund_calls += 1
        raise Sent


class FakeEndpoint:
    def __init__(self) -> None:
        self.functions = FakeFunctions()


class FakeChainCfg:
    poll_interval = 0.0  # the refund step runs on every step


class FakeChain:
    """The source chain: the refund is not refunded yet."""

    chain_id = SRC

    def __init__(self) -> None:
        self.cfg = FakeChainCfg()
        self.endpoint = FakeEndpoint()

    async def is_refunded(self, dst: int, nonce: int, final: bool = True) -> bool:
        return False


class FakeStore:
    """No batches in flight and one aggregated refund, as the store would return them."""

    def __init__(self, refund: StoredRefund, transfer: Transfer) -> None:
        self.refund = refund
        self.transfer_ = transfer

    async def batch_heads(self, states: Any, dst: int, limit: int) -> list[Any]:
        return []

    async def refunds(self, states: Any, src: int, limit: int) -> list[StoredRefund]:
        return [self.refund]

    async def transfer(self, route: Route, nonce: int) -> Transfer:
        return self.transfer_


async def test_a_wall_clock_step_back_does_not_stretch_a_refunds_stagger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clocks = Clocks()
    monkeypatch.setattr(submitter_module, "Elapsed", lambda: Elapsed(clocks.wall, clocks.mono))
    nonce = 5
    transfer = Transfer(
        SRC, DST, Nonce(nonce), "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, 7
    )
    refund = StoredRefund(
        route=Route(SRC, DST),
        nonce=nonce,
        reason=1,
        state=RefundState.AGGREGATED,
        key_epoch=1,
        message=b"m",
        partial=None,
        signature=b"\x01" * 128,  # passed to the endpoint as it is
        tx=None,
        detail="",
        created_at=clocks.wall_time,
        updated_at=clocks.wall_time,  # aggregated now
    )
    chain = FakeChain()
    cfg = RelayerConfig(
        enabled=True,
        account_key_file=None,
        stagger_seconds=STAGGER,
        max_fee_gwei=100.0,
        priority_fee_gwei=1.0,
        receipt_timeout=30.0,
    )
    # member 1 of 4: rank (1 - 5) % 4 == 0 would send at once; member 2 waits one stagger
    sub = Submitter(chain, FakeStore(refund, transfer), Account.create(), cfg, 2, 4)  # type: ignore[arg-type]
    assert sub.rank(nonce) == 1

    await sub.step()
    assert chain.endpoint.functions.refund_calls == 0  # not this relayer's turn yet

    clocks.run(1.0)
    clocks.wall_time -= 7200.0  # NTP corrects a clock two hours fast
    clocks.run(STAGGER)
    await sub.step()  # one stagger and a second have passed: its turn
    assert chain.endpoint.functions.refund_calls == 1
