"""The health probe's read of pending committee-signed actions, against the real endpoints on real
anvil chains: a RESUME or ROTATE the committee's key schedules shows in
`qiao_endpoint_pending_actions{chain,kind}` and `..._executable_seconds{chain}` until it is
cancelled, and one seen pending stays watched after the guardian pushes the action nonce past the
window."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from prometheus_client import REGISTRY
from web3 import HTTPProvider, Web3

from committee.bls import g1_to_eip2537, g2_to_eip2537
from committee.rotation import sign_rotation
from committee.threshold import deal
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.config import ChainConfig
from relayer.core.types import ChainId
from relayer.ops.endpoints import ENDPOINT_OPS_ABI, ActionKind, PendingActionWatch
from relayer.provisioning.deploy import devnet_profile
from tests.integration.test_contracts_onchain import _abi_signature, threshold_sign
from tests.support.actions import resume_call, resume_message, resume_params, scheduled
from tests.support.snapshots import Snapshots

pytestmark = pytest.mark.integration

DELAY = 3_600  # long enough that nothing becomes executable while the test runs
GUARDIAN = 10  # devnet_profile's guardian account


class Bridge:
    def __init__(self, shares: Any, dep: devnet.Deployment) -> None:
        self.shares, self.dep = shares, dep
        self.wc = Web3(HTTPProvider(self.dep.consortium_url))
        self.we = Web3(HTTPProvider(self.dep.ethereum_url))
        suffix = uuid.uuid4().hex[:8]
        self.c_name, self.e_name = f"consortium-{suffix}", f"ethereum-{suffix}"

    def config(self, name: str, chain_id: int, url: str, endpoint: str) -> ChainConfig:
        return ChainConfig(name, ChainId(chain_id), url, endpoint, 0, 0, 0.1, 100, rpc_timeout=5.0)

    def schedule_resume(self) -> tuple[int, int]:
        """The guardian pauses the gateway; the committee's RESUME is scheduled: (nonce, executableAt)."""
        gateway = self.dep.gateway
        devnet.send(self.we, devnet.dev_account(GUARDIAN), gateway.functions.pause())
        return scheduled(gateway, self.send_resume())

    def send_resume(self) -> Any:
        """The committee's RESUME of the current pause, signed by members 1..3 and sent: the receipt."""
        gateway = self.dep.gateway
        params = resume_params(self.we, gateway)
        message = resume_message(gateway, 1, params)
        signature = g1_to_eip2537(threshold_sign(self.shares, message, (1, 2, 3)))
        return devnet.send(self.we, devnet.dev_account(4), resume_call(gateway, 1, params, signature))


@pytest.fixture(scope="module")
def deployed(module_chains: tuple[str, str]) -> tuple[Any, devnet.Deployment, Snapshots]:
    """The bridge (action delay DELAY) with a 3-of-4 committee, deployed once for the module."""
    shares = deal(4, 3)
    profile = dataclasses.replace(devnet_profile(), action_delay=DELAY)
    dep = devnet.deploy_bridge(
        module_chains[0], module_chains[1], shares[0].public.group_public_key, profile=profile
    )
    return shares, dep, Snapshots(*module_chains)


@pytest.fixture
async def bridge(
    deployed: tuple[Any, devnet.Deployment, Snapshots],
) -> AsyncIterator[tuple[Bridge, dict[ChainId, ChainClient]]]:
    """The module's bridge as deployed (the chains reverted to it), this test's clients and metric names."""
    shares, dep, snapshots = deployed
    snapshots.fresh()
    b = Bridge(shares, dep)
    async with AsyncExitStack() as stack:
        clients = {
            ChainId(devnet.CONSORTIUM_CHAIN_ID): await stack.enter_async_context(
                ChainClient.connect(
                    b.config(b.c_name, devnet.CONSORTIUM_CHAIN_ID, b.dep.consortium_url, b.dep.vault.address)
                )
            ),
            ChainId(devnet.ETHEREUM_CHAIN_ID): await stack.enter_async_context(
                ChainClient.connect(
                    b.config(b.e_name, devnet.ETHEREUM_CHAIN_ID, b.dep.ethereum_url, b.dep.gateway.address)
                )
            ),
        }
        yield b, clients


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def pending(chain: str, kind: str) -> float | None:
    return gauge("qiao_endpoint_pending_actions", chain=chain, kind=kind)


def executable_seconds(chain: str) -> float | None:
    return gauge("qiao_endpoint_pending_action_executable_seconds", chain=chain)


@pytest.mark.parametrize("contract", ["QiaoVault", "QiaoGateway"])
def test_the_operations_abi_is_part_of_both_compiled_endpoints(contract: str) -> None:
    compiled = {_abi_signature(i) for i in devnet.artifact(contract)["abi"] if "name" in i}
    for item in ENDPOINT_OPS_ABI:
        assert _abi_signature(item) in compiled, item["name"]


async def test_a_scheduled_resume_shows_until_the_guardian_cancels_it(
    bridge: tuple[Bridge, dict[ChainId, ChainClient]],
) -> None:
    b, clients = bridge
    watch = PendingActionWatch()
    for name in (b.c_name, b.e_name):  # born at 0 before the first read
        assert (pending(name, "resume"), pending(name, "rotate")) == (0, 0)
    views = await watch.read(clients)
    assert set(views) == {b.c_name, b.e_name}
    for name in (b.c_name, b.e_name):
        assert (pending(name, "resume"), pending(name, "rotate")) == (0, 0)
        assert executable_seconds(name) is None
        assert views[name].actions == ()

    nonce, executable_at = b.schedule_resume()
    views = await watch.read(clients)
    view = views[b.e_name]
    assert [(a.nonce, a.kind, a.executable_at) for a in view.actions] == [
        (nonce, ActionKind.RESUME, executable_at)
    ]
    assert pending(b.e_name, "resume") == 1
    assert pending(b.e_name, "rotate") == 0
    seconds = executable_seconds(b.e_name)
    assert seconds is not None
    assert 0 < seconds <= DELAY
    assert seconds == executable_at - view.chain_time
    assert (pending(b.c_name, "resume"), pending(b.c_name, "rotate")) == (0, 0)  # the vault: nothing
    assert executable_seconds(b.c_name) is None

    devnet.send(b.we, devnet.dev_account(GUARDIAN), b.dep.gateway.functions.cancelPending(nonce))
    views = await watch.read(clients)
    assert views[b.e_name].actions == ()
    assert pending(b.e_name, "resume") == 0
    assert executable_seconds(b.e_name) is None


async def test_the_guardians_bulk_cancel_clears_every_scheduled_action(
    bridge: tuple[Bridge, dict[ChainId, ChainClient]],
) -> None:
    """A thief with the group key schedules RESUME after RESUME; one cancelAllPending (through the
    operations ABI) cancels them all, and the probe stops counting them."""
    b, clients = bridge
    gateway = b.dep.gateway
    first, _ = b.schedule_resume()
    second, _ = scheduled(gateway, b.send_resume())
    watch = PendingActionWatch()
    assert [a.nonce for a in (await watch.read(clients))[b.e_name].actions] == [first, second]
    assert pending(b.e_name, "resume") == 2

    ops = b.we.eth.contract(address=gateway.address, abi=ENDPOINT_OPS_ABI)
    receipt = devnet.send(b.we, devnet.dev_account(GUARDIAN), ops.functions.cancelAllPending())
    assert receipt["status"] == 1
    cancelled = gateway.events.ActionsCancelled().process_receipt(receipt)
    assert [e["args"]["belowActionNonce"] for e in cancelled] == [second + 1]
    assert [gateway.functions.pendingAction(n).call()[4] for n in (first, second)] == [3, 3]  # Cancelled
    assert (await watch.read(clients))[b.e_name].actions == ()
    assert pending(b.e_name, "resume") == 0
    assert executable_seconds(b.e_name) is None
    assert gateway.functions.paused().call()


async def test_a_scheduled_rotation_counts_as_rotate(
    bridge: tuple[Bridge, dict[ChainId, ChainClient]],
) -> None:
    b, clients = bridge
    vault = b.dep.vault
    new_key = deal(4, 3, key_epoch=2)[0].public.group_public_key
    nonce = vault.functions.actionNonce().call()
    signature = sign_rotation(b.shares[:3], devnet.CONSORTIUM_CHAIN_ID, cs(vault.address), nonce, new_key)
    receipt = devnet.send(
        b.wc,
        devnet.dev_account(4),
        vault.functions.rotateKey(1, g2_to_eip2537(new_key), g1_to_eip2537(signature)),
    )
    assert scheduled(vault, receipt)[0] == nonce
    await PendingActionWatch().read(clients)
    assert (pending(b.c_name, "resume"), pending(b.c_name, "rotate")) == (0, 1)
    assert (executable_seconds(b.c_name) or 0) > 0
    assert (pending(b.e_name, "resume"), pending(b.e_name, "rotate")) == (0, 0)


async def test_an_action_seen_pending_stays_watched_when_the_nonce_moves_past_the_window(
    bridge: tuple[Bridge, dict[ChainId, ChainClient]],
) -> None:
    b, clients = bridge
    watch = PendingActionWatch(window=4)
    nonce, _ = b.schedule_resume()
    assert [a.nonce for a in (await watch.read(clients))[b.e_name].actions] == [nonce]
    gateway = b.dep.gateway
    upto = gateway.functions.actionNonce().call() + 10
    devnet.send(b.we, devnet.dev_account(GUARDIAN), gateway.functions.invalidateActions(upto))
    # a node that saw it keeps reading it; one that never did (the documented limit) does not
    assert [a.nonce for a in (await watch.read(clients))[b.e_name].actions] == [nonce]
    assert pending(b.e_name, "resume") == 1
    assert (await PendingActionWatch(window=4).read(clients))[b.e_name].actions == ()
