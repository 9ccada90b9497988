"""A refunded transfer: every member's store tells the same story, and its gauges match its store.

A lock to an address the destination does not allow is executed (its batch is), fails on the
destination (TransferFailed, RecipientNotAllowed) and is refunded on the source. Members learn
these facts in different orders (their own receipt, another relayer's execution, the failure
event, the refund on the source); whatever the order, a transfer's state never goes back, every
member ends in `refunded`, the history says in words why delivery failed, and
`qiao_transfers{state}` counts what the store holds.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.config import load_config
from relayer.core.lifecycle import ItemKind, item_phases

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
# the order a transfer's states may only move along (written here, not imported: the test
# must be able to disagree with the code)
ORDER = ["final", "batched", "signed", "aggregated", "submitted", "executed", "failed", "refunded"]
STATES = sorted(ORDER)


@contextlib.contextmanager
def store_of(net: devnet.Devnet, member: int) -> Iterator[sqlite3.Connection]:
    path = load_config(net.configs[member]).store_path
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


def story(net: devnet.Devnet, member: int, nonce: int) -> dict[str, object]:
    """What a member's store holds about transfer C->E #nonce: state, history, its batch's state
    and its refund's state."""
    with store_of(net, member) as db:
        row = db.execute(
            "SELECT state, batch_first FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (C, E, nonce),
        ).fetchone()
        history = db.execute(
            "SELECT state, detail FROM transfer_history WHERE src_chain_id=? AND dst_chain_id=? "
            "AND nonce=? ORDER BY at, rowid",
            (C, E, nonce),
        ).fetchall()
        batch = None
        if row is not None and row["batch_first"] is not None:
            b = db.execute(
                "SELECT state FROM batches WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                (C, E, row["batch_first"]),
            ).fetchone()
            batch = None if b is None else b["state"]
        refund = db.execute(
            "SELECT state FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?", (C, E, nonce)
        ).fetchone()
    return {
        "state": None if row is None else row["state"],
        "history": [(h["state"], h["detail"]) for h in history],
        "batch": batch,
        "refund": None if refund is None else refund["state"],
    }


def counts(net: devnet.Devnet, member: int, table: str = "transfers") -> dict[str, int]:
    with store_of(net, member) as db:
        rows = db.execute(f"SELECT state, COUNT(*) AS n FROM {table} GROUP BY state").fetchall()
    return {r["state"]: int(r["n"]) for r in rows}


def refund_phases(net: devnet.Devnet, member: int) -> dict[str, int]:
    """The member's refunds per phase (relayer.core.lifecycle), from its store."""
    return item_phases({ItemKind.REFUND: counts(net, member, "refunds")})["refund"]


def test_a_refunded_transfer_has_one_state_history_and_gauge_on_every_member(tmp_path: Path) -> None:
    with devnet.devnet(tmp_path / "net", block_time=0.5, metrics=True) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        stranger = cs("0x" + "6d" * 20)  # never allow-listed on Ethereum
        stuck, fine = 4 * devnet.UNIT, 3 * devnet.UNIT
        devnet.send(wc, admin, asset.functions.mint(alice.address, stuck + fine))
        devnet.send(wc, alice, asset.functions.approve(vault.address, stuck + fine))
        failed_nonce = vault.functions.nextNonce(E).call()
        devnet.send(wc, alice, vault.functions.lock(asset.address, E, stranger, stuck))
        devnet.send(wc, alice, vault.functions.lock(asset.address, E, bob.address, fine))
        fine_nonce = failed_nonce + 1

        devnet.wait_until(lambda: wrapped.functions.balanceOf(bob.address).call() == fine, 90, "the mint")
        devnet.wait_until(
            lambda: vault.functions.isRefunded(E, failed_nonce).call(), 90, "the refund on the source"
        )

        # every member has recorded the facts: the batches executed and the refund final
        def settled() -> bool:
            stories = [story(net, m, failed_nonce) for m in net.nodes]
            others = [story(net, m, fine_nonce) for m in net.nodes]
            return all(s["batch"] == "executed" and s["refund"] == "refunded" for s in stories) and all(
                s["batch"] == "executed" for s in others
            )

        devnet.wait_until(settled, 90, "every member to record the batch executed and the refund final")

        stories = {m: story(net, m, failed_nonce) for m in net.nodes}
        report = json.dumps(stories, indent=1)
        assert {m: s["state"] for m, s in stories.items()} == dict.fromkeys(net.nodes, "refunded"), report
        for member, s in stories.items():
            states = [state for state, _ in s["history"]]  # type: ignore[union-attr]
            ranks = [ORDER.index(state) for state in states]
            assert ranks == sorted(ranks), f"member {member}: state went back: {states}"
            assert states[0] == "final", f"member {member}: {states}"
            assert states[-1] == "refunded", f"member {member}: {states}"
            failed = [detail for state, detail in s["history"] if state == "failed"]  # type: ignore[union-attr]
            assert failed, f"member {member}: no `failed` in its history: {states}"
            assert "recipient not allowed on the destination" in failed[0], f"member {member}: {failed}"
        assert {m: story(net, m, fine_nonce)["state"] for m in net.nodes} == dict.fromkeys(
            net.nodes, "executed"
        )

        for member in net.nodes:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "relayer.cli",
                    "transfers",
                    "list",
                    "--config",
                    str(net.configs[member]),
                    "--state",
                    "refunded",
                    "--json",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
                cwd=ROOT,
            )
            rows = json.loads(out.stdout)
            assert [(r["nonce"], r["state"]) for r in rows] == [(failed_nonce, "refunded")], (
                f"member {member}: {rows}"
            )
            status = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "relayer.cli",
                    "status",
                    "--config",
                    str(net.configs[member]),
                    "--json",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
                cwd=ROOT,
            )
            shown = json.loads(status.stdout)
            assert sum(shown["items"]["refund"].values()) == 1, f"member {member}: {shown['items']}"
            pending = {r["route"]: r["pending"] for r in shown["routes"]}
            assert pending[f"{C}->{E}"] == 0, (
                f"member {member}: a refunded transfer counted pending: {pending}"
            )

        # the gauges count what each store holds (they are recomputed every second)
        def gauges_match(member: int) -> bool:
            held = counts(net, member)
            refunds = refund_phases(net, member)
            return all(
                (net.metric(member, "qiao_transfers", {"state": s}) or 0.0) == held.get(s, 0) for s in STATES
            ) and all(
                net.metric(member, "qiao_signed_items", {"kind": "refund", "phase": p}) == n
                for p, n in refunds.items()
            )

        for member in net.nodes:
            try:
                devnet.wait_until(lambda member=member: gauges_match(member), 20, "gauges")  # type: ignore[misc]
            except TimeoutError:
                gauges = {s: net.metric(member, "qiao_transfers", {"state": s}) for s in STATES}
                phases = {
                    p: net.metric(member, "qiao_signed_items", {"kind": "refund", "phase": p})
                    for p in refund_phases(net, member)
                }
                pytest.fail(
                    f"member {member}: qiao_transfers {gauges} but its store holds {counts(net, member)}; "
                    f"qiao_signed_items of refunds {phases}, its refunds by phase {refund_phases(net, member)}"
                )
        for member, proc in net.nodes.items():
            assert proc.popen.poll() is None, f"member {member} died; see {proc.log_path}"
