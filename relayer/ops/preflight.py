"""What a node checks before it runs: the one validation `relayer run` and `relayer config check` share.

`load_material` reads everything the configuration names on this machine (the committee's public
file, the member's share, the submitting account's key, the broker password, the broker's CA) and
checks each against the others, without a network. `check_chains` asks each chain what only it can
say: its chain id on every RPC endpoint, that the endpoint address holds a Qiao endpoint, and that
its current key epoch and group key are the committee file's. Both collect every problem and raise
one `ConfigError`; each problem names the key, its value and the fix on one line.
"""

from __future__ import annotations

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
from relayer.adapters.aio import within
from relayer.adapters.chain import ENDPOINT_VERSION, ChainClient, RpcUnavailable
from relayer.config import ConfigError, NodeConfig
from relayer.core.types import ChainId


@dataclass(frozen=True, slots=True)
class Material:
    """What the node's files hold, checked: the committee, this member's share (None: relay only),
    the submitting account (None: relaying disabled) and the broker password."""

    public: CommitteePublic
    share: KeyShare | None
    account: LocalAccount | None
    mqtt_password: str | None


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


def _share(cfg: NodeConfig, public: CommitteePublic | None, problems: list[str]) -> KeyShare | None:
    """This member's share, checked against the committee (`public`; None: unreadable, so only
    the share's file itself is checked)."""
    c = cfg.committee
    if c.keystore_file is not None:
        problem = file_problem("committee.keystore_file", c.keystore_file, secret=True)
        if problem is not None:
            problems.append(problem)
            return None
        if c.password_file is not None:
            problem = file_problem("committee.password_file", c.password_file, secret=True)
            if problem is not None:
                problems.append(problem)
                return None
        if public is None:
            return None
        try:
            password = read_password(c.password_file)
        except KeystoreError as exc:
            if c.password_file is None:  # neither a file nor the systemd credential
                problems.append(f"committee.password_file: not set; {exc.problem}; {exc.fix}")
            else:
                problems.append(_key_file_problem("committee.password_file", exc))
            return None
        try:
            return load_keystore_share(c.keystore_file, password, public, cfg.member_index)
        except KeystoreError as exc:
            problems.append(_key_file_problem("committee.keystore_file", exc))
            return None
    if c.key_file is None:
        return None
    problem = file_problem("committee.key_file", c.key_file, secret=True)
    if problem is not None:
        problems.append(problem)
        return None
    if public is None:
        return None
    try:
        share = load_key_file(c.key_file)
    except KeyFileError as exc:
        problems.append(_key_file_problem("committee.key_file", exc))
        return None
    if share.index != cfg.member_index:
        problems.append(
            f"node.member_index = {cfg.member_index}, but committee.key_file = {str(c.key_file)!r} holds "
            f"the share of member {share.index}; set member_index = {share.index} or point key_file at "
            f"member {cfg.member_index}'s key file"
        )
        return None
    if share.public.group_public_key != public.group_public_key:
        problems.append(
            f"committee.key_file = {str(c.key_file)!r}: its group key differs from committee.public_file "
            f"= {str(c.public_file)!r}; use both files from the same key generation"
        )
        return None
    return share


def load_material(cfg: NodeConfig) -> Material:
    """Read and check every file the configuration names; raises `ConfigError` with every problem."""
    problems: list[str] = []
    public: CommitteePublic | None = None
    c = cfg.committee
    problem = file_problem("committee.public_file", c.public_file, secret=False)
    if problem is not None:
        problems.append(problem)
    else:
        try:
            public = load_public_file(c.public_file)
        except KeyFileError as exc:
            problems.append(_key_file_problem("committee.public_file", exc))
    share = _share(cfg, public, problems)
    holds_share = c.key_file is not None or c.keystore_file is not None
    if public is not None and holds_share and cfg.member_index not in public.public_shares:
        problems.append(
            f"node.member_index = {cfg.member_index} is not a member of the committee in "
            f"committee.public_file = {str(c.public_file)!r} (members {list(public.members)}); "
            "set this member's index"
        )

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
    mqtt_password = None
    if cfg.mqtt.password_file is not None:
        mqtt_password = _read_secret("mqtt.password_file", cfg.mqtt.password_file, problems)
    if cfg.mqtt.tls_ca_file is not None:
        problem = file_problem("mqtt.tls_ca_file", cfg.mqtt.tls_ca_file, secret=False)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise ConfigError(cfg.source, problems)
    assert public is not None
    return Material(public=public, share=share, account=account, mqtt_password=mqtt_password)


class ChainView(Protocol):
    """The calls `check_chains` makes on one chain (relayer.adapters.chain.ChainClient provides them)."""

    @property
    def chain_id(self) -> ChainId: ...

    async def chain_ids(self) -> list[tuple[str, int | None, str]]: ...

    async def code(self) -> bytes: ...

    async def identity_call(self, fn: str, *args: Any) -> Any: ...


async def check_chains(
    cfg: NodeConfig, public: CommitteePublic, chains: Mapping[ChainId, ChainView], *, every_endpoint: bool
) -> list[str]:
    """What only the chains can say, for every configured chain: the chain id behind each RPC
    endpoint, a Qiao endpoint at `endpoint`, its key epoch and group key equal to the committee
    file's. `every_endpoint`: an unreachable RPC endpoint is a problem (`config check --online`);
    otherwise it is left to the fallback as long as one endpoint of the chain answers (`run`)."""
    problems: list[str] = []
    expected_key = get_backend("arkworks").g2_to_eip2537(public.group_public_key)
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
        problems += await _endpoint_problems(p, chain_cfg.endpoint, client, public, expected_key)
    return problems


async def _endpoint_problems(
    p: str, address: str, client: ChainView, public: CommitteePublic, expected_key: bytes
) -> list[str]:
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
    if epoch != public.key_epoch:
        return [
            f"committee.public_file: key epoch {public.key_epoch}, but {where} is at key epoch {epoch}; "
            "use the committee file of the current key"
        ]
    on_chain = bytes(await client.identity_call("groupKey", epoch))
    if on_chain != expected_key:
        return [
            f"committee.public_file: its group key differs from the one {where} verifies at key epoch "
            f"{epoch}; use the committee file of the key this endpoint was deployed or rotated with"
        ]
    return []


async def check_online(cfg: NodeConfig, public: CommitteePublic) -> list[str]:
    """`config check --online`: connect to every chain as `run` does and run `check_chains`."""
    async with AsyncExitStack() as stack:
        clients: dict[ChainId, ChainView] = {}
        for chain_cfg in cfg.chains.values():
            clients[chain_cfg.chain_id] = await stack.enter_async_context(ChainClient.connect(chain_cfg))
        return await within(120.0, check_chains(cfg, public, clients, every_endpoint=True))
