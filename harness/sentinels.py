"""A sentinel process beside a devnet, and a colluding committee against it.

Used by the end-to-end tests (tests/e2e/test_sentinels.py) and the maximum-loss benchmark
(benchmarks/max_loss.py); outside the product: nothing here ships in the sentinel or the relayer.

- `write_sentinel_config` writes a `qiao-sentinel` TOML for a deployment (two RPC URLs per chain:
  on the devnet both reach the same anvil, `127.0.0.1` and `localhost`), its encrypted keystore and
  password file; `register_sentinel` has the owner register its key on both endpoints;
  `start_sentinel` runs `qiao-sentinel run` as a process.
- `set_challenge` / `set_inbound_limit`: the owner's settings the scenarios run under.
- `Colluders`: t members of the committee who pool their shares (each signs, the partials combine
  into the group's signature, as the honest protocol does) to sign batches of transfers that never
  happened on the source chain, and submit them to the destination endpoint.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address as cs
from prometheus_client.parser import text_string_to_metric_families
from web3 import HTTPProvider, Web3

from committee.keyfile import load_key_file
from committee.threshold import KeyShare, combine, partial_sign
from relayer.core.calldata import execute_batch_call
from relayer.core.encoding import batch_message
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from relayer.provisioning.deploy import INBOUND, Deployment, dev_account, endpoint_abi, send

ROOT = Path(__file__).resolve().parent.parent
SENTINEL_ACCOUNT = 6  # the devnet's dev account the sentinel process's key is (funded by anvil)
MALLORY_ACCOUNT = 7  # the colluders' recipient and the account that submits their batches
# A devnet keystore: scrypt with a small work factor (the default takes seconds per start).
_KDF = {"kdf": "scrypt", "iterations": 2**12}


def endpoints(dep: Deployment) -> tuple[Any, Any]:
    """The vault (consortium) and gateway (ethereum) with the SentinelModule's functions in the ABI."""
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    vault = wc.eth.contract(address=dep.vault.address, abi=endpoint_abi("QiaoVault"))
    gateway = we.eth.contract(address=dep.gateway.address, abi=endpoint_abi("QiaoGateway"))
    return vault, gateway


def register_sentinel(dep: Deployment, address: str, admin: LocalAccount | None = None) -> None:
    """The owner registers `address` as a sentinel on both endpoints (setSentinel)."""
    admin = admin or dev_account(0)
    for endpoint in endpoints(dep):
        send(endpoint.w3, admin, endpoint.functions.setSentinel(cs(address), True))


def set_challenge(dep: Deployment, threshold: int, period: int, admin: LocalAccount | None = None) -> None:
    """The challenge threshold of the bridged token on both endpoints (asset on the vault, wrapped
    token on the gateway) and the challenge period in seconds."""
    admin = admin or dev_account(0)
    vault, gateway = endpoints(dep)
    for endpoint, token in ((vault, dep.asset.address), (gateway, dep.wrapped.address)):
        send(endpoint.w3, admin, endpoint.functions.setChallengePeriod(period))
        send(endpoint.w3, admin, endpoint.functions.setChallenge(token, threshold))


def set_inbound_limit(
    dep: Deployment, capacity: int, refill_per_second: int, admin: LocalAccount | None = None
) -> None:
    """The gateway's inbound bucket for the wrapped token (what mints on Ethereum may take)."""
    admin = admin or dev_account(0)
    _, gateway = endpoints(dep)
    send(
        gateway.w3,
        admin,
        gateway.functions.setRateLimit(dep.wrapped.address, INBOUND, capacity, refill_per_second),
    )


def write_sentinel_config(
    directory: Path,
    dep: Deployment,
    *,
    key: LocalAccount | None = None,
    poll_interval: float = 1.0,
    confirmations: int = 2,
    supply_confirmations: int = 2,
    metrics_port: int = 0,
    act: bool = True,
    consortium_rpcs: list[str] | None = None,
) -> Path:
    """`directory/sentinel.toml` for `dep`, with the key (default: dev account SENTINEL_ACCOUNT)
    in `sentinel.keystore.json` and its password in `sentinel.password` (mode 0600). Each chain is
    read through two RPC URLs of its node (127.0.0.1 and localhost), or the consortium chain through
    `consortium_rpcs` (a test's lying proxy beside an honest URL)."""
    key = key or dev_account(SENTINEL_ACCOUNT)
    directory.mkdir(parents=True, exist_ok=True)
    password_file = directory / "sentinel.password"
    if not password_file.exists():
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(16).hex() + "\n")
    password = password_file.read_text().rstrip("\n")
    keystore = directory / "sentinel.keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(key.key, password, **_KDF)))  # type: ignore[arg-type]
    keystore.chmod(0o600)

    def rpcs(url: str) -> str:
        return json.dumps([url, url.replace("127.0.0.1", "localhost")])

    consortium = json.dumps(consortium_rpcs) if consortium_rpcs else rpcs(dep.consortium_url)

    chain = f'finality = "depth"\nconfirmations = {confirmations}\nmax_block_range = 500\nrpc_timeout = 5.0'
    cfg = directory / "sentinel.toml"
    cfg.write_text(f"""# A devnet sentinel: written by harness.sentinels
[sentinel]
name = "devnet-sentinel"
store = "{directory / "sentinel.sqlite3"}"
keystore_file = "{keystore}"
password_file = "{password_file}"
poll_interval = {poll_interval}
act = {str(act).lower()}
supply_confirmations = {supply_confirmations}

[metrics]
host = "127.0.0.1"
port = {metrics_port}

[chains.consortium]
chain_id = {dep.vault.w3.eth.chain_id}
rpcs = {consortium}
endpoint = "{cs(dep.vault.address)}"
start_block = {dep.consortium_block}
{chain}

[chains.ethereum]
chain_id = {dep.gateway.w3.eth.chain_id}
rpcs = {rpcs(dep.ethereum_url)}
endpoint = "{cs(dep.gateway.address)}"
start_block = {dep.ethereum_block}
{chain}

[[pairs]]
home_chain = "consortium"
home_token = "{cs(dep.asset.address)}"
wrapped_chain = "ethereum"
wrapped_token = "{cs(dep.wrapped.address)}"
""")
    return cfg


def sentinel_argv(config: Path) -> list[str]:
    python = ROOT / ".venv" / "bin" / "python"
    exe = str(python) if python.exists() else sys.executable
    return [exe, "-m", "sentinel.cli", "run", "--config", str(config)]


def scrape(port: int, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample (summed over the samples matching `labels`) from a sentinel's /metrics; raises
    OSError when nothing listens there."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += float(sample.value)
    return total


# ---- the colluding committee ------------------------------------------------------------------


@dataclass
class Colluders:
    """t members who pool their shares: whatever they sign together verifies as the committee's."""

    shares: list[KeyShare]
    dep: Deployment
    key_epoch: int = 1

    @classmethod
    def from_key_files(cls, dep: Deployment, key_files: Sequence[Path], key_epoch: int = 1) -> Colluders:
        return cls([load_key_file(p) for p in key_files], dep, key_epoch)

    @classmethod
    def from_shares(cls, dep: Deployment, shares: Sequence[KeyShare], key_epoch: int = 1) -> Colluders:
        return cls(list(shares), dep, key_epoch)

    def __post_init__(self) -> None:
        public = self.shares[0].public
        if len({s.index for s in self.shares}) < public.threshold:
            raise ValueError(
                f"{len(self.shares)} shares: colluders need t = {public.threshold} distinct ones"
            )

    def sign(self, batch: Batch) -> bytes:
        message = batch_message(batch)
        partials = {s.index: partial_sign(s, message) for s in self.shares}
        return combine(self.shares[0].public, partials)

    def forge(self, first_nonce: int, amounts: Sequence[int], recipient: str | None = None) -> Batch:
        """A batch consortium -> ethereum of `amounts` (contiguous nonces from `first_nonce`) that
        no lock backs, minting the wrapped token to `recipient` (default mallory)."""
        dep = self.dep
        to = cs(recipient or dev_account(MALLORY_ACCOUNT).address)
        src, dst = ChainId(dep.vault.w3.eth.chain_id), ChainId(dep.gateway.w3.eth.chain_id)
        transfers = tuple(
            Transfer(
                src, dst, Nonce(first_nonce + i), cs(dep.asset.address), cs(dep.wrapped.address), to, to, a
            )
            for i, a in enumerate(amounts)
        )
        return Batch(transfers, cs(dep.gateway.address), self.key_epoch)

    def submit(self, batch: Batch, sender: LocalAccount | None = None, wait: bool = True) -> Any:
        """executeBatch of `batch` with the colluders' signature on the gateway; the receipt (or
        the transaction hash when not `wait`)."""
        sender = sender or dev_account(MALLORY_ACCOUNT)
        call = execute_batch_call(self.dep.gateway, batch, self.sign(batch))
        return send(self.dep.gateway.w3, sender, call, wait=wait)
