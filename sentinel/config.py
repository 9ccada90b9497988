"""The sentinel's configuration: a TOML file (data only; secrets live in the files it names).

Every error names the key, its value and the fix on one line (`sentinel.toml: chains.ethereum.rpcs =
['http://a']: one RPC; list two or more independent endpoints`), and all of them are reported at once.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import is_checksum_address

MIN_RPCS = 2
FINALITY_RULES = ("finalized", "depth")
CREDENTIAL_ENV = "CREDENTIALS_DIRECTORY"  # systemd's LoadCredential= directory


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one line per problem."""

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
    chain_id: int
    rpcs: tuple[str, ...]
    endpoint: str  # the QiaoVault / QiaoGateway on this chain
    finality: str  # "finalized" (the block tag) or "depth" (`confirmations` blocks below the head)
    confirmations: int
    start_block: int
    max_block_range: int
    rpc_timeout: float


@dataclass(frozen=True, slots=True)
class PairConfig:
    """A token pair whose supply is checked: the asset locked in `home_chain`'s vault, its wrapped
    token on `wrapped_chain`."""

    home_chain: str
    home_token: str
    wrapped_chain: str
    wrapped_token: str


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    name: str
    store: Path
    keystore_file: Path
    password_file: Path | None  # None: the systemd credential `password_credential`
    password_credential: str
    poll_interval: float
    act: bool  # false: observe and alert only, never send curse or veto
    supply_confirmations: int
    metrics_host: str
    metrics_port: int
    chains: dict[str, ChainConfig]
    pairs: tuple[PairConfig, ...]
    max_fee_gwei: float
    priority_fee_gwei: float

    def chain_by_id(self, chain_id: int) -> ChainConfig | None:
        return next((c for c in self.chains.values() if c.chain_id == chain_id), None)

    def password_path(self) -> Path:
        """The password file: `password_file`, or the systemd credential of that name."""
        if self.password_file is not None:
            return self.password_file
        directory = os.environ.get(CREDENTIAL_ENV)
        if not directory:
            raise ConfigError(
                "sentinel",
                [
                    f"sentinel.password_file unset and ${CREDENTIAL_ENV} unset: set password_file, or run "
                    f"under systemd with LoadCredential={self.password_credential}:<file>"
                ],
            )
        return Path(directory) / self.password_credential


class _Reader:
    """Collects errors while reading typed values out of the parsed TOML."""

    def __init__(self, base: Path) -> None:
        self.errors: list[str] = []
        self.base = base

    def get(
        self, table: dict[str, Any], path: str, key: str, kind: type, default: Any = ..., fix: str = ""
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in table:
            if default is ...:
                self.errors.append(f"{where}: missing; {fix or f'set it ({kind.__name__})'}")
                return None
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.errors.append(f"{where} = {value!r}: not a {kind.__name__}; {fix or 'give one'}")
            return None
        return value

    def path(self, value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else self.base / p

    def unknown(self, table: dict[str, Any], path: str, known: set[str]) -> None:
        for key in sorted(set(table) - known):
            self.errors.append(f"{path}.{key}: unknown key; the known ones are {', '.join(sorted(known))}")


def load(path: Path) -> SentinelConfig:
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            source, [f"cannot read the file: {exc.strerror}; give --config an existing file"]
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
    return parse(raw, source, path.parent)


def parse(raw: dict[str, Any], source: str, base: Path) -> SentinelConfig:
    r = _Reader(base)
    for key in sorted(set(raw) - {"sentinel", "metrics", "chains", "pairs"}):
        r.errors.append(f"{key}: unknown table; the known ones are sentinel, metrics, chains, pairs")
    s = raw.get("sentinel", {})
    m = raw.get("metrics", {})
    r.unknown(
        s,
        "sentinel",
        {
            "name",
            "store",
            "keystore_file",
            "password_file",
            "password_credential",
            "poll_interval",
            "act",
            "supply_confirmations",
            "max_fee_gwei",
            "priority_fee_gwei",
        },
    )
    r.unknown(m, "metrics", {"host", "port"})
    name = r.get(s, "sentinel", "name", str, fix='name this sentinel (its operator), e.g. "auditor-1"')
    store = r.path(r.get(s, "sentinel", "store", str, fix="give the SQLite file it keeps its state in"))
    keystore = r.path(r.get(s, "sentinel", "keystore_file", str, fix="give its encrypted JSON keystore"))
    password_file = r.path(r.get(s, "sentinel", "password_file", str, None))
    credential = r.get(s, "sentinel", "password_credential", str, "sentinel-password")
    poll = r.get(s, "sentinel", "poll_interval", float, 5.0)
    if poll is not None and not 0 < poll <= 3600:
        r.errors.append(f"sentinel.poll_interval = {poll}: must be in (0, 3600] seconds")
    act = r.get(s, "sentinel", "act", bool, True)
    confirmations = r.get(s, "sentinel", "supply_confirmations", int, 2)
    if confirmations is not None and confirmations < 1:
        r.errors.append(f"sentinel.supply_confirmations = {confirmations}: must be at least 1")
    max_fee = r.get(s, "sentinel", "max_fee_gwei", float, 500.0)
    tip = r.get(s, "sentinel", "priority_fee_gwei", float, 2.0)
    if max_fee is not None and tip is not None and not 0 < tip <= max_fee:
        r.errors.append(f"sentinel.priority_fee_gwei = {tip}: must be in (0, max_fee_gwei = {max_fee}]")
    host = r.get(m, "metrics", "host", str, "127.0.0.1")
    port = r.get(m, "metrics", "port", int, 9110)
    if port is not None and not 0 <= port <= 65535:
        r.errors.append(f"metrics.port = {port}: must be in 0..65535 (0: no metrics server)")

    chains: dict[str, ChainConfig] = {}
    raw_chains = raw.get("chains", {})
    if not isinstance(raw_chains, dict) or len(raw_chains) != 2:
        r.errors.append(
            f"chains: {len(raw_chains) if isinstance(raw_chains, dict) else raw_chains!r} chains; "
            "configure exactly two, [chains.<name>] for each end of the bridge"
        )
        raw_chains = raw_chains if isinstance(raw_chains, dict) else {}
    for cname, c in raw_chains.items():
        chain = _chain(r, cname, c)
        if chain is not None:
            chains[cname] = chain
    ids = [c.chain_id for c in chains.values()]
    if len(set(ids)) != len(ids):
        r.errors.append(f"chains: chain ids {ids} repeat; each chain has its own id")

    pairs: list[PairConfig] = []
    raw_pairs = raw.get("pairs", [])
    if not isinstance(raw_pairs, list):
        r.errors.append("pairs: not an array of tables; write [[pairs]] once per token pair")
        raw_pairs = []
    for i, p in enumerate(raw_pairs):
        where = f"pairs[{i}]"
        r.unknown(p, where, {"home_chain", "home_token", "wrapped_chain", "wrapped_token"})
        values = [
            r.get(p, where, k, str) for k in ("home_chain", "home_token", "wrapped_chain", "wrapped_token")
        ]
        if None in values:
            continue
        home_chain, home_token, wrapped_chain, wrapped_token = values
        for key, chain_name in (("home_chain", home_chain), ("wrapped_chain", wrapped_chain)):
            if chain_name not in raw_chains:
                r.errors.append(
                    f"{where}.{key} = {chain_name!r}: no such chain; use one of {sorted(raw_chains)}"
                )
        if home_chain == wrapped_chain:
            r.errors.append(
                f"{where}.wrapped_chain = {wrapped_chain!r}: the same as home_chain; use the other chain"
            )
        for key, value in (("home_token", home_token), ("wrapped_token", wrapped_token)):
            if not is_checksum_address(value):
                r.errors.append(
                    f"{where}.{key} = {value!r}: not a checksummed address; write it EIP-55 checksummed"
                )
        pairs.append(PairConfig(home_chain, home_token, wrapped_chain, wrapped_token))

    if r.errors:
        raise ConfigError(source, r.errors)
    return SentinelConfig(
        name=name,
        store=store,  # type: ignore[arg-type]  # checked: r.errors empty
        keystore_file=keystore,  # type: ignore[arg-type]
        password_file=password_file,
        password_credential=credential,
        poll_interval=poll,
        act=act,
        supply_confirmations=confirmations,
        metrics_host=host,
        metrics_port=port,
        chains=chains,
        pairs=tuple(pairs),
        max_fee_gwei=max_fee,
        priority_fee_gwei=tip,
    )


def _chain(r: _Reader, name: str, c: Any) -> ChainConfig | None:
    where = f"chains.{name}"
    if not isinstance(c, dict):
        r.errors.append(f"{where} = {c!r}: not a table; write [{where}]")
        return None
    known = {"chain_id", "rpcs", "endpoint", "finality", "confirmations", "start_block", "max_block_range",
             "rpc_timeout"}  # fmt: skip
    r.unknown(c, where, known)
    before = len(r.errors)
    chain_id = r.get(c, where, "chain_id", int)
    if chain_id is not None and chain_id <= 0:
        r.errors.append(f"{where}.chain_id = {chain_id}: must be positive")
    rpcs = r.get(c, where, "rpcs", list, fix="list two or more independent RPC URLs")
    if rpcs is not None:
        if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in rpcs):
            r.errors.append(f"{where}.rpcs = {rpcs!r}: every entry must be an http(s) URL")
        elif len(rpcs) < MIN_RPCS:
            r.errors.append(
                f"{where}.rpcs = {rpcs!r}: {len(rpcs)} RPC; list {MIN_RPCS} or more independent endpoints "
                "(a sentinel curses only on evidence every one of them agrees on)"
            )
        elif len(set(rpcs)) != len(rpcs):
            r.errors.append(f"{where}.rpcs = {rpcs!r}: an URL repeats; list distinct endpoints")
    endpoint = r.get(c, where, "endpoint", str, fix="give the vault's or gateway's address")
    if endpoint is not None and not is_checksum_address(endpoint):
        r.errors.append(
            f"{where}.endpoint = {endpoint!r}: not a checksummed address; write it EIP-55 checksummed"
        )
    finality = r.get(c, where, "finality", str, "depth")
    if finality is not None and finality not in FINALITY_RULES:
        r.errors.append(
            f"{where}.finality = {finality!r}: unknown rule; use one of {', '.join(FINALITY_RULES)}"
        )
    confirmations = r.get(c, where, "confirmations", int, 12)
    if confirmations is not None and confirmations < 0:
        r.errors.append(f"{where}.confirmations = {confirmations}: must be 0 or more blocks")
    start = r.get(c, where, "start_block", int, 0)
    if start is not None and start < 0:
        r.errors.append(f"{where}.start_block = {start}: must be 0 or more")
    max_range = r.get(c, where, "max_block_range", int, 2000)
    if max_range is not None and max_range < 1:
        r.errors.append(f"{where}.max_block_range = {max_range}: must be at least 1")
    timeout = r.get(c, where, "rpc_timeout", float, 10.0)
    if timeout is not None and timeout <= 0:
        r.errors.append(f"{where}.rpc_timeout = {timeout}: must be positive seconds")
    if len(r.errors) > before:
        return None
    return ChainConfig(
        name, chain_id, tuple(rpcs), endpoint, finality, confirmations, start, max_range, timeout
    )
