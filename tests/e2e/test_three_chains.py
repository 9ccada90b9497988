"""Three chains, one committee, one set of member processes: the consortium chain C, Ethereum E and
an L2-like chain L whose `finalized` tag lags its head (anvil's tag is the head minus two epochs of
slots; the devnet runs L with 3 slots an epoch: 6 blocks behind). The routes C<->E and C<->L are
served by configuration only (each member's TOML lists the three chains and four routes); the vault
on C backs both wrapped tokens, and the supply is reconciled per pair."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e

C, E, L = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID, devnet.L2_CHAIN_ID
UNIT = devnet.UNIT
ALICE, BOB, CAROL = devnet.dev_account(8), devnet.dev_account(9), devnet.dev_account(11)


def test_the_demo_with_three_chains_shows_a_round_trip_on_both_routes(tmp_path: Path) -> None:
    # first in the module: its own devnet, stopped before the module's devnet starts
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.devnet",
            "--chains",
            "3",
            "--locks",
            "4",
            "--burns",
            "2",
            "--run-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
        cwd=devnet.ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # 1+2+3+4 locked toward each chain, 1+2 burnt back from each
    assert "bob (ethereum) wTBILL balance    : 7" in out.stdout
    assert "carol (l2) wTBILL balance        : 7" in out.stdout
    assert (
        "pair consortium<->ethereum: wrapped supply 7 wTBILL, locked for it 7 TBILL, check true" in out.stdout
    )
    assert "pair consortium<->l2: wrapped supply 7 wTBILL, locked for it 7 TBILL, check true" in out.stdout
    assert "locked in the vault              : 14 TBILL" in out.stdout
    assert "supply check (per pair, and the sum == locked) : true" in out.stdout
    assert "l2 chain         7003" in out.stdout
    # one set of member processes served the three chains, configured as such
    config = tomllib.loads((tmp_path / "demo" / "node-1" / "node.toml").read_text())
    assert set(config["chains"]) == {"consortium", "ethereum", "l2"}
    assert config["chains"]["l2"]["finality"] == "finalized"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    run_dir = tmp_path_factory.mktemp("three")
    with devnet.devnet(run_dir / "n", block_time=0.5, chains=3) as running:
        yield running


def store_row(net: devnet.Devnet, member: int, what: str, nonce: int = 0) -> Any:
    """From a member's store (read-only): its L2 scan cursor (the next block it scans), or the
    state of transfer L2 -> C `nonce` (None: not stored)."""
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        if what == "cursor":
            row = db.execute("SELECT next_block FROM cursors WHERE chain_id=?", (L,)).fetchone()
        else:
            row = db.execute(
                "SELECT state FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (L, C, nonce),
            ).fetchone()
    return None if row is None else row[0]


def executed_nonces(gateway_or_vault: Any, start: int, src: int) -> list[int]:
    """The nonces of route src -> (this endpoint's chain) executed here, from TransferExecuted."""
    logs = gateway_or_vault.events.TransferExecuted().get_logs(from_block=start)
    return [int(ev["args"]["nonce"]) for ev in logs if int(ev["args"]["srcChainId"]) == src]


def test_one_set_of_members_serves_both_routes_from_configuration(net: devnet.Devnet) -> None:
    assert len(net.nodes) == net.n  # four processes, not one set per route
    for member in net.nodes:
        config = tomllib.loads(net.configs[member].read_text())
        assert {k: v["chain_id"] for k, v in config["chains"].items()} == {
            "consortium": C,
            "ethereum": E,
            "l2": L,
        }
        routes = {(r["src"], r["dst"]) for r in config["routes"]}
        assert routes == {
            ("consortium", "ethereum"),
            ("ethereum", "consortium"),
            ("consortium", "l2"),
            ("l2", "consortium"),
        }
        assert config["actions"]["registry_to"] == ["ethereum", "l2"]
    wl = Web3(HTTPProvider(net.deployment.spokes[devnet.L2].url))
    lag = 2 * devnet.L2_SLOTS_PER_EPOCH
    with devnet.mining_held(net.deployment.spokes[devnet.L2].url):  # the head stands still
        head = int(wl.eth.block_number)
        final = int(wl.eth.get_block("finalized")["number"])
    assert head - final == lag  # the L2's finalized tag lags its head


def test_transfers_both_ways_on_both_routes_at_once_execute_each_nonce_once_with_exact_supply_per_pair(
    net: devnet.Devnet,
) -> None:
    dep = net.deployment
    spoke = dep.spokes[devnet.L2]
    wc = Web3(HTTPProvider(dep.consortium_url))
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    wrapped = devnet.wrapped_contracts(net)
    ids = {name: w[3] for name, w in wrapped.items()}
    token_e, token_l = wrapped["ethereum"][2], wrapped[devnet.L2][2]

    # seed: locks toward both chains, interleaved, so both holders have wrapped tokens to burn
    seed = {"ethereum": [(i + 1) * UNIT for i in range(6)], devnet.L2: [(i + 11) * UNIT for i in range(6)]}
    wc.eth.wait_for_transaction_receipt(devnet.lock_toward(net, ids, seed), timeout=60)
    devnet.wait_until(
        lambda: (
            token_e.functions.balanceOf(BOB.address).call() == sum(seed["ethereum"])
            and token_l.functions.balanceOf(CAROL.address).call() == sum(seed[devnet.L2])
        ),
        180,
        "the seed minted on both chains",
    )
    alice_before = int(asset.functions.balanceOf(ALICE.address).call())

    # then all four routes at once: more locks toward E and L while bob burns on E and carol on L
    more = {"ethereum": [(i + 21) * UNIT for i in range(8)], devnet.L2: [(i + 31) * UNIT for i in range(8)]}
    burns = {"ethereum": [(i + 1) * UNIT for i in range(5)], devnet.L2: [(i + 2) * UNIT for i in range(5)]}
    last_burns = devnet.burn_from(net, burns)
    last_lock = devnet.lock_toward(net, ids, more)
    wc.eth.wait_for_transaction_receipt(last_lock, timeout=60)
    for name, tx in last_burns.items():
        wrapped[name][0].eth.wait_for_transaction_receipt(tx, timeout=60)
    want_e = sum(seed["ethereum"]) + sum(more["ethereum"]) - sum(burns["ethereum"])
    want_l = sum(seed[devnet.L2]) + sum(more[devnet.L2]) - sum(burns[devnet.L2])
    burned = sum(burns["ethereum"]) + sum(burns[devnet.L2])
    devnet.wait_until(
        lambda: (
            token_e.functions.balanceOf(BOB.address).call() == want_e
            and token_l.functions.balanceOf(CAROL.address).call() == want_l
            # lock_toward mints alice what she then locks: she ends with what the burns unlocked
            and asset.functions.balanceOf(ALICE.address).call() == alice_before + burned
        ),
        240,
        "every transfer of the four routes delivered",
    )

    # each nonce executed exactly once per route, and every nonce the source assigned
    counts = {
        (C, E): executed_nonces(dep.gateway, dep.ethereum_block, C),
        (C, L): executed_nonces(spoke.gateway, spoke.block, C),
        (E, C): executed_nonces(vault, dep.consortium_block, E),
        (L, C): executed_nonces(vault, dep.consortium_block, L),
    }
    expected = {(C, E): 14, (C, L): 14, (E, C): 5, (L, C): 5}
    for route, nonces in counts.items():
        assert Counter(nonces) == Counter(range(1, expected[route] + 1)), (route, sorted(nonces))
    assert int(vault.functions.nextNonce(E).call()) == 15
    assert int(vault.functions.nextNonce(L).call()) == 15
    assert int(dep.gateway.functions.nextNonce(C).call()) == 6
    assert int(spoke.gateway.functions.nextNonce(C).call()) == 6

    # balances and supply exact, per pair and in sum
    assert token_e.functions.totalSupply().call() == want_e
    assert token_l.functions.totalSupply().call() == want_l
    assert asset.functions.balanceOf(vault.address).call() == want_e + want_l
    verdict = reconcile(dep, settled=True)
    assert verdict.ok, verdict.violations
    assert {(p.wrapped_chain, p.wrapped, p.locked) for p in verdict.pairs} == {
        (E, want_e, want_e),
        (L, want_l, want_l),
    }
    assert verdict.counts["executed"] == 38
    # a member's `relayer reconcile`: both pairs of the vault token, judged by their summed supply
    answer = subprocess.run(
        [sys.executable, "-m", "relayer.cli", "reconcile", "--config", str(net.configs[1]), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=devnet.ROOT,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    supply = {p["wrapped_chain"]: p for p in json.loads(answer.stdout)["supply"]}
    assert set(supply) == {"ethereum", devnet.L2}
    assert (supply["ethereum"]["wrapped"], supply[devnet.L2]["wrapped"]) == (str(want_e), str(want_l))
    for p in supply.values():
        assert p["locked"] == p["wrapped_total"] == str(want_e + want_l)  # the vault's one balance
        assert p["in_flight"] == "0"
        assert p["ok"] is True
    # the operator's reconciler, from the deployment file (the L2 listed beside Ethereum)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "relayer.ops.reconciler",
            "--deployment",
            str(devnet.write_devnet_file(net)),
            "--settled",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=devnet.ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"pair {C}<->{E}: wrapped {want_e}  locked for it {want_e}" in out.stdout
    assert f"pair {C}<->{L}: wrapped {want_l}  locked for it {want_l}" in out.stdout
    for member, proc in net.nodes.items():
        assert proc.popen.poll() is None, f"member {member} died; see {proc.log_path}"


def test_a_burn_on_the_l2_waits_for_the_finalized_tag_while_the_other_route_moves(net: devnet.Devnet) -> None:
    dep = net.deployment
    spoke = dep.spokes[devnet.L2]
    wc = Web3(HTTPProvider(dep.consortium_url))
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    wrapped = devnet.wrapped_contracts(net)
    wl, token_e, token_l = wrapped[devnet.L2][0], wrapped["ethereum"][2], wrapped[devnet.L2][2]
    ids = {name: w[3] for name, w in wrapped.items()}
    lag = 2 * devnet.L2_SLOTS_PER_EPOCH
    if token_l.functions.balanceOf(CAROL.address).call() < UNIT:  # run alone: carol needs some to burn
        wc.eth.wait_for_transaction_receipt(devnet.lock_toward(net, ids, {devnet.L2: [5 * UNIT]}), timeout=60)
        devnet.wait_until(
            lambda: token_l.functions.balanceOf(CAROL.address).call() >= 5 * UNIT,
            180,
            "carol's wrapped tokens on the L2",
        )
    next_l = int(spoke.gateway.functions.nextNonce(C).call())
    with devnet.mining_held(spoke.url) as mine:
        tx = devnet.burn_from(net, {devnet.L2: [UNIT]})[devnet.L2]
        burn_block = mine()
        assert wl.eth.get_transaction_receipt(tx)["blockNumber"] == burn_block
        for _ in range(lag - 1):  # the head moves on; the finalized tag stays below the burn
            mine()
        assert int(wl.eth.get_block("finalized")["number"]) == burn_block - 1
        # the members are working: a lock toward Ethereum sent after the burn is minted...
        before_e = int(token_e.functions.balanceOf(BOB.address).call())
        wc.eth.wait_for_transaction_receipt(
            devnet.lock_toward(net, ids, {"ethereum": [3 * UNIT]}), timeout=60
        )
        devnet.wait_until(
            lambda: token_e.functions.balanceOf(BOB.address).call() == before_e + 3 * UNIT,
            120,
            "the lock toward Ethereum minted",
        )
        # ...and every member has scanned the L2 up to its finalized tag, just below the burn's
        # block, and stored nothing of the burn: mined, not final, not seen
        devnet.wait_until(
            lambda: all(store_row(net, m, "cursor") == burn_block for m in net.nodes),
            60,
            "every member scanned the L2 through its finalized tag",
        )
        assert all(store_row(net, m, "transfer", next_l) is None for m in net.nodes)
        assert next_l not in executed_nonces(vault, dep.consortium_block, L)
        alice_before = int(asset.functions.balanceOf(ALICE.address).call())
        mine()  # the finalized tag reaches the burn's block: every member observes it now
        assert int(wl.eth.get_block("finalized")["number"]) == burn_block
        devnet.wait_until(
            lambda: all(store_row(net, m, "transfer", next_l) is not None for m in net.nodes),
            60,
            "every member observed the burn once final",
        )
        # the batch rule cuts a window of blocks once all of it is final: mine to the window's end
        window = int(tomllib.loads(net.configs[1].read_text())["committee"]["window_blocks"])
        while int(wl.eth.get_block("finalized")["number"]) < (burn_block // window + 1) * window - 1:
            mine()
        devnet.wait_until(
            lambda: next_l in executed_nonces(vault, dep.consortium_block, L),
            120,
            "the L2 burn unlocked once final",
        )
    assert int(asset.functions.balanceOf(ALICE.address).call()) == alice_before + UNIT
    devnet.wait_until(lambda: reconcile(dep, settled=True).ok, 60, "the reconciler's verdict settled")
    verdict = reconcile(dep, settled=True)
    assert all(p.wrapped == p.locked for p in verdict.pairs), verdict.pairs
    assert Counter(executed_nonces(vault, dep.consortium_block, L))[next_l] == 1


def test_an_operator_moves_tokens_on_the_l2_route_by_hand(net: devnet.Devnet) -> None:
    deployment = str(devnet.write_devnet_file(net))

    def devnet_cli(*words: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "relayer.cli", "devnet", *words, "--deployment", deployment, "--json"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=200, check=False, cwd=devnet.ROOT)

    locked = devnet_cli("lock", "--chain", "l2", "--amount", "2")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    lock = json.loads(locked.stdout)
    assert (lock["route"], lock["executed"]) == (f"{C}->{L}", True)
    burned = devnet_cli("burn", "--chain", "l2", "--amount", "1")
    assert burned.returncode == 0, burned.stdout + burned.stderr
    burn = json.loads(burned.stdout)
    assert (burn["route"], burn["executed"]) == (f"{L}->{C}", True)
    unknown = devnet_cli("lock", "--chain", "base", "--amount", "1")
    assert unknown.returncode == 1
    assert "--chain 'base': not a wrapped chain" in unknown.stdout + unknown.stderr
    assert "ethereum, l2" in unknown.stdout + unknown.stderr
    devnet.wait_until(
        lambda: reconcile(net.deployment, settled=True).ok, 60, "the reconciler's verdict settled"
    )
