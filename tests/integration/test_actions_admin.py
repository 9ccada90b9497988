"""`relayer actions …` end to end through a running node's admin socket: the CLI's command line, the
unix socket, `Ops.handle`, the `actions.*` verbs and back to the text and JSON people and scripts
read; exit statuses and errors included.

The node is real (its store, its admin socket, its action stage); it has no chains here, so
nothing is signed: what is checked is what operators do and read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import deal, partial_sign
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.cli import admin_socket, main
from relayer.config import load_config
from relayer.core.encoding import action_params
from relayer.core.items import ActionKind
from relayer.core.messages import ProposalMessage
from relayer.ops.admin import Ops, serve
from relayer.pipeline.node import Node

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "config" / "devnet.example.toml")


async def relayer(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    """Run the CLI against member 1's node (in a thread: its socket client blocks)."""
    capsys.readouterr()  # the daemon's own log lines so far
    code = await asyncio.to_thread(main, [*words[:2], "--config", EXAMPLE, *words[2:]])
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_operators_propose_approve_list_and_show_through_the_admin_socket(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    chains: tuple[str, str],
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("QIAO_NODE__DATA_DIR", str(data))
    cfg = load_config(Path(EXAMPLE), environ={"QIAO_NODE__DATA_DIR": str(data)})
    shares = deal(4, 3)
    share = shares[0]
    # the example configuration names the devnet's addresses: a fresh deployment lands there
    dep = devnet.deploy_bridge(chains[0], chains[1], share.public.group_public_key)
    assert dep.gateway.address == cfg.chains["ethereum"].endpoint
    e_cfg = dataclasses.replace(cfg.chains["ethereum"], rpc=dep.ethereum_url, rpcs=(dep.ethereum_url,))
    data.mkdir()
    async with Store.open(cfg.store_path) as store, ChainClient.connect(e_cfg) as ethereum:
        node = Node(
            cfg=cfg,
            store=store,
            chains={ethereum.chain_id: ethereum},
            public=share.public,
            share=share,
            backend=get_backend(),
            transport=Transport(cfg.mqtt, cfg.member_index),
        )
        async with Ops(node).opened() as ops:
            server = await serve(ops, admin_socket(cfg))
            try:
                # nothing to resume while the gateway runs: refused with the reason
                code, _, err = await relayer(
                    capsys, "actions", "propose", "resume", "--chain", "ethereum", "--ttl", "3600"
                )
                assert code == 1
                assert "the endpoint on ethereum is not paused: there is nothing to resume" in err

                guardian = devnet.dev_account(devnet.ACCOUNTS["guardian"])
                devnet.send(Web3(HTTPProvider(dep.ethereum_url)), guardian, dep.gateway.functions.pause())
                code, out, _ = await relayer(
                    capsys, "actions", "propose", "resume", "--chain", "ethereum", "--ttl", "3600"
                )
                assert code == 0, out
                mine = re.search(r"proposed (p1-[0-9a-f]{8}): resume the endpoint on ethereum", out)
                assert mine is not None, out
                ours = mine.group(1)

                # proposing is this member's approval; a second approval is refused with the reason
                code, _, err = await relayer(capsys, "actions", "approve", ours)
                assert code == 1
                assert f"error: action {ours} not approved" in err
                assert "not waiting for an approval" in err

                # another member's proposal, as the transport hands it over: signed with its share
                deadline = int(time.time()) + 600
                params = action_params("resume", pause_count=1, deadline=deadline)
                proposal = ProposalMessage(
                    2, "p2-0a1b2c3d", ActionKind.RESUME, 7002, time.time(), float(deadline), params
                )
                forged = dataclasses.replace(proposal, action_id="p2-0a1b2c3e", sig=b"\x01" * 48)
                await node.actions.on_proposal(forged)  # not member 2's signature: not kept
                signed = partial_sign(shares[1], proposal.digest(), get_backend())
                await node.actions.on_proposal(dataclasses.replace(proposal, sig=signed))
                code, out, _ = await relayer(capsys, "actions", "list", "--json")
                assert code == 0
                listed = json.loads(out)
                assert (listed["member"], listed["threshold"]) == (1, 3)
                states = {a["id"]: (a["state"], a["approved_here"], a["proposer"]) for a in listed["actions"]}
                assert states == {ours: ("approved", True, 1), "p2-0a1b2c3d": ("proposed", False, 2)}

                # member 2's resume of the same pause is a duplicate of ours: one is approved here
                code, out, err = await relayer(capsys, "actions", "approve", "p2-0a1b2c3d")
                assert code == 1, out
                assert f"resume {ours} of the same pause is approved here already" in err
                assert "`relayer actions reject p2-0a1b2c3d`" in err
                # ours approved: collecting partials, as `relayer status` counts signed items by phase
                code, out, _ = await relayer(capsys, "status", "--json")
                assert code == 0, out
                assert json.loads(out)["items"]["action"]["collecting"] == 1
                code, out, _ = await relayer(capsys, "status")
                assert "items  batch: none; refund: none; action: checking 1, collecting 1" in out, out
                code, _, err = await relayer(capsys, "actions", "reject", ours)
                assert code == 1
                assert "signed it already" in err

                code, out, _ = await relayer(capsys, "actions", "list")
                assert out.split("\n")[0].split() == [
                    "ID", "KIND", "CHAIN", "STATE", "SIGNERS", "APPROVED", "HERE", "EXPIRES", "ON-CHAIN"
                ]  # fmt: skip

                code, out, _ = await relayer(capsys, "actions", "show", "p2-0a1b2c3d", "--json")
                shown = json.loads(out)
                assert (shown["state"], shown["approved_here"]) == ("proposed", False)
                assert f"a duplicate of resume {ours}" in shown["detail"], shown["detail"]
                code, out, _ = await relayer(capsys, "actions", "reject", "p2-0a1b2c3d")
                assert code == 0, out
                code, out, _ = await relayer(capsys, "actions", "show", "p2-0a1b2c3d", "--json")
                assert [h["state"] for h in json.loads(out)["history"]] == ["proposed", "refused"]

                code, out, err = await relayer(capsys, "actions", "show", "p4-ffffffff")
                assert code == 1
                assert "error: no action p4-ffffffff on this node (member 1)" in err

                code, out, _ = await relayer(
                    capsys, "actions", "propose", "pause", "--chain", "nowhere", "--json"
                )
                assert code == 2
                assert "--chain nowhere" in json.loads(out)["error"]
            finally:
                server.close()
                await server.wait_closed()
