"""Committee actions between separate member processes on the devnet (n = 4, t = 3).

One devnet for the module, its scenarios in an order that leaves each one a known endpoint:
1. an allow-list change on the consortium chain reaches Ethereum's registry with no operator step;
   a member killed before C decided twice on one account takes only C's latest decision;
2. an issuer freeze on C is applied on E with no operator step (the carry time from the freeze's
   finality on C to the flag on E is printed: docs/BENCHMARKS.md), a lock to the frozen holder is
   refused on E and refunded on C, and the unfreeze follows; then the issuer's decisions in
   IssuerRegistry (a partial freeze, a forced transfer, a suspension) apply on E in C's order (the
   forced transfer scheduled, its amount held on the holder, and executed by the relayers after the
   endpoint's action delay), a lock made during the suspension is queued on E and released once C
   lifts it (issue 19); the recovery of a lost wallet (scheduled and executed after the delay
   likewise) moves its tokens and freezes on E; a default makes the token burn-only there (a
   redemption unlocks on C, a later lock is refunded on C) and leaves it defaulted (nothing after
   uses the wrapped token);
3. members killed with SIGKILL at each of the action crashpoints (signed and published, combined,
   sent) and restarted: every action completes once, the action nonce moves by one per action;
4. the guardian pauses the gateway; a resume proposed by member 1's operator and approved by
   member 2's schedules nothing; member 3's approval schedules it and the relayers execute it
   after the delay (member 4, which never approved it, sees it executed too);
5. three operators pause it (a committee PAUSE), a signer killed with SIGKILL right after
   publishing; then a byzantine member proposes a resume nobody approves: nothing is
   scheduled, its proposal shows `proposed` on the others, then `expired`. The module ends paused.

Timeouts are generous (shared 2-core machines); the assertions are on outcomes only.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from harness import devnet
from relayer.config import load_config
from relayer.ops import admin_client
from relayer.pipeline.crashpoints import POINTS
from tests.support.member_cli import cli, ok

pytestmark = pytest.mark.e2e

C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
ADMIN = devnet.dev_account(devnet.ACCOUNTS["admin"])  # COMPLIANCE_ROLE on both registries
GUARDIAN = devnet.dev_account(devnet.ACCOUNTS["guardian"])
ALICE = devnet.dev_account(devnet.ACCOUNTS["alice"])
BOB = devnet.dev_account(devnet.ACCOUNTS["bob"])
FINALITY_DEPTH = 1  # write_node_config's default
STAGGER = 2.0  # write_node_config's stagger_seconds: the wait between members' turns to send
WAIT = 120.0  # for anything the committee does (generous: shared 2-core machines)
EXECUTED = 2  # QiaoEndpoint.PendingStatus
ASSET_NOT_ACTIVE = "0x" + keccak(b"AssetNotActive(uint8)")[:4].hex()  # WrappedToken's error


@dataclass
class Chains:
    wc: Web3
    we: Web3
    vault: Contract
    gateway: Contract
    asset: Contract
    wrapped: Contract
    registry_c: Contract
    registry_e: Contract

    def action_nonce(self) -> int:
        return int(self.gateway.functions.actionNonce().call())

    def pending_status(self, nonce: int) -> int:
        return int(self.gateway.functions.pendingAction(nonce).call()[4])

    def paused(self) -> bool:
        return bool(self.gateway.functions.paused().call())


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    with devnet.devnet(tmp_path_factory.mktemp("actions") / "n", block_time=0.5, metrics=True) as running:
        for m in running.nodes:
            wait_ready(running, m)
        yield running


@pytest.fixture(scope="module")
def chains(net: devnet.Devnet) -> Chains:
    dep = net.deployment
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    assert dep.registry_c is not None
    assert dep.registry_e is not None

    def on(w3: Web3, c: Contract) -> Contract:
        return w3.eth.contract(address=c.address, abi=c.abi)

    return Chains(
        wc,
        we,
        on(wc, dep.vault),
        on(we, dep.gateway),
        on(wc, dep.asset),
        on(we, dep.wrapped),
        on(wc, dep.registry_c),
        on(we, dep.registry_e),
    )


# ---- the CLI against a member's admin socket ---------------------------------------------------


def actions(net: devnet.Devnet, member: int) -> dict[str, dict[str, Any]]:
    """`relayer actions list --json` on a member: action id -> its JSON."""
    out = json.loads(ok(cli(net, "actions", "list", "--json", member=member)))
    assert out["member"] == member
    return {a["id"]: a for a in out["actions"]}


def held(net: devnet.Devnet, member: int) -> dict[str, dict[str, Any]]:
    """What `actions` gives, asked on the member's admin socket from this process (the verb the
    CLI sends; no interpreter start-up per poll)."""
    sock = load_config(net.configs[member]).data_dir / "admin.sock"
    out = admin_client.request(sock, "actions.list", {"limit": 1000}, timeout=30)
    return {a["id"]: a for a in out["actions"]}


def state_on(net: devnet.Devnet, member: int, action_id: str) -> str | None:
    a = held(net, member).get(action_id)
    return None if a is None else str(a["state"])


def wait_states(
    net: devnet.Devnet, members: list[int], action_ids: list[str], state: str, timeout: float = WAIT
) -> None:
    devnet.wait_until(
        lambda: all(state_on(net, m, i) == state for m in members for i in action_ids),
        timeout,
        f"actions {action_ids} {state} on members {members}",
    )


def wait_ready(net: devnet.Devnet, member: int) -> None:
    """The member's daemon answers on its admin socket (its pipeline is running)."""
    devnet.wait_until(lambda: held(net, member) is not None, 90, f"member {member}'s daemon to answer")


def scheduled_issuer_moves(chains: Chains, first: int) -> list[tuple[int, int, str, int, int]]:
    """The gateway's IssuerActionScheduled events from decision `first` on: (sequence, op,
    account, held, executableAt - the scheduling block's time)."""
    out = []
    for e in chains.gateway.events.IssuerActionScheduled().get_logs(from_block=0):
        if e.args.sequence >= first:
            at = chains.we.eth.get_block(e.blockNumber)["timestamp"]
            out.append((e.args.sequence, e.args.op, e.args.account, e.args.held, e.args.executableAt - at))
    return out


def registry_action_id(receipt: Any, event: Callable[[], Any]) -> str:
    """The id every member gives the action carrying the registry event of `receipt` (the
    destination's chain id, the event's block and log index on C: relayer.core.items)."""
    logs = event().process_receipt(receipt)
    assert len(logs) == 1, logs
    return f"r{E}-{logs[0]['blockNumber']}-{logs[0]['logIndex']}"


def signed_items(net: devnet.Devnet, member: int, action_id: str) -> list[str]:
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT item_id FROM signed_items WHERE item_id LIKE ? ORDER BY item_id", (f"{action_id}@%",)
        ).fetchall()
    return [str(r[0]) for r in rows]


def rank0(nonce: int, n: int = 4) -> int:
    """The member first in turn to send the action signed for `nonce` (ActionStage._rank)."""
    return nonce % n + 1


# ---- 1. the allow-list follows the consortium chain --------------------------------------------


def test_an_allow_list_change_on_the_consortium_chain_reaches_ethereum_with_no_operator_step(
    net: devnet.Devnet, chains: Chains
) -> None:
    """Allowed, then removed, on C: E follows both. Member 4, killed before either and started
    after both, takes the registry's latest decision: the earlier one is superseded there, never
    signed (signed for a later nonce, it would stay open for ever, or with t such members put
    the earlier decision back on E)."""
    x = cs("0x" + "a1" * 20)
    assert chains.registry_e.functions.statusOf(x).call() == [False, False]
    before = chains.action_nonce()
    net.nodes[4].stop(signal.SIGKILL)
    try:
        allowed = devnet.send(chains.wc, ADMIN, chains.registry_c.functions.setAllowed(x, True))
        allow_id = registry_action_id(allowed, chains.registry_c.events.AllowedSet)
        devnet.wait_until(
            lambda: chains.registry_e.functions.statusOf(x).call()[0] is True, WAIT, "x allowed on Ethereum"
        )
        removed = devnet.send(chains.wc, ADMIN, chains.registry_c.functions.setAllowed(x, False))
        remove_id = registry_action_id(removed, chains.registry_c.events.AllowedSet)
        devnet.wait_until(
            lambda: chains.registry_e.functions.statusOf(x).call()[0] is False,
            WAIT,
            "x disallowed on Ethereum",
        )
    finally:
        net.restart(4)  # the other scenarios need it, whatever happened here
    assert chains.action_nonce() == before + 2
    wait_states(net, [1, 2, 3], [allow_id, remove_id], "executed")
    wait_ready(net, 4)
    devnet.wait_until(
        lambda: state_on(net, 4, remove_id) == "executed", WAIT, "member 4 to take the latest decision"
    )
    time.sleep(2 * STAGGER)  # had member 4 signed the first decision again, it would be now
    assert chains.action_nonce() == before + 2
    assert chains.registry_e.functions.statusOf(x).call() == [False, False]
    assert signed_items(net, 4, allow_id) == []
    first = held(net, 4)[allow_id]
    assert first["state"] == "superseded", first
    assert f"superseded by {remove_id}" in first["detail"], first

    carried = chains.registry_e.events.AllowedSet().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"account": x}
    )
    assert [(e.args.allowed, e.args.by) for e in carried] == [
        (True, chains.gateway.address),
        (False, chains.gateway.address),
    ]
    assert chains.registry_e.functions.freezesOf(x).call() == [False, False]
    for m in net.nodes:
        listed = actions(net, m)
        for action_id, flag in ((allow_id, True), (remove_id, False)):
            a = listed[action_id]
            assert (a["kind"], a["account"], a["flag"], a["origin"]) == ("allow", x.lower(), flag, "registry")
            assert a["approved_here"] is True  # every member takes the registry's decisions on its own
        if m != 4:
            # the partials this member holds: its own at least (one that came after the action
            # executed here is not kept), member 4's never
            assert listed[allow_id]["state"] == "executed"
            assert m in listed[allow_id]["signers"]
            assert set(listed[allow_id]["signers"]) <= {1, 2, 3}


# ---- 2. an issuer freeze: carried, a mint refused and refunded, then the unfreeze --------------


def test_an_issuer_freeze_on_the_consortium_chain_is_applied_on_ethereum_and_a_lock_to_the_holder_is_refunded(
    net: devnet.Devnet, chains: Chains
) -> None:
    holder = BOB.address  # allowed on both chains: only the freeze refuses the mint
    assert chains.registry_e.functions.freezesOf(holder).call() == [False, False]
    before = chains.action_nonce()

    frozen = devnet.send(chains.wc, ADMIN, chains.registry_c.functions.setFrozen(holder, True))
    freeze_id = registry_action_id(frozen, chains.registry_c.events.FrozenSet)
    final_on_c = flag_on_e = None
    deadline = time.monotonic() + WAIT
    while flag_on_e is None and time.monotonic() < deadline:
        now = time.monotonic()
        if final_on_c is None and chains.wc.eth.block_number >= frozen["blockNumber"] + FINALITY_DEPTH:
            final_on_c = now
        if chains.registry_e.functions.freezesOf(holder).call() == [False, True]:
            flag_on_e = now
        time.sleep(0.05)
    assert final_on_c is not None, "the freeze never final on the consortium chain"
    assert flag_on_e is not None, "the freeze did not reach Ethereum"
    carry = flag_on_e - final_on_c
    print(
        f"\nregistry carry: freeze final on C (depth {FINALITY_DEPTH}) -> bridge-frozen on E in "
        f"{carry:.2f} s (devnet n=4 t=3, block time 0.5 s, poll 0.3 s, no transfer load)"
    )
    assert chains.registry_e.functions.statusOf(holder).call() == [True, True]  # still allowed, frozen
    assert chains.action_nonce() == before + 1
    wait_states(net, list(net.nodes), [freeze_id], "executed")
    for m in net.nodes:
        a = held(net, m)[freeze_id]
        assert (a["kind"], a["account"], a["flag"], a["origin"]) == (
            "freeze",
            holder.lower(),
            True,
            "registry",
        )
    devnet.wait_until(
        lambda: sum(net.metric(m, "qiao_registry_carry_seconds_count") or 0 for m in net.nodes) >= 1,
        30,
        "the carry time in a member's qiao_registry_carry_seconds",
    )

    # a lock to the holder: refused on E (the holder is frozen there), refunded once on C
    amount = 3 * devnet.UNIT
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(ALICE.address, amount))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, amount))
    alice_before = chains.asset.functions.balanceOf(ALICE.address).call()
    bob_wrapped = chains.wrapped.functions.balanceOf(holder).call()
    nonce = chains.vault.functions.nextNonce(E).call()
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(chains.asset.address, E, holder, amount))
    devnet.wait_until(
        lambda: chains.vault.functions.isRefunded(E, nonce).call(), WAIT, "the lock refunded on C"
    )
    failed = chains.gateway.events.TransferFailed().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"srcChainId": C, "nonce": nonce}
    )
    assert [e.args.reason for e in failed] == [1]  # FailureReason.RecipientNotAllowed
    refunds = chains.vault.events.TransferRefunded().get_logs(from_block=net.deployment.consortium_block)
    assert [(e.args.nonce, e.args.sender, e.args.amount) for e in refunds] == [(nonce, ALICE.address, amount)]
    assert chains.asset.functions.balanceOf(ALICE.address).call() == alice_before
    assert chains.wrapped.functions.balanceOf(holder).call() == bob_wrapped

    # the issuer lifts it: E follows, and a lock to the holder mints again
    unfrozen = devnet.send(chains.wc, ADMIN, chains.registry_c.functions.setFrozen(holder, False))
    unfreeze_id = registry_action_id(unfrozen, chains.registry_c.events.FrozenSet)
    devnet.wait_until(
        lambda: chains.registry_e.functions.freezesOf(holder).call() == [False, False],
        WAIT,
        "the holder unfrozen on Ethereum",
    )
    wait_states(net, list(net.nodes), [unfreeze_id], "executed")
    assert chains.action_nonce() == before + 2
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(ALICE.address, amount))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, amount))
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(chains.asset.address, E, holder, amount))
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(holder).call() == bob_wrapped + amount,
        WAIT,
        "the next lock to the holder minted",
    )


# ---- 2b. the issuer's decisions on C (issue 19): in C's order, a suspension and a mint waiting --


def test_issuer_decisions_on_the_consortium_chain_are_applied_on_ethereum_and_a_suspension_holds_mints(
    net: devnet.Devnet, chains: Chains
) -> None:
    """The issuer partially freezes bob's tokens and forces a transfer to alice on C, then suspends
    the asset: E applies them in C's order with no operator step (the time from the suspension
    final on C to the status on E is printed), transfers stop on E, a lock made during the
    suspension is queued on E (neither delivered nor failed nor refunded), and the relayers
    release it once C lifts the suspension."""
    assert net.deployment.issuer is not None
    issuer = chains.wc.eth.contract(address=net.deployment.issuer.address, abi=net.deployment.issuer.abi)
    asset, unit = chains.asset.address, devnet.UNIT
    bob, alice = BOB.address, ALICE.address
    # bob holds 5 on E
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(ALICE.address, 6 * unit))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, 6 * unit))
    bob_before = chains.wrapped.functions.balanceOf(bob).call()
    alice_before = chains.wrapped.functions.balanceOf(alice).call()
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(asset, E, bob, 5 * unit))
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(bob).call() == bob_before + 5 * unit, WAIT, "bob's mint"
    )
    before = chains.action_nonce()

    receipts = [
        devnet.send(chains.wc, ADMIN, issuer.functions.freezePartialTokens(asset, bob, 2 * unit)),
        devnet.send(chains.wc, ADMIN, issuer.functions.forcedTransfer(asset, bob, alice, unit)),
        devnet.send(chains.wc, ADMIN, issuer.functions.setAssetStatus(asset, 1)),
    ]
    ids = [registry_action_id(r, issuer.events.IssuerAction) for r in receipts]
    suspended = receipts[-1]
    final_on_c = status_on_e = None
    deadline = time.monotonic() + WAIT
    while status_on_e is None and time.monotonic() < deadline:
        now = time.monotonic()
        if final_on_c is None and chains.wc.eth.block_number >= suspended["blockNumber"] + FINALITY_DEPTH:
            final_on_c = now
        if chains.wrapped.functions.assetStatus().call() == 1:
            status_on_e = now
        time.sleep(0.05)
    assert final_on_c is not None, "the suspension never final on the consortium chain"
    assert status_on_e is not None, "the suspension did not reach Ethereum"
    print(
        f"\nissuer carry: suspension final on C (depth {FINALITY_DEPTH}) -> suspended on E in "
        f"{status_on_e - final_on_c:.2f} s (devnet n=4 t=3, block time 0.5 s, after two earlier decisions)"
    )
    # in C's order: the freeze, then the forced transfer, then the status. The forced transfer was
    # only scheduled: the unit it takes held on bob at once, moved by a relayer's
    # executeIssuerAction after the endpoint's action delay (the suspension does not stop it)
    first = chains.gateway.functions.issuerSequence(chains.wrapped.address).call() - 2
    delay = chains.gateway.functions.actionDelay().call()
    assert scheduled_issuer_moves(chains, first) == [(first + 1, 5, bob, unit, delay)]
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(alice).call() == alice_before + unit,
        WAIT,
        "the forced transfer executed after the delay",
    )
    # within bob's free balance: the 2 the issuer froze stay frozen, the hold is released
    assert chains.wrapped.functions.getFrozenTokens(bob).call() == 2 * unit
    assert chains.wrapped.functions.balanceOf(bob).call() == bob_before + 4 * unit
    assert chains.wrapped.functions.balanceOf(alice).call() == alice_before + unit
    assert chains.gateway.functions.issuerSequence(chains.wrapped.address).call() == 3
    assert chains.action_nonce() == before + 3
    wait_states(net, list(net.nodes), ids, "executed")
    for m in net.nodes:
        a = held(net, m)[ids[2]]
        assert (a["kind"], a["origin"], a["approved_here"]) == ("issuer", "issuer", True)

    # suspended: nothing moves on E
    assert not chains.wrapped.functions.canTransfer(bob, alice, 1).call()
    with pytest.raises(ContractLogicError):
        chains.wrapped.functions.transfer(alice, 1).estimate_gas({"from": bob})
    # a lock during the suspension waits: its batch executes and queues it in the token's release
    # queue; neither delivered, nor failed, nor refunded
    nonce = chains.vault.functions.nextNonce(E).call()
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(asset, E, alice, unit))
    devnet.wait_until(
        lambda: chains.gateway.functions.transferStatus(C, nonce).call() == 2,  # Queued
        WAIT,
        "the lock made during the suspension queued on E",
    )
    assert chains.gateway.functions.queueHead(chains.wrapped.address).call()[1] == 1
    time.sleep(10 * STAGGER)  # the relayers try to release it meanwhile (AssetSuspended: they wait)
    assert chains.gateway.functions.transferStatus(C, nonce).call() == 2  # still Queued
    assert chains.wrapped.functions.balanceOf(alice).call() == alice_before + unit
    assert not chains.vault.functions.isRefunded(E, nonce).call()

    # the issuer lifts the suspension on C: E follows and the relayers release the waiting lock
    lifted = devnet.send(chains.wc, ADMIN, issuer.functions.setAssetStatus(asset, 0))
    lift_id = registry_action_id(lifted, issuer.events.IssuerAction)
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(alice).call() == alice_before + 2 * unit,
        WAIT,
        "the lock made during the suspension released after it",
    )
    assert chains.gateway.functions.transferStatus(C, nonce).call() == 1  # Delivered
    assert chains.gateway.functions.queueHead(chains.wrapped.address).call()[1] == 0
    released = [e for m in net.nodes.values() for e in m.events("release_sent")]
    assert any(e.get("release") == f"{C}->{E}#{nonce}" for e in released), released
    assert not chains.vault.functions.isRefunded(E, nonce).call()
    wait_states(net, list(net.nodes), [lift_id], "executed")
    assert chains.action_nonce() == before + 4
    assert chains.wrapped.functions.assetStatus().call() == issuer.functions.assetStatus(asset).call() == 0


# ---- 2c. the recovery of a lost wallet, then a default (issue 19) -------------------------------


def issuer_on_c(net: devnet.Devnet, chains: Chains) -> Contract:
    assert net.deployment.issuer is not None
    return chains.wc.eth.contract(address=net.deployment.issuer.address, abi=net.deployment.issuer.abi)


def deliver(chains: Chains, holder: str, amount: int) -> None:
    """Alice locks `amount` on C for `holder` on E; returns once it is minted there."""
    before = chains.wrapped.functions.balanceOf(holder).call()
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(ALICE.address, amount))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, amount))
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(chains.asset.address, E, holder, amount))
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(holder).call() == before + amount,
        WAIT,
        f"the lock to {holder} minted on Ethereum",
    )


def carry_seconds(chains: Chains, receipt: Any, applied: Callable[[], bool], what: str) -> float:
    """Seconds from the block that makes `receipt` final on C (FINALITY_DEPTH) to the first read
    of `applied()` true on E (polled every 50 ms)."""
    final_on_c = on_e = None
    deadline = time.monotonic() + WAIT
    while on_e is None and time.monotonic() < deadline:
        now = time.monotonic()
        if final_on_c is None and chains.wc.eth.block_number >= receipt["blockNumber"] + FINALITY_DEPTH:
            final_on_c = now
        if applied():
            on_e = now
        time.sleep(0.05)
    assert final_on_c is not None, f"the {what} never final on the consortium chain"
    assert on_e is not None, f"the {what} did not reach Ethereum"
    return on_e - final_on_c


def test_the_recovery_of_a_lost_wallet_on_the_consortium_chain_moves_its_tokens_and_freezes_on_ethereum(
    net: devnet.Devnet, chains: Chains
) -> None:
    """A holder's wallet holding 5 (2 of them frozen by the issuer) is lost: the issuer freezes it
    and records its recovery to the holder's new wallet on C. On E, as ERC-3643's recoveryAddress
    (WrappedToken): the whole balance and the 2 frozen tokens move to the new wallet and the wallet
    freeze follows it; the lost wallet ends empty with nothing frozen, its wallet freeze kept, still
    on the allow-list (removing it is the compliance desk's). The supply does not change."""
    issuer = issuer_on_c(net, chains)
    asset, unit, w = chains.asset.address, devnet.UNIT, chains.wrapped.functions
    # allowed on both chains by the devnet profile, used by no other scenario of the module
    lost, new = devnet.dev_account(6).address, devnet.dev_account(7).address
    assert chains.registry_e.functions.statusOf(new).call() == [True, False]  # verified: recovery needs it
    assert w.balanceOf(lost).call() == w.balanceOf(new).call() == 0
    deliver(chains, lost, 5 * unit)
    supply = w.totalSupply().call()
    first = chains.gateway.functions.issuerSequence(chains.wrapped.address).call() + 1

    receipts = [
        devnet.send(chains.wc, ADMIN, issuer.functions.freezePartialTokens(asset, lost, 2 * unit)),
        devnet.send(chains.wc, ADMIN, issuer.functions.setAddressFrozen(asset, lost, True)),
        devnet.send(chains.wc, ADMIN, issuer.functions.recoveryAddress(asset, lost, new)),
    ]
    ids = [registry_action_id(r, issuer.events.IssuerAction) for r in receipts]
    carry = carry_seconds(chains, receipts[-1], lambda: w.balanceOf(new).call() == 5 * unit, "recovery")
    delay = chains.gateway.functions.actionDelay().call()
    print(
        f"\nissuer carry: recovery final on C (depth {FINALITY_DEPTH}) -> balance moved on E in "
        f"{carry:.2f} s (devnet n=4 t=3, block time 0.5 s, after two earlier decisions; scheduled, "
        f"executed after the endpoint's {delay} s action delay)"
    )
    # scheduled first: the 3 not frozen yet held on the lost wallet (the issuer's 2 were)
    assert scheduled_issuer_moves(chains, first) == [(first + 2, 6, lost, 3 * unit, delay)]
    assert (w.balanceOf(new).call(), w.getFrozenTokens(new).call(), w.isFrozen(new).call()) == (
        5 * unit,
        2 * unit,
        True,
    )
    assert (w.balanceOf(lost).call(), w.getFrozenTokens(lost).call(), w.isFrozen(lost).call()) == (0, 0, True)
    assert chains.registry_e.functions.statusOf(lost).call() == [True, False]
    assert w.totalSupply().call() == supply
    assert not w.canReceive(new).call()  # frozen like the lost wallet was: the issuer unfreezes it
    recovered = chains.wrapped.events.RecoverySuccess().get_logs(from_block=net.deployment.ethereum_block)
    assert [tuple(e.args.values()) for e in recovered] == [(lost, new, cs("0x" + "00" * 20))]
    moved = chains.wrapped.events.TokensFrozen().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"userAddress": new}
    )
    assert [e.args.amount for e in moved] == [2 * unit]  # the lost wallet's, moved by the recovery
    last = chains.gateway.functions.issuerSequence(chains.wrapped.address).call()
    assert last == first + 2 == issuer.functions.sequenceOf(asset).call()
    for seq in range(first, last + 1):
        assert not chains.gateway.functions.issuerActionFailed(chains.wrapped.address, seq).call(), seq
    wait_states(net, list(net.nodes), ids, "executed")
    for m in net.nodes:
        a = held(net, m)[ids[2]]
        assert (a["kind"], a["origin"], a["approved_here"]) == ("issuer", "issuer", True)


def test_a_default_on_the_consortium_chain_makes_the_token_burn_only_and_redemptions_unlock_on_it(
    net: devnet.Devnet, chains: Chains
) -> None:
    """The issuer records a default on C: once carried, a holder's transfer on E reverts
    (AssetNotActive(2)); a burn toward C (a redemption) still goes through and the committee
    unlocks it on C; a lock toward E made after the default fails there (TokenFrozen) and is
    refunded on C (docs/PROTOCOL.md, "Asset status on the wrapped token"). The asset stays
    defaulted: no later scenario of the module uses the wrapped token."""
    issuer = issuer_on_c(net, chains)
    asset, unit, w = chains.asset.address, devnet.UNIT, chains.wrapped.functions
    bob, alice = BOB.address, ALICE.address
    deliver(chains, bob, 3 * unit)  # bob's free balance is at least 3 (2b froze 2 others)

    defaulted = devnet.send(chains.wc, ADMIN, issuer.functions.setAssetStatus(asset, 2))
    default_id = registry_action_id(defaulted, issuer.events.IssuerAction)
    carry = carry_seconds(chains, defaulted, lambda: w.assetStatus().call() == 2, "default")
    print(
        f"\nissuer carry: default final on C (depth {FINALITY_DEPTH}) -> defaulted on E in "
        f"{carry:.2f} s (devnet n=4 t=3, block time 0.5 s, the only decision in flight)"
    )
    wait_states(net, list(net.nodes), [default_id], "executed")
    assert issuer.functions.assetStatus(asset).call() == 2

    # no transfer between holders
    assert not w.canTransfer(bob, alice, unit).call()
    with pytest.raises(ContractLogicError) as refused:
        w.transfer(alice, unit).estimate_gas({"from": bob})
    assert str(refused.value.data) == ASSET_NOT_ACTIVE + (2).to_bytes(32, "big").hex()

    # a redemption burnt on E and, meanwhile, a lock toward E made on C after the default
    bob_on_c = chains.asset.functions.balanceOf(bob).call()
    bob_on_e, supply = w.balanceOf(bob).call(), w.totalSupply().call()
    devnet.send(chains.we, BOB, chains.gateway.functions.burn(chains.wrapped.address, C, bob, 2 * unit))
    assert (w.balanceOf(bob).call(), w.totalSupply().call()) == (bob_on_e - 2 * unit, supply - 2 * unit)
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(alice, unit))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, unit))
    alice_on_c = chains.asset.functions.balanceOf(alice).call()
    nonce = chains.vault.functions.nextNonce(E).call()
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(asset, E, bob, unit))
    devnet.wait_until(
        lambda: chains.asset.functions.balanceOf(bob).call() == bob_on_c + 2 * unit,
        WAIT,
        "the redemption unlocked to bob on C",
    )
    devnet.wait_until(
        lambda: chains.vault.functions.isRefunded(E, nonce).call(), WAIT, "the lock refunded on C"
    )
    failed = chains.gateway.events.TransferFailed().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"srcChainId": C, "nonce": nonce}
    )
    assert [e.args.reason for e in failed] == [2]  # FailureReason.TokenFrozen
    assert chains.gateway.functions.transferStatus(C, nonce).call() == 3  # Failed
    assert chains.asset.functions.balanceOf(alice).call() == alice_on_c
    assert w.balanceOf(bob).call() == bob_on_e - 2 * unit  # nothing minted
    assert w.assetStatus().call() == 2


# ---- 3. SIGKILL in the middle of an action -----------------------------------------------------


def killed_and_restarted(
    net: devnet.Devnet, chains: Chains, armed: list[int], point: str, marker: Path, nonce: int, action_id: str
) -> None:
    """The first of the `armed` members to reach `point` while carrying `action_id` kills itself;
    restarted, the action is executed at `nonce` once, every member sees it so, and the killed
    member signed it for that nonce only."""
    env = {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)}
    devnet.wait_until(
        lambda: marker.exists() and any(net.nodes[m].popen.poll() is not None for m in armed),
        WAIT,
        f"one of members {armed} killed at {point}",
    )
    assert marker.read_text() == point
    dead = [m for m in armed if net.nodes[m].popen.poll() is not None]
    for m in dead:
        assert net.nodes[m].popen.returncode == -9, m
        net.restart(m, env)  # the marker is there: the crashpoint is inert now
    devnet.wait_until(lambda: chains.action_nonce() > nonce, WAIT, f"action nonce {nonce} used")
    for m in dead:
        wait_ready(net, m)
    wait_states(net, list(net.nodes), [action_id], "executed")
    for m in dead:
        assert held(net, m)[action_id]["action_nonce"] == nonce
        assert signed_items(net, m, action_id) == [f"{action_id}@{nonce}"]


def test_members_killed_with_sigkill_in_the_middle_of_an_action_complete_it_once(
    net: devnet.Devnet, chains: Chains, tmp_path: Path
) -> None:
    assert sorted(p for p in POINTS if p.startswith("after_action_")) == [
        "after_action_combine",
        "after_action_publish",
        "after_action_send",
    ]
    y = cs("0x" + "b2" * 20)
    assert chains.registry_e.functions.statusOf(y).call() == [False, False]
    first = chains.action_nonce()
    registry = chains.registry_c.functions
    # One decision per point, each at its own action nonce, and the members armed for it (one
    # marker: the first of them to reach the point dies). Every member signs and combines the
    # registry's decisions, so one is armed for `publish` and for `combine` (the first in turn
    # to send: it dies before sending, the next in turn sends). For `send`, the first two in
    # turn: a member just restarted may combine too late to be first, and then the next sends.
    steps = [
        ("after_action_publish", [(first + 3) % 4 + 1], registry.setFrozen(y, True), "FrozenSet"),
        ("after_action_combine", [rank0(first + 1)], registry.setFrozen(y, False), "FrozenSet"),
        (
            "after_action_send",
            [rank0(first + 2), rank0(first + 3)],
            registry.setAllowed(y, True),
            "AllowedSet",
        ),
    ]
    for nonce, (point, armed, decision, event) in enumerate(steps, start=first):
        # armed just before its step: armed earlier, a member could die in another step (each
        # member signs and combines every action, and the next in turn sends when the first is slow)
        marker = tmp_path / f"crashed-{point}"
        for m in armed:
            net.restart(m, {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)})
        for m in armed:
            wait_ready(net, m)
        receipt = devnet.send(chains.wc, ADMIN, decision)
        action_id = registry_action_id(receipt, getattr(chains.registry_c.events, event))
        killed_and_restarted(net, chains, armed, point, marker, nonce, action_id)

    assert chains.action_nonce() == first + 3
    assert chains.registry_e.functions.statusOf(y).call() == [True, False]
    assert chains.registry_e.functions.freezesOf(y).call() == [False, False]
    frozen = chains.registry_e.events.FrozenSet().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"account": y}
    )
    assert [e.args.frozen for e in frozen] == [True, False]
    allowed = chains.registry_e.events.AllowedSet().get_logs(
        from_block=net.deployment.ethereum_block, argument_filters={"account": y}
    )
    assert [e.args.allowed for e in allowed] == [True]
    applied = chains.gateway.events.SignedActionApplied().get_logs(from_block=net.deployment.ethereum_block)
    nonces = [int(e.args.actionNonce) for e in applied]
    assert len(nonces) == len(set(nonces))  # no action nonce consumed twice
    assert [n for n in nonces if n >= first] == [first, first + 1, first + 2]
    for m in net.nodes:
        assert net.nodes[m].popen.poll() is None, f"member {m} died; see {net.nodes[m].log_path}"
        assert not net.nodes[m].events("equivocation_refused")


# ---- 4. the guardian pauses; three operators resume --------------------------------------------


def test_a_resume_after_the_guardians_pause_needs_three_operators_and_executes_after_the_delay(
    net: devnet.Devnet, chains: Chains
) -> None:
    devnet.send(chains.we, GUARDIAN, chains.gateway.functions.pause())
    assert chains.paused()
    nonce = chains.action_nonce()

    proposed = json.loads(
        ok(cli(net, "actions", "propose", "resume", "--chain", "ethereum", "--json", member=1))
    )
    pid = proposed["id"]
    assert (proposed["kind"], proposed["state"], proposed["approved_here"]) == ("resume", "approved", True)
    devnet.wait_until(
        lambda: all(state_on(net, m, pid) == "proposed" for m in (2, 3, 4)), 60, "the proposal on members 2-4"
    )
    approved = json.loads(ok(cli(net, "actions", "approve", pid, "--json", member=2)))
    assert approved["state"] == "approved"
    # two approvals: each holds the other's partial, and nothing is scheduled
    devnet.wait_until(
        lambda: all(held(net, m)[pid]["signers"] == [1, 2] for m in (1, 2)),
        60,
        "members 1 and 2 to hold each other's partial",
    )
    time.sleep(4 * STAGGER)  # every member's turn to send, had it a signature
    assert chains.paused()
    assert chains.action_nonce() == nonce
    assert chains.pending_status(nonce) == 0
    assert not chains.gateway.events.ActionScheduled().get_logs(from_block=net.deployment.ethereum_block)
    for m, state in ((1, "approved"), (2, "approved"), (3, "proposed"), (4, "proposed")):
        assert state_on(net, m, pid) == state, m

    # the third operator: scheduled, executed by a relayer once the delay is over, unpaused
    ok(cli(net, "actions", "approve", pid, "--json", member=3))
    devnet.wait_until(lambda: chains.action_nonce() == nonce + 1, WAIT, "the resume scheduled")
    scheduled = chains.gateway.events.ActionScheduled().get_logs(from_block=net.deployment.ethereum_block)
    assert [int(e.args.actionNonce) for e in scheduled] == [nonce]
    devnet.wait_until(lambda: not chains.paused(), WAIT, "the gateway unpaused by the executed resume")
    assert chains.pending_status(nonce) == EXECUTED
    executed = chains.gateway.events.ActionExecuted().get_logs(from_block=net.deployment.ethereum_block)
    assert [int(e.args.actionNonce) for e in executed] == [nonce]
    assert chains.action_nonce() == nonce + 1
    wait_states(net, [1, 2, 3], [pid], "executed")
    senders = []
    for m in (1, 2, 3):
        a = actions(net, m)[pid]
        assert a["onchain"] == "executed", a
        assert a["action_nonce"] == nonce
        assert a["approved_here"] is True
        assert m in a["signers"], a
        assert set(a["signers"]) <= {1, 2, 3}, a  # member 4 never signed it
        assert [h["state"] for h in a["history"]][-2:] == ["scheduled", "executed"], a["history"]
        if a["tx_hash"] is not None:  # this member sent the RESUME: it combined t partials
            senders.append(m)
            assert a["signers"] == [1, 2, 3], a
    assert senders, "no approving member says it sent the resume"
    # member 4, whose operator never approved it, sees it executed too (left `proposed`, it
    # would wait for an approval that no longer matters and raise the pending-proposal alert)
    devnet.wait_until(lambda: state_on(net, 4, pid) == "executed", 60, "member 4 to see the resume executed")
    four = actions(net, 4)[pid]
    assert four["approved_here"] is False
    assert 4 not in four["signers"]
    assert "without this member's approval" in four["detail"], four
    assert all(e.get("action") != pid for e in net.nodes[4].events("action_signed"))


def test_a_committee_pause_whose_signer_is_killed_with_sigkill_after_publishing_takes_effect_once(
    net: devnet.Devnet, chains: Chains, tmp_path: Path
) -> None:
    """Three operators pause the gateway (PAUSE takes effect at once, no delay); member 2 is killed
    with SIGKILL right after publishing its partial: restarted, it signed that nonce once and
    sees the pause executed."""
    assert not chains.paused()
    nonce = chains.action_nonce()
    point = "after_action_publish"
    marker = tmp_path / f"crashed-pause-{point}"
    net.restart(2, {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)})
    wait_ready(net, 2)
    proposed = json.loads(
        ok(cli(net, "actions", "propose", "pause", "--chain", "ethereum", "--json", member=1))
    )
    pid = proposed["id"]
    assert proposed["kind"] == "pause"
    devnet.wait_until(
        lambda: all(state_on(net, m, pid) == "proposed" for m in (2, 3)),
        60,
        "the proposal on members 2 and 3",
    )
    cli(net, "actions", "approve", pid, "--json", member=2)  # it may die before it answers
    ok(cli(net, "actions", "approve", pid, "--json", member=3))
    killed_and_restarted(net, chains, [2], point, marker, nonce, pid)
    assert chains.paused()
    applied = chains.gateway.events.SignedActionApplied().get_logs(from_block=net.deployment.ethereum_block)
    assert [int(e.args.actionNonce) for e in applied].count(nonce) == 1


# ---- 5. a byzantine member's resume nobody approves ---------------------------------------------


def test_a_resume_proposed_by_a_byzantine_member_and_approved_by_nobody_else_gets_nothing_executed(
    net: devnet.Devnet, chains: Chains
) -> None:
    if not chains.paused():
        devnet.send(chains.we, GUARDIAN, chains.gateway.functions.pause())
    nonce = chains.action_nonce()
    ttl = 15
    proposed = json.loads(
        ok(
            cli(
                net,
                "actions",
                "propose",
                "resume",
                "--chain",
                "ethereum",
                "--ttl",
                str(ttl),
                "--json",
                member=4,
            )
        )
    )
    pid = proposed["id"]
    assert proposed["approved_here"] is True  # the proposer's own approval: one partial of t
    devnet.wait_until(
        lambda: all(state_on(net, m, pid) == "proposed" for m in (1, 2, 3)), 60, "the proposal on members 1-3"
    )
    devnet.wait_until(lambda: held(net, 4)[pid]["signers"] == [4], 60, "member 4 to sign its own proposal")
    expires = time.time() + ttl
    while time.time() < expires + 2 * STAGGER:
        assert chains.paused()
        assert chains.action_nonce() == nonce
        time.sleep(1)
    wait_states(net, [1, 2, 3, 4], [pid], "expired", timeout=60)
    for m in (1, 2, 3):
        a = actions(net, m)[pid]
        assert a["approved_here"] is False
        assert m not in a["signers"]
    assert chains.paused()
    assert chains.action_nonce() == nonce
    assert chains.pending_status(nonce) == 0
    for m in net.nodes:
        assert net.nodes[m].popen.poll() is None, f"member {m} died; see {net.nodes[m].log_path}"
