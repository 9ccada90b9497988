"""Shared fixtures: real anvil chains, a real mosquitto on a random port, deployed contracts."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from harness import devnet, forked
from tests.support import suite_order

# The devnets' members are forked from a process that imported the daemon once (harness/forked.py):
# a new interpreter spends about a second of CPU importing before it starts.
forked.use()

# Property tests check results, never speed: Hypothesis's per-example deadline (200 ms) is a
# wall-clock limit, and these machines are shared (an interpolation in pure Python overran it once
# with other tests running). Speed is measured in benchmarks (scripts/bench.sh).
settings.register_profile("qiao", deadline=None)
settings.load_profile("qiao")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[devnet.Processes]:
    procs = devnet.Processes()
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def mosquitto_port(processes: devnet.Processes, tmp_path: Path) -> int:
    """A broker of this test's own, on a free port."""
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    return devnet.start_mosquitto(processes, broker_dir)


# The integration chains mine every 0.5 s and also mine a transaction the moment it arrives (anvil's
# mixed mining): a test's own set-up (deployments, mints, locks, signed batches sent) no longer
# waits up to a block time per transaction, while the chains still move on by themselves for the
# watchers and finality. A test that needs transactions to wait in the pool says so (the `we`
# fixture of tests/integration/conftest.py, `devnet.mining_held`). The e2e devnets mine on the
# interval only, as a real chain does. (Integration modules: 584 -> 425 worker-s, 2026-12-04.)
MIXED = ("--mixed-mining",)


def two_chains(procs: devnet.Processes, logs: Path) -> tuple[str, str]:
    """The consortium and Ethereum anvil chains of an integration test, their URLs."""
    c = devnet.start_anvil(procs, "anvil-c", devnet.CONSORTIUM_CHAIN_ID, logs, 0.5, MIXED)
    e = devnet.start_anvil(procs, "anvil-e", devnet.ETHEREUM_CHAIN_ID, logs, 0.5, MIXED)
    return c, e


@pytest.fixture
def network() -> str:
    """A unique topic namespace per test."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def chains(processes: devnet.Processes, tmp_path: Path) -> tuple[str, str]:
    """Two anvil chains (consortium, ethereum) mining every 0.5 s and each transaction at once."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return two_chains(processes, logs)


@pytest.fixture(scope="module")
def module_processes() -> Iterator[devnet.Processes]:
    """Processes shared by every test of a module (its chains, set up once: `module_chains`)."""
    procs = devnet.Processes()
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def module_chains(
    module_processes: devnet.Processes, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """Two anvil chains (consortium, ethereum) mining every 0.5 s and each transaction at once, for
    a whole module: the module deploys once on them and gives each test a fresh copy
    (tests/support/snapshots.py)."""
    return two_chains(module_processes, tmp_path_factory.mktemp("module-logs"))


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")


LAYERS = ("unit", "integration", "e2e")
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test is marked with the layer its directory names, and with no other layer."""
    for item in items:
        # the path under tests/ only: a checkout's own path may hold "e2e" (a worktree so named)
        path = Path(str(item.path))
        under = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else path.parts
        layer = next((p for p in under if p in LAYERS), None)
        if layer is None:
            raise pytest.UsageError(
                f"{item.nodeid}: a test lives in tests/unit, tests/integration or tests/e2e"
            )
        others = [m.name for m in item.iter_markers() if m.name in LAYERS and m.name != layer]
        if others:
            raise pytest.UsageError(
                f"{item.nodeid}: in tests/{layer} but marked {others[0]}; move it or fix the mark"
            )
        item.add_marker(getattr(pytest.mark, layer))
    # the longest modules first, each module's tests in their own order (tests/support/suite_order.py)
    try:
        seconds = suite_order.load()
    except suite_order.OrderFileError as exc:
        raise pytest.UsageError(str(exc)) from exc
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(item.nodeid.split("::")[0], []).append(item)
    items[:] = [
        item for module in suite_order.longest_first(by_module, seconds) for item in by_module[module]
    ]
