"""The local devnet: two anvil chains, a mosquitto broker, the contracts, n members, a round trip.

With `chains=3` (`scripts/demo.sh --chains 3`) a third chain joins: an L2-like anvil chain (id
7003) whose `finalized` tag lags its head by 2 * L2_SLOTS_PER_EPOCH blocks, with its own gateway
and wrapped token of the same asset; the members watch it by that tag (`finality = "finalized"`)
and serve the routes consortium<->ethereum and consortium<->l2 with one committee and one set of
processes, by configuration only.

`python -m harness.devnet` (what `scripts/demo.sh` runs) starts everything it needs on free ports,
deploys the contracts, deals the committee key, writes every member's configuration, starts the
member processes, performs the scripted round trip (locks on the consortium chain minted on
Ethereum, then burns on Ethereum unlocked on the consortium chain), prints balances and the supply
check, and stops everything it started. The same pieces are used by the end-to-end tests.

Longer than the layout's ~500 lines: the devnet is one script of steps (processes, chains, broker,
contracts, committee, member configurations, the round trip) that the demo and the tests share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from committee.dkg_runner import local_dkg
from committee.keyfile import load_public_file, write_key_file, write_public_file
from committee.keystore import write_keystore
from harness import forked, ports
from relayer.ops import admin_client
from relayer.provisioning import broker, nats_cluster
from relayer.provisioning import deploy as provisioning
from relayer.provisioning.deploy import (
    ARTIFACTS,
    MNEMONIC,
    Deployment,
    Profile,
    Spoke,
    artifact,
    deploy,
    send,
)
from relayer.provisioning.transfer import UNIT, wait_until

__all__ = [
    "ARTIFACTS",
    "UNIT",
    "Deployment",
    "artifact",
    "deploy",
    "deploy_bridge",
    "dev_account",
    "send",
    "wait_until",
]

ROOT = Path(__file__).resolve().parent.parent
CONSORTIUM_CHAIN_ID = 7001
ETHEREUM_CHAIN_ID = 7002
L2_CHAIN_ID = 7003
L2 = "l2"  # the third chain's name in the deployment file and the members' [chains.l2]
# anvil's `finalized` tag is the head minus two epochs of slots (its `safe` tag one epoch): with 3
# slots the L2's finalized head lags its head by 6 blocks, as an L2's lags until its batch is final
# on L1. The members watch it with finality = "finalized" and wait for the tag.
L2_SLOTS_PER_EPOCH = 3
# the members' poll interval of each chain: the fallback, since every chain's `ws` pushes new heads
# (write_node_config's `push`); the demo, the e2e tests and the benchmark run with it
POLL_INTERVAL = 0.3


def free_port() -> int:
    """A port for a server to listen on, handed to no other process (harness/ports.py)."""
    return ports.free_port()


def tool(name: str) -> str:
    """anvil/forge from the pinned npm packages, or from PATH."""
    for candidate in sorted((ROOT / "node_modules" / "@foundry-rs").glob(f"{name}-linux-*/bin/{name}")):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; run scripts/bootstrap.sh first")
    return found


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes] | forked.Forked  # forked: a member under the tests
    log_path: Path

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The process's JSON log lines (other lines skipped), only the events `name` if given."""
        out: list[dict[str, Any]] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and (name is None or entry.get("event") == name):
                out.append(entry)
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 15.0) -> None:
        """Wait for the process (signalled already) to exit; SIGKILL it after `timeout`."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@dataclass
class Processes:
    items: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None) -> Process:
        log_path = log_dir / f"{name}.log"
        out = log_path.open("ab")
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        out.close()
        proc = Process(name, popen, log_path)
        self.items.append(proc)
        return proc

    def start_cli(
        self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> Process:
        """`relayer <args>` (python -m relayer.cli): forked from the tests' fork server where they
        ask for it (harness/forked.py), else a new interpreter."""
        full_env = dict(os.environ if env is None else env)
        if not forked.applies(full_env):
            python = ROOT / ".venv" / "bin" / "python"
            exe = str(python) if python.exists() else sys.executable
            return self.start(name, [exe, "-m", "relayer.cli", *args], log_dir, env)
        log_path = log_dir / f"{name}.log"
        proc = Process(name, forked.start(args, log_path, full_env, ROOT), log_path)
        self.items.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM the members (and any other daemon) all at once and wait for them, then the
        chains and brokers they were using: one by one, four members took four exits' time."""
        infrastructure = ("anvil", "mosquitto", "nats")
        for group in (
            [p for p in reversed(self.items) if not p.name.startswith(infrastructure)],
            [p for p in reversed(self.items) if p.name.startswith(infrastructure)],
        ):
            for proc in group:
                if proc.popen.poll() is None:
                    proc.popen.send_signal(signal.SIGTERM)
            for proc in group:
                proc.wait_stopped()


def start_anvil(
    procs: Processes,
    name: str,
    chain_id: int,
    log_dir: Path,
    block_time: float,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> str:
    port = port or free_port()
    argv = [
        tool("anvil"),
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--mnemonic",
        MNEMONIC,
        "--accounts",
        "12",
        "--silent",
    ]
    if block_time > 0:
        argv += ["--block-time", str(block_time)]
    argv += list(extra_args)
    procs.start(name, argv, log_dir)
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(HTTPProvider(url))
    wait_until(lambda: w3.eth.chain_id == chain_id, 30, f"anvil {name} on {url}")
    return url


def start_mosquitto(procs: Processes, run_dir: Path) -> int:
    port = free_port()
    conf = run_dir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size 65536\n"
        "set_tcp_nodelay true\n"  # as deploy/mosquitto/mosquitto.conf
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    procs.start("mosquitto", [binary, "-c", str(conf)], run_dir)

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_until(listening, 15, f"mosquitto on port {port}")
    return port


def start_secure_mosquitto(
    procs: Processes, run_dir: Path, network: str, members: list[int]
) -> tuple[broker.BrokerFiles, int, int]:
    """The production broker configuration (deploy/mosquitto/mosquitto.conf: TLS, one credential
    per member, an ACL that lets a member publish only under its own id) with a throwaway CA.
    Returns the files, the members' TLS port and the devnet tooling port (plaintext, 127.0.0.1:
    the key generation run and tests playing a stranger use it)."""
    tls_port, tooling_port = free_port(), free_port()
    files = broker.prepare(run_dir / "broker", network, members, tls_port, tooling_port=tooling_port)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    procs.start("mosquitto", [binary, "-c", str(files.conf)], run_dir)

    def listening() -> bool:
        for port in (tls_port, tooling_port):
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        return True

    wait_until(listening, 15, f"mosquitto on ports {tls_port} (TLS) and {tooling_port}")
    return files, tls_port, tooling_port


@dataclass
class Server:
    """A broker process that a test can stop and start again on the same ports and files."""

    name: str
    procs: Processes
    argv: list[str]
    log_dir: Path
    ports: tuple[int, ...]  # the ports it listens on (the members' first)
    proc: Process

    @property
    def port(self) -> int:
        return self.ports[0]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.stop(sig)

    def start(self, timeout: float = 30.0) -> None:
        self.proc.stop()
        self.proc = self.procs.start(self.name, self.argv, self.log_dir)
        wait_until(lambda: _listening(self.ports), timeout, f"{self.name} on ports {self.ports}")


def _start_server(
    procs: Processes, name: str, argv: list[str], log_dir: Path, ports: tuple[int, ...]
) -> Server:
    server = Server(name, procs, argv, log_dir, ports, procs.start(name, argv, log_dir))
    wait_until(lambda: _listening(ports), 30, f"{name} on ports {ports}")
    return server


@dataclass
class BrokerSet:
    """Brokers the members reach as several `[[mqtt.brokers]]` (each a node of one cluster or one of
    bridged brokers), by name, with each member's credential there."""

    servers: dict[str, Server]
    ca: dict[str, Path]  # broker name -> the CA its TLS certificate is verified with
    passwords: dict[str, dict[str, Path]]  # broker name -> user -> password file

    def tables(self, member: int, names: tuple[str, ...] | None = None) -> str:
        """Member `member`'s `[[mqtt.brokers]]` tables for the brokers `names` (default: all)."""
        out = []
        for name in names or tuple(self.servers):
            user = broker.username(member)
            credential = (
                f'username = "{user}"\npassword_file = "{self.passwords[name][user]}"\n'
                f'tls_ca_file = "{self.ca[name]}"'
            )
            out.append(_broker_table(name, self.servers[name].port, credential))
        return "\n".join(out)


def start_nats_cluster(
    procs: Processes, run_dir: Path, network: str, members: list[int], nodes: int = 3
) -> BrokerSet:
    """A NATS cluster of `nodes` nodes on this host with the production node configuration
    (deploy/nats/nats-server.conf: TLS, mutual TLS between nodes, a user per member), reached through
    its MQTT listeners, named nats-1, nats-2, ... . Its MQTT listeners answer once the cluster has
    formed (JetStream needs a quorum); the members' transports retry until then."""
    ports = {i: nats_cluster.NodePorts(free_port(), free_port(), free_port()) for i in range(1, nodes + 1)}
    files = nats_cluster.prepare(run_dir, network, members, ports)
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    servers: dict[str, Server] = {}
    for i, conf in files.confs.items():
        name = f"nats-{i}"
        argv = [binary, "-c", str(conf)]
        listens = (ports[i].mqtt, ports[i].client)
        servers[name] = Server(name, procs, argv, run_dir, listens, procs.start(name, argv, run_dir))
    for s in servers.values():  # started together: each waits for the others' routes
        wait_until(functools.partial(_listening, s.ports), 30, f"{s.name} on ports {s.ports}")
    names = tuple(servers)
    return BrokerSet(servers, dict.fromkeys(names, files.ca), dict.fromkeys(names, files.passwords))


def start_bridged_mosquittos(procs: Processes, run_dir: Path, network: str, members: list[int]) -> BrokerSet:
    """Two production-configured mosquittos (each its own CA and passwords), "bridge-a" and
    "bridge-b", bridged to each other as in deploy/mosquitto/bridge.conf: bridge-b connects to
    bridge-a (as the user `bridge`, which may read and write the network's topics there) and carries
    the network's topics both ways."""
    servers: dict[str, Server] = {}
    ca: dict[str, Path] = {}
    passwords: dict[str, dict[str, Path]] = {}
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    a_dir, b_dir = run_dir / "bridge-a", run_dir / "bridge-b"
    a_port, b_port = free_port(), free_port()
    a = broker.prepare(a_dir, network, members, a_port, admins=(broker.BRIDGE_USER,))
    b = broker.prepare(b_dir, network, members, b_port)
    with b.conf.open("a") as fh:
        fh.write(broker.render_bridge(network, "127.0.0.1", a_port, a.ca, a.passwords[broker.BRIDGE_USER]))
    for name, files, port in (("bridge-a", a, a_port), ("bridge-b", b, b_port)):
        servers[name] = _start_server(procs, name, [binary, "-c", str(files.conf)], run_dir, (port,))
        ca[name], passwords[name] = files.ca, files.passwords
    return BrokerSet(servers, ca, passwords)


def _listening(ports: tuple[int, ...]) -> bool:
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
    return True


# ---- contracts ---------------------------------------------------------------------------------


# artifact, send, deploy and Deployment live in relayer.provisioning.deploy (imported above).

# Anvil's development accounts and the devnet profile (which names twelve of them), derived from
# the mnemonic once per process: each derivation is a PBKDF2, and the tests ask for them often.
dev_account = functools.cache(provisioning.dev_account)

# A member's relayer account: anvil funds its first twelve development accounts, and from index 8 on
# they are alice's, bob's and the guardian's (ACCOUNTS below). Members 1..7 use their own index;
# members from 8 on (committees of 16, 31) use index RELAYER_ACCOUNT_BASE + member instead, which
# `devnet` funds on every chain with RELAYER_FUNDS wei (anvil_setBalance).
RELAYER_ACCOUNT_BASE = 100
FIRST_SHARED_INDEX = 8
RELAYER_FUNDS = 10_000 * 10**18


def relayer_account(member: int) -> LocalAccount:
    """The relayer account (the key of `node-<member>/relayer.key`) of devnet member `member`."""
    return dev_account(member if member < FIRST_SHARED_INDEX else RELAYER_ACCOUNT_BASE + member)


def fund_relayers(urls: list[str], members: range) -> None:
    """Give the relayer accounts anvil does not fund (members from FIRST_SHARED_INDEX on) their ether."""
    for url in urls:
        w3 = Web3(HTTPProvider(url))
        for member in members:
            if member >= FIRST_SHARED_INDEX:
                address = relayer_account(member).address
                w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(RELAYER_FUNDS)])


_devnet_profile = functools.cache(provisioning.devnet_profile)


@contextlib.contextmanager
def mined_at_once(*urls: str, poll: float = 0.01) -> Iterator[None]:
    """While the block runs, a transaction waiting in these anvil chains' pools is mined at once
    (`evm_mine`) instead of at the chain's next interval block; interval mining goes on as set, and
    block timestamps stay the wall clock's. For set-up whose transactions each wait for the one
    before (a deployment: ~20 of them, ~20 block times otherwise) while nothing else uses the chains."""
    chains = [Web3(HTTPProvider(url)) for url in urls]
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(poll):
            for w3 in chains:
                with contextlib.suppress(Exception):  # a chain stopping under us: the set-up will say
                    status = w3.provider.make_request(RPCEndpoint("txpool_status"), [])["result"]
                    if int(status["pending"], 16):
                        w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    thread = threading.Thread(target=mine, name="mined-at-once", daemon=True)
    thread.start()
    receipt_poll = provisioning.RECEIPT_POLL_SECONDS
    provisioning.RECEIPT_POLL_SECONDS = poll  # each receipt is there a poll after the send
    try:
        yield
    finally:
        provisioning.RECEIPT_POLL_SECONDS = receipt_poll
        stop.set()
        thread.join()


@contextlib.contextmanager
def mining_held(url: str, resume_every: int = 1) -> Iterator[Callable[[], int]]:
    """While the block runs, the anvil chain at `url` mines no block of its own: transactions wait
    in its pool and its clock (the latest block's timestamp, which an endpoint's action delay runs
    on) stands still. The block gets a function that mines one block now (`evm_mine`, timestamped
    with the wall clock) and returns its number; in that block anvil orders the pool by priority
    fee. On exit the chain mines every `resume_every` seconds again (anvil's
    evm_setIntervalMining takes whole seconds: a devnet started at 0.5 s goes on at 1 s).

    The block starts once the head has stood still over 0.2 s: a block anvil was producing when
    mining was turned off is in by then (anvil 1.7 does not serialize its rollback, hence
    `anvil_reorg`, against a block in production: foundry-rs/foundry PR 16711)."""
    w3 = Web3(HTTPProvider(url))

    def rpc(method: str, *params: Any) -> Any:
        reply = w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in reply:
            raise RuntimeError(f"{method} on {url}: {reply['error']}")
        return reply.get("result")

    def mine() -> int:
        rpc("evm_mine")
        return int(w3.eth.block_number)

    rpc("evm_setIntervalMining", 0)
    try:
        head = int(w3.eth.block_number)
        for _ in range(10):
            time.sleep(0.2)
            head, before = int(w3.eth.block_number), head
            if head == before:
                break
        yield mine
    finally:
        rpc("evm_setIntervalMining", resume_every)


def deploy_bridge(
    consortium_url: str,
    ethereum_url: str,
    group_public_key: bytes,
    *,
    admin: LocalAccount | None = None,
    profile: Profile | None = None,
    out: Path | None = None,
    spokes: dict[str, str] | None = None,
) -> Deployment:
    """`relayer.provisioning.deploy.deploy_bridge` on two anvil chains (and `deploy_spoke` on each
    of `spokes`, name -> URL), its transactions mined at once (`mined_at_once`): the same
    contracts, calls and order, in seconds instead of ~20 blocks. `relayer deploy` and the tests
    of that function itself go through the real one."""
    admin = admin or dev_account(0)
    profile = profile or _devnet_profile()
    with mined_at_once(consortium_url, ethereum_url, *(spokes or {}).values()):
        dep = provisioning.deploy_bridge(
            consortium_url, ethereum_url, group_public_key, admin=admin, profile=profile
        )
        for name, url in (spokes or {}).items():
            provisioning.deploy_spoke(dep, name, url, group_public_key, admin=admin, profile=profile)
    if out is not None:
        provisioning.write_deployment(out, dep)
    return dep


# ---- committee and node configuration ----------------------------------------------------------


def write_committee(
    run_dir: Path,
    n: int,
    t: int,
    *,
    mqtt_port: int,
    network: str = "devnet",
    keystores: bool = False,
    key_epoch: int = 1,
    subdir: str = "",
    mqtt_host: str = "127.0.0.1",
) -> tuple[bytes, list[Path], Path]:
    """The committee key by a DKG of the n members over the devnet's broker (plaintext, at
    `mqtt_host`:`mqtt_port`; in-process state machines, see committee.dkg: each member derives its
    own share, nothing holds the group secret). Writes each share, mode 0600, as a key file or,
    with `keystores`, as an EIP-2335 keystore `member-<i>.keystore.json` beside its password file;
    and the public file, all under `keys/` or `keys/<subdir>/` (a later key epoch's DKG:
    `Devnet.next_committee`)."""
    keys_dir = run_dir / "keys" / subdir if subdir else run_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(
        local_dkg(n, t, host=mqtt_host, port=mqtt_port, network=network, key_epoch=key_epoch)
    )
    key_files = []
    for result in results:
        share = result.share
        assert share is not None
        if keystores:
            path = keys_dir / f"member-{share.index}.keystore.json"
            password = os.urandom(16).hex()
            fd = os.open(
                keys_dir / f"member-{share.index}.password", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            write_keystore(path, share, password, work_factor=2**12)  # devnet: a cheap KDF
        else:
            path = keys_dir / f"member-{share.index}.json"
            write_key_file(path, share)
        key_files.append(path)
    public_path = keys_dir / "committee.json"
    write_public_file(public_path, results[0].public)
    return results[0].public.group_public_key, key_files, public_path


def _share_config(key_file: Path) -> str:
    """The [committee] lines that name a member's share: a keystore and its password, or a key file."""
    if key_file.name.endswith(".keystore.json"):
        password = key_file.with_name(key_file.name.removesuffix(".keystore.json") + ".password")
        return f'keystore_file = "{key_file}"\npassword_file = "{password}"'
    return f'key_file = "{key_file}"'


NEXT_KEY_MARK = "# [committee.next]: the next key epoch's key, written by harness.devnet (set_next_key)"


def set_next_key(config: Path, public_file: Path | None, key_file: Path | None = None) -> None:
    """Give a member's configuration the `[committee.next]` table (the next key epoch's public
    file and this member's share of it, from the members' DKG: docs/DKG.md), replacing one this
    function wrote before; `public_file=None` removes it. The table goes at the end of the file,
    after the marker line (TOML lets a sub-table follow other tables). Takes effect when the member
    starts again (`Devnet.graceful_restart`)."""
    text = config.read_text()
    head, _, _ = text.partition(NEXT_KEY_MARK)
    text = head.rstrip("\n") + "\n"
    if public_file is not None:
        if key_file is None:
            raise ValueError(f"set_next_key: {config}: a next key needs this member's share (key_file)")
        table = f'[committee.next]\npublic_file = "{public_file}"\n{_share_config(key_file)}'
        text += f"\n{NEXT_KEY_MARK}\n{table}\n"
    tomllib.loads(text)  # a table this function broke would otherwise show as the member's start-up error
    config.write_text(text)


def set_current_key(config: Path, public_file: Path, key_file: Path) -> None:
    """Point a member's `[committee]` at another key epoch's public file and this member's share
    of it (after a rotation: the key the endpoints are at now), keeping the table's other lines
    and any `[committee.next]`. Takes effect when the member starts again."""
    text = config.read_text()
    head, mark, tail = text.partition(NEXT_KEY_MARK)
    lines, out, inside = head.splitlines(), [], False
    for line in lines:
        if line.startswith("["):
            inside = line.strip() == "[committee]"
        key = line.split("=", 1)[0].strip()
        if inside and key in ("key_file", "keystore_file", "password_file"):
            continue
        if inside and key == "public_file":
            out += [f'public_file = "{public_file}"', *_share_config(key_file).splitlines()]
            continue
        out.append(line)
    text = "\n".join(out) + "\n" + mark + tail
    loaded = tomllib.loads(text)["committee"]
    if loaded.get("public_file") != str(public_file):
        raise ValueError(f"set_current_key: {config} has no [committee] public_file line to replace")
    config.write_text(text)


def write_node_config(
    run_dir: Path,
    member: int,
    dep: Deployment,
    mqtt_port: int,
    public_path: Path,
    key_file: Path,
    *,
    network: str,
    window_blocks: int = 2,
    max_batch: int = 100,
    poll_interval: float = POLL_INTERVAL,
    finality_depth: int = 1,
    metrics_port: int = 0,
    metrics_host: str = "127.0.0.1",
    consortium_rpc: str | None = None,
    ethereum_rpc: str | None = None,
    relayer_extra: str = "",
    chain_extra: str = "",
    mqtt_extra: str = "",
    mqtt_brokers: str = "",
    push: bool = True,
) -> Path:
    """One member's TOML. With `push` (the default) each chain's `ws` is its anvil's WebSocket
    endpoint (anvil serves it on the HTTP port): new heads are pushed, polling is the fallback.
    `*_rpc` replace the chains' endpoints (a TOML string or list), the
    `*_extra` strings add lines to the [relayer] table and to both chain tables (tests use them).
    `mqtt_brokers` (`[[mqtt.brokers]]` tables) replaces the single broker at `mqtt_port`. Each
    spoke of the deployment (a third chain) gets its `[chains.<name>]` table, watched by its
    `finalized` tag, its two routes with the consortium chain and a place in `registry_to`: the
    same processes serve it, by configuration only."""
    c_rpc = consortium_rpc or f'"{dep.consortium_url}"'
    e_rpc = ethereum_rpc or f'"{dep.ethereum_url}"'
    c_ws = ws_line(_single_url(consortium_rpc) or dep.consortium_url, push)
    e_ws = ws_line(_single_url(ethereum_rpc) or dep.ethereum_url, push)

    node_dir = run_dir / f"node-{member}"
    node_dir.mkdir(parents=True, exist_ok=True)
    account_file = node_dir / "relayer.key"
    if not account_file.exists():
        fd = os.open(account_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("0x" + bytes(relayer_account(member).key).hex() + "\n")
    cfg = node_dir / "node.toml"
    mqtt_address = "" if mqtt_brokers else f'host = "127.0.0.1"\nport = {mqtt_port}\n'
    cfg.write_text(f"""# Devnet member {member}: written by harness.devnet
[node]
member_index = {member}
data_dir = "{node_dir / "data"}"
log_level = "info"

[metrics]
host = "{metrics_host}"
port = {metrics_port}

[committee]
public_file = "{public_path}"
{_share_config(key_file)}
window_blocks = {window_blocks}
max_batch = {max_batch}
republish_interval = 2.0

[mqtt]
{mqtt_address}network = "{network}"
{mqtt_extra}
{mqtt_brokers}

[relayer]
enabled = true
account_key_file = "{account_file}"
stagger_seconds = 2.0
max_fee_gwei = 500.0
receipt_timeout = 30.0
{relayer_extra}

[chains.consortium]
chain_id = {CONSORTIUM_CHAIN_ID}
rpc = {c_rpc}
{c_ws}endpoint = "{dep.vault.address}"
finality_depth = {finality_depth}
start_block = {dep.consortium_block}
poll_interval = {poll_interval}
{chain_extra}

[chains.ethereum]
chain_id = {ETHEREUM_CHAIN_ID}
rpc = {e_rpc}
{e_ws}endpoint = "{dep.gateway.address}"
finality_depth = {finality_depth}
start_block = {dep.ethereum_block}
poll_interval = {poll_interval}
{chain_extra}

{"".join(_spoke_tables(spoke, poll_interval, push) for spoke in dep.spokes.values())}
[[routes]]
src = "consortium"
dst = "ethereum"

[[routes]]
src = "ethereum"
dst = "consortium"
{"".join(_spoke_routes(name) for name in dep.spokes)}
[actions]
registry_from = "consortium"
registry_to = {json.dumps(["ethereum", *dep.spokes])}
proposal_ttl = 3600.0
{f'issuer_registry = "{dep.issuer.address}"' if dep.issuer is not None else ""}
""")
    return cfg


def _single_url(rpc_toml: str | None) -> str | None:
    """The URL of an `rpc` override that is one TOML string (a proxy in front of the chain, the
    netns topology's delay proxy): the member's `ws` goes the same way. None for a list or none."""
    if rpc_toml is None:
        return None
    value = tomllib.loads(f"v = {rpc_toml}")["v"]
    return value if isinstance(value, str) else None


def ws_line(http_url: str, push: bool) -> str:
    """The `ws = ...` line of a chain table for the anvil at `http_url` (its WebSocket endpoint is
    the same host and port), or nothing without `push`."""
    if not push:
        return ""
    return f'ws = "{"ws" + http_url.removeprefix("http")}"\n'


def _spoke_tables(spoke: Spoke, poll_interval: float, push: bool = True) -> str:
    """A spoke's `[chains.<name>]`: an L2-like chain, final by its `finalized` tag (which lags)."""
    return f"""
[chains.{spoke.name}]
chain_id = {spoke.chain_id}
rpc = "{spoke.url}"
{ws_line(spoke.url, push)}endpoint = "{spoke.gateway.address}"
finality = "finalized"            # the tag lags the head (an L2 waits for its batch on L1)
start_block = {spoke.block}
poll_interval = {poll_interval}
"""


def _spoke_routes(name: str) -> str:
    return f"""
[[routes]]
src = "consortium"
dst = "{name}"

[[routes]]
src = "{name}"
dst = "consortium"
"""


def start_node(
    procs: Processes, member: int, config: Path, log_dir: Path, env: dict[str, str] | None = None
) -> Process:
    full_env = {**os.environ, **env} if env else None
    return procs.start_cli(f"member-{member}", ["run", "--config", str(config)], log_dir, full_env)


@dataclass(frozen=True)
class CommitteeKey:
    """A committee key from a DKG of the devnet's members: its key epoch, group public key
    (96-byte compressed G2), public file and each member's share file (member -> path)."""

    key_epoch: int
    group_public_key: bytes
    public_file: Path
    key_files: dict[int, Path]


@dataclass
class Devnet:
    run_dir: Path
    procs: Processes
    deployment: Deployment
    mqtt_port: int
    configs: dict[int, Path]
    nodes: dict[int, Process]
    n: int
    t: int
    metrics_ports: dict[int, int] = field(default_factory=dict)
    broker: Process | None = None  # the devnet's own mosquitto (None with an outside broker)
    broker_conf: Path | None = None
    broker_ports: tuple[int, ...] = ()  # the members' TLS port and the tooling port
    broker_ca: Path | None = None  # the CA the members verify the broker's TLS certificate with
    # the further brokers of a devnet started with `extra_brokers` (each its own CA and passwords),
    # by name; the members list the devnet's broker first, as "main", then these
    extra_brokers: dict[str, Process] = field(default_factory=dict)
    # with `cluster`: the brokers the members use instead (NATS nodes or bridged mosquittos)
    cluster: BrokerSet | None = None
    network: str = "devnet"
    committee: CommitteeKey | None = None  # the key of the members' first DKG (key epoch 1)

    def stop_broker(self, sig: int = signal.SIGTERM) -> None:
        """Stop the devnet's mosquitto (members keep running and retry); `start_broker` brings it
        back on the same ports with the same configuration."""
        if self.broker is None:
            raise RuntimeError("this devnet uses an outside broker")
        self.broker.stop(sig)

    def start_broker(self) -> Process:
        """Start the devnet's mosquitto again (after `stop_broker`) with the same files and ports."""
        if self.broker is None or self.broker_conf is None:
            raise RuntimeError("this devnet uses an outside broker")
        self.broker.stop()
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.broker = self.procs.start("mosquitto", [binary, "-c", str(self.broker_conf)], self.run_dir)
        wait_until(lambda: _listening(self.broker_ports), 15, f"mosquitto on ports {self.broker_ports}")
        return self.broker

    def restart(self, member: int, env: dict[str, str] | None = None) -> Process:
        """Start a member again (after it stopped or was killed) with the same configuration."""
        old = self.nodes.get(member)
        if old is not None:
            old.stop()
        self.nodes[member] = start_node(self.procs, member, self.configs[member], self.run_dir / "logs", env)
        return self.nodes[member]

    # ---- a key rotation: the next epoch's DKG and a rolling restart onto it ---------------

    def next_committee(self, key_epoch: int | None = None, *, subdir: str = "next") -> CommitteeKey:
        """A fresh DKG of the devnet's n members (threshold t) for `key_epoch` (default: the
        devnet's committee key epoch + 1), over the devnet's broker as the first one: each share
        under `keys/<subdir>/member-<i>.json` (mode 0600; keystores if the devnet uses them),
        the public file `keys/<subdir>/committee.json`. A second call with another `subdir` makes
        another key for the same epoch (a key some member did not help generate)."""
        if key_epoch is None:
            if self.committee is None:
                raise RuntimeError("this devnet does not know its committee key: give key_epoch")
            key_epoch = self.committee.key_epoch + 1
        keystores = self.committee is not None and any(
            p.name.endswith(".keystore.json") for p in self.committee.key_files.values()
        )
        group_key, key_files, public_file = write_committee(
            self.run_dir,
            self.n,
            self.t,
            mqtt_port=self.mqtt_port,
            network=self.network,
            keystores=keystores,
            key_epoch=key_epoch,
            subdir=subdir,
        )
        return CommitteeKey(key_epoch, group_key, public_file, dict(enumerate(key_files, start=1)))

    def admin_socket(self, member: int) -> Path:
        """The member's admin socket (`<data_dir>/admin.sock`, from its configuration)."""
        node = tomllib.loads(self.configs[member].read_text())["node"]
        return Path(node["data_dir"]) / "admin.sock"

    def wait_ready(self, member: int, timeout: float = 90.0) -> None:
        """Until the member's daemon answers on its admin socket (its pipeline runs) and is
        connected to the broker; a daemon that exits meanwhile raises RuntimeError with the
        end of its log (a configuration it refused says why there)."""
        proc = self.nodes[member]
        sock = self.admin_socket(member)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                tail = "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(
                    f"member {member} exited with {proc.popen.returncode} while starting; "
                    f"the end of {proc.log_path}:\n{tail}"
                )
            with contextlib.suppress(admin_client.AdminError, OSError, ValueError):
                if admin_client.request(sock, "status", timeout=10).get("broker_connected"):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for member {member} to answer on {sock}")

    def graceful_restart(self, member: int, timeout: float = 90.0) -> int:
        """One step of a rolling restart: SIGTERM, wait until the daemon exited (it finishes its
        current step first), start it again with the same configuration file (re-read: a
        `[committee.next]` added meanwhile takes effect), wait until it is ready. Returns the
        old process's exit code. A daemon that does not exit within `timeout` is killed and
        TimeoutError raised: a rolling restart that needs SIGKILL is not graceful."""
        proc = self.nodes[member]
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
                raise TimeoutError(f"member {member} did not exit within {timeout:.0f}s of SIGTERM") from None
        code = proc.popen.wait(5)  # exited already: its status
        self.nodes[member] = start_node(self.procs, member, self.configs[member], self.run_dir / "logs")
        self.wait_ready(member, timeout)
        return code

    def roll_keys(
        self,
        current: CommitteeKey | None,
        next_key: CommitteeKey | None,
        members: list[int] | None = None,
        *,
        between: Callable[[int], None] | None = None,
    ) -> dict[int, int]:
        """A rolling restart onto other keys: one member at a time (the others keep signing: t of
        n stay up while n - t >= 1), its configuration's `[committee]` pointed at `current` (None:
        left as it is) and its `[committee.next]` at `next_key` (None: removed), each with the
        member's own share, then `graceful_restart`. `between(member)` runs after each member is
        ready (a test's check). Returns each member's exit code."""
        codes = {}
        for m in members if members is not None else sorted(self.nodes):
            if current is not None:
                set_current_key(self.configs[m], current.public_file, current.key_files[m])
            if next_key is None:
                set_next_key(self.configs[m], None)
            else:
                set_next_key(self.configs[m], next_key.public_file, next_key.key_files[m])
            codes[m] = self.graceful_restart(m)
            if between is not None:
                between(m)
        return codes

    def roll_next_key(
        self,
        key: CommitteeKey,
        members: list[int] | None = None,
        *,
        between: Callable[[int], None] | None = None,
    ) -> dict[int, int]:
        """The rolling restart before a rotation: `key` (the members' DKG for the next epoch) as
        every member's `[committee.next]`, `[committee]` unchanged (`roll_keys`)."""
        return self.roll_keys(None, key, members, between=between)

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample from a member's /metrics (needs `metrics=True`), None if absent."""
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{self.metrics_ports[member]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    return float(sample.value)
        return None


@contextlib.contextmanager
def devnet(
    run_dir: Path,
    *,
    n: int = 4,
    t: int = 3,
    down: tuple[int, ...] = (),
    block_time: float = 1.0,
    mqtt_port: int | None = None,
    network: str = "devnet",
    anvil_args: tuple[str, ...] = (),
    node_options: dict[str, Any] | None = None,
    node_env: dict[int, dict[str, str]] | None = None,
    metrics: bool = False,
    rpc_for: Callable[[str, str], str] | None = None,
    keystores: bool = False,
    mqtt_port_for: Callable[[int, int], int] | None = None,
    extra_brokers: int = 0,
    cluster: str | None = None,
    chains: int = 2,
) -> Iterator[Devnet]:
    """Start the whole devnet; everything started is stopped when the block exits.

    `node_options` go to `write_node_config` for every member, `node_env` adds environment
    variables to some members' processes, `anvil_args` to both chains; `rpc_for(chain, url)` may
    return the TOML value the members use instead of the chain's URL (a proxy, a list);
    `mqtt_port_for(member, port)` the port a member connects to instead of the broker's (a proxy
    in front of it, to partition that member). `extra_brokers` starts that many more brokers (the
    production configuration, each with its own CA and passwords, named b2, b3, ...): every member
    then lists all of them in `[[mqtt.brokers]]`, the devnet's own broker first as "main".
    `cluster` ("nats" or "bridged") has the members use, instead of the devnet's broker, every node
    of a three-node NATS cluster or both of two bridged mosquittos (`Devnet.cluster`); the devnet's
    broker still carries the key generation.
    `chains=3` adds the L2-like third chain (`L2`, chain id 7003, its `finalized` tag lagging the
    head by 2 * L2_SLOTS_PER_EPOCH blocks) with its gateway and wrapped token; every member serves
    its routes with the consortium chain beside Ethereum's."""
    if chains not in (2, 3):
        raise ValueError(f"chains={chains}: the devnet runs 2 chains (C, E) or 3 (C, E and the L2)")
    options = node_options or {}
    metrics_ports = {i: free_port() if metrics else 0 for i in range(1, n + 1)}
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    procs = Processes()
    try:
        c_url = start_anvil(procs, "anvil-consortium", CONSORTIUM_CHAIN_ID, logs, block_time, anvil_args)
        e_url = start_anvil(procs, "anvil-ethereum", ETHEREUM_CHAIN_ID, logs, block_time, anvil_args)
        spokes: dict[str, str] = {}
        if chains == 3:
            lag = ("--slots-in-an-epoch", str(L2_SLOTS_PER_EPOCH))
            spokes[L2] = start_anvil(procs, "anvil-l2", L2_CHAIN_ID, logs, block_time, (*anvil_args, *lag))
        mqtt_extra: dict[int, str] = {}
        broker_proc: Process | None = None
        broker_conf: Path | None = None
        broker_ca: Path | None = None
        if mqtt_port is not None:
            member_port = mqtt_port
        else:  # our own broker, configured as in production
            everyone = list(range(1, n + 1))
            files, member_port, mqtt_port = start_secure_mosquitto(procs, run_dir, network, everyone)
            broker_proc, broker_conf, broker_ca = procs.items[-1], files.conf, files.ca
            mqtt_extra = {
                i: f'username = "{broker.username(i)}"\n'
                f'password_file = "{files.passwords[broker.username(i)]}"\n'
                f'tls_ca_file = "{files.ca}"'
                for i in everyone
            }
        port = mqtt_port
        extras: dict[str, Process] = {}
        mqtt_brokers: dict[int, str] = {}
        if extra_brokers:
            if broker_proc is None:
                raise ValueError("extra_brokers needs the devnet's own broker (no mqtt_port)")
            everyone = list(range(1, n + 1))
            tables = {i: [_broker_table("main", member_port, mqtt_extra[i])] for i in everyone}
            mqtt_extra = {}
            for k in range(2, extra_brokers + 2):
                name = f"b{k}"
                (run_dir / name).mkdir(exist_ok=True)
                more, more_port, _ = start_secure_mosquitto(procs, run_dir / name, network, everyone)
                extras[name] = procs.items[-1]
                for i in everyone:
                    tables[i].append(
                        _broker_table(
                            name,
                            more_port,
                            f'username = "{broker.username(i)}"\n'
                            f'password_file = "{more.passwords[broker.username(i)]}"\n'
                            f'tls_ca_file = "{more.ca}"',
                        )
                    )
            mqtt_brokers = {i: "\n".join(t) for i, t in tables.items()}
        brokers_set: BrokerSet | None = None
        if cluster is not None:
            if extra_brokers or broker_proc is None:
                raise ValueError("cluster needs the devnet's own broker and no extra_brokers")
            everyone = list(range(1, n + 1))
            starts = {"nats": start_nats_cluster, "bridged": start_bridged_mosquittos}
            if cluster not in starts:
                raise ValueError(f"cluster: {cluster!r} is not one of {sorted(starts)}")
            (run_dir / cluster).mkdir(exist_ok=True)
            brokers_set = starts[cluster](procs, run_dir / cluster, network, everyone)
            mqtt_extra = {}
            mqtt_brokers = {i: brokers_set.tables(i) for i in everyone}
        fund_relayers([c_url, e_url, *spokes.values()], range(1, n + 1))
        group_key, key_files, public_path = write_committee(
            run_dir, n, t, mqtt_port=port, network=network, keystores=keystores
        )
        dep = deploy_bridge(c_url, e_url, group_key, spokes=spokes)
        if rpc_for is not None:
            options = {
                "consortium_rpc": rpc_for("consortium", c_url),
                "ethereum_rpc": rpc_for("ethereum", e_url),
                **options,
            }
        configs = {
            i: write_node_config(
                run_dir,
                i,
                dep,
                mqtt_port_for(i, member_port) if mqtt_port_for is not None else member_port,
                public_path,
                key_files[i - 1],
                network=network,
                metrics_port=metrics_ports[i],
                mqtt_extra=mqtt_extra.get(i, ""),
                mqtt_brokers=mqtt_brokers.get(i, ""),
                **options,
            )
            for i in range(1, n + 1)
        }
        envs = node_env or {}
        nodes = {i: start_node(procs, i, configs[i], logs, envs.get(i)) for i in configs if i not in down}
        yield Devnet(
            run_dir,
            procs,
            dep,
            port,
            configs,
            nodes,
            n,
            t,
            metrics_ports,
            broker=broker_proc,
            broker_conf=broker_conf,
            broker_ports=(member_port, mqtt_port) if broker_proc is not None else (),
            broker_ca=broker_ca,
            extra_brokers=extras,
            cluster=brokers_set,
            network=network,
            committee=CommitteeKey(
                int(load_public_file(public_path).key_epoch),
                group_key,
                public_path,
                dict(enumerate(key_files, start=1)),
            ),
        )
    finally:
        procs.stop_all()


def _broker_table(name: str, port: int, credential: str) -> str:
    """One `[[mqtt.brokers]]` table of a member's TOML."""
    return f'[[mqtt.brokers]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n{credential}\n'


# ---- the scripted round trip -------------------------------------------------------------------


@dataclass
class RoundTrip:
    locked_total: int
    burned_total: int
    vault_balance: int
    wrapped_supply: int
    recipient_wrapped: int
    sender_asset: int

    @property
    def supply_ok(self) -> bool:
        return self.wrapped_supply == self.vault_balance


def round_trip(
    net: Devnet, locks: int = 20, burns: int = 10, timeout: float = 180.0, say: Callable[[str], None] = print
) -> RoundTrip:
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    we = Web3(HTTPProvider(dep.ethereum_url))
    admin, alice, bob = dev_account(0), dev_account(8), dev_account(9)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
    wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)

    amounts = [(i + 1) * UNIT for i in range(locks)]
    total = sum(amounts)
    send(wc, admin, asset.functions.mint(alice.address, total))
    send(wc, alice, asset.functions.approve(vault.address, total))
    say(f"alice locks {locks} times on the consortium chain ({total / UNIT:.0f} TBILL in all)")
    last: Any = None
    for amount in amounts:
        last = send(
            wc, alice, vault.functions.lock(asset.address, ETHEREUM_CHAIN_ID, bob.address, amount), wait=False
        )
    wc.eth.wait_for_transaction_receipt(last, timeout=60)
    wait_until(
        lambda: wrapped.functions.balanceOf(bob.address).call() == total,
        timeout,
        f"{total / UNIT:.0f} wTBILL minted to bob on Ethereum",
    )
    say(f"bob holds {total / UNIT:.0f} wTBILL on Ethereum")

    burn_amounts = [(i + 1) * UNIT for i in range(burns)]
    burned = sum(burn_amounts)
    alice_before = asset.functions.balanceOf(alice.address).call()
    say(f"bob burns {burns} times on Ethereum ({burned / UNIT:.0f} wTBILL in all)")
    for amount in burn_amounts:
        last = send(
            we,
            bob,
            gateway.functions.burn(wrapped.address, CONSORTIUM_CHAIN_ID, alice.address, amount),
            wait=False,
        )
    we.eth.wait_for_transaction_receipt(last, timeout=60)
    wait_until(
        lambda: asset.functions.balanceOf(alice.address).call() == alice_before + burned,
        timeout,
        f"{burned / UNIT:.0f} TBILL unlocked to alice on the consortium chain",
    )
    return RoundTrip(
        locked_total=total,
        burned_total=burned,
        vault_balance=asset.functions.balanceOf(vault.address).call(),
        wrapped_supply=wrapped.functions.totalSupply().call(),
        recipient_wrapped=wrapped.functions.balanceOf(bob.address).call(),
        sender_asset=asset.functions.balanceOf(alice.address).call(),
    )


@dataclass
class PairTrip:
    """One route pair's figures after `round_trip_pairs`: the wrapped chain, what went each way,
    its recipient's wrapped balance, its wrapped supply and what the vault holds for it (by the
    reconciler's per-pair count)."""

    chain: str
    locked_total: int
    burned_total: int
    recipient_wrapped: int
    wrapped_supply: int
    locked_for_it: int

    @property
    def supply_ok(self) -> bool:
        return self.wrapped_supply == self.locked_for_it


@dataclass
class PairsRoundTrip:
    pairs: dict[str, PairTrip]
    vault_balance: int
    sender_asset: int
    reconciled: bool  # the reconciler's verdict, settled: every invariant, per pair

    @property
    def supply_ok(self) -> bool:
        return (
            self.reconciled
            and all(p.supply_ok for p in self.pairs.values())
            and sum(p.wrapped_supply for p in self.pairs.values()) == self.vault_balance
        )


# Who holds the wrapped token on each wrapped chain in the scripted round trips (dev_account indexes):
# bob on Ethereum, carol on the L2; alice locks on the consortium chain and receives the unlocks.
HOLDERS = {"ethereum": 9, L2: 11}


def wrapped_contracts(net: Devnet) -> dict[str, tuple[Web3, Any, Any, int]]:
    """Every wrapped chain of the devnet: name -> (web3, gateway, wrapped token, chain id)."""
    out = {}
    for name, (gateway, token) in net.deployment.wrapped_chains().items():
        w3 = gateway.w3
        out[name] = (w3, gateway, token, int(w3.eth.chain_id))
    return out


def lock_toward(net: Devnet, chain_ids: dict[str, int], amounts: dict[str, list[int]]) -> Any:
    """Alice locks on the consortium chain toward each wrapped chain, interleaved (`amounts`:
    chain name -> the amounts, each to that chain's holder); mints and approves what it needs first.
    Returns the last transaction's hash (not waited for)."""
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice = dev_account(0), dev_account(8)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    total = sum(sum(a) for a in amounts.values())
    send(wc, admin, asset.functions.mint(alice.address, total))
    send(wc, alice, asset.functions.approve(vault.address, total))
    last: Any = None
    for i in range(max(len(a) for a in amounts.values())):
        for name, chain_amounts in amounts.items():
            if i < len(chain_amounts):
                holder = dev_account(HOLDERS[name]).address
                fn = vault.functions.lock(asset.address, chain_ids[name], holder, chain_amounts[i])
                last = send(wc, alice, fn, wait=False)
    return last


def burn_from(net: Devnet, amounts: dict[str, list[int]]) -> dict[str, Any]:
    """Each wrapped chain's holder burns these amounts toward alice on the consortium chain (chain
    name -> amounts); the chains' transactions go out together. Returns each chain's last hash."""
    alice = dev_account(8)
    wrapped = wrapped_contracts(net)
    last: dict[str, Any] = {}
    for i in range(max((len(a) for a in amounts.values()), default=0)):
        for name, chain_amounts in amounts.items():
            if i < len(chain_amounts):
                w3, gateway, token, _ = wrapped[name]
                fn = gateway.functions.burn(
                    token.address, CONSORTIUM_CHAIN_ID, alice.address, chain_amounts[i]
                )
                last[name] = send(w3, dev_account(HOLDERS[name]), fn, wait=False)
    return last


def round_trip_pairs(
    net: Devnet, locks: int = 10, burns: int = 5, timeout: float = 180.0, say: Callable[[str], None] = print
) -> PairsRoundTrip:
    """The scripted round trip on every route pair at once (the devnet with `chains=3`): alice
    locks `locks` times toward each wrapped chain (interleaved), every mint is awaited, then each
    chain's holder burns `burns` times back to alice (the chains together); the supply is
    reconciled per pair."""
    from relayer.ops.reconciler import reconcile  # the operator's check, not the harness's own

    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    alice = dev_account(8)
    asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    wrapped = wrapped_contracts(net)
    chain_ids = {name: w[3] for name, w in wrapped.items()}
    lock_amounts = {name: [(i + 1) * UNIT for i in range(locks)] for name in wrapped}
    burn_amounts = {name: [(i + 1) * UNIT for i in range(burns)] for name in wrapped}
    routes = ", ".join(f"consortium->{name}" for name in wrapped)
    say(f"alice locks {locks} times toward each wrapped chain ({routes}), interleaved")
    wc.eth.wait_for_transaction_receipt(lock_toward(net, chain_ids, lock_amounts), timeout=60)
    for name, (_, _, token, _) in wrapped.items():
        holder = dev_account(HOLDERS[name]).address
        want = sum(lock_amounts[name])
        wait_until(
            functools.partial(lambda t, h, w: t.functions.balanceOf(h).call() == w, token, holder, want),
            timeout,
            f"{want / UNIT:.0f} wTBILL minted on {name}",
        )
        say(f"{name}: {want / UNIT:.0f} wTBILL minted to {holder}")
    before = asset.functions.balanceOf(alice.address).call()
    burned = sum(sum(a) for a in burn_amounts.values())
    say(f"each holder burns {burns} times back to alice ({', '.join(f'{n}->consortium' for n in wrapped)})")
    for name, tx in burn_from(net, burn_amounts).items():
        wrapped[name][0].eth.wait_for_transaction_receipt(tx, timeout=60)
    wait_until(
        lambda: asset.functions.balanceOf(alice.address).call() == before + burned,
        timeout,
        f"{burned / UNIT:.0f} TBILL unlocked to alice on the consortium chain",
    )
    verdict = reconcile(dep, settled=True)
    by_chain = {p.wrapped_chain: p for p in verdict.pairs}
    pairs = {}
    for name, (_, _, token, chain_id) in wrapped.items():
        pair = by_chain.get(chain_id)
        pairs[name] = PairTrip(
            chain=name,
            locked_total=sum(lock_amounts[name]),
            burned_total=sum(burn_amounts[name]),
            recipient_wrapped=int(token.functions.balanceOf(dev_account(HOLDERS[name]).address).call()),
            wrapped_supply=int(token.functions.totalSupply().call()),
            locked_for_it=pair.locked if pair is not None else int(verdict.locked),
        )
    for v in verdict.violations:
        say(f"reconciler: {v.invariant}: {v.detail}")
    return PairsRoundTrip(
        pairs=pairs,
        vault_balance=int(asset.functions.balanceOf(vault.address).call()),
        sender_asset=int(asset.functions.balanceOf(alice.address).call()),
        reconciled=verdict.ok,
    )


# ---- what an operator uses against a running devnet -------------------------------------------

ACCOUNTS = {"admin": 0, "alice": 8, "bob": 9, "guardian": 10}  # dev_account indexes (deploy.devnet_profile)
SECRET_PARTS = ("keys", "accounts", "broker")  # under the run directory; plus node-*/relayer.key


def write_devnet_file(net: Devnet) -> Path:
    """`<run_dir>/deployment.json`: the contracts (addresses, ABIs, start blocks: the file of
    relayer.provisioning.deploy), the funded accounts with key files (mode 0600), each member's
    configuration, metrics URL and relayer account, and the broker's members' port. `relayer devnet
    lock|burn` read it."""
    accounts_dir = net.run_dir / "accounts"
    accounts_dir.mkdir(exist_ok=True)
    accounts = {}
    for name, index in ACCOUNTS.items():
        account = dev_account(index)
        key_file = accounts_dir / f"{name}.key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("0x" + bytes(account.key).hex() + "\n")
        accounts[name] = {"address": account.address, "key_file": str(key_file)}
    data = net.deployment.to_json()
    data["devnet"] = {
        "run_dir": str(net.run_dir),
        "guardian": accounts["guardian"]["address"],
        "accounts": accounts,
        "members": {
            str(i): {
                "config": str(net.configs[i]),
                "running": i in net.nodes,
                "metrics_port": net.metrics_ports.get(i, 0),
                "metrics_url": f"http://127.0.0.1:{net.metrics_ports[i]}/metrics"
                if net.metrics_ports.get(i)
                else None,
                "relayer_account": relayer_account(i).address,
            }
            for i in sorted(net.configs)
        },
        "broker": {
            "host": "127.0.0.1",
            "port": net.broker_ports[0] if net.broker_ports else net.mqtt_port,
            "tls_ca_file": str(net.broker_ca) if net.broker_ca else None,
        },
    }
    path = net.run_dir / "deployment.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _remove_key_material(run_dir: Path) -> None:
    """What a run left that could sign or spend: the shares, the account keys, the broker's
    credentials and CA key. Logs, configurations and stores stay."""
    for part in SECRET_PARTS:
        shutil.rmtree(run_dir / part, ignore_errors=True)
    for key in run_dir.glob("node-*/relayer.key"):
        key.unlink(missing_ok=True)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (and SIGINT) stop the demo the same way: raised once, so everything started is
    stopped on the way out; a second signal during that is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _pairs_demo(net: Devnet, locks: int, burns: int) -> bool:
    """The three-chain round trip of the demo (`--chains 3`), printed per pair."""
    result = round_trip_pairs(net, locks, burns)
    print(f"alice (consortium) TBILL balance : {result.sender_asset / UNIT:.0f}")
    for name, pair in result.pairs.items():
        holder = "bob" if name == "ethereum" else "carol"
        label = f"{holder} ({name}) wTBILL balance"
        print(f"{label:<33}: {pair.recipient_wrapped / UNIT:.0f}")
    print(f"locked in the vault              : {result.vault_balance / UNIT:.0f} TBILL")
    for name, pair in result.pairs.items():
        print(
            f"pair consortium<->{name}: wrapped supply {pair.wrapped_supply / UNIT:.0f} wTBILL, "
            f"locked for it {pair.locked_for_it / UNIT:.0f} TBILL, check {str(pair.supply_ok).lower()}"
        )
    print(f"supply check (per pair, and the sum == locked) : {str(result.supply_ok).lower()}", flush=True)
    return result.supply_ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="harness.devnet", description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument("--members", type=int, default=4, help="committee size n (default 4)")
    p.add_argument("--threshold", type=int, default=3, help="signing threshold t (default 3)")
    p.add_argument("--locks", type=int, default=20)
    p.add_argument("--burns", type=int, default=10)
    p.add_argument(
        "--down",
        type=int,
        action="append",
        default=[],
        help="a member index not to start (repeatable), to show the committee tolerates it",
    )
    p.add_argument("--mqtt-port", type=int, help="use a broker already running on 127.0.0.1:PORT")
    p.add_argument(
        "--run-dir", type=Path, help="where keys, configs, stores and logs go (default: a temp dir)"
    )
    p.add_argument("--keep-running", action="store_true", help="leave everything running after the demo")
    p.add_argument("--keystores", action="store_true", help="shares in EIP-2335 keystores")
    p.add_argument(
        "--chains",
        type=int,
        choices=(2, 3),
        default=2,
        help="3 adds an L2-like chain (id 7003, its finalized tag lagging its head) with its own "
        "gateway and wrapped token: the round trip then runs on consortium<->ethereum and "
        "consortium<->l2 at once, one committee and one set of member processes",
    )
    args = p.parse_args(argv)
    own_dir = args.run_dir is None
    # absolute: the members' configurations name their files relative to themselves otherwise
    run_dir = (args.run_dir or Path(tempfile.mkdtemp(prefix="qiao-devnet-"))).resolve()
    keep = args.keep_running or not own_dir
    print(f"devnet: run directory {run_dir} (configs, keys, stores, logs)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    failed = True
    try:
        with devnet(
            run_dir,
            n=args.members,
            t=args.threshold,
            down=tuple(args.down),
            mqtt_port=args.mqtt_port,
            keystores=args.keystores,
            metrics=True,
            chains=args.chains,
        ) as net:
            dep = net.deployment
            print(f"consortium chain {CONSORTIUM_CHAIN_ID}: {dep.consortium_url}  vault {dep.vault.address}")
            print(f"ethereum chain   {ETHEREUM_CHAIN_ID}: {dep.ethereum_url}  gateway {dep.gateway.address}")
            for spoke in dep.spokes.values():
                lag = 2 * L2_SLOTS_PER_EPOCH
                print(
                    f"{spoke.name} chain         {spoke.chain_id}: {spoke.url}  "
                    f"gateway {spoke.gateway.address} (finalized tag {lag} blocks behind its head)"
                )
            running = sorted(net.nodes)
            if net.broker_ca is not None:
                broker_line = f"127.0.0.1:{net.broker_ports[0]} (TLS, a login per member; CA {net.broker_ca})"
            else:
                broker_line = f"127.0.0.1:{net.mqtt_port} (outside broker)"
            print(f"broker {broker_line}; members running {running} of {net.n}, t = {net.t}")
            for i in sorted(net.configs):
                state = "" if i in net.nodes else " (not started)"
                print(
                    f"member {i}: config {net.configs[i]}, "
                    f"metrics http://127.0.0.1:{net.metrics_ports[i]}/metrics{state}"
                )
            print(
                f"deployment: {write_devnet_file(net)} (contracts, accounts and their key files)", flush=True
            )
            if args.chains == 3:
                ok = _pairs_demo(net, args.locks, args.burns)
                if args.keep_running:
                    print("devnet running; Ctrl-C or SIGTERM stops it", flush=True)
                    with contextlib.suppress(KeyboardInterrupt):
                        while True:
                            signal.pause()
                failed = not ok
                return 0 if ok else 1
            result = round_trip(net, args.locks, args.burns)
            print(f"alice (consortium) TBILL balance : {result.sender_asset / UNIT:.0f}")
            print(f"bob (ethereum) wTBILL balance    : {result.recipient_wrapped / UNIT:.0f}")
            print(f"locked in the vault              : {result.vault_balance / UNIT:.0f} TBILL")
            print(f"wrapped supply on Ethereum       : {result.wrapped_supply / UNIT:.0f} wTBILL")
            print(f"supply check (wrapped == locked) : {str(result.supply_ok).lower()}", flush=True)
            failed = not result.supply_ok
            if args.keep_running:
                print("devnet running; Ctrl-C or SIGTERM stops it", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        signal.pause()
            return 0 if result.supply_ok else 1
    except KeyboardInterrupt:
        failed = False
        print("devnet: stopped", file=sys.stderr)
        return 130
    except TimeoutError as exc:
        print(f"devnet: {exc}; see the logs in {run_dir / 'logs'}", file=sys.stderr)
        return 1
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"devnet: {exc}", file=sys.stderr)
        return 1
    finally:
        if not keep and not failed:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif not keep:  # keep the logs for the failure, not the keys
            _remove_key_material(run_dir)
            print(f"devnet: logs kept in {run_dir / 'logs'}; key material removed", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
