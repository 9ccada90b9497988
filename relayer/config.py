"""Node configuration: a TOML file (data only), overridden by environment variables.

Layering: the TOML file, then `QIAO_<SECTION>__<KEY>` environment variables (for example
`QIAO_CHAINS__ETHEREUM__RPC` overrides `[chains.ethereum] rpc`). Secrets never live in the TOML:
the file names secret *files* (`key_file`, `account_key_file`). Validation runs as a second step
and reports every error with its path and the fix, so one start-up shows everything wrong.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_utils.address import is_checksum_address, to_checksum_address

from relayer.core.batching import BatchRule
from relayer.core.types import BROKER_NAME, MAX_BROKERS, ChainId, Route

ENV_PREFIX = "QIAO_"


class ConfigError(Exception):
    """The configuration is invalid; `errors` lists every problem, one line each.

    Each error names the key, its value and the fix on one line; the message puts the source in
    front of every line (`node.toml: committee.window_blcks = 4: unknown key; did you mean ...`),
    so the first line of the output already says what to change."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        lines = [f"{source}: {e}" for e in errors]
        if len(errors) > 1:
            lines.append(f"{source}: {len(errors)} configuration errors")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class ChainConfig:
    name: str
    chain_id: ChainId
    rpc: str
    endpoint: str  # the QiaoVault / QiaoGateway address on this chain
    finality_depth: int
    start_block: int
    poll_interval: float
    max_block_range: int
    rpcs: tuple[str, ...] = ()  # every endpoint, `rpc` first; fallback in this order
    finality: str = "depth"  # "depth" (finality_depth blocks; 0 = instant) or "finalized" (the tag)
    quorum: int = 1  # endpoints that must return identical logs before they are stored
    rpc_timeout: float = 10.0
    stall_after: float = 60.0  # an endpoint whose head does not move for this long is stalled
    # the node's WebSocket endpoint: new heads pushed by eth_subscribe wake the watcher at once
    # (a wake-up only: what is read and stored still comes from `rpcs`); None: poll only
    ws: str | None = None

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self.rpcs or (self.rpc,)


@dataclass(frozen=True, slots=True)
class NextKeyConfig:
    """`[committee.next]`: the next key epoch's committee file and this member's share of it, from
    the DKG the members ran for a key rotation (docs/OPERATIONS.md, "Rotating the committee key").
    Loaded beside the current key, so the node switches to it live when an endpoint installs it."""

    public_file: Path
    key_file: Path | None = None
    keystore_file: Path | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class CommitteeConfig:
    public_file: Path
    key_file: Path | None  # None: this node relays only and holds no share
    rule: BatchRule
    republish_interval: float
    # the share in an EIP-2335 keystore (committee.keystore); its password from password_file or,
    # unset, the systemd credential qiao-keystore-password
    keystore_file: Path | None = None
    password_file: Path | None = None
    next: NextKeyConfig | None = None


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """One MQTT broker a member connects to: its address, TLS and this member's credential there.
    `name` labels its metric and heartbeat entry (the same broker should carry the same name on
    every member: `qiao_broker_connected{broker=...}`)."""

    name: str
    host: str
    port: int
    username: str | None = None
    password_file: Path | None = None
    tls_ca_file: Path | None = None  # set: connect over TLS and verify the broker against this CA


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """`[mqtt]`: the topic namespace and the brokers. One broker (`host`, `port`, `username`,
    `password_file`, `tls_ca_file` in `[mqtt]` itself, the original form) or several
    (`[[mqtt.brokers]]`, each with its own address, TLS and credential): a member publishes to
    every one and keeps the first copy of each message (docs/PROTOCOL.md, "Brokers")."""

    host: str  # with `brokers`: the first broker's
    port: int
    network: str
    username: str | None
    password_file: Path | None
    tls_ca_file: Path | None = None  # set: connect over TLS and verify the broker against this CA
    brokers: tuple[BrokerConfig, ...] = ()  # [[mqtt.brokers]]; empty: the one broker above
    min_brokers: int = 1  # fewer brokers reached than this: qiao_broker_min_connected alerts

    @property
    def endpoints(self) -> tuple[BrokerConfig, ...]:
        """Every broker, in the configured order (the single-broker form as one named host:port)."""
        if self.brokers:
            return self.brokers
        name = f"{self.host}:{self.port}"
        credential = (self.username, self.password_file, self.tls_ca_file)
        return (BrokerConfig(name, self.host, self.port, *credential),)


@dataclass(frozen=True, slots=True)
class RelayerConfig:
    enabled: bool
    account_key_file: Path | None
    stagger_seconds: float
    max_fee_gwei: float
    priority_fee_gwei: float
    receipt_timeout: float  # how long a sent transaction may stay unmined before it is replaced
    fee_bump_percent: int = 25  # each replacement raises both fees by at least this much
    low_balance_eth: float = 0.1  # below this the submitting account is reported as low


@dataclass(frozen=True, slots=True)
class ActionsConfig:
    """Committee actions (relayer.core.items): whose KYC registry decisions are carried to which
    gateways with no operator step, and how long an operator's proposal stays open."""

    registry_from: str | None = None  # the chain (name) whose registry is the source of truth
    registry_to: tuple[str, ...] = ()  # the chains whose gateway follows it
    proposal_ttl: float = 3600.0
    # the issuer's register of record (IssuerRegistry) on registry_from: its decisions (freezes,
    # forced transfers, recovery, the asset's status and NAV) are carried to registry_to too
    issuer_registry: str | None = None
    nav_max_age: float = 2 * 86400.0  # a NAV older than this (seconds) is reported stale


@dataclass(frozen=True, slots=True)
class NodeConfig:
    source: str
    member_index: int
    data_dir: Path
    log_level: str
    metrics_host: str
    metrics_port: int
    committee: CommitteeConfig
    mqtt: MqttConfig
    relayer: RelayerConfig
    chains: dict[str, ChainConfig]
    routes: tuple[Route, ...]
    actions: ActionsConfig = ActionsConfig()

    @property
    def store_path(self) -> Path:
        return self.data_dir / "qiao.sqlite3"

    def chain_by_id(self, chain_id: int) -> ChainConfig:
        for chain in self.chains.values():
            if chain.chain_id == chain_id:
                return chain
        raise KeyError(chain_id)


def _env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        node: dict[str, Any] = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


class _Reader:
    """Reads typed values from the raw mapping, collecting errors instead of stopping."""

    def __init__(self, base_dir: Path) -> None:
        self.errors: list[str] = []
        self.base_dir = base_dir
        # every table read, by id: (its dotted path, the table, the keys this parser knows in it)
        self._tables: dict[int, tuple[str, Mapping[str, Any], set[str]]] = {}

    def known(self, table: Mapping[str, Any], path: str) -> None:
        """`path`'s last part is a key this parser reads from `table` (present or not)."""
        prefix, _, key = path.rpartition(".")
        entry = self._tables.setdefault(id(table), (prefix, table, set()))
        entry[2].add(key)

    def unknown_keys(self) -> list[str]:
        """Every key of a table read that this parser never asked for: a misspelling or a key of
        another version. Names the key, its value and the closest known key."""
        problems = []
        for prefix, table, known in self._tables.values():
            for key in table:
                if key in known:
                    continue
                path = f"{prefix}.{key}" if prefix else key
                value = table[key]
                shown = f"[{path}]" if isinstance(value, dict) else f"{path} = {_short(value)}"
                close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
                hint = (
                    f"did you mean {prefix + '.' if prefix else ''}{close[0]}?"
                    if close
                    else f"remove it; known here: {', '.join(sorted(known))}"
                )
                problems.append(f"{shown}: unknown key; {hint}")
        return problems

    def _env_name(self, path: str) -> str:
        return ENV_PREFIX + path.upper().replace(".", "__")

    def get(
        self,
        table: Mapping[str, Any],
        path: str,
        kind: type,
        default: Any = ...,
        *,
        required: bool = True,
    ) -> Any:
        key = path.rsplit(".", 1)[-1]
        self.known(table, path)
        if key not in table:
            if default is not ...:
                return default
            if required:
                # an entry of a list ([[routes]], [[mqtt.brokers]]) has no environment variable
                where = "" if "[" in path else f" or {self._env_name(path)}"
                self.errors.append(f"{path}: missing; set it{where}")
            return None
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.errors.append(f"{path}: expected {kind.__name__}, got {type(value).__name__} ({value!r})")
            return None
        return value

    def path(self, table: Mapping[str, Any], path: str, *, required: bool = True) -> Path | None:
        value = self.get(table, path, str, None if not required else ..., required=required)
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else (self.base_dir / p)

    def table(self, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
        self.known(raw, path)
        value = raw.get(path.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            self.errors.append(f"{path}: expected a table, got {type(value).__name__}")
            return {}
        return value


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def address_problem(value: str) -> str | None:
    """Why `value` is not a usable address, or None. All-lowercase (or all-uppercase) hex carries
    no checksum and is accepted; mixed case is an EIP-55 checksum and must be right, so a mistyped
    character is caught instead of pointing the node at the wrong contract."""
    if not _ADDRESS.fullmatch(value):
        return "is not an address (0x + 40 hex digits)"
    digits = value[2:]
    if digits in (digits.lower(), digits.upper()) or is_checksum_address(value):
        return None
    return (
        "fails its EIP-55 checksum (a mistyped character?); copy the address again from the deployment file"
    )


def ws_url_problem(value: str) -> str | None:
    """Why `value` is not a usable WebSocket URL for a chain's `ws`, or None."""
    fix = (
        "; give the node's WebSocket endpoint (anvil and geth serve it, e.g. ws://127.0.0.1:8545 or "
        "wss://host/path), or remove ws to poll only"
    )
    try:
        url = urlsplit(value)
        port = url.port  # a port that is not a number raises here
    except ValueError as exc:
        return f"is not a URL ({exc}){fix}"
    if url.scheme not in ("ws", "wss"):
        return f"must be a ws:// or wss:// URL, not {url.scheme or 'scheme-less'}{fix}"
    if not url.hostname:
        return f"has no host{fix}"
    if port == 0:
        return f"has port 0{fix}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Load and validate a node configuration, raising `ConfigError` with every problem."""
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
    _env_overrides(raw, os.environ if environ is None else environ)
    return parse_config(raw, source, path.parent)


def parse_config(raw: dict[str, Any], source: str, base_dir: Path) -> NodeConfig:
    r = _Reader(base_dir)
    node = r.table(raw, "node")
    member_index = r.get(node, "node.member_index", int)
    if isinstance(member_index, int) and member_index < 1:
        r.errors.append(f"node.member_index: {member_index} must be >= 1 (members count from 1)")
    data_dir = r.path(node, "node.data_dir")
    log_level = r.get(node, "node.log_level", str, "info")
    if isinstance(log_level, str) and log_level not in {"debug", "info", "warning", "error"}:
        r.errors.append(f"node.log_level: {log_level!r} is not one of debug, info, warning, error")

    metrics = r.table(raw, "metrics")
    metrics_host = r.get(metrics, "metrics.host", str, "127.0.0.1")
    metrics_port = r.get(metrics, "metrics.port", int, 0)
    if isinstance(metrics_port, int) and not 0 <= metrics_port <= 65535:
        r.errors.append(f"metrics.port: {metrics_port} is not a TCP port (0 disables metrics)")

    comm = r.table(raw, "committee")
    public_file = r.path(comm, "committee.public_file")
    key_file = r.path(comm, "committee.key_file", required=False)
    keystore_file = r.path(comm, "committee.keystore_file", required=False)
    keystore_password_file = r.path(comm, "committee.password_file", required=False)
    if key_file is not None and keystore_file is not None:
        r.errors.append("committee: set key_file or keystore_file, not both")
    next_key: NextKeyConfig | None = None
    if "next" in comm:
        nxt = r.table(comm, "committee.next")
        next_public = r.path(nxt, "committee.next.public_file")
        next_key_file = r.path(nxt, "committee.next.key_file", required=False)
        next_keystore = r.path(nxt, "committee.next.keystore_file", required=False)
        next_password = r.path(nxt, "committee.next.password_file", required=False)
        if next_key_file is not None and next_keystore is not None:
            r.errors.append("committee.next: set key_file or keystore_file, not both")
        if (next_key_file is None and next_keystore is None) != (key_file is None and keystore_file is None):
            r.errors.append(
                "committee.next: a member holds a share of both keys or of neither; set "
                "committee.next.key_file (or keystore_file) beside committee.key_file, or remove both"
            )
        if next_public is not None:
            next_key = NextKeyConfig(next_public, next_key_file, next_keystore, next_password)
    window_blocks = r.get(comm, "committee.window_blocks", int, 4)
    max_batch = r.get(comm, "committee.max_batch", int, 100)
    republish = r.get(comm, "committee.republish_interval", float, 5.0)
    rule: BatchRule | None = None
    if isinstance(window_blocks, int) and isinstance(max_batch, int):
        try:
            rule = BatchRule(window_blocks=window_blocks, max_batch=max_batch)
        except ValueError as exc:
            r.errors.append(f"committee: {exc}")

    mqtt = r.table(raw, "mqtt")
    network = r.get(mqtt, "mqtt.network", str)
    if isinstance(network, str) and (not network or any(c in network for c in "/#+ ")):
        r.errors.append(f"mqtt.network: {network!r} must be non-empty without '/', '#', '+' or spaces")
    brokers = _brokers(r, mqtt)

    rel = r.table(raw, "relayer")
    enabled = r.get(rel, "relayer.enabled", bool, False)
    account_key_file = r.path(rel, "relayer.account_key_file", required=False)
    if enabled is True and account_key_file is None:
        r.errors.append(
            "relayer.account_key_file: missing while relayer.enabled = true; point it at a file "
            "holding the submitting account's private key (0x-hex)"
        )
    stagger = r.get(rel, "relayer.stagger_seconds", float, 3.0)
    max_fee = r.get(rel, "relayer.max_fee_gwei", float, 200.0)
    prio_fee = r.get(rel, "relayer.priority_fee_gwei", float, 1.0)
    receipt_timeout = r.get(rel, "relayer.receipt_timeout", float, 60.0)
    fee_bump = r.get(rel, "relayer.fee_bump_percent", int, 25)
    if isinstance(fee_bump, int) and not 10 <= fee_bump <= 500:
        r.errors.append(f"relayer.fee_bump_percent: {fee_bump} must be in 10..500 (nodes refuse < 10%)")
    low_balance = r.get(rel, "relayer.low_balance_eth", float, 0.1)

    chains: dict[str, ChainConfig] = {}
    for name, table in r.table(raw, "chains").items():  # chain names are the operator's
        p = f"chains.{name}"
        if not isinstance(table, dict):
            r.errors.append(f"{p}: expected a table")
            continue
        chain_id = r.get(table, f"{p}.chain_id", int)
        if isinstance(chain_id, int) and chain_id <= 0:
            r.errors.append(f"{p}.chain_id: {chain_id} must be positive")
        r.known(table, f"{p}.rpc")
        raw_rpc = table.get("rpc")
        rpcs: tuple[str, ...] = ()
        if isinstance(raw_rpc, list):
            rpcs = tuple(u for u in raw_rpc if isinstance(u, str))
            if len(rpcs) != len(raw_rpc) or not rpcs:
                r.errors.append(f"{p}.rpc: expected a URL or a non-empty list of URLs")
            rpc = rpcs[0] if rpcs else None
        else:
            rpc = r.get(table, f"{p}.rpc", str)
            rpcs = (rpc,) if isinstance(rpc, str) else ()
        for url in rpcs:
            if not url.startswith(("http://", "https://")):
                r.errors.append(f"{p}.rpc: {url!r} must be an http(s) URL")
        ws = r.get(table, f"{p}.ws", str, None)
        if isinstance(ws, str):
            problem = ws_url_problem(ws)
            if problem is not None:
                r.errors.append(f"{p}.ws: {ws!r} {problem}")
        finality = r.get(table, f"{p}.finality", str, "depth")
        if isinstance(finality, str) and finality not in {"depth", "instant", "finalized"}:
            r.errors.append(f"{p}.finality: {finality!r} must be depth, instant or finalized")
        quorum = r.get(table, f"{p}.quorum", int, 1)
        if isinstance(quorum, int) and not 1 <= quorum <= max(1, len(rpcs)):
            r.errors.append(f"{p}.quorum: {quorum} must be between 1 and the number of rpc endpoints")
        rpc_timeout = r.get(table, f"{p}.rpc_timeout", float, 10.0)
        stall_after = r.get(table, f"{p}.stall_after", float, 60.0)
        endpoint = r.get(table, f"{p}.endpoint", str)
        if isinstance(endpoint, str):
            problem = address_problem(endpoint)
            if problem is not None:
                r.errors.append(f"{p}.endpoint: {endpoint!r} {problem}")
                endpoint = None
            else:
                endpoint = to_checksum_address(endpoint)
        depth = r.get(table, f"{p}.finality_depth", int, 0)
        if isinstance(depth, int) and depth < 0:
            r.errors.append(f"{p}.finality_depth: {depth} must be >= 0 (0 = instant finality)")
        start = r.get(table, f"{p}.start_block", int, 0)
        if isinstance(start, int) and start < 0:
            r.errors.append(f"{p}.start_block: {start} must be >= 0")
        poll = r.get(table, f"{p}.poll_interval", float, 1.0)
        if isinstance(poll, float) and poll <= 0:
            r.errors.append(f"{p}.poll_interval: {poll} must be > 0 seconds")
        max_range = r.get(table, f"{p}.max_block_range", int, 500)
        if finality == "instant" and isinstance(depth, int) and depth != 0:
            r.errors.append(f"{p}.finality_depth: must be 0 (or absent) with finality = instant")
        values = (chain_id, rpc, endpoint, depth, start, poll, max_range, finality, quorum, rpc_timeout)
        if None not in values and stall_after is not None and rpc is not None:
            chains[name] = ChainConfig(
                name=name,
                chain_id=ChainId(chain_id),
                rpc=rpc,
                endpoint=endpoint,
                finality_depth=depth,
                start_block=start,
                poll_interval=poll,
                max_block_range=max_range,
                rpcs=rpcs,
                finality="depth" if finality == "instant" else finality,
                quorum=quorum,
                rpc_timeout=rpc_timeout,
                stall_after=stall_after,
                ws=ws,
            )
    if not raw.get("chains"):
        r.errors.append("chains: no chain configured; add [chains.<name>] tables")
    ids = [c.chain_id for c in chains.values()]
    if len(ids) != len(set(ids)):
        r.errors.append(f"chains: chain ids must be distinct, got {sorted(ids)}")

    routes: list[Route] = []
    r.known(raw, "routes")
    raw_routes = raw.get("routes", [])
    if not isinstance(raw_routes, list) or not raw_routes:
        r.errors.append('routes: missing; add [[routes]] tables with src = "<chain>", dst = "<chain>"')
        raw_routes = []
    for i, item in enumerate(raw_routes):
        p = f"routes[{i}]"
        if not isinstance(item, dict):
            r.errors.append(f"{p}: expected a table with src and dst")
            continue
        src = r.get(item, f"{p}.src", str)
        dst = r.get(item, f"{p}.dst", str)
        for end, name in (("src", src), ("dst", dst)):
            if isinstance(name, str) and name not in raw.get("chains", {}):
                r.errors.append(f"{p}.{end}: unknown chain {name!r}; define [chains.{name}]")
        if src in chains and dst in chains:
            try:
                routes.append(Route(chains[src].chain_id, chains[dst].chain_id))
            except ValueError as exc:
                r.errors.append(f"{p}: {exc}")

    actions = _actions(r, raw, chains)
    r.errors = r.unknown_keys() + r.errors  # a misspelled key explains the errors after it
    if r.errors:
        raise ConfigError(source, r.errors)
    assert data_dir is not None
    assert public_file is not None
    assert rule is not None
    return NodeConfig(
        source=source,
        member_index=member_index,
        data_dir=data_dir,
        log_level=log_level,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        committee=CommitteeConfig(
            public_file=public_file,
            key_file=key_file,
            rule=rule,
            republish_interval=republish,
            keystore_file=keystore_file,
            password_file=keystore_password_file,
            next=next_key,
        ),
        mqtt=_mqtt_config(network, brokers),
        relayer=RelayerConfig(
            enabled=enabled,
            account_key_file=account_key_file,
            stagger_seconds=stagger,
            max_fee_gwei=max_fee,
            priority_fee_gwei=prio_fee,
            receipt_timeout=receipt_timeout,
            fee_bump_percent=fee_bump,
            low_balance_eth=low_balance,
        ),
        chains=chains,
        routes=tuple(routes),
        actions=actions,
    )


_SINGLE_BROKER_KEYS = ("host", "port", "username", "password_file", "tls_ca_file")


def _broker(r: _Reader, table: Mapping[str, Any], p: str, name: Any) -> BrokerConfig | None:
    """One broker's address, TLS and credential from `table` (the `[mqtt]` table itself in the
    single-broker form, or one `[[mqtt.brokers]]` entry), its errors under the path `p`."""
    host = r.get(table, f"{p}.host", str, "127.0.0.1" if p == "mqtt" else ...)
    if isinstance(host, str) and (not host or any(c.isspace() or c == "/" for c in host)):
        r.errors.append(f"{p}.host: {host!r} is not a host name or address")
        host = None
    port = r.get(table, f"{p}.port", int, 1883)
    if isinstance(port, int) and not 1 <= port <= 65535:
        r.errors.append(f"{p}.port: {port} is not a TCP port")
        port = None
    username = r.get(table, f"{p}.username", str, None)
    password_file = r.path(table, f"{p}.password_file", required=False)
    tls_ca_file = r.path(table, f"{p}.tls_ca_file", required=False)
    if name is None and isinstance(host, str) and isinstance(port, int):
        name = f"{host}:{port}"
    if not isinstance(host, str) or not isinstance(port, int) or not isinstance(name, str):
        return None
    return BrokerConfig(name, host, port, username, password_file, tls_ca_file)


def _brokers(r: _Reader, mqtt: Mapping[str, Any]) -> tuple[list[BrokerConfig], int | None, bool]:
    """The brokers of `[mqtt]` (one in `[mqtt]` itself, or a list in `[[mqtt.brokers]]`) and how
    many a member must reach before it alerts (`mqtt.min_brokers`, default: every one listed), and
    whether they came as a list."""
    r.known(mqtt, "mqtt.brokers")
    raw = mqtt.get("brokers")
    brokers: list[BrokerConfig] = []
    if raw is None:
        single = _broker(r, mqtt, "mqtt", None)
        brokers = [single] if single is not None else []
        count = 1
    else:
        count = len(raw) if isinstance(raw, list) else 0
        both = [k for k in _SINGLE_BROKER_KEYS if k in mqtt]
        if both:
            r.errors.append(
                f"mqtt.{both[0]}: set in [mqtt] beside [[mqtt.brokers]]; a broker's {', '.join(both)} go "
                "in its own [[mqtt.brokers]] entry (remove them from [mqtt])"
            )
            for key in both:  # reported once, above
                r.known(mqtt, f"mqtt.{key}")
        if not isinstance(raw, list) or not raw or not all(isinstance(b, dict) for b in raw):
            r.errors.append(
                'mqtt.brokers: expected [[mqtt.brokers]] tables, each with name = "...", host = "...", '
                "port = ...; or remove it and set mqtt.host / mqtt.port for one broker"
            )
            raw = []
        if len(raw) > MAX_BROKERS:
            r.errors.append(f"mqtt.brokers: {len(raw)} brokers; at most {MAX_BROKERS}")
        names: dict[str, int] = {}
        for i, table in enumerate(raw):
            p = f"mqtt.brokers[{i}]"
            name = r.get(table, f"{p}.name", str, None)
            if isinstance(name, str) and not BROKER_NAME.fullmatch(name):
                r.errors.append(
                    f"{p}.name: {name!r} must be 1-64 letters, digits, '.', '_', ':' or '-' (it labels "
                    "qiao_broker_connected and the heartbeats)"
                )
                continue
            broker = _broker(r, table, p, name)
            if broker is None:
                continue
            if not BROKER_NAME.fullmatch(broker.name):
                r.errors.append(f'{p}: its default name {broker.name!r} is not usable; set name = "..."')
                continue
            if broker.name in names:
                r.errors.append(
                    f"{p}.name: {broker.name!r} is also mqtt.brokers[{names[broker.name]}]'s name; give "
                    "each broker its own name"
                )
                continue
            address = (broker.host, broker.port)
            same = next((j for j, b in enumerate(brokers) if (b.host, b.port) == address), None)
            if same is not None:
                r.errors.append(
                    f"{p}: {broker.host}:{broker.port} is also {brokers[same].name!r}'s address; list each "
                    "broker once"
                )
                continue
            names[broker.name] = i
            brokers.append(broker)
    minimum = r.get(mqtt, "mqtt.min_brokers", int, max(1, count))
    if isinstance(minimum, int) and not 1 <= minimum <= max(1, count):
        r.errors.append(
            f"mqtt.min_brokers: {minimum} must be between 1 and the number of brokers configured ({count})"
        )
        minimum = None
    return brokers, minimum, raw is not None


def _mqtt_config(network: str, brokers: tuple[list[BrokerConfig], int | None, bool]) -> MqttConfig:
    listed, minimum, as_list = brokers
    assert listed
    assert minimum is not None
    first = listed[0]
    return MqttConfig(
        host=first.host,
        port=first.port,
        network=network,
        username=first.username,
        password_file=first.password_file,
        tls_ca_file=first.tls_ca_file,
        brokers=tuple(listed) if as_list else (),
        min_brokers=minimum,
    )


def _actions(r: _Reader, raw: dict[str, Any], chains: Mapping[str, ChainConfig]) -> ActionsConfig:
    """The [actions] table: registry_from (a chain), registry_to (chains), proposal_ttl (seconds)."""
    r.known(raw, "actions")
    table = raw.get("actions", {})
    if not isinstance(table, dict):
        r.errors.append("actions: expected a table [actions]")
        return ActionsConfig()
    source = r.get(table, "actions.registry_from", str, None)
    r.known(table, "actions.registry_to")
    followers = table.get("registry_to", [])
    if not isinstance(followers, list) or not all(isinstance(f, str) for f in followers):
        r.errors.append('actions.registry_to: expected a list of chain names, e.g. ["ethereum"]')
        followers = []
    for name in [source, *followers]:
        if isinstance(name, str) and name not in chains and name not in raw.get("chains", {}):
            r.errors.append(f"actions: unknown chain {name!r}; define [chains.{name}]")
    if (source is None) != (not followers):
        r.errors.append("actions: set both registry_from and registry_to, or neither")
    if isinstance(source, str) and source in followers:
        r.errors.append(f"actions.registry_to: {source!r} cannot follow its own registry")
    ttl = r.get(table, "actions.proposal_ttl", float, 3600.0)
    if isinstance(ttl, float) and not 0 < ttl <= 7 * 24 * 3600:
        r.errors.append(f"actions.proposal_ttl: {ttl} must be between 0 and 604800 seconds (7 days)")
    issuer = r.get(table, "actions.issuer_registry", str, None)
    if isinstance(issuer, str):
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", issuer) or int(issuer, 16) == 0:
            r.errors.append(
                f"actions.issuer_registry: {issuer!r} is not a non-zero 0x address (the IssuerRegistry "
                "on registry_from; `relayer devnet deploy` writes it)"
            )
            issuer = None
        elif source is None:
            r.errors.append(
                "actions.issuer_registry: set registry_from and registry_to too (where it is, where to)"
            )
    nav_age = r.get(table, "actions.nav_max_age", float, 2 * 86400.0)
    if isinstance(nav_age, float) and not nav_age > 0:
        r.errors.append(f"actions.nav_max_age: {nav_age} must be a positive number of seconds")
    return ActionsConfig(
        source,
        tuple(followers),
        ttl if isinstance(ttl, float) else 3600.0,
        issuer if isinstance(issuer, str) else None,
        nav_age if isinstance(nav_age, float) and nav_age > 0 else 2 * 86400.0,
    )


def quorum_warnings(cfg: NodeConfig) -> list[str]:
    """Chains read with `quorum = 1` outside the devnet: one endpoint (or one node behind a
    load balancer) that serves another fork, or rewrites an amount while keeping the real block
    hash, is believed alone. Warned at start-up and by `config check`; not an error."""
    if cfg.mqtt.network == "devnet":
        return []
    return [
        f"chains.{name}: quorum = 1 on network {cfg.mqtt.network!r}: logs from one endpoint are "
        "signed over unchecked by any other; list independent providers in rpcs and set quorum >= 2 "
        "(docs/RELIABILITY.md, what the log checks cannot catch)"
        for name, chain in cfg.chains.items()
        if chain.quorum <= 1
    ]


def read_secret_file(path: Path, what: str) -> str:
    """Read a secret from a file that only its owner may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(str(path), [f"{what}: cannot read ({exc.strerror})"]) from exc
    if mode & 0o077:
        raise ConfigError(
            str(path),
            [f"{what}: readable by group or others (mode {mode & 0o777:o}); run: chmod 600 {path}"],
        )
    return path.read_text().strip()
