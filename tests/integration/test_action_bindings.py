"""The Python bindings of the committee actions against the real endpoints on real anvil chains:
`action_message` is the contract's `actionMessage` for every kind, actions signed by three of four
shares and sent with `action_call_data` / `execute_pending_data` take effect, and the chain
client's reads (`endpoint_state`, `pending_action`, `registry_events`, `registry_status`,
`chain_time`) report what happened."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address as cs
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from committee.bls import g2_to_eip2537
from committee.threshold import deal
from harness import devnet
from relayer.adapters.abi import GATEWAY_ABI, REGISTRY_ABI
from relayer.adapters.chain import ChainClient
from relayer.config import ChainConfig
from relayer.core.calldata import action_call_data, execute_pending_data
from relayer.core.encoding import ACTION_TYPEHASHES, action_message, action_params
from relayer.core.onchain import PendingStatus
from relayer.core.types import ChainId
from relayer.provisioning.deploy import devnet_profile
from tests.integration.test_contracts_onchain import _abi_signature, threshold_sign
from tests.support.snapshots import Snapshots

pytestmark = pytest.mark.integration

DELAY = 3_600  # nothing scheduled becomes executable unless the test moves the clock
ADMIN, RELAYER, GUARDIAN = 0, 4, 10  # devnet_profile's accounts (the admin is both desks)
GETTERS = {k: f"{k.upper()}_TYPEHASH" for k in ACTION_TYPEHASHES}


@dataclasses.dataclass
class Bridge:
    dep: devnet.Deployment
    shares: Any
    we: Web3
    wc: Web3
    e: ChainClient
    c: ChainClient

    def sign(
        self, kind: str, params: bytes, *, endpoint: Any = None, members: tuple[int, ...] = (1, 2, 4)
    ) -> bytes:
        """Three members' partials on the action for the gateway's (or `endpoint`'s) next action nonce."""
        endpoint = endpoint or self.dep.gateway
        chain_id = devnet.ETHEREUM_CHAIN_ID if endpoint is self.dep.gateway else devnet.CONSORTIUM_CHAIN_ID
        nonce = endpoint.functions.actionNonce().call()
        message = action_message(kind, chain_id, cs(endpoint.address), 1, nonce, params)
        return threshold_sign(self.shares, message, members)

    def submit(self, data: bytes, who: int = RELAYER) -> Any:
        return send_data(self.we, devnet.dev_account(who), self.dep.gateway.address, data)


def send_data(w3: Web3, account: LocalAccount, to: str, data: bytes) -> Any:
    """A transaction of raw calldata (what the submitter sends); reverts surface at estimation."""
    tx: dict[str, Any] = {"from": account.address, "to": to, "data": data, "chainId": w3.eth.chain_id}
    tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.25) + 10_000  # type: ignore[arg-type]
    tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    tx["gasPrice"] = w3.eth.gas_price
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=60
    )
    assert receipt["status"] == 1
    return receipt


@pytest.fixture(scope="module")
def deployed(module_chains: tuple[str, str]) -> tuple[devnet.Deployment, Any, Snapshots]:
    """The bridge (action delay DELAY) with a 3-of-4 committee, deployed once for the module."""
    shares = deal(4, 3)
    profile = dataclasses.replace(devnet_profile(), action_delay=DELAY)
    dep = devnet.deploy_bridge(
        module_chains[0], module_chains[1], shares[0].public.group_public_key, profile=profile
    )
    return dep, shares, Snapshots(*module_chains)


@pytest.fixture
async def bridge(deployed: tuple[devnet.Deployment, Any, Snapshots]) -> AsyncIterator[Bridge]:
    """The module's bridge as deployed (the chains and their clock reverted to it), this test's clients."""
    dep, shares, snapshots = deployed
    snapshots.fresh()
    suffix = uuid.uuid4().hex[:8]

    def config(name: str, chain_id: int, url: str, endpoint: str) -> ChainConfig:
        return ChainConfig(
            f"{name}-{suffix}", ChainId(chain_id), url, endpoint, 0, 0, 0.1, 100, rpc_timeout=5.0
        )

    e_cfg = config("ethereum", devnet.ETHEREUM_CHAIN_ID, dep.ethereum_url, dep.gateway.address)
    c_cfg = config("consortium", devnet.CONSORTIUM_CHAIN_ID, dep.consortium_url, dep.vault.address)
    async with ChainClient.connect(e_cfg) as e, ChainClient.connect(c_cfg) as c:
        yield Bridge(
            dep, shares, Web3(HTTPProvider(dep.ethereum_url)), Web3(HTTPProvider(dep.consortium_url)), e, c
        )


@pytest.mark.parametrize(("contract", "abi"), [("QiaoGateway", GATEWAY_ABI), ("KycRegistry", REGISTRY_ABI)])
def test_the_gateway_and_registry_fragments_are_in_the_compiled_contracts(contract: str, abi: Any) -> None:
    compiled = {_abi_signature(i) for i in devnet.artifact(contract)["abi"] if "name" in i}
    for item in abi:
        assert _abi_signature(item) in compiled, item["name"]


async def test_action_message_is_the_contracts_for_every_kind_on_both_endpoints(bridge: Bridge) -> None:
    account = cs("0x" + secrets.token_hex(20))
    params = {
        "pause": action_params("pause"),
        "resume": action_params("resume", pause_count=3, deadline=2**40),
        "rotate": action_params("rotate", new_key_hash=keccak(b"a new key")),
        "freeze": action_params("freeze", account=account, flag=True),
        "allow": action_params("allow", account=account, flag=False),
    }
    for endpoint, chain_id in (
        (bridge.dep.gateway, devnet.ETHEREUM_CHAIN_ID),
        (bridge.dep.vault, devnet.CONSORTIUM_CHAIN_ID),
    ):
        for kind, p in params.items():
            if kind == "allow" and endpoint is bridge.dep.vault:
                continue  # C's registry is the source: only the gateway carries an ALLOW
            typehash = getattr(endpoint.functions, GETTERS[kind])().call()
            assert bytes(typehash) == ACTION_TYPEHASHES[kind], kind
            nonce = endpoint.functions.actionNonce().call()
            ours = action_message(kind, chain_id, cs(endpoint.address), 1, nonce, p)
            assert ours == bytes(endpoint.functions.actionMessage(typehash, 1, p).call()), (
                kind,
                endpoint.address,
            )
    # after an action consumed a nonce, the contract's message (current nonce) still matches ours
    bridge.submit(action_call_data("freeze", 1, params["freeze"], bridge.sign("freeze", params["freeze"])))
    gateway = bridge.dep.gateway
    assert gateway.functions.actionNonce().call() == 1
    ours = action_message("allow", devnet.ETHEREUM_CHAIN_ID, cs(gateway.address), 1, 1, params["allow"])
    assert ours == bytes(
        gateway.functions.actionMessage(ACTION_TYPEHASHES["allow"], 1, params["allow"]).call()
    )


async def test_carried_freeze_and_allow_take_effect_and_the_registry_reads_report_them(
    bridge: Bridge,
) -> None:
    e, gateway, registry_e = bridge.e, bridge.dep.gateway, bridge.dep.registry_e
    assert registry_e is not None
    assert bridge.dep.registry_c is not None
    assert await e.registry_address() == cs(registry_e.address)
    assert await bridge.c.registry_address() == cs(bridge.dep.registry_c.address)
    first = bridge.we.eth.block_number + 1
    frozen, allowed = cs("0x" + secrets.token_hex(20)), cs("0x" + secrets.token_hex(20))

    freeze = action_params("freeze", account=frozen, flag=True)
    freeze_data = action_call_data("freeze", 1, freeze, bridge.sign("freeze", freeze))
    freeze_receipt = bridge.submit(freeze_data)
    allow = action_params("allow", account=allowed, flag=True)
    allow_receipt = bridge.submit(action_call_data("allow", 1, allow, bridge.sign("allow", allow)))

    status = await e.registry_status(frozen, final=False)
    assert (status.allowed, status.frozen, status.compliance_frozen, status.bridge_frozen) == (
        False,
        True,
        False,
        True,
    )
    status = await e.registry_status(allowed.lower())  # final (instant finality here); any case
    assert (status.allowed, status.frozen, status.usable) == (True, False, True)
    assert (await e.endpoint_state()).action_nonce == 2

    # a replay of the freeze is refused: its action nonce is consumed
    with pytest.raises(ContractLogicError):
        bridge.submit(freeze_data)

    last = bridge.we.eth.block_number
    events = await e.registry_events(first, last)
    assert [(ev.kind, ev.account, ev.flag, ev.by) for ev in events] == [
        ("freeze", frozen, True, cs(gateway.address)),
        ("allow", allowed, True, cs(gateway.address)),
    ]
    for ev, receipt in zip(events, (freeze_receipt, allow_receipt), strict=True):
        emitted = [lg for lg in receipt["logs"] if cs(lg["address"]) == cs(registry_e.address)]
        assert len(emitted) == 1
        assert ev.block_number == receipt["blockNumber"]
        assert ev.block_hash == "0x" + bytes(receipt["blockHash"]).hex()
        assert ev.tx_hash == "0x" + bytes(receipt["transactionHash"]).hex()
        assert ev.log_index == emitted[0]["logIndex"]

    # the issuer's desk on C: what the committee watches and carries
    first_c = bridge.wc.eth.block_number + 1
    admin = devnet.dev_account(ADMIN)
    registry_c = bridge.dep.registry_c
    devnet.send(bridge.wc, admin, registry_c.functions.setAllowed(allowed, False))
    devnet.send(bridge.wc, admin, registry_c.functions.setFrozen(allowed, True))
    events_c = await bridge.c.registry_events(first_c, bridge.wc.eth.block_number)
    assert [(ev.kind, ev.account, ev.flag, ev.by) for ev in events_c] == [
        ("allow", allowed, False, admin.address),
        ("freeze", allowed, True, admin.address),
    ]
    status_c = await bridge.c.registry_status(allowed)
    assert (status_c.allowed, status_c.compliance_frozen, status_c.bridge_frozen) == (False, True, False)


async def test_a_scheduled_resume_shows_in_the_reads_and_executes_with_our_calldata(bridge: Bridge) -> None:
    e, gateway = bridge.e, bridge.dep.gateway
    state = await e.endpoint_state()
    assert (state.paused, state.action_nonce, state.key_epoch, state.pause_count) == (False, 0, 1, 0)
    assert (await e.pending_action(0)).status == PendingStatus.NONE

    # the committee's own pause (PAUSE), sent with our calldata
    bridge.submit(action_call_data("pause", 1, b"", bridge.sign("pause", b"")))
    state = await e.endpoint_state(final=True)
    assert (state.paused, state.action_nonce, state.pause_count) == (True, 1, 1)

    # the RESUME of this pause (its pause count), to be submitted within ten minutes of chain time
    resume = action_params("resume", pause_count=state.pause_count, deadline=await e.chain_time() + 600)
    resume_receipt = bridge.submit(action_call_data("resume", 1, resume, bridge.sign("resume", resume)))
    mined_at = bridge.we.eth.get_block(resume_receipt["blockNumber"])["timestamp"]
    pending = await e.pending_action(1)
    assert pending.kind == "resume"
    assert pending.typehash == ACTION_TYPEHASHES["resume"]
    assert (pending.status, pending.key_epoch, pending.pause_count) == (PendingStatus.PENDING, 1, 1)
    assert pending.executable_at == mined_at + DELAY
    state = await e.endpoint_state()
    assert (state.paused, state.action_nonce) == (True, 2)
    assert mined_at <= await e.chain_time() < pending.executable_at

    # not before the delay; then anyone executes it with execute_pending_data
    with pytest.raises(ContractLogicError):
        bridge.submit(execute_pending_data(1))
    bridge.we.provider.make_request("evm_increaseTime", [DELAY])  # type: ignore[arg-type]
    bridge.we.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert await e.chain_time() >= pending.executable_at
    bridge.submit(execute_pending_data(1), who=RELAYER + 1)
    assert (await e.pending_action(1)).status == PendingStatus.EXECUTED
    state = await e.endpoint_state()
    assert (state.paused, state.action_nonce, state.pause_count) == (False, 2, 1)

    # a ROTATE with our calldata: scheduled with its key's data contract
    new_key = deal(4, 3)[0].public.group_public_key
    rotate = action_params("rotate", new_key_hash=keccak(g2_to_eip2537(new_key)))
    bridge.submit(action_call_data("rotate", 1, rotate, bridge.sign("rotate", rotate), new_key=new_key))
    pending = await e.pending_action(2)
    assert (pending.kind, pending.status, pending.key_epoch) == ("rotate", PendingStatus.PENDING, 1)
    assert int(pending.key_data, 16) != 0
    assert gateway.functions.currentKeyEpoch().call() == 1


def revert_selector(err: pytest.ExceptionInfo[ContractLogicError]) -> bytes:
    data = err.value.data
    assert isinstance(data, str), data
    return bytes.fromhex(data[2:10])


async def test_a_resume_is_refused_for_another_pause_and_after_its_deadline(bridge: Bridge) -> None:
    """The RESUME message names the pause it lifts and its deadline (docs/PROTOCOL.md): a RESUME
    signed during an earlier pause, or sent after its deadline, is refused and consumes nothing."""
    e, gateway = bridge.e, bridge.dep.gateway
    devnet.send(bridge.we, devnet.dev_account(GUARDIAN), gateway.functions.pause())
    state = await e.endpoint_state()
    assert (state.paused, state.pause_count, gateway.functions.pauseCount().call()) == (True, 1, 1)
    now = await e.chain_time()
    invalid_signature = keccak(text="InvalidSignature()")[:4]

    # signed for another pause (the next one): not a signature on this pause's message
    other_pause = action_params("resume", pause_count=2, deadline=now + 600)
    with pytest.raises(ContractLogicError) as err:
        bridge.submit(action_call_data("resume", 1, other_pause, bridge.sign("resume", other_pause)))
    assert revert_selector(err) == invalid_signature

    # signed until `deadline`, sent once the chain's time is past it
    soon = action_params("resume", pause_count=1, deadline=now + 30)
    late = action_call_data("resume", 1, soon, bridge.sign("resume", soon))
    bridge.we.provider.make_request("evm_increaseTime", [60])  # type: ignore[arg-type]
    bridge.we.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    with pytest.raises(ContractLogicError) as err:
        bridge.submit(late)
    assert revert_selector(err) == keccak(text="ActionExpired(uint64)")[:4]
    assert int.from_bytes(bytes.fromhex(str(err.value.data)[10:]), "big") == now + 30

    assert (await e.endpoint_state()).action_nonce == 0  # nothing consumed
    # the RESUME of this pause, in time, is scheduled
    ok = action_params("resume", pause_count=1, deadline=await e.chain_time() + 600)
    bridge.submit(action_call_data("resume", 1, ok, bridge.sign("resume", ok)))
    pending = await e.pending_action(0)
    assert (pending.kind, pending.status, pending.pause_count) == ("resume", PendingStatus.PENDING, 1)
