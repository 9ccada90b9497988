"""Sentinels end to end: four member processes (n = 4, t = 3) and a `qiao-sentinel run` process on
the devnet, the sentinel's key registered on both endpoints.

One devnet for the module: the gateway's inbound bucket for the wrapped token holds 1000 units and
refills 1 unit a second, a transfer of 100 units or more is held for a 30 s challenge window. The
scenarios run in an order that leaves each the bridge it needs:
1. an honest flow both ways with the sentinel running: delivered, nothing found, no curse, no veto;
   a large lock is held for its window, then released by the relayers and delivered;
2. a false veto (a test sentinel key vetoes a REAL held lock): the committee refunds it on the
   consortium chain, every balance exact, no curse;
3. the sentinel killed with SIGKILL: its metrics endpoint is gone (QiaoSentinelDown, whose promtool
   test is "a healthy sentinel fires nothing; a stopped one fires QiaoSentinelDown" in
   deploy/prometheus/qiao-alerts.test.yml, fires on exactly that), transfers go on both ways; started
   again, it catches up from its store and finds nothing;
3b. the sentinel restarted behind a lying consortium RPC (it hides every log and answers every call
   with zero, so the lock behind a mint looks absent) beside an honest one: the two disagree, so
   it reports insufficient evidence and curses nothing, and the honest transfer is delivered;
4. a colluding committee (the test holds t = 3 shares) signs and submits a batch of transfers that
   never happened, small ones and a large one: the sentinel curses the route within a few blocks
   (printed), vetoes the large one inside its window (never delivered, not after the window either),
   and what was lost is what the inbound rate limit let through. The module ends with the route cursed.

Timeouts are generous (shared 2-core machines); the assertions are on outcomes and block counts.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from harness import devnet
from harness import sentinels as sh
from relayer.core.types import ChainId, Nonce, Transfer
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.e2e

C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
UNIT = devnet.UNIT
ADMIN = devnet.dev_account(devnet.ACCOUNTS["admin"])
ALICE = devnet.dev_account(devnet.ACCOUNTS["alice"])
BOB = devnet.dev_account(devnet.ACCOUNTS["bob"])
MALLORY = devnet.dev_account(sh.MALLORY_ACCOUNT)
TEST_SENTINEL = devnet.dev_account(5)  # a second registered sentinel the test drives by hand (scenario 2)
THRESHOLD = 100 * UNIT  # held for the challenge window from this amount on
PERIOD = 30  # seconds of the challenge window
CAPACITY, REFILL = 1000 * UNIT, 1 * UNIT  # the gateway's inbound bucket (per second)
WAIT = 120.0
FAILED = 3  # QiaoEndpoint.TransferStatus.Failed
C_TO_E, E_TO_C = f"{C}->{E}", f"{E}->{C}"
ROUTE_IS_CURSED = Web3.keccak(text="RouteIsCursed(uint256)")[:4].hex()


@dataclass
class Bridge:
    net: devnet.Devnet
    wc: Web3
    we: Web3
    vault: Contract
    gateway: Contract
    asset: Contract
    wrapped: Contract
    sentinel_config: Path
    metrics_port: int
    sentinel: devnet.Process

    def start_sentinel(self) -> devnet.Process:
        self.sentinel = self.net.procs.start(
            "sentinel", sh.sentinel_argv(self.sentinel_config), self.net.run_dir / "logs"
        )
        devnet.wait_until(lambda: self.metric("qiao_sentinel_up") == 1, 60, "the sentinel's loop running")
        return self.sentinel

    def metric(self, name: str, **labels: str) -> float | None:
        try:
            return sh.scrape(self.metrics_port, name, labels)
        except OSError:
            return None

    def lock(self, amount: int, to: str | None = None) -> Transfer:
        """alice locks `amount` toward Ethereum (to bob); the transfer as the source records it."""
        nonce = self.vault.functions.nextNonce(E).call()
        devnet.send(
            self.wc, ALICE, self.vault.functions.lock(self.asset.address, E, to or BOB.address, amount)
        )
        return Transfer(
            ChainId(C), ChainId(E), Nonce(nonce), cs(self.asset.address), cs(self.wrapped.address),
            ALICE.address, cs(to or BOB.address), amount,
        )  # fmt: skip

    def burn(self, amount: int) -> None:
        devnet.send(self.we, BOB, self.gateway.functions.burn(self.wrapped.address, C, ALICE.address, amount))

    def cursed(self) -> tuple[bool, bool]:
        return bool(self.gateway.functions.isCursed(C).call()), bool(self.vault.functions.isCursed(E).call())

    def supply_exact(self) -> bool:
        return bool(
            self.wrapped.functions.totalSupply().call()
            == self.asset.functions.balanceOf(self.vault.address).call()
        )

    def findings(self) -> float:
        """Every mismatch the sentinel counted (suspicions without evidence included)."""
        return self.metric("qiao_sentinel_mismatches_total") or 0.0


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with devnet.devnet(tmp_path_factory.mktemp("sentinels") / "n", block_time=0.5) as net:
        dep = net.deployment
        with devnet.mined_at_once(dep.consortium_url, dep.ethereum_url):
            sh.set_challenge(dep, THRESHOLD, PERIOD)
            sh.set_inbound_limit(dep, CAPACITY, REFILL)
            sh.register_sentinel(dep, devnet.dev_account(sh.SENTINEL_ACCOUNT).address)
            sh.register_sentinel(dep, TEST_SENTINEL.address)
            asset = dep.asset
            wc = asset.w3
            devnet.send(wc, ADMIN, asset.functions.mint(ALICE.address, 10_000 * UNIT))
            devnet.send(wc, ALICE, asset.functions.approve(dep.vault.address, 10_000 * UNIT))
        port = devnet.free_port()
        cfg = sh.write_sentinel_config(net.run_dir / "sentinel", dep, poll_interval=1.0, metrics_port=port)
        vault, gateway = sh.endpoints(dep)
        b = Bridge(
            net, vault.w3, gateway.w3, vault, gateway, dep.asset, dep.wrapped, cfg, port,
            sentinel=None,  # type: ignore[arg-type]  # started below
        )  # fmt: skip
        b.start_sentinel()
        for m in net.nodes:
            net.wait_ready(m)
        yield b


def reverts_route_is_cursed(call: Callable[[], Any]) -> None:
    with pytest.raises(ContractCustomError) as info:
        call()
    assert ROUTE_IS_CURSED in str(info.value), info.value


def wait_checked(b: Bridge, route: str, at_least: float, what: str) -> None:
    devnet.wait_until(
        lambda: (b.metric("qiao_sentinel_transfers_checked_total", route=route) or 0) >= at_least,
        WAIT,
        f"the sentinel checked {what}",
    )


# ---- 1. an honest flow ------------------------------------------------------------------------


def test_an_honest_flow_with_a_sentinel_running_is_unaffected(bridge: Bridge) -> None:
    b = bridge
    checked_ce = b.metric("qiao_sentinel_transfers_checked_total", route=C_TO_E) or 0
    checked_ec = b.metric("qiao_sentinel_transfers_checked_total", route=E_TO_C) or 0
    bob0, alice0 = (
        b.wrapped.functions.balanceOf(BOB.address).call(),
        b.asset.functions.balanceOf(ALICE.address).call(),
    )
    small = [b.lock(a * UNIT) for a in (3, 5, 7)]
    large = b.lock(150 * UNIT)  # at or above the threshold: held for the challenge window
    devnet.wait_until(
        lambda: b.wrapped.functions.balanceOf(BOB.address).call() == bob0 + 15 * UNIT,
        WAIT,
        "the small locks minted",
    )
    devnet.wait_until(
        lambda: b.gateway.functions.heldUntil(C, large.nonce).call() > 0, WAIT, "the large lock held"
    )
    assert b.wrapped.functions.balanceOf(BOB.address).call() == bob0 + 15 * UNIT  # not delivered while held
    b.burn(4 * UNIT)
    devnet.wait_until(
        lambda: b.asset.functions.balanceOf(ALICE.address).call() == alice0 - 165 * UNIT + 4 * UNIT,
        WAIT,
        "the burn unlocked to alice",
    )
    until = b.gateway.functions.heldUntil(C, large.nonce).call()
    # the relayers release it once its window is over (relayer/pipeline/releaser.py): nobody else acts
    devnet.wait_until(
        lambda: b.wrapped.functions.balanceOf(BOB.address).call() == bob0 + 165 * UNIT - 4 * UNIT,
        PERIOD + WAIT,
        "the held lock delivered after its window",
    )
    assert b.we.eth.get_block("latest")["timestamp"] >= until
    assert b.gateway.functions.heldUntil(C, large.nonce).call() == 0
    released = [e for m in b.net.nodes.values() for e in m.events("release_sent")]
    assert any(e.get("release") == f"{C}->{E}#{large.nonce}" for e in released), released
    # the sentinel checked each mint, the held record and the unlock against their sources
    wait_checked(b, C_TO_E, checked_ce + len(small) + 2, "the locks' mints and the held record")
    wait_checked(b, E_TO_C, checked_ec + 1, "the burn's unlock")
    assert b.findings() == 0
    assert (b.metric("qiao_sentinel_curses_sent_total") or 0) == 0
    assert (b.metric("qiao_sentinel_vetoes_sent_total") or 0) == 0
    assert b.cursed() == (False, False)
    assert b.supply_exact()
    assert b.sentinel.popen.poll() is None
    assert not b.sentinel.events("sentinel_mismatch")


# ---- 2. a false veto ----------------------------------------------------------------------------


def test_a_false_veto_of_a_real_transfer_is_refunded_on_the_source(bridge: Bridge) -> None:
    b = bridge
    alice0 = b.asset.functions.balanceOf(ALICE.address).call()
    bob0 = b.wrapped.functions.balanceOf(BOB.address).call()
    locked0 = b.asset.functions.balanceOf(b.vault.address).call()
    real = b.lock(120 * UNIT)
    assert b.asset.functions.balanceOf(ALICE.address).call() == alice0 - real.amount
    devnet.wait_until(lambda: b.gateway.functions.heldUntil(C, real.nonce).call() > 0, WAIT, "the lock held")
    receipt = devnet.send(b.we, TEST_SENTINEL, b.gateway.functions.veto(real.as_abi_tuple()))
    assert receipt["status"] == 1
    assert b.gateway.functions.transferStatus(C, real.nonce).call() == FAILED
    devnet.wait_until(
        lambda: b.vault.functions.isRefunded(E, real.nonce).call(), WAIT, "the vetoed lock refunded"
    )
    assert b.asset.functions.balanceOf(ALICE.address).call() == alice0
    assert b.asset.functions.balanceOf(b.vault.address).call() == locked0
    assert b.wrapped.functions.balanceOf(BOB.address).call() == bob0
    assert b.supply_exact()
    # a vetoed transfer is not a mismatch: the sentinel curses nothing for it
    assert b.findings() == 0
    assert b.cursed() == (False, False)


# ---- 3. the sentinel down -----------------------------------------------------------------------


def test_a_sentinel_killed_changes_nothing_for_the_bridge(bridge: Bridge) -> None:
    b = bridge
    b.sentinel.popen.send_signal(signal.SIGKILL)
    b.sentinel.popen.wait(10)
    # what Prometheus sees: no target (up == 0), so QiaoSentinelDown fires (its promtool test)
    assert b.metric("qiao_sentinel_up") is None
    bob0, alice0 = (
        b.wrapped.functions.balanceOf(BOB.address).call(),
        b.asset.functions.balanceOf(ALICE.address).call(),
    )
    b.lock(9 * UNIT)
    b.burn(2 * UNIT)
    devnet.wait_until(
        lambda: b.wrapped.functions.balanceOf(BOB.address).call() == bob0 + 7 * UNIT, WAIT, "the lock minted"
    )
    devnet.wait_until(
        lambda: b.asset.functions.balanceOf(ALICE.address).call() == alice0 - 7 * UNIT,
        WAIT,
        "the burn unlocked",
    )
    assert b.supply_exact()
    # started again on the same store: it scans what happened while it was down, finds nothing
    b.start_sentinel()
    wait_checked(b, C_TO_E, 1, "the mint made while it was down")
    wait_checked(b, E_TO_C, 1, "the unlock made while it was down")
    assert b.findings() == 0
    assert b.cursed() == (False, False)


# ---- 3b. a sentinel behind a lying RPC ------------------------------------------------------------


def test_a_sentinel_behind_a_lying_rpc_does_not_curse_an_honest_route(bridge: Bridge) -> None:
    """The evidence a curse needs (docs/OPERATIONS.md, "Sentinels"): every configured RPC of the
    source, at its own final head, agreeing that the nonce is absent or another transfer. A provider
    that lies (here: no logs, every call zero) only makes the RPCs disagree: the sentinel waits and
    raises evidence_insufficient (QiaoSentinelEvidenceInsufficient), and sends nothing."""
    b = bridge

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            return []
        if method == "eth_call":
            return "0x" + "00" * 32
        return result

    b.sentinel.popen.send_signal(signal.SIGTERM)
    b.sentinel.popen.wait(30)
    honest_config = b.sentinel_config
    dep = b.net.deployment
    with RpcProxy(dep.consortium_url, rewrite=lie) as liar:
        b.sentinel_config = sh.write_sentinel_config(
            b.net.run_dir / "sentinel-lied-to", dep, poll_interval=1.0, metrics_port=b.metrics_port,
            consortium_rpcs=[liar.url, dep.consortium_url],
        )  # fmt: skip
        try:
            b.start_sentinel()
            bob0 = b.wrapped.functions.balanceOf(BOB.address).call()
            b.lock(11 * UNIT)
            devnet.wait_until(
                lambda: b.wrapped.functions.balanceOf(BOB.address).call() == bob0 + 11 * UNIT,
                WAIT,
                "the honest lock minted",
            )
            devnet.wait_until(
                lambda: (
                    (
                        b.metric("qiao_sentinel_mismatches_total", route=C_TO_E, kind="evidence_insufficient")
                        or 0
                    )
                    >= 1
                ),
                WAIT,
                "the lie reported as insufficient evidence",
            )
            assert (b.metric("qiao_sentinel_curses_sent_total") or 0) == 0
            assert (b.metric("qiao_sentinel_vetoes_sent_total") or 0) == 0
            assert not b.sentinel.events("sentinel_mismatch")
            assert b.cursed() == (False, False)
            assert b.supply_exact()
        finally:
            b.sentinel.popen.send_signal(signal.SIGTERM)
            b.sentinel.popen.wait(30)
            b.sentinel_config = honest_config
    b.start_sentinel()  # honest again for what follows


# ---- 4. a colluding committee -------------------------------------------------------------------


def test_a_colluding_committee_is_cursed_and_loses_at_most_what_the_rate_limit_lets_through(
    bridge: Bridge,
) -> None:
    b = bridge
    net = b.net
    assert net.committee is not None
    colluders = sh.Colluders.from_key_files(
        net.deployment, [net.committee.key_files[i] for i in (1, 2, 3)], net.committee.key_epoch
    )
    first = b.vault.functions.nextNonce(E).call()  # nonces no lock ever took
    smalls = [99 * UNIT] * 12  # each below the threshold: not held, charged to the inbound bucket
    big = 500 * UNIT  # above it: held for the challenge window
    forged = colluders.forge(first, [*smalls, big])
    supply0 = b.wrapped.functions.totalSupply().call()
    receipt = colluders.submit(forged)
    executed_at = int(receipt["blockNumber"])
    executed_ts = b.we.eth.get_block(executed_at)["timestamp"]
    held = forged.transfers[-1]
    assert b.gateway.functions.heldUntil(C, held.nonce).call() > 0
    minted = b.wrapped.functions.balanceOf(MALLORY.address).call()
    assert 0 < minted <= CAPACITY  # what the bucket let through at once; the rest is queued
    print(
        f"\nforged batch executed in Ethereum block {executed_at}: {minted / UNIT:.0f} units minted at once"
    )

    devnet.wait_until(lambda: all(b.cursed()), WAIT, "the sentinel's curse on both ends of the route")
    cursed_at = next(
        int(ev["blockNumber"])
        for ev in b.gateway.events.RouteCursed().get_logs(from_block=executed_at)
        if ev["args"]["remoteChainId"] == C
    )
    blocks = cursed_at - executed_at
    print(f"curse landed in Ethereum block {cursed_at}: {blocks} blocks after the forged execution")
    assert blocks <= 60  # "within a few blocks": confirmations 2 + a 1 s poll + the curse tx (0.5 s blocks)

    # the large forged transfer is vetoed inside its window and never delivered
    devnet.wait_until(
        lambda: b.gateway.functions.transferStatus(C, held.nonce).call() == FAILED,
        WAIT,
        "the forged large one vetoed",
    )
    # the route is stopped: more forged batches and the queued forged transfers cannot go through
    more = colluders.forge(first + len(forged.transfers), [99 * UNIT])
    reverts_route_is_cursed(lambda: colluders.submit(more))
    queued_head = forged.transfers[len(forged.transfers) - 2]  # one of those the bucket could not take
    reverts_route_is_cursed(
        lambda: b.gateway.functions.releaseQueued(queued_head.as_abi_tuple()).estimate_gas(
            {"from": MALLORY.address}
        )
    )
    # after the window too: nothing more reaches mallory
    devnet.wait_until(
        lambda: b.we.eth.get_block("latest")["timestamp"] > executed_ts + PERIOD + 1,
        PERIOD + 60,
        "the window over",
    )
    with pytest.raises(ContractCustomError):  # vetoed: no longer held (NotQueued), and the route is cursed
        b.gateway.functions.releaseQueued(held.as_abi_tuple()).estimate_gas({"from": MALLORY.address})
    lost = b.wrapped.functions.balanceOf(MALLORY.address).call()
    # what the bucket let through at once; a queued one could follow only as the bucket refilled
    # (1 unit/s, 99 units a transfer) before the curse, never after it
    assert lost >= minted
    elapsed = b.we.eth.get_block(cursed_at)["timestamp"] - executed_ts
    assert lost <= CAPACITY + REFILL * elapsed  # the bound: the bucket and its refill until the curse
    assert lost < sum(smalls)  # some were queued behind the bucket, and the large one never came
    assert b.wrapped.functions.totalSupply().call() - supply0 == lost  # the unbacked supply is the loss
    print(f"lost {lost / UNIT:.0f} units (bound: capacity {CAPACITY / UNIT:.0f} + refill x {elapsed} s)")
    assert (b.metric("qiao_sentinel_curses_sent_total") or 0) >= 1
    assert (b.metric("qiao_sentinel_vetoes_sent_total") or 0) == 1
    assert (b.metric("qiao_sentinel_mismatches_total", route=C_TO_E, kind="unbacked") or 0) >= 1
