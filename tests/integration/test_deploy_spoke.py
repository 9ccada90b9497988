"""A third chain's deployment (`deploy_spoke`, `relayer.provisioning.deploy --spoke`) on real anvil
chains: its gateway and wrapped token, the pair registered on both sides, the deployment file.

The deployments run with their transactions mined at once (`devnet.mined_at_once`): the same
code, contracts and calls, in seconds instead of one 0.5 s block each (about 40 blocks a test).
Deploying on chains that mine only at their interval is tested in test_contracts_onchain.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from committee.keyfile import write_public_file
from committee.threshold import deal
from harness import devnet
from relayer.provisioning.deploy import deploy_bridge, deploy_spoke, load_deployment, main

pytestmark = pytest.mark.integration


@pytest.fixture
def third(processes: devnet.Processes, tmp_path: Path) -> str:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return devnet.start_anvil(processes, "anvil-l", devnet.L2_CHAIN_ID, logs, 0.5)


def test_a_spoke_gets_its_gateway_and_wrapped_token_paired_with_the_vault(
    chains: tuple[str, str], third: str, tmp_path: Path
) -> None:
    key = deal(4, 3)[0].public.group_public_key
    with devnet.mined_at_once(*chains, third):
        dep = deploy_bridge(chains[0], chains[1], key)
        spoke = deploy_spoke(dep, "l2", third, key)
    assert spoke.chain_id == devnet.L2_CHAIN_ID
    # the pair, both ways: the vault's asset toward the L2's wrapped token, and back
    assert (
        dep.vault.functions.remoteTokenOf(devnet.L2_CHAIN_ID, dep.asset.address).call()
        == spoke.wrapped.address
    )
    assert spoke.gateway.functions.remoteTokenOf(
        devnet.CONSORTIUM_CHAIN_ID, spoke.wrapped.address
    ).call() == (dep.asset.address)
    # Ethereum's pair is untouched; the L2's token is another one, minted by its own gateway
    assert (
        dep.vault.functions.remoteTokenOf(devnet.ETHEREUM_CHAIN_ID, dep.asset.address).call()
        == dep.wrapped.address
    )
    assert spoke.wrapped.functions.gateway().call() == spoke.gateway.address
    assert spoke.gateway.functions.currentKeyEpoch().call() == 1
    for i in (1, 2, 3, 4, 8, 11):
        assert spoke.registry.functions.isAllowed(devnet.dev_account(i).address).call()
    freezer = spoke.registry.functions.FREEZER_ROLE().call()
    assert spoke.registry.functions.hasRole(freezer, spoke.gateway.address).call()
    assert spoke.gateway.functions.availableCapacity(spoke.wrapped.address, 1).call() >= 10**9 * devnet.UNIT

    # the deployment file lists it beside ethereum and loads back
    out = tmp_path / "deployment.json"
    out.write_text(json.dumps(dep.to_json()))
    loaded = load_deployment(out)
    assert set(loaded.spokes) == {"l2"}
    assert loaded.spokes["l2"].gateway.address == spoke.gateway.address
    assert loaded.spokes["l2"].block == spoke.block
    assert list(loaded.wrapped_chains()) == ["ethereum", "l2"]


def test_a_spoke_with_a_taken_name_or_chain_is_refused_before_deploying(
    chains: tuple[str, str], third: str
) -> None:
    key = deal(4, 3)[0].public.group_public_key
    dep = devnet.deploy_bridge(chains[0], chains[1], key)
    with pytest.raises(ValueError, match="already has a chain of that name"):
        deploy_spoke(dep, "ethereum", third, key)
    with pytest.raises(ValueError, match="already the chain 'ethereum'"):
        deploy_spoke(dep, "l2", chains[1], key)
    assert dep.spokes == {}
    with devnet.mined_at_once(third):
        deploy_spoke(dep, "l2", third, key)
    with pytest.raises(ValueError, match="already has a chain of that name"):
        deploy_spoke(dep, "l2", third, key)


def test_the_deploy_command_deploys_spokes(chains: tuple[str, str], third: str, tmp_path: Path) -> None:
    public = tmp_path / "committee.json"
    write_public_file(public, deal(4, 3)[0].public)
    out = tmp_path / "deployment.json"
    argv = ["--consortium-rpc", chains[0], "--ethereum-rpc", chains[1], "--committee", str(public)]
    argv += ["--out", str(out)]
    with pytest.raises(SystemExit):  # a malformed --spoke: refused before anything is deployed
        main([*argv, "--spoke", "l2"])
    assert not out.exists()
    with devnet.mined_at_once(*chains, third):
        assert main([*argv, "--spoke", f"l2={third}"]) == 0
    data = json.loads(out.read_text())
    assert data["chains"]["l2"]["chain_id"] == devnet.L2_CHAIN_ID
    gateway = Web3(HTTPProvider(third)).eth.contract(
        address=data["chains"]["l2"]["endpoint"], abi=data["chains"]["l2"]["contracts"]["gateway"]["abi"]
    )
    assert gateway.functions.currentKeyEpoch().call() == 1
