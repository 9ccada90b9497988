"""Lifting the sentinels' curse, carried by the action stage between four members (each its own
node, store and keyring; in one process, their partials and proposals handed over as the broker
would), against a real anvil gateway: a sentinel key the owner registered curses the gateway's route
with the consortium chain; a signed batch of that route waits (`RouteIsCursed`); one operator
proposes the UNCURSE (the curse number read from the endpoint), two others approve, the stages
sign, combine and send `uncurse`; it is scheduled, executed after the action delay, and the batch
then goes through; `relayer status` (the admin verb) names the cursed route meanwhile. A proposal
for a curse that has not happened is refused by the members' operators; two UNCURSEs of two routes
racing for one action nonce are each recognised by their route and curse, not by their type hash;
the guardian cancels one and nothing is lifted."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import KeyShare, combine, deal, partial_sign
from harness import devnet
from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import load_config
from relayer.core.encoding import action_message, action_params, batch_message
from relayer.core.items import ActionKind, ActionRefused, ActionState
from relayer.core.keyring import EpochKey, Keyring
from relayer.core.lifecycle import OutcomeKind
from relayer.core.messages import ActionPartialMessage, ProposalMessage
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from relayer.ops import endpoints
from relayer.ops.actions import ActionVerbs
from relayer.ops.admin import Ops
from relayer.pipeline.node import Node
from relayer.pipeline.submitter import Submitter
from relayer.provisioning.deploy import Deployment, devnet_profile, endpoint_abi
from tests.support.signed_batch import ROUTE, SignedBatch, store_aggregated

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "devnet.example.toml"
C = devnet.CONSORTIUM_CHAIN_ID
OTHER = 999  # a second route of the gateway's, cursed too (any remote chain id but 0 and its own)
SENTINEL = 6
GUARDIAN = 10
AMOUNT = 4242


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


@dataclasses.dataclass
class Committee:
    dep: Deployment
    w3: Web3
    gateway: Any  # the gateway with its SentinelModule's functions (endpoint_abi)
    shares: list[KeyShare]
    nodes: list[Node]
    stores: list[Store]
    client: ChainClient
    wire: Wire

    def curse(self, remote: int) -> None:
        """The registered sentinel's key curses the gateway's route with `remote`."""
        devnet.send(self.w3, devnet.dev_account(SENTINEL), self.gateway.functions.curse(remote))

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    async def run_until(self, done: Callable[[], Awaitable[bool]], what: str, rounds: int = 200) -> None:
        for _ in range(rounds):
            for node in self.nodes:
                await node.actions.step(force=True)
            await self.wire.deliver(self.nodes)
            if await done():
                return
            self.mine()
        raise AssertionError(f"never {what}")

    def state_is(self, member: int, action_id: str, *states: ActionState) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            record = await self.stores[member - 1].action_record(action_id)
            assert record is not None
            assert record.state not in (ActionState.REFUSED, ActionState.EXPIRED), record.detail
            return record.state in states

        return check


@contextlib.asynccontextmanager
async def committee(tmp_path: Path, chains: tuple[str, str]) -> AsyncIterator[Committee]:
    """Four members (t = 3) of a gateway deployed with a ten-minute action delay (the test moves
    the chain's clock past it: no member executes before the others have seen it scheduled), and
    a sentinel key the owner registered on the gateway."""
    shares = deal(4, 3, key_epoch=1)
    profile = dataclasses.replace(devnet_profile(), action_delay=600)
    dep = devnet.deploy_bridge(chains[0], chains[1], shares[0].public.group_public_key, profile=profile)
    w3 = Web3(HTTPProvider(dep.ethereum_url))
    gateway = w3.eth.contract(address=dep.gateway.address, abi=endpoint_abi("QiaoGateway"))
    devnet.send(
        w3, devnet.dev_account(0), gateway.functions.setSentinel(devnet.dev_account(SENTINEL).address, True)
    )
    wire = Wire()
    nodes: list[Node] = []
    async with contextlib.AsyncExitStack() as stack:
        stores: list[Store] = []
        client = None
        for member in range(1, 5):
            cfg = load_config(EXAMPLE, environ={"QIAO_NODE__DATA_DIR": str(tmp_path / f"d{member}")})
            e_cfg = dataclasses.replace(
                cfg.chains["ethereum"], rpc=dep.ethereum_url, rpcs=(dep.ethereum_url,)
            )
            c_cfg = dataclasses.replace(
                cfg.chains["consortium"], rpc=dep.consortium_url, rpcs=(dep.consortium_url,)
            )
            assert e_cfg.endpoint == gateway.address
            # both chains configured (the route, `relayer status`); the stage reads only the gateway
            cfg = dataclasses.replace(
                cfg,
                member_index=member,
                chains={"consortium": c_cfg, "ethereum": e_cfg},
                relayer=dataclasses.replace(cfg.relayer, stagger_seconds=0.0),
            )
            store = await stack.enter_async_context(Store.open(cfg.store_path))
            stores.append(store)
            client = await stack.enter_async_context(ChainClient.connect(e_cfg))
            mine = shares[member - 1]
            node = Node(
                cfg=cfg,
                store=store,
                chains={client.chain_id: client},
                public=mine.public,
                share=mine,
                backend=get_backend(),
                transport=Transport(cfg.mqtt, member),
                keyring=Keyring([EpochKey(mine.public, mine)]),
            )
            node.actions.publisher = wire
            node.submitters[client.chain_id] = Submitter(
                client, store, devnet.dev_account(member), cfg.relayer, member, 4
            )
            nodes.append(node)
        assert client is not None
        yield Committee(dep, w3, gateway, shares, nodes, stores, client, wire)


def lock_and_sign(c: Committee) -> SignedBatch:
    """Alice locks AMOUNT on the consortium chain for bob; t members sign its batch."""
    dep = c.dep
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**20))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**20))
    receipt = devnet.send(
        wc, alice, dep.vault.functions.lock(dep.asset.address, ROUTE.dst, bob.address, AMOUNT)
    )
    transfer = Transfer(
        ROUTE.src, ROUTE.dst, Nonce(1), cs(dep.asset.address), cs(dep.wrapped.address),
        alice.address, bob.address, AMOUNT,
    )  # fmt: skip
    batch = Batch((transfer,), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    signature = combine(c.shares[0].public, {s.index: partial_sign(s, message) for s in c.shares[:3]})
    return SignedBatch(dep, c.shares[0], transfer, batch, message, signature, int(receipt["blockNumber"]))


def gauge(chain: str, remote: str) -> float:
    return float(metrics.ROUTE_CURSED.labels(chain, remote)._value.get())


async def test_t_operators_lift_a_curse_after_the_delay_and_the_waiting_batch_goes_through(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    async with committee(tmp_path, chains) as c:
        n1, n2, n3, n4 = c.nodes
        verbs = ActionVerbs.of(n1)
        with pytest.raises(
            ActionRefused, match="is not cursed .it had 0 curse.s..: there is nothing to lift"
        ):
            await n1.actions.propose_uncurse("ethereum", C, 3600)

        # a batch of the route, signed by t members, in member 1's store
        signed = lock_and_sign(c)
        await store_aggregated(c.stores[0], signed)
        submitter = n1.submitters[c.client.chain_id]

        async def submit() -> Any:
            stored = await c.stores[0].batch(ROUTE, 1)
            assert stored is not None
            return await submitter.submit(stored)

        # the sentinel curses the route (and another route of the gateway's)
        c.curse(C)
        c.curse(OTHER)
        assert c.gateway.functions.isCursed(C).call()
        assert c.gateway.functions.curseCount(C).call() == 1
        remotes = {c.client.chain_id: {ChainId(C): "consortium", ChainId(OTHER): "other"}}
        c.mine()  # read at the final head (depth 1)
        curses = await endpoints.routes_cursed({c.client.chain_id: c.client}, remotes)
        assert {(r.remote, r.cursed, r.curse_count) for r in curses} == {
            ("consortium", True, 1),
            ("other", True, 1),
        }
        assert gauge("ethereum", "consortium") == 1
        # `relayer status` (the admin verb) names the cursed route on the gateway
        async with Ops(n1).opened() as ops:
            await ops.routes_cursed()
            st = await ops.status()
        assert st["route_curses"]["ethereum"]["consortium"] == {
            "cursed": True,
            "curse_count": 1,
            "remote_chain_id": C,
        }
        # both ways: the gateway's curse stops executions from the consortium chain and burns toward it
        assert {r["route"]: r["cursed_on"] for r in st["routes"]} == {
            f"{C}->{devnet.ETHEREUM_CHAIN_ID}": ["ethereum"],
            f"{devnet.ETHEREUM_CHAIN_ID}->{C}": ["ethereum"],
        }

        # the batch waits: the endpoint refuses it for now, nothing is marked failed
        waited = await submit()
        assert waited.kind is OutcomeKind.NOT_READY
        assert "RouteIsCursed" in waited.detail
        bob = devnet.dev_account(9).address
        assert c.dep.wrapped.functions.balanceOf(bob).call() == 0

        # a proposal for a curse that has not happened (member 4 made it: curse #2 of the route),
        # which would lift the next curse as soon as a sentinel placed it: the operators' approval
        # is refused with the reason, and nothing is signed
        now = time.time()
        early = ProposalMessage(
            4, "p4-0badc0de", ActionKind.UNCURSE, c.client.chain_id, now, now + 3600,
            action_params("uncurse", remote_chain_id=C, curse_count=2),
        )  # fmt: skip
        early = dataclasses.replace(early, sig=partial_sign(c.shares[3], early.digest()))
        for node in (n1, n2, n3):
            await node.actions.on_proposal(early)
        with pytest.raises(ActionRefused, match="this UNCURSE is for curse #2, which has not happened"):
            await n2.actions.approve("p4-0badc0de")
        kept = await c.stores[1].action_record("p4-0badc0de")
        assert kept is not None
        assert kept.state is ActionState.PROPOSED
        assert kept.approved_at is None

        # one operator proposes the uncurse of each route (the first through the admin verb, the
        # remote given by its chain id); a second proposal of the same curse is refused
        shown = await verbs.propose("uncurse", "ethereum", 3600, str(C))
        assert (shown["kind"], shown["curse_count"], shown["remote_chain_id"]) == ("uncurse", 1, C)
        assert shown["what"] == "lift curse #1 of the route with consortium"
        first = shown["id"]
        with pytest.raises(ActionRefused, match=f"uncurse {first} of this curse is approved already"):
            await n1.actions.propose_uncurse("ethereum", C, 3600)
        second = (await n1.actions.propose_uncurse("ethereum", OTHER, 3600)).id
        await c.wire.deliver(c.nodes)
        for node in (n2, n3):
            await node.actions.approve(first)
            await node.actions.approve(second)
        # member 4's operator rejects the first: t = 3 sign it without member 4
        await n4.actions.reject(first)

        # both are signed for the same action nonce; one takes it, the other is recognised as not
        # scheduled (another route's UNCURSE holds the nonce) and signed again for the next one
        await c.run_until(
            lambda: _all(
                c.state_is(1, first, ActionState.SCHEDULED), c.state_is(1, second, ActionState.SCHEDULED)
            ),
            "both scheduled",
        )
        a = await c.stores[0].action_record(first)
        b = await c.stores[0].action_record(second)
        assert a is not None
        assert b is not None
        assert a.action_nonce is not None
        assert b.action_nonce is not None
        assert a.action_nonce != b.action_nonce
        for record, remote in ((a, C), (b, OTHER)):
            pending = c.gateway.functions.pendingAction(record.action_nonce).call()
            assert (pending[3], pending[4]) == (1, 1)  # curse #1, pending
            assert c.gateway.functions.uncurseRoute(record.action_nonce).call() == remote
        # scheduled only: the delay holds, and the batch still waits
        assert c.gateway.functions.isCursed(C).call()
        assert (await submit()).kind is OutcomeKind.NOT_READY

        # after the delay a relayer executes both; the curses are lifted
        now_chain = int(c.w3.eth.get_block("latest")["timestamp"])
        assert a.executable_at is not None
        assert b.executable_at is not None
        c.mine(max(a.executable_at, b.executable_at) - now_chain + 1)
        await c.run_until(
            lambda: _all(
                c.state_is(1, first, ActionState.EXECUTED), c.state_is(1, second, ActionState.EXECUTED)
            ),
            "both executed",
        )
        assert not c.gateway.functions.isCursed(C).call()
        assert not c.gateway.functions.isCursed(OTHER).call()
        assert c.gateway.functions.curseCount(C).call() == 1
        done = await n1.actions.action(first)
        assert done is not None
        assert "executed after the delay" in done.detail
        partials = await c.stores[0].action_partials(first, a.action_nonce, 1)
        assert 4 not in {m for m, _, _ in partials}  # member 4 never signed it
        # the members that approved it see it executed too
        for member in (2, 3):
            assert await c.state_is(member, first, ActionState.EXECUTED)()
        await endpoints.routes_cursed({c.client.chain_id: c.client}, remotes)
        assert gauge("ethereum", "consortium") == 0

        # the batch goes through now
        outcome = await submit()
        assert outcome.kind is OutcomeKind.SENT, outcome.detail
        for _ in range(40):
            c.mine()
            if c.dep.wrapped.functions.balanceOf(bob).call() == AMOUNT:
                break
        assert c.dep.wrapped.functions.balanceOf(bob).call() == AMOUNT

        # the early proposal for curse #2 never became anything on-chain
        assert c.gateway.functions.curseCount(C).call() == 1


async def test_the_guardian_cancels_a_scheduled_uncurse_and_the_route_stays_cursed(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    async with committee(tmp_path, chains) as c:
        n1, n2, n3, _ = c.nodes
        c.curse(C)
        action = await n1.actions.propose_uncurse("ethereum", C, 3600)
        await c.wire.deliver(c.nodes)
        await n2.actions.approve(action.id)
        await n3.actions.approve(action.id)
        await c.run_until(c.state_is(1, action.id, ActionState.SCHEDULED), "scheduled")
        record = await c.stores[0].action_record(action.id)
        assert record is not None
        assert record.action_nonce is not None
        assert record.executable_at is not None
        nonce = record.action_nonce

        devnet.send(c.w3, devnet.dev_account(GUARDIAN), c.gateway.functions.cancelPending(nonce))
        now_chain = int(c.w3.eth.get_block("latest")["timestamp"])
        c.mine(record.executable_at - now_chain + 1)  # past the delay: it would be executable
        # every member closes it cancelled (member 4 never approved it: it follows it too)
        await c.run_until(
            lambda: _all(*(c.state_is(m, action.id, ActionState.CANCELLED) for m in (1, 2, 3, 4))),
            "cancelled on every member",
        )
        assert c.gateway.functions.pendingAction(nonce).call()[4] == 3  # cancelled
        assert c.gateway.functions.isCursed(C).call()  # nothing lifted
        shown = await n1.actions.action(action.id)
        assert shown is not None
        assert "cancelled by the guardian" in shown.detail
        # a new proposal of the same curse is possible again (the cancelled one is closed)
        again = await n1.actions.propose_uncurse("ethereum", C, 3600)
        assert again.curse_count == 1
        assert again.id != action.id


@pytest.mark.parametrize("kind", ["uncurse", "resume"])
async def test_a_guardian_cancel_closes_every_duplicate_and_none_is_scheduled_again(
    tmp_path: Path, chains: tuple[str, str], kind: str
) -> None:
    """An UNCURSE (or a RESUME) is scheduled; a duplicate of it (the same curse; the same pause,
    another deadline) arrives from member 4, and the operators of members 1-3 approve it too: it
    waits while the first is scheduled. The guardian cancels the first: the duplicate must not be
    signed for the next action nonce and scheduled again (the guardian's cancel circumvented).
    Each member approves one of them only (the duplicate's approval is refused, naming the other),
    and the cancel closes both on every member."""
    async with committee(tmp_path, chains) as c:
        n1, n2, n3, _ = c.nodes
        now = time.time()
        if kind == "uncurse":
            c.curse(C)
            action = await n1.actions.propose_uncurse("ethereum", C, 3600)
            params = action.params  # the same curse of the same route
            subject = "curse"
        else:
            devnet.send(c.w3, devnet.dev_account(GUARDIAN), c.gateway.functions.pause())
            action = await n1.actions.propose("resume", "ethereum", 3600)
            pauses = c.gateway.functions.pauseCount().call()
            params = action_params("resume", pause_count=pauses, deadline=int(now + 3000))  # the same pause
            subject = "pause"
        await c.wire.deliver(c.nodes)
        await n2.actions.approve(action.id)
        await n3.actions.approve(action.id)
        await c.run_until(c.state_is(1, action.id, ActionState.SCHEDULED), "scheduled")
        record = await c.stores[0].action_record(action.id)
        assert record is not None
        assert record.action_nonce is not None
        cancelled = record.action_nonce

        # member 4's duplicate (proposed before it had the first, or on purpose)
        dup = ProposalMessage(4, "p4-00d0b1e5", ActionKind(kind), c.client.chain_id, now, now + 3000, params)
        dup = dataclasses.replace(dup, sig=partial_sign(c.shares[3], dup.digest()))
        for node in (n1, n2, n3):
            await node.actions.on_proposal(dup)
        refused: dict[int, str] = {}
        for member, node in ((1, n1), (2, n2), (3, n3)):
            try:
                await node.actions.approve(dup.action_id)
            except ActionRefused as exc:
                refused[member] = str(exc)
        for _ in range(3):  # it waits while the first is scheduled
            for node in c.nodes:
                await node.actions.step(force=True)
            await c.wire.deliver(c.nodes)
            c.mine()

        devnet.send(c.w3, devnet.dev_account(GUARDIAN), c.gateway.functions.cancelPending(cancelled))

        async def closed_everywhere() -> bool:
            moved = c.gateway.functions.actionNonce().call()
            assert moved == cancelled + 1, (
                f"the guardian cancelled the {kind} at action nonce {cancelled}, and its duplicate "
                f"took action nonce {moved - 1} since: the cancel was circumvented"
            )
            for store in c.stores:
                for i in (action.id, dup.action_id):
                    r = await store.action_record(i)
                    if r is not None and r.state is not ActionState.CANCELLED:
                        return False
            return True

        await c.run_until(closed_everywhere, "both cancelled on every member", rounds=40)
        for _ in range(10):  # and nothing comes back
            await c.run_until(closed_everywhere, "both cancelled on every member", rounds=1)
        if kind == "uncurse":
            assert c.gateway.functions.isCursed(C).call()
        else:
            assert c.gateway.functions.paused().call()
        # the duplicate's approval was refused on every member, naming the one it duplicates
        assert set(refused) == {1, 2, 3}, refused
        for why in refused.values():
            assert f"{kind} {action.id} of the same {subject} is scheduled here already" in why, why
            assert f"`relayer actions reject {dup.action_id}`" in why, why
        for store in c.stores[:3]:
            r = await store.action_record(dup.action_id)
            assert r is not None
            assert f"closed with {action.id}, a {kind} of the same {subject}" in r.detail, r.detail
            assert "cancelled by the guardian" in r.detail, r.detail
        # a new proposal is a new decision of t operators: possible again
        again = await (
            n2.actions.propose_uncurse("ethereum", C, 3600)
            if kind == "uncurse"
            else n2.actions.propose("resume", "ethereum", 3600)
        )
        assert again.id not in (action.id, dup.action_id)


async def test_a_members_partial_for_an_old_cancelled_nonce_does_not_close_a_scheduled_resume(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    """Review #15 (attack): the guardian once cancelled a RESUME at action nonce N. A legitimate
    RESUME X is scheduled later (at N + 1). Byzantine member 4 publishes Y, a copy of X (the same
    pause), and its own valid partial for Y at the old nonce N. Before the fix, every honest member
    followed Y through that partial, found "cancelled" at N (a RESUME's type hash), closed Y, and with
    it X, its duplicate: a scheduled RESUME closed everywhere by one member. Now the partial is late
    (N was used before it arrived), a peer's proposal closes no duplicates, and X executes."""
    async with committee(tmp_path, chains) as c:
        n1, n2, n3, _ = c.nodes
        devnet.send(c.w3, devnet.dev_account(GUARDIAN), c.gateway.functions.pause())
        first = await n1.actions.propose("resume", "ethereum", 3600)
        await c.wire.deliver(c.nodes)
        await n2.actions.approve(first.id)
        await n3.actions.approve(first.id)
        await c.run_until(c.state_is(1, first.id, ActionState.SCHEDULED), "the first scheduled")
        record = await c.stores[0].action_record(first.id)
        assert record is not None
        assert record.action_nonce is not None
        old = record.action_nonce
        devnet.send(c.w3, devnet.dev_account(GUARDIAN), c.gateway.functions.cancelPending(old))

        async def first_closed() -> bool:
            for store in c.stores[:3]:
                r = await store.action_record(first.id)
                if r is None or r.state is not ActionState.CANCELLED:
                    return False
            return True

        await c.run_until(first_closed, "the first cancelled on members 1-3")

        # the legitimate RESUME X of the same pause, scheduled at a later nonce
        x = await n2.actions.propose("resume", "ethereum", 3600)
        await c.wire.deliver(c.nodes)
        await n1.actions.approve(x.id)
        await n3.actions.approve(x.id)

        async def x_scheduled() -> bool:
            for member in (1, 2, 3):
                if not await c.state_is(member, x.id, ActionState.SCHEDULED)():
                    return False
            return True

        await c.run_until(x_scheduled, "X scheduled on members 1-3")
        assert c.gateway.functions.actionNonce().call() > old + 1

        # member 4's copy Y, and its own valid partial for Y at the old, cancelled nonce
        now = time.time()
        pauses = c.gateway.functions.pauseCount().call()
        params = action_params("resume", pause_count=pauses, deadline=int(now + 3000))
        y = ProposalMessage(4, "p4-0bad0c0b", ActionKind.RESUME, c.client.chain_id, now, now + 3000, params)
        y = dataclasses.replace(y, sig=partial_sign(c.shares[3], y.digest()))
        epoch = c.gateway.functions.currentKeyEpoch().call()
        message = action_message("resume", c.client.chain_id, c.gateway.address, epoch, old, params)
        forged = ActionPartialMessage(
            4, y.action_id, ActionKind.RESUME, c.client.chain_id, epoch, old, params, message,
            partial_sign(c.shares[3], message),
        )  # fmt: skip
        for node in (n1, n2, n3):
            await node.actions.on_proposal(y)
            await node.actions.on_partial(forged)
        for _ in range(5):
            for node in c.nodes:
                await node.actions.step(force=True)
            await c.wire.deliver(c.nodes)
            c.mine()
        for member, store in enumerate(c.stores[:3], start=1):
            r = await store.action_record(x.id)
            assert r is not None
            assert r.state is ActionState.SCHEDULED, (
                f"member {member}: the scheduled RESUME {x.id} is {r.state} ({r.detail}): one member's "
                f"partial for an old cancelled nonce closed it"
            )
            assert not await store.action_partial_nonces(y.action_id), "the late partial was kept"
        # and X executes after its delay
        c.mine(700)

        async def x_executed() -> bool:
            return not c.gateway.functions.paused().call()

        await c.run_until(x_executed, "X executed")


async def _all(*checks: Callable[[], Awaitable[bool]]) -> bool:
    return all([await check() for check in checks])
