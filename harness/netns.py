"""A multi-host topology on one machine: every member, broker and chain RPC in its own network
namespace, joined by veth links a test takes down to partition, with WAN latency from delay proxies.

Layout (n members m1..mn, brokers b1..bk, the chains c (consortium) and e (ethereum)):

* one namespace per role, named `qiao<pid>x<seq>-<role>`;
* a point-to-point veth link (its own /30 in 10.77.<link>.0) between every member and every broker
  and between every member and every chain: a member reaches a broker or a chain only over their
  own link, so taking that link down (both ends, `ip link set ... down`) partitions exactly that
  pair, and brokers never see each other (they are independent, as one per institution would be);
* a management link from the root namespace to each namespace (a /30 in 10.77.<200..249>.0), so the
  harness reaches the chains (locks, balances), the members' metrics and the brokers' tooling
  listener (the key generation); forwarding stays off and no namespace has a default route, so no
  traffic between namespaces can go round through the root namespace;
* in each member's namespace a delay proxy (harness/delay_proxy.py) that the member's
  configuration names for every broker and chain (127.0.0.1:<port>): it carries the connection over
  the link with a configurable one-way delay per direction. The kernel here has no `netem`, so this
  is where the WAN latency comes from; the proxy adds nothing but a copy when the delay is 0.

Processes run inside their namespace with `ip netns exec` (which execs the command: the process is
the one the harness started and signals). Everything is removed when the `topology` block exits,
whatever happened inside it: processes stopped (then any left in a namespace killed), namespaces
deleted (which deletes their links). Namespaces a killed run left behind (its pid gone) are swept
at the next start.

`unavailable()` says why the topology cannot be built here (not root, no `ip`, namespaces refused);
the tests skip with that reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from harness import delay_proxy, devnet
from relayer.provisioning import broker
from relayer.provisioning.deploy import MNEMONIC, Deployment

NS_PREFIX = "qiao"
_NS_NAME = re.compile(rf"^{NS_PREFIX}(\d+)x(\d+)-")
LINK_NET = "10.77"  # 10.77.<link>.0/30 between two namespaces, 10.77.<200+>.0/30s for management
MGMT_THIRD_OCTETS = range(200, 250)
MAX_LINKS = 199
MAX_NAMESPACES = 62  # /30s in one management /24

# fixed ports: each namespace has its own port space
ANVIL_PORT = 8545
BROKER_TLS_PORT = 8883
BROKER_TOOLING_PORT = 1883
METRICS_PORT = 9464
PROXY_BROKER_BASE = 18830  # a member's proxy listens on 127.0.0.1:18830+j for broker bj
PROXY_CHAIN_PORTS = {"c": 18545, "e": 18546}
CHAINS = {"c": ("consortium", devnet.CONSORTIUM_CHAIN_ID), "e": ("ethereum", devnet.ETHEREUM_CHAIN_ID)}

Pair = tuple[str, str]  # (member role, broker or chain role)


# ---- the plan: names and addresses (pure) -----------------------------------------------------


def member_role(i: int) -> str:
    return f"m{i}"


def broker_role(j: int) -> str:
    return f"b{j}"


def link_addresses(link: int) -> tuple[str, str]:
    """The two ends of link number `link` (1..MAX_LINKS): 10.77.<link>.1 and .2, a /30."""
    if not 1 <= link <= MAX_LINKS:
        raise ValueError(f"link {link}: a topology has links 1..{MAX_LINKS}")
    return f"{LINK_NET}.{link}.1", f"{LINK_NET}.{link}.2"


def mgmt_addresses(third: int, index: int) -> tuple[str, str]:
    """The root side and the namespace side of namespace `index`'s management link (a /30 in
    10.77.<third>.0/24)."""
    if third not in MGMT_THIRD_OCTETS:
        raise ValueError(f"management network 10.77.{third}.0: use one of 10.77.200..249")
    if not 1 <= index <= MAX_NAMESPACES:
        raise ValueError(f"namespace {index}: a topology has namespaces 1..{MAX_NAMESPACES}")
    return f"{LINK_NET}.{third}.{4 * index + 1}", f"{LINK_NET}.{third}.{4 * index + 2}"


def cut_off(member: str, brokers: Iterable[str]) -> list[Pair]:
    """The links to take down to cut `member` off from every broker (its chains stay reachable)."""
    return [(member, b) for b in brokers]


def isolate_broker(broker_name: str, members: Iterable[str]) -> list[Pair]:
    """The links to take down to partition one broker away from every member."""
    return [(m, broker_name) for m in members]


def split(sides: Iterable[tuple[Iterable[str], Iterable[str]]]) -> list[Pair]:
    """The links to take down so that each side's members reach only that side's brokers: `sides`
    is a list of (members, brokers); every broker belongs to exactly one side."""
    sides = [(list(ms), list(bs)) for ms, bs in sides]
    brokers = [b for _, bs in sides for b in bs]
    if len(set(brokers)) != len(brokers):
        raise ValueError(f"split: a broker is on two sides: {brokers}")
    members = [m for ms, _ in sides for m in ms]
    if len(set(members)) != len(members):
        raise ValueError(f"split: a member is on two sides: {members}")
    return [(m, b) for ms, bs in sides for m in ms for b in brokers if b not in bs]


# ---- capability and clean-up -------------------------------------------------------------------


def _ip() -> str | None:
    return shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)


def unavailable() -> str | None:
    """Why network namespaces cannot be built here, or None when they can (tried for real: a probe
    namespace with a veth pair is created and removed)."""
    if os.geteuid() != 0:
        return f"network namespaces need root (this runs as uid {os.geteuid()})"
    ip = _ip()
    if ip is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{NS_PREFIX}{os.getpid()}x0-probe"
    made = subprocess.run([ip, "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace (`ip netns add`): {made.stderr.strip()}"
    try:
        veth = subprocess.run(
            [ip, "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"],
            capture_output=True,
            text=True,
            check=False,
        )
        if veth.returncode != 0:
            return f"cannot create a veth pair in a namespace: {veth.stderr.strip()}"
    finally:
        subprocess.run([ip, "netns", "del", probe], capture_output=True, check=False)
    return None


def _run_ip(*args: str) -> str:
    ip = _ip()
    if ip is None:
        raise FileNotFoundError("the `ip` command (iproute2) is not installed")
    done = subprocess.run([ip, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_namespace(name: str) -> None:
    """Kill whatever still runs in namespace `name`, then delete it (its links go with it)."""
    with contextlib.suppress(RuntimeError):
        for pid in _run_ip("netns", "pids", name).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(RuntimeError):
        _run_ip("netns", "del", name)


def sweep_stale() -> list[str]:
    """Delete the namespaces of earlier runs whose process is gone (a run killed before its clean-up);
    returns their names."""
    removed = []
    for line in _run_ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        found = _NS_NAME.match(name)
        if found and not _alive(int(found.group(1))):
            _remove_namespace(name)
            removed.append(name)
    return removed


# ---- namespaces and links ----------------------------------------------------------------------


@dataclass
class Namespace:
    role: str
    name: str
    index: int
    root_dev: str
    root_addr: str
    addr: str  # this namespace's management address (the harness reaches it there)


@dataclass
class Link:
    a: Namespace
    b: Namespace
    a_addr: str
    b_addr: str
    up: bool = True

    @property
    def a_dev(self) -> str:
        return f"to-{self.b.role}"

    @property
    def b_dev(self) -> str:
        return f"to-{self.a.role}"

    def set(self, up: bool) -> None:
        state = "up" if up else "down"
        _run_ip("-n", self.a.name, "link", "set", "dev", self.a_dev, state)
        _run_ip("-n", self.b.name, "link", "set", "dev", self.b_dev, state)
        self.up = up


_seq = iter(range(1, 10**6))


@dataclass
class Fabric:
    """Namespaces (one per role), management links from the root namespace and links between
    namespaces. `close()` removes all of it."""

    tag: str = field(default_factory=lambda: f"{os.getpid()}x{next(_seq)}")
    third: int = 0
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    links: dict[Pair, Link] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.third:
            self.third = _free_mgmt_net()

    def add(self, role: str) -> Namespace:
        index = len(self.namespaces) + 1
        name = f"{NS_PREFIX}{self.tag}-{role}"
        root_dev = f"q{self.tag}{role}"[:15]
        root_addr, addr = mgmt_addresses(self.third, index)
        _run_ip("netns", "add", name)
        ns = Namespace(role, name, index, root_dev, root_addr, addr)
        self.namespaces[role] = ns
        _run_ip("-n", name, "link", "set", "dev", "lo", "up")
        _run_ip("link", "add", root_dev, "type", "veth", "peer", "name", "mgmt", "netns", name)
        _run_ip("addr", "add", f"{root_addr}/30", "dev", root_dev)
        _run_ip("link", "set", "dev", root_dev, "up")
        _run_ip("-n", name, "addr", "add", f"{addr}/30", "dev", "mgmt")
        _run_ip("-n", name, "link", "set", "dev", "mgmt", "up")
        return ns

    def connect(self, a_role: str, b_role: str) -> Link:
        a, b = self.namespaces[a_role], self.namespaces[b_role]
        a_addr, b_addr = link_addresses(len(self.links) + 1)
        link = Link(a, b, a_addr, b_addr)
        _run_ip(
            "link",
            "add",
            link.a_dev,
            "netns",
            a.name,
            "type",
            "veth",
            "peer",
            "name",
            link.b_dev,
            "netns",
            b.name,
        )
        self.links[(a_role, b_role)] = link
        _run_ip("-n", a.name, "addr", "add", f"{a_addr}/30", "dev", link.a_dev)
        _run_ip("-n", b.name, "addr", "add", f"{b_addr}/30", "dev", link.b_dev)
        link.set(True)
        return link

    def set_links(self, pairs: Iterable[Pair], up: bool) -> None:
        for pair in pairs:
            if pair not in self.links:
                raise KeyError(f"no link {pair[0]}<->{pair[1]}; links: {sorted(self.links)}")
            self.links[pair].set(up)

    def exec_argv(self, role: str, argv: list[str]) -> list[str]:
        ip = _ip() or "ip"
        return [ip, "netns", "exec", self.namespaces[role].name, *argv]

    def close(self) -> None:
        for ns in reversed(list(self.namespaces.values())):
            _remove_namespace(ns.name)
            with contextlib.suppress(RuntimeError):  # gone with its peer already, normally
                _run_ip("link", "del", ns.root_dev)
        self.namespaces.clear()
        self.links.clear()


def _free_mgmt_net() -> int:
    used = _run_ip("-4", "-o", "addr", "show")
    start = os.getpid() % len(MGMT_THIRD_OCTETS)
    for k in range(len(MGMT_THIRD_OCTETS)):
        third = MGMT_THIRD_OCTETS[(start + k) % len(MGMT_THIRD_OCTETS)]
        if f" {LINK_NET}.{third}." not in used:
            return third
    raise RuntimeError("every management network 10.77.200..249.0/24 is in use in the root namespace")


# ---- the topology: processes on the fabric ----------------------------------------------------


def _python() -> str:
    venv = devnet.ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@dataclass
class Topology:
    fabric: Fabric
    run_dir: Path
    procs: devnet.Processes
    deployment: Deployment
    configs: dict[int, Path]
    nodes: dict[int, devnet.Process]
    proxies: dict[int, Path]  # member -> its delay proxy's control socket
    n: int
    t: int
    brokers: tuple[str, ...]  # b1, b2, ...: the names the members give them too
    network: str = "devnet"

    @property
    def members(self) -> list[str]:
        return [member_role(i) for i in sorted(self.configs)]

    def address(self, role: str) -> str:
        """A namespace's management address (reachable from the harness only)."""
        return self.fabric.namespaces[role].addr

    def chain_url(self, role: str) -> str:
        return f"http://{self.address(role)}:{ANVIL_PORT}"

    # ---- partitions and latency ---------------------------------------------------------

    def down(self, pairs: Iterable[Pair]) -> None:
        self.fabric.set_links(pairs, up=False)

    def up(self, pairs: Iterable[Pair]) -> None:
        self.fabric.set_links(pairs, up=True)

    def heal(self) -> None:
        """Every link up again."""
        self.fabric.set_links([p for p, link in self.fabric.links.items() if not link.up], up=True)

    @contextlib.contextmanager
    def partitioned(self, pairs: Iterable[Pair]) -> Iterator[None]:
        """These links down while the block runs, up again however it ends."""
        pairs = list(pairs)
        self.down(pairs)
        try:
            yield
        finally:
            self.up(pairs)

    def set_delay(self, seconds: float, routes: Iterable[str] | None = None) -> None:
        """Every member's one-way delay to the brokers and chains `routes` (role names: b1, c, ...;
        all when None), in both directions."""
        names = list(routes or [])
        for member, sock in self.proxies.items():
            reply = delay_proxy.request(sock, " ".join(["delay", f"{seconds}", *names]))
            if "error" in reply:
                raise RuntimeError(f"member {member}'s delay proxy: {reply['error']}")

    def proxy_stats(self, member: int) -> dict[str, Any]:
        return delay_proxy.request(self.proxies[member], "stats")

    # ---- looking in ----------------------------------------------------------------------

    def metrics_text(self, member: int) -> str:
        url = f"http://{self.address(member_role(member))}:{METRICS_PORT}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample from a member's /metrics, None if absent."""
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.metrics_text(member)):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    return float(sample.value)
        return None

    def reaches(self, member: int, broker_name: str) -> bool:
        """Whether the member says it is connected to that broker (`qiao_broker_connected`)."""
        with contextlib.suppress(OSError):
            return self.metric(member, "qiao_broker_connected", {"broker": broker_name}) == 1
        return False

    def run_in(self, role: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside a namespace (a check from a member's point of view)."""
        return subprocess.run(
            self.fabric.exec_argv(role, argv), capture_output=True, text=True, timeout=timeout, check=False
        )


def _wait_listening(host: str, port: int, what: str, timeout: float = 30) -> None:
    import socket

    def listening() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    devnet.wait_until(listening, timeout, what)


@contextlib.contextmanager
def topology(
    run_dir: Path,
    *,
    n: int = 4,
    t: int = 3,
    brokers: int = 2,
    block_time: float = 1.0,
    network: str = "devnet",
    node_options: dict[str, Any] | None = None,
    delay: float = 0.0,
) -> Iterator[Topology]:
    """Build the namespaces and links, start the chains, the brokers (production configuration:
    TLS, one credential per member, each its own CA), each member's delay proxy (one-way `delay`
    to start with), run the DKG over b1, deploy the contracts, start the n members; everything is
    removed when the block exits."""
    if unavailable_reason := unavailable():
        raise RuntimeError(f"the namespace topology cannot run here: {unavailable_reason}")
    sweep_stale()
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir.resolve()
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    procs = devnet.Processes()
    fabric = Fabric()
    members = [member_role(i) for i in range(1, n + 1)]
    broker_names = tuple(broker_role(j) for j in range(1, brokers + 1))
    try:
        for role in [*CHAINS, *broker_names, *members]:
            fabric.add(role)
        for m in members:
            for other in [*broker_names, *CHAINS]:
                fabric.connect(m, other)

        urls = {}
        for role, (name, chain_id) in CHAINS.items():
            # every address of its own namespace: the members' links and the management link
            argv = [devnet.tool("anvil"), "--host", "0.0.0.0", "--port", str(ANVIL_PORT)]  # noqa: S104
            argv += ["--chain-id", str(chain_id), "--mnemonic", MNEMONIC, "--accounts", "12"]
            argv += ["--silent", "--block-time", str(block_time)]
            procs.start(f"anvil-{name}", fabric.exec_argv(role, argv), logs)
            urls[role] = f"http://{fabric.namespaces[role].addr}:{ANVIL_PORT}"
        for role, (name, chain_id) in CHAINS.items():
            w3 = Web3(HTTPProvider(urls[role]))
            devnet.wait_until(
                functools.partial(lambda w, c: w.eth.chain_id == c, w3, chain_id),
                30,
                f"anvil {name} at {urls[role]}",
            )

        everyone = list(range(1, n + 1))
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        files: dict[str, broker.BrokerFiles] = {}
        for b in broker_names:
            ns = fabric.namespaces[b]
            files[b] = broker.prepare(
                run_dir / b,
                network,
                everyone,
                BROKER_TLS_PORT,
                tooling_port=BROKER_TOOLING_PORT,
                host="0.0.0.0",  # noqa: S104  # its namespace's addresses: the members' links
                tooling_host=ns.addr,
            )
            procs.start(b, fabric.exec_argv(b, [binary, "-c", str(files[b].conf)]), logs)
        for b in broker_names:
            addr = fabric.namespaces[b].addr
            _wait_listening(addr, BROKER_TLS_PORT, f"broker {b} (TLS) at {addr}")
            _wait_listening(addr, BROKER_TOOLING_PORT, f"broker {b} (tooling) at {addr}")

        proxies: dict[int, Path] = {}
        for i in everyone:
            m = member_role(i)
            routes = []
            for j, b in enumerate(broker_names, start=1):
                target = fabric.links[(m, b)].b_addr
                routes.append(f"{b}=127.0.0.1:{PROXY_BROKER_BASE + j}={target}:{BROKER_TLS_PORT}")
            for role, port in PROXY_CHAIN_PORTS.items():
                routes.append(f"{role}=127.0.0.1:{port}={fabric.links[(m, role)].b_addr}:{ANVIL_PORT}")
            control = run_dir / f"proxy-{m}.sock"
            argv = [_python(), "-m", "harness.delay_proxy", "--control", str(control), "--delay", str(delay)]
            for r in routes:
                argv += ["--route", r]
            procs.start(f"proxy-{m}", fabric.exec_argv(m, argv), logs)
            proxies[i] = control
        for i, control in proxies.items():
            devnet.wait_until(
                functools.partial(lambda c: "error" not in delay_proxy.request(c, "stats"), control),
                30,
                f"member {i}'s delay proxy on {control}",
            )

        group_key, key_files, public_path = devnet.write_committee(
            run_dir,
            n,
            t,
            mqtt_port=BROKER_TOOLING_PORT,
            mqtt_host=fabric.namespaces[broker_names[0]].addr,
            network=network,
        )
        dep = devnet.deploy_bridge(urls["c"], urls["e"], group_key)
        configs = {}
        for i in everyone:
            tables = []
            for j, b in enumerate(broker_names, start=1):
                user = broker.username(i)
                credential = (
                    f'username = "{user}"\npassword_file = "{files[b].passwords[user]}"\n'
                    f'tls_ca_file = "{files[b].ca}"'
                )
                tables.append(devnet._broker_table(b, PROXY_BROKER_BASE + j, credential))
            configs[i] = devnet.write_node_config(
                run_dir,
                i,
                dep,
                0,
                public_path,
                key_files[i - 1],
                network=network,
                metrics_port=METRICS_PORT,
                metrics_host=fabric.namespaces[member_role(i)].addr,
                consortium_rpc=f'"http://127.0.0.1:{PROXY_CHAIN_PORTS["c"]}"',
                ethereum_rpc=f'"http://127.0.0.1:{PROXY_CHAIN_PORTS["e"]}"',
                mqtt_brokers="\n".join(tables),
                **(node_options or {}),
            )
        nodes = {}
        for i in everyone:
            argv = [_python(), "-m", "relayer.cli", "run", "--config", str(configs[i])]
            nodes[i] = procs.start(f"member-{i}", fabric.exec_argv(member_role(i), argv), logs)
        topo = Topology(fabric, run_dir, procs, dep, configs, nodes, proxies, n, t, broker_names, network)
        wait_members(topo, 120)
        yield topo
    finally:
        stop_together(procs)
        fabric.close()


def stop_together(procs: devnet.Processes, timeout: float = 15.0) -> None:
    """Stop the members all at once (SIGTERM: they finish their current step while their proxies,
    brokers and chains still answer), then their delay proxies, then the brokers and chains; what
    is still running `timeout` after its SIGTERM is killed."""
    groups = (
        [p for p in procs.items if p.name.startswith("member-")],
        [p for p in procs.items if p.name.startswith("proxy-")],
        [p for p in procs.items if not p.name.startswith(("member-", "proxy-"))],
    )
    for group in groups:
        for proc in group:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        for proc in group:
            proc.wait_stopped(timeout)


def wait_members(topo: Topology, timeout: float) -> None:
    """Until every member reaches every broker; a member that exits meanwhile raises RuntimeError
    with the end of its log (a configuration it refused says why there)."""
    deadline = time.monotonic() + timeout
    waiting = set(topo.nodes)
    while waiting:
        for i in sorted(waiting):
            proc = topo.nodes[i]
            if proc.popen.poll() is not None:
                tail = "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(
                    f"member {i} exited with {proc.popen.returncode}; the end of {proc.log_path}:\n{tail}"
                )
            if all(topo.reaches(i, b) for b in topo.brokers):
                waiting.discard(i)
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for members {sorted(waiting)} to reach every broker"
            )
        time.sleep(0.2)


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> float:
    """`devnet.wait_until`, returning how long it took."""
    start = time.monotonic()
    devnet.wait_until(condition, timeout, what, interval)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.netns`: build the topology, print where everything is, keep it running
    until Ctrl-C or SIGTERM, then remove it."""
    import argparse
    import tempfile

    p = argparse.ArgumentParser(prog="harness.netns", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--threshold", type=int, default=3)
    p.add_argument("--brokers", type=int, default=2)
    p.add_argument("--delay", type=float, default=0.0, help="one-way delay to brokers and chains, seconds")
    p.add_argument("--run-dir", type=Path, help="configs, keys, stores and logs (default: a temp dir)")
    args = p.parse_args(argv)
    if reason := unavailable():
        print(f"harness.netns: {reason}", file=sys.stderr)
        return 2
    own_dir = args.run_dir is None  # a temporary one is removed at exit, keys and all
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="qiao-netns-"))

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        with topology(
            run_dir, n=args.members, t=args.threshold, brokers=args.brokers, delay=args.delay
        ) as topo:
            for role, ns in topo.fabric.namespaces.items():
                print(f"{role:>3}: namespace {ns.name}, management address {ns.addr}")
            print(f"chains: consortium {topo.chain_url('c')}, ethereum {topo.chain_url('e')}")
            for i in sorted(topo.configs):
                print(f"member {i}: config {topo.configs[i]}, delay proxy control {topo.proxies[i]}")
            print(
                f"logs in {run_dir / 'logs'}; partition with `ip -n <namespace> link set dev to-<peer> down`"
            )
            print("running; Ctrl-C or SIGTERM removes it", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print("harness.netns: stopped, namespaces removed", file=sys.stderr)
    finally:
        if own_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
