"""A ROTATE carried by the action stage between four members (each its own node, store and keyring;
in one process, their partials and proposals handed over as the broker would): one operator
proposes the rotation to the key of a second committee (epoch 2), two others approve, the stages
sign, combine and send `rotateKey` to a real anvil gateway, the rotation is scheduled, executed after
the delay, and the endpoint's `currentKeyEpoch()` becomes 2; the member without a share of the new
key refuses to approve it."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import deal
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import load_config
from relayer.core.items import ActionRefused, ActionState
from relayer.core.keyring import EpochKey, Keyring
from relayer.core.messages import ActionPartialMessage, ProposalMessage
from relayer.pipeline.node import Node
from relayer.pipeline.submitter import Submitter
from relayer.provisioning.deploy import devnet_profile

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "devnet.example.toml"


@dataclasses.dataclass
class Wire:
    """What the members' stages publish, delivered to the others as the broker would."""

    proposals: list[ProposalMessage] = dataclasses.field(default_factory=list)
    partials: list[ActionPartialMessage] = dataclasses.field(default_factory=list)

    def publish_proposal(self, msg: ProposalMessage) -> None:
        self.proposals.append(msg)

    def publish_action(self, msg: ActionPartialMessage) -> None:
        self.partials.append(msg)

    async def deliver(self, nodes: list[Node]) -> None:
        proposals, partials = self.proposals, self.partials
        self.proposals, self.partials = [], []
        for node in nodes:
            for p in proposals:
                await node.actions.on_proposal(p)
            for m in partials:
                await node.actions.on_partial(m)


async def test_t_members_rotate_the_gateway_to_the_key_of_their_dkg_and_one_without_a_share_refuses(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    current, new = deal(4, 3, key_epoch=1), deal(4, 3, key_epoch=2)
    # a delay of ten minutes (the test moves the chain's clock past it): no member may execute the
    # rotation before member 1 has seen it scheduled, however slow a loaded machine runs the steps
    profile = dataclasses.replace(devnet_profile(), action_delay=600)
    dep = devnet.deploy_bridge(chains[0], chains[1], current[0].public.group_public_key, profile=profile)
    w3 = Web3(HTTPProvider(dep.ethereum_url))
    gateway = dep.gateway
    assert gateway.functions.currentKeyEpoch().call() == 1
    wire = Wire()
    nodes: list[Node] = []
    async with (
        Store.open(tmp_path / "m1.sqlite3") as s1,
        Store.open(tmp_path / "m2.sqlite3") as s2,
        Store.open(tmp_path / "m3.sqlite3") as s3,
        Store.open(tmp_path / "m4.sqlite3") as s4,
        contextlib.AsyncExitStack() as stack,
    ):
        for member, store in enumerate((s1, s2, s3, s4), start=1):
            cfg = load_config(EXAMPLE, environ={"QIAO_NODE__DATA_DIR": str(tmp_path / f"d{member}")})
            e_cfg = dataclasses.replace(
                cfg.chains["ethereum"], rpc=dep.ethereum_url, rpcs=(dep.ethereum_url,)
            )
            assert e_cfg.endpoint == gateway.address
            cfg = dataclasses.replace(
                cfg,
                member_index=member,
                chains={"ethereum": e_cfg},
                relayer=dataclasses.replace(cfg.relayer, stagger_seconds=0.0),
            )
            client = await stack.enter_async_context(ChainClient.connect(e_cfg))
            mine = current[member - 1]
            # member 4 took no part in the DKG of epoch 2: it holds its public file, no share
            next_share = new[member - 1] if member < 4 else None
            keyring = Keyring([EpochKey(mine.public, mine), EpochKey(new[0].public, next_share)])
            node = Node(
                cfg=cfg,
                store=store,
                chains={client.chain_id: client},
                public=mine.public,
                share=mine,
                backend=get_backend(),
                transport=Transport(cfg.mqtt, member),
                keyring=keyring,
            )
            node.actions.publisher = wire
            node.submitters[client.chain_id] = Submitter(
                client, store, devnet.dev_account(member), cfg.relayer, member, 4
            )
            nodes.append(node)

        (action,) = await nodes[0].actions.propose_rotation("ethereum", 3600)
        shown = await nodes[0].actions.action(action.id)
        assert shown is not None
        assert shown.new_key_epoch == 2
        assert shown.state is ActionState.APPROVED
        await wire.deliver(nodes)

        with pytest.raises(ActionRefused, match="this member holds no share of key 0x"):
            await nodes[3].actions.approve(action.id)
        refused = await s4.action_record(action.id)
        assert refused is not None
        assert refused.state is ActionState.PROPOSED  # not approved: its operator may fix and retry

        await nodes[1].actions.approve(action.id)
        # a second rotation of the same endpoint is refused while this one is open
        with pytest.raises(ActionRefused, match=f"rotation {action.id} of this endpoint goes first"):
            await nodes[1].actions.propose_rotation("ethereum", 3600)
        await nodes[2].actions.approve(action.id)

        async def run_until(state: ActionState, rounds: int = 200) -> None:
            record = None
            for _ in range(rounds):
                for node in nodes:
                    await node.actions.step(force=True)
                await wire.deliver(nodes)
                record = await s1.action_record(action.id)
                assert record is not None
                if record.state is state:
                    return
                assert record.state not in (ActionState.REFUSED, ActionState.CANCELLED), record.detail
                w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            raise AssertionError(f"{action.id} never became {state}: {record}")

        await run_until(ActionState.SCHEDULED)
        scheduled = await s1.action_record(action.id)
        assert scheduled is not None
        assert scheduled.executable_at is not None
        nonce = scheduled.action_nonce
        assert nonce is not None
        pending = gateway.functions.pendingAction(nonce).call()
        assert pending[4] == 1  # pending
        assert gateway.functions.currentKeyEpoch().call() == 1  # scheduled only: the delay holds
        now = int(w3.eth.get_block("latest")["timestamp"])
        w3.provider.make_request("evm_increaseTime", [scheduled.executable_at - now + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        await run_until(ActionState.EXECUTED)
        assert gateway.functions.currentKeyEpoch().call() == 2
        done = await nodes[0].actions.action(action.id)
        assert done is not None
        assert "executed after the delay" in done.detail
        signers = await s1.action_partials(action.id, nonce, 1)
        assert 4 not in {m for m, _, _ in signers}  # member 4 never signed it
