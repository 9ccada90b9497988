"""What a node checks before it runs: the one validation `relayer run` and `relayer config check` share.

`load_material` reads everything the configuration names on this machine (the committee's public
file, the member's share, the submitting account's key, the broker password, the broker's CA) and
checks each against the others, without a network. `check_chains` asks each chain what only it can
say: its chain id on every RPC endpoint, that the endpoint address holds a Qiao endpoint, and that
its current key epoch and group key are those of a committee file it names (the current one, or
during a rotation `[committee.next]`). Both collect every problem and raise
one `ConfigError`; each problem names the key, its value and the fix on one line.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount

from committee.bls import get_backend
from committee.keyfile import KeyFileError, load_key_file, load_public_file
from committee.keystore import KeystoreError, load_keystore_share, read_password
from committee.threshold import CommitteePublic, KeyShare
from relayer.adapters import heads
from relayer.adapters.aio import within
from relayer.adapters.chain import ENDPOINT_VERSION, ChainClient, RpcUnavailable
from relayer.config import ConfigError, NodeConfig
from relayer.core.keyring import EpochKey, Keyring, KeyringError, as_keyring
from relayer.core.types import ChainId


@dataclass(frozen=True, slots=True)
class Material:
    """What the node's files hold, checked: the committee, this member's share (None: relay only),
    the submitting account (None: relaying disabled) and the broker passwords (by broker name)."""

    public: CommitteePublic
    share: KeyShare | None
    account: LocalAccount | None
    mqtt_passwords: dict[str, str]  # broker name -> this member's password there (if it has one)
    keyring: Keyring  # the current key epoch and, with [committee.next], the next one


def _env(path: str) -> str:
    return "QIAO_" + path.upper().replace(".", "__")


def file_problem(key: str, path: Path, *, secret: bool) -> str | None:
    """Why the file `key` names cannot be used as one (missing, a directory, readable by others)."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"{key} = {str(path)!r}: {exc.strerror}; create it or point {key} ({_env(key)}) at it"
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return f"{key} = {str(path)!r} is {kind}; point {key} at the file itself"
    if secret and info.st_mode & 0o077:
        return (
            f"{key} = {str(path)!r} is readable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 600 {path}"
        )
    return None


def _read_secret(key: str, path: Path, problems: list[str]) -> str | None:
    problem = file_problem(key, path, secret=True)
    if problem is not None:
        problems.append(problem)
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{key} = {str(path)!r}: cannot be read ({exc}); check the file")
        return None


def _key_file_problem(key: str, exc: KeyFileError) -> str:
    return f"{key} = {str(exc.path)!r}: {exc.problem}; {exc.fix}"


@dataclass(frozen=True, slots=True)
class _KeyFiles:
    """Where one key epoch's files are, and the configuration keys that name them."""

    prefix: str  # "committee" or "committee.next"
    public_file: Path
    key_file: Path | None
    keystore_file: Path | None
    password_file: Path | None


def _key_files(cfg: NodeConfig) -> list[_KeyFiles]:
    c = cfg.committee
    files = [_KeyFiles("committee", c.public_file, c.key_file, c.keystore_file, c.password_file)]
    if c.next is not None:
        n = c.next
        files.append(_KeyFiles("committee.next", n.public_file, n.key_file, n.keystore_file, n.password_file))
    return files


def _public(files: _KeyFiles, problems: list[str]) -> CommitteePublic | None:
    key = f"{files.prefix}.public_file"
    problem = file_problem(key, files.public_file, secret=False)
    if problem is not None:
        problems.append(problem)
        return None
    try:
        return load_public_file(files.public_file)
    except KeyFileError as exc:
        problems.append(_key_file_problem(key, exc))
        return None


def _share(
    member_index: int, files: _KeyFiles, public: CommitteePublic | None, problems: list[str]
) -> KeyShare | None:
    """This member's share of one key epoch, checked against its committee (`public`; None:
    unreadable, so only the share's file itself is checked)."""
    p = files.prefix
    if files.keystore_file is not None:
        problem = file_problem(f"{p}.keystore_file", files.keystore_file, secret=True)
        if problem is not None:
            problems.append(problem)
            return None
        if files.password_file is not None:
            problem = file_problem(f"{p}.password_file", files.password_file, secret=True)
            if problem is not None:
                problems.append(problem)
                return None
        if public is None:
            return None
        try:
            password = read_password(files.password_file)
        except KeystoreError as exc:
            if files.password_file is None:  # neither a file nor the systemd credential
                problems.append(f"{p}.password_file: not set; {exc.problem}; {exc.fix}")
            else:
                problems.append(_key_file_problem(f"{p}.password_file", exc))
            return None
        try:
            return load_keystore_share(files.keystore_file, password, public, member_index)
        except KeystoreError as exc:
            problems.append(_key_file_problem(f"{p}.keystore_file", exc))
            return None
    if files.key_file is None:
        return None
    problem = file_problem(f"{p}.key_file", files.key_file, secret=True)
    if problem is not None:
        problems.append(problem)
        return None
    if public is None:
        return None
    try:
        share = load_key_file(files.key_file)
    except KeyFileError as exc:
        problems.append(_key_file_problem(f"{p}.key_file", exc))
        return None
    if share.index != member_index:
        problems.append(
            f"node.member_index = {member_index}, but {p}.key_file = {str(files.key_file)!r} holds "
            f"the share of member {share.index}; set member_index = {share.index} or point key_file at "
            f"member {member_index}'s key file"
        )
        return None
    if share.public.group_public_key != public.group_public_key:
        problems.append(
            f"{p}.key_file = {str(files.key_file)!r}: its group key differs from {p}.public_file "
            f"= {str(files.public_file)!r}; use both files from the same key generation"
        )
        return None
    return share


def load_material(cfg: NodeConfig) -> Material:
    """Read and check every file the configuration names; raises `ConfigError` with every problem."""
    problems: list[str] = []
    keys: list[EpochKey] = []
    for files in _key_files(cfg):
        public = _public(files, problems)
        share = _share(cfg.member_index, files, public, problems)
        holds_share = files.key_file is not None or files.keystore_file is not None
        if public is not None and holds_share and cfg.member_index not in public.public_shares:
            problems.append(
                f"node.member_index = {cfg.member_index} is not a member of the committee in "
                f"{files.prefix}.public_file = {str(files.public_file)!r} (members {list(public.members)}); "
                "set this member's index"
            )
        if public is not None:
            keys.append(EpochKey(public, share))
    keyring: Keyring | None = None
    if keys and len(keys) == len(_key_files(cfg)):
        nxt = cfg.committee.next
        where = "" if nxt is None else f"committee.next.public_file = {str(nxt.public_file)!r}: "
        if len(keys) == 2 and keys[1].epoch <= keys[0].epoch:
            problems.append(
                f"{where}key epoch {keys[1].epoch} is not after committee.public_file's {keys[0].epoch}; "
                f"the next key is epoch {keys[0].epoch + 1} (dkg new --key-epoch {keys[0].epoch + 1})"
            )
        else:
            try:
                keyring = Keyring(keys)
            except KeyringError as exc:
                problems.append(f"{where}{exc}")

    account: LocalAccount | None = None
    if cfg.relayer.enabled and cfg.relayer.account_key_file is not None:
        path = cfg.relayer.account_key_file
        key = _read_secret("relayer.account_key_file", path, problems)
        if key is not None:
            try:
                account = Account.from_key(key)
            except (ValueError, TypeError):
                problems.append(
                    f"relayer.account_key_file = {str(path)!r} does not hold a private key; "
                    "write the submitting account's key as 0x + 64 hex digits"
                )
    mqtt_passwords: dict[str, str] = {}
    for i, broker in enumerate(cfg.mqtt.endpoints):
        where = f"mqtt.brokers[{i}]" if cfg.mqtt.brokers else "mqtt"
        if broker.password_file is not None:
            password = _read_secret(f"{where}.password_file", broker.password_file, problems)
            if password is not None:
                mqtt_passwords[broker.name] = password
        if broker.tls_ca_file is not None:
            problem = file_problem(f"{where}.tls_ca_file", broker.tls_ca_file, secret=False)
            if problem is not None:
                problems.append(problem)
    if problems:
        raise ConfigError(cfg.source, problems)
    assert keyring is not None
    first = keyring.first
    return Material(
        public=first.public,
        share=first.share,
        account=account,
        mqtt_passwords=mqtt_passwords,
        keyring=keyring,
    )


class ChainView(Protocol):
    """The calls `check_chains` makes on one chain (relayer.adapters.chain.ChainClient provides them)."""

    @property
    def chain_id(self) -> ChainId: ...

    async def chain_ids(self) -> list[tuple[str, int | None, str]]: ...

    async def code(self) -> bytes: ...

    async def identity_call(self, fn: str, *args: Any) -> Any: ...


async def check_chains(
    cfg: NodeConfig,
    public: CommitteePublic | Keyring,
    chains: Mapping[ChainId, ChainView],
    *,
    every_endpoint: bool,
) -> list[str]:
    """What only the chains can say, for every configured chain: the chain id behind each RPC
    endpoint, a Qiao endpoint at `endpoint`, its key epoch and group key equal to the committee
    file's. `every_endpoint`: an unreachable RPC endpoint is a problem (`config check --online`);
    otherwise it is left to the fallback as long as one endpoint of the chain answers (`run`)."""
    problems: list[str] = []
    keyring = as_keyring(public)
    for chain_cfg in cfg.chains.values():
        client = chains[chain_cfg.chain_id]
        p = f"chains.{chain_cfg.name}"
        answered = 0
        wrong_id = False
        unanswered: list[str] = []
        for url, actual, error in await client.chain_ids():
            if actual is None:
                unanswered.append(f"{url}: {error}")
                if every_endpoint:
                    problems.append(f"{p}.rpc = {url!r} did not answer ({error}); check the URL and the node")
                continue
            answered += 1
            if actual != chain_cfg.chain_id:
                wrong_id = True
                problems.append(
                    f"{p}.chain_id = {chain_cfg.chain_id}, but {p}.rpc = {url!r} serves chain id {actual}; "
                    "fix the rpc or the chain_id"
                )
        if answered == 0:
            if not every_endpoint:  # not a configuration error: `run` exits 1 and systemd retries
                raise RpcUnavailable(
                    f"chain {chain_cfg.name}: eth_chainId failed on every endpoint: {'; '.join(unanswered)}"
                )
            continue
        if wrong_id:
            continue
        problems += await _endpoint_problems(p, chain_cfg.endpoint, client, keyring)
    return problems


async def _endpoint_problems(p: str, address: str, client: ChainView, keyring: Keyring) -> list[str]:
    where = f"{p}.endpoint = {address!r}"
    fix = "set it to the QiaoVault (consortium) or QiaoGateway (Ethereum) address from the deployment file"
    try:
        code = await client.code()
    except Exception as exc:
        return [f"{where}: reading its code failed ({exc}); check the rpc"]
    if not code:
        return [f"{where}: no contract there on chain {client.chain_id}; {fix}"]
    try:
        version = await client.identity_call("VERSION")
    except Exception:
        version = None
    if version != ENDPOINT_VERSION:
        return [f"{where}: the contract there is not a Qiao endpoint ({ENDPOINT_VERSION}); {fix}"]
    epoch = int(await client.identity_call("currentKeyEpoch"))
    key = keyring.get(epoch)
    held = " and ".join(str(e) for e in keyring.epochs)
    which = "committee.public_file" if epoch <= keyring.first.epoch else "committee.next.public_file"
    if key is None:
        return [
            f"committee.public_file: key epoch {held}, but {where} is at key epoch {epoch}; "
            "use the committee file of the current key (during a rotation, the next one as [committee.next])"
        ]
    expected_key = get_backend("arkworks").g2_to_eip2537(key.public.group_public_key)
    on_chain = bytes(await client.identity_call("groupKey", epoch))
    if on_chain != expected_key:
        return [
            f"{which}: its group key differs from the one {where} verifies at key epoch "
            f"{epoch}; use the committee file of the key this endpoint was deployed or rotated with"
        ]
    return []


async def check_online(cfg: NodeConfig, public: CommitteePublic | Keyring) -> list[str]:
    """`config check --online`: connect to every chain as `run` does and run `check_chains`; then
    subscribe to new heads on each chain's `ws` (heads.probe) as `run`'s head feed will."""
    async with AsyncExitStack() as stack:
        clients: dict[ChainId, ChainView] = {}
        for chain_cfg in cfg.chains.values():
            clients[chain_cfg.chain_id] = await stack.enter_async_context(ChainClient.connect(chain_cfg))
        problems = await within(120.0, check_chains(cfg, public, clients, every_endpoint=True))
    probes = await asyncio.gather(*(heads.probe(c) for c in cfg.chains.values() if c.ws is not None))
    return problems + [p for p in probes if p is not None]
