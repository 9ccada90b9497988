"""`config check --online` and `run` against real anvil chains with the contracts deployed: chain
ids, a Qiao endpoint at each endpoint address, key epoch and group key equal to the committee
file's; each refusal names the key, the value and the fix on its first line."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from committee.keyfile import write_key_file, write_public_file
from committee.threshold import deal
from harness import devnet
from tests.support import member_cli

pytestmark = pytest.mark.integration

ROOT = devnet.ROOT


SHARES = deal(4, 3, key_epoch=1, rng=random.Random(5))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Deployment]:
    """Two anvil chains (instant mining) with the bridge deployed for SHARES' group key."""
    logs = tmp_path_factory.mktemp("online-logs")
    procs = devnet.Processes()
    try:
        c = devnet.start_anvil(procs, "anvil-c", devnet.CONSORTIUM_CHAIN_ID, logs, 0)
        e = devnet.start_anvil(procs, "anvil-e", devnet.ETHEREUM_CHAIN_ID, logs, 0)
        yield devnet.deploy_bridge(c, e, SHARES[0].public.group_public_key)
    finally:
        procs.stop_all()


@pytest.fixture
def deployed(bridge: devnet.Deployment, tmp_path: Path) -> tuple[Path, devnet.Deployment]:
    """Member 1's configuration for the bridge, with its own files (no broker needed)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    write_public_file(keys / "committee.json", SHARES[0].public)
    write_key_file(keys / "member-1.json", SHARES[0])
    dep = bridge
    config = devnet.write_node_config(
        tmp_path, 1, dep, 1883, keys / "committee.json", keys / "member-1.json", network="online"
    )
    return config, dep


def relayer(*argv: str) -> subprocess.CompletedProcess[str]:
    return member_cli.relayer(*argv, timeout=180)


def ws(http_url: str) -> str:
    """The WebSocket URL of the anvil at `http_url` (anvil serves both on one port)."""
    return "ws" + http_url.removeprefix("http")


def replace(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text, old
    config.write_text(text.replace(old, new, 1))


def test_a_good_configuration_passes_online(deployed: tuple[Path, devnet.Deployment]) -> None:
    config, _ = deployed
    out = relayer("config", "check", "--online", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "checked files and chains" in out.stdout


def another_committee(config: Path, dep: devnet.Deployment) -> None:
    other = deal(4, 3, key_epoch=1, rng=random.Random(6))
    keys = config.parent.parent / "keys"
    (keys / "committee.json").unlink()
    (keys / "member-1.json").unlink()
    write_public_file(keys / "committee.json", other[0].public)
    write_key_file(keys / "member-1.json", other[0])


def later_epoch(config: Path, dep: devnet.Deployment) -> None:
    other = deal(4, 3, key_epoch=2, rng=random.Random(6))
    keys = config.parent.parent / "keys"
    (keys / "committee.json").unlink()
    (keys / "member-1.json").unlink()
    write_public_file(keys / "committee.json", other[0].public)
    write_key_file(keys / "member-1.json", other[0])


CASES: list[tuple[str, Callable[[Path, devnet.Deployment], None], str]] = [
    (
        "a wrong chain id",
        lambda c, d: replace(c, f"chain_id = {devnet.CONSORTIUM_CHAIN_ID}", "chain_id = 7003"),
        "chains.consortium.chain_id = 7003, but chains.consortium.rpc = 'http://127.0.0.1:",
    ),
    (
        "the test asset's address as the vault",
        lambda c, d: replace(c, d.vault.address, d.asset.address),
        f"chains.consortium.endpoint = '{'{asset}'}': the contract there is not a Qiao endpoint",
    ),
    (
        "an address with no contract",
        lambda c, d: replace(c, d.gateway.address, "0x" + "11" * 20),
        "chains.ethereum.endpoint = '0x1111111111111111111111111111111111111111': no contract there",
    ),
    (
        "the committee file of another key",
        another_committee,
        "committee.public_file: its group key differs from the one chains.consortium.endpoint = ",
    ),
    (
        "the committee file of another epoch",
        later_epoch,
        "committee.public_file: key epoch 2, but chains.consortium.endpoint = ",
    ),
    (
        "a ws of another chain",
        lambda c, d: replace(c, f'ws = "{ws(d.ethereum_url)}"', f'ws = "{ws(d.consortium_url)}"'),
        "chains.ethereum.ws = 'ws://127.0.0.1:",
    ),
    (
        "a ws that does not answer",
        lambda c, d: replace(
            c, f'ws = "{ws(d.consortium_url)}"', f'ws = "ws://127.0.0.1:{devnet.free_port()}"'
        ),
        "chains.consortium.ws = 'ws://127.0.0.1:",
    ),
    (
        "an rpc that does not answer",
        lambda c, d: replace(c, d.ethereum_url, f"http://127.0.0.1:{devnet.free_port()}"),
        "chains.ethereum.rpc = 'http://127.0.0.1:",
    ),
]


@pytest.mark.parametrize(("what", "make_bad", "starts"), CASES, ids=[c[0] for c in CASES])
def test_config_check_online_refuses_with_the_fix_on_the_first_line(
    deployed: tuple[Path, devnet.Deployment],
    what: str,
    make_bad: Callable[[Path, devnet.Deployment], None],
    starts: str,
) -> None:
    config, dep = deployed
    make_bad(config, dep)
    offline = relayer("config", "check", "--config", str(config))
    assert offline.returncode == 0, offline.stderr  # only the chains can tell
    out = relayer("config", "check", "--online", "--config", str(config))
    assert out.returncode == 2, (what, out.stdout, out.stderr)
    first = out.stderr.splitlines()[0]
    assert first.startswith(f"{config}: {starts.replace('{asset}', dep.asset.address)}"), (what, first)
    assert "; " in first  # ...and the fix after it
    assert "Traceback" not in out.stderr


def test_run_with_a_wrong_chain_id_stops_with_one_line_and_no_traceback(
    deployed: tuple[Path, devnet.Deployment],
) -> None:
    config, _ = deployed
    replace(config, f"chain_id = {devnet.ETHEREUM_CHAIN_ID}", "chain_id = 7009")
    out = relayer("run", "--config", str(config))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: {config}: chains.ethereum.chain_id = 7009, but chains.ethereum.rpc = "
        f"'{deployed[1].ethereum_url}' serves chain id {devnet.ETHEREUM_CHAIN_ID}; fix the rpc or the chain_id"
    ]
