"""A member whose consortium RPC lies about logs signs nothing; the other three complete.

Member 4 reads the consortium chain through a JSON-RPC proxy in front of the real anvil (members
1..3 read it directly). The proxy either rewrites `blockHash` in every `eth_getLogs` reply, or
serves `eth_getLogs` from a fork of the chain (a load balancer with one node on another fork) where
the same nonce was locked with another amount. Member 4 must store and sign nothing from those logs,
no member may ever receive a partial of it, and the real locks must still be minted once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from prometheus_client.parser import text_string_to_metric_families
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.core.signing import route_sequence
from relayer.core.types import ChainId, Route
from relayer.ops.reconciler import reconcile
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.e2e
UNIT = 10**18
C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
LIAR = 4


def behind(net: devnet.Devnet, member: int, proxy: RpcProxy) -> None:
    """Start `member` (left down by the devnet) with its consortium RPC replaced by `proxy`, and
    wait until it reads logs through it."""
    path = net.configs[member]
    text = path.read_text()
    direct = f'rpc = "{net.deployment.consortium_url}"'
    assert text.count(direct) == 1, text
    path.write_text(text.replace(direct, f'rpc = "{proxy.url}"'))
    net.restart(member)
    devnet.wait_until(lambda: proxy.calls.get("eth_getLogs", 0) > 0, 60, f"member {member} scanning")


def rows(net: devnet.Devnet, member: int, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql, args).fetchall()


def signed_by(net: devnet.Devnet, member: int, nonces: list[int]) -> list[tuple[Any, ...]]:
    """The batches `member` recorded signing (C->E) that hold any of `nonces` (their nonce ranges)."""
    return [
        r
        for r in rows(
            net,
            member,
            "SELECT DISTINCT span_first, span_last FROM signed_items WHERE kind='batch' AND sequence=?",
            (route_sequence(Route(ChainId(C), ChainId(E))),),
        )
        if any(r[0] <= n <= r[1] for n in nonces)
    ]


def stored_by(net: devnet.Devnet, member: int, nonces: list[int]) -> list[tuple[Any, ...]]:
    return [
        r
        for r in rows(
            net,
            member,
            "SELECT nonce, amount, block_hash FROM transfers WHERE src_chain_id=? AND dst_chain_id=?",
            (C, E),
        )
        if r[0] in nonces
    ]


def samples(net: devnet.Devnet, member: int, name: str) -> list[tuple[dict[str, str], float]]:
    url = f"http://127.0.0.1:{net.metrics_ports[member]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return [
        (dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def partials_received_from(net: devnet.Devnet, sender: int) -> float:
    """Partials of `sender` that the other members received, under any outcome."""
    return sum(
        value
        for member in net.nodes
        if member != sender
        for labels, value in samples(net, member, "qiao_partials_received_total")
        if labels.get("member") == str(sender)
    )


def halted(net: devnet.Devnet, member: int) -> bool:
    return net.metric(member, "qiao_route_halted", {"src": str(C), "dst": str(E)}) == 1.0


def wait_for_verdict(net: devnet.Devnet, member: int, nonces: list[int], timeout: float = 90) -> None:
    """Until `member` either signed something holding `nonces` or halted the route (whichever the
    code does), then a few seconds more for a late signature to show."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if signed_by(net, member, nonces) or halted(net, member):
                break
        time.sleep(0.5)
    time.sleep(3)


def lock(net: devnet.Devnet, w3: Web3, amounts: list[int]) -> list[int]:
    """Lock `amounts` (whole units) from alice to bob through `w3`; the nonces they took."""
    dep = net.deployment
    vault = w3.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    alice, bob = devnet.dev_account(8), devnet.dev_account(9)
    nonces = []
    for amount in amounts:
        nonces.append(int(vault.functions.nextNonce(E).call()))
        devnet.send(w3, alice, vault.functions.lock(dep.asset.address, E, bob.address, amount * UNIT))
    return nonces


def fund_alice(net: devnet.Devnet, total: int) -> None:
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    devnet.send(wc, admin, asset.functions.mint(alice.address, total * UNIT))
    devnet.send(wc, alice, asset.functions.approve(vault.address, total * UNIT))


def wait_minted(net: devnet.Devnet, units: int) -> None:
    dep = net.deployment
    wrapped = Web3(HTTPProvider(dep.ethereum_url)).eth.contract(
        address=dep.wrapped.address, abi=dep.wrapped.abi
    )
    bob = devnet.dev_account(9)
    devnet.wait_until(
        lambda: wrapped.functions.balanceOf(bob.address).call() == units * UNIT, 120, f"{units} units minted"
    )


def assert_liar_signed_nothing_and_the_others_completed(
    net: devnet.Devnet, nonces: list[int], executed: int
) -> None:
    wait_for_verdict(net, LIAR, nonces)
    assert not signed_by(net, LIAR, nonces), f"member {LIAR} signed {signed_by(net, LIAR, nonces)}"
    assert not stored_by(net, LIAR, nonces), f"member {LIAR} stored {stored_by(net, LIAR, nonces)}"
    assert partials_received_from(net, LIAR) == 0, "a partial of the lying member's reached the others"
    assert halted(net, LIAR), "the route from the consortium chain did not halt on the lying member"
    refused = [
        value
        for labels, value in samples(net, LIAR, "qiao_logs_refused_total")
        if labels.get("chain") == "consortium" and labels.get("reason") == "not_canonical"
    ]
    assert refused, "no qiao_logs_refused_total{reason=not_canonical}"
    assert refused[0] >= 1
    assert net.nodes[LIAR].events("logs_refused")
    verdict = reconcile(net.deployment, settled=True)
    assert verdict.ok, verdict.violations
    assert verdict.counts["executed"] == executed
    for proc in net.nodes.values():
        assert proc.popen.poll() is None


def test_member_behind_rpc_rewriting_blockhash_signs_nothing(tmp_path: Path) -> None:
    def rewrite(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs" and isinstance(result, list):
            for entry in result:
                entry["blockHash"] = "0x" + keccak(hexstr=entry["blockHash"]).hex()
        return result

    with (
        devnet.devnet(tmp_path / "net", down=(LIAR,), metrics=True, block_time=0.5) as net,
        RpcProxy(net.deployment.consortium_url, rewrite=rewrite) as proxy,
    ):
        behind(net, LIAR, proxy)
        fund_alice(net, 10)
        nonces = lock(net, Web3(HTTPProvider(net.deployment.consortium_url)), [1, 2, 3])
        wait_minted(net, 6)
        assert_liar_signed_nothing_and_the_others_completed(net, nonces, executed=3)


def test_member_behind_rpc_serving_a_forked_log_with_another_amount_signs_nothing(tmp_path: Path) -> None:
    with devnet.devnet(tmp_path / "net", down=(LIAR,), metrics=True, block_time=0.5) as net:
        fund_alice(net, 20)
        # a node on another fork: same contracts, same nonce, another amount, its own block hashes
        fork = devnet.start_anvil(
            net.procs,
            "anvil-consortium-fork",
            C,
            net.run_dir / "logs",
            0,
            ("--fork-url", net.deployment.consortium_url),
        )
        wf = Web3(HTTPProvider(fork))
        forked = lock(net, wf, [9])
        wf.provider.make_request("anvil_mine", [hex(2000)])  # type: ignore[arg-type]  # ahead of any range asked

        def route(method: str) -> str | None:
            return fork if method == "eth_getLogs" else None

        with RpcProxy(net.deployment.consortium_url, route=route) as proxy:
            behind(net, LIAR, proxy)
            nonces = lock(net, Web3(HTTPProvider(net.deployment.consortium_url)), [1])
            assert nonces == forked  # the lie names a nonce that exists, with 9 units instead of 1
            wait_minted(net, 1)
            assert_liar_signed_nothing_and_the_others_completed(net, nonces, executed=1)
