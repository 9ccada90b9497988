"""Deployment of the Qiao contracts: the path the devnet, the tests and a testnet profile share.

`deploy_bridge` deploys on both chains a KYC registry, the endpoint (QiaoVault on the consortium
chain, QiaoGateway on Ethereum, with the profile's action delay: how long a committee-signed RESUME
or ROTATE waits, the guardian's time to cancel it; and its challenge period: how long a transfer at
or above its token's challenge threshold is held for a sentinel's veto), the asset (devnet only:
a TestAsset) and the permissioned WrappedToken; registers the token pair both ways; gives the
gateway the registry's freezer role (committee-signed freezes); puts the profile's accounts on
both allow-lists; sets the rate limits; and writes a deployment JSON (addresses, ABIs, start
blocks) for the Python side.

A further chain with a gateway of its own (a third chain: an L2 beside Ethereum) is a *spoke*:
`deploy_spoke` deploys its registry, gateway and a second WrappedToken of the same asset, registers
the pair on the vault and on the new gateway, and adds it to the deployment (its JSON lists it under
`chains.<name>` like `ethereum`). The vault then holds the asset locked for every wrapped chain;
the reconciler checks the supply of each pair (docs/OPERATIONS.md, "More than two chains").

`python -m relayer.provisioning.deploy --consortium-rpc URL --ethereum-rpc URL --committee keys/committee.json
--admin-key-file FILE --out deployment.json [--profile testnet] [--spoke NAME=RPC ...]` runs it
against any two chains (and each spoke).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from committee.bls import g2_to_eip2537
from committee.keyfile import load_public_file

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "contracts" / "out"
MNEMONIC = "test test test test test test test test test test test junk"
UNIT = 10**18
OUTBOUND, INBOUND = 0, 1
DAY = 86_400
# The endpoints' bounds on the action delay (QiaoEndpoint: 1 second .. MAX_ACTION_DELAY).
MAX_ACTION_DELAY = 30 * DAY
# A committee-signed RESUME or ROTATE waits this long on the devnet: seconds, so tests and the
# demo move on (tests fast-forward anvil's clock); a real network waits at least a day.
DEVNET_ACTION_DELAY = 2
TESTNET_ACTION_DELAY = DAY
# A transfer at or above its token's challenge threshold is held this long for a sentinel's veto
# (docs/PROTOCOL.md, "Sentinels"): seconds on the devnet, hours on a real network. The endpoints
# accept 1 second .. MAX_CHALLENGE_PERIOD.
MAX_CHALLENGE_PERIOD = 30 * DAY
DEVNET_CHALLENGE_PERIOD = 5
TESTNET_CHALLENGE_PERIOD = 6 * 3600
# The amount from which a transfer is held on a testnet deployment unless `--challenge-threshold`
# says otherwise: a thousandth of the default daily inbound capacity (10^9 units), so a single
# large transfer always waits for the sentinels while everyday transfers pass at once. The devnet
# holds nothing unless a test asks (its tests and demo count on immediate delivery).
TESTNET_CHALLENGE_THRESHOLD = 10**6 * UNIT
# The endpoints whose ABI includes their SentinelModule's functions (reached through the fallback).
ENDPOINTS = ("QiaoVault", "QiaoGateway")

Account.enable_unaudited_hdwallet_features()

# How often `send` asks for a transaction's receipt: web3's default, which suits a public RPC's
# rate limits. The devnet harness, whose chains mine a deployment's transactions at once, asks
# more often while it deploys (harness.devnet.mined_at_once).
RECEIPT_POLL_SECONDS = 0.1


@functools.cache  # the key derivation is pure Python (~50 ms each); the accounts never change
def dev_account(index: int) -> LocalAccount:
    """Anvil's well-known development accounts (never use them outside a devnet)."""
    account: LocalAccount = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `capacity` units at most, refilled at `refill_per_second`."""

    capacity: int
    refill_per_second: int

    def __post_init__(self) -> None:
        if not 0 < self.capacity < 2**128 or not 0 <= self.refill_per_second < 2**128:
            raise ValueError(f"rate limit out of range: {self}")


@dataclass(frozen=True, slots=True)
class Profile:
    """What a deployment sets up besides the contracts themselves."""

    name: str
    asset_name: str = "Tokenised Treasury Bill"
    asset_symbol: str = "TBILL"
    guardian: str | None = None  # default: the admin
    allow: tuple[str, ...] = ()  # addresses put on both allow-lists
    limit: RateLimit = field(default_factory=lambda: RateLimit(10**9 * UNIT, 10**9 * UNIT // 86_400))
    deploy_test_asset: bool = True
    asset_address: str | None = None  # an existing asset on the consortium chain (testnet)
    # Seconds between a committee-signed RESUME / ROTATE and when it may take effect; during them
    # the guardian can cancel it (docs/OPERATIONS.md, "The committee's key is compromised").
    action_delay: int = TESTNET_ACTION_DELAY
    # The shortest delay this profile accepts: a day on anything but the devnet.
    min_action_delay: int = TESTNET_ACTION_DELAY
    # Seconds a transfer at or above its token's challenge threshold is held for a sentinel's veto.
    challenge_period: int = TESTNET_CHALLENGE_PERIOD
    # The challenge threshold set for the bridged token on both endpoints, in token units; 0 holds
    # nothing (the owner sets it later with setChallenge).
    challenge_threshold: int = TESTNET_CHALLENGE_THRESHOLD

    def __post_init__(self) -> None:
        if not 1 <= self.challenge_period <= MAX_CHALLENGE_PERIOD:
            raise ValueError(
                f"profile {self.name}: challenge period {self.challenge_period} s is outside "
                f"1..{MAX_CHALLENGE_PERIOD} s (the sentinels' time to veto a held transfer)"
            )
        if not 0 <= self.challenge_threshold < 2**256:
            raise ValueError(
                f"profile {self.name}: challenge threshold {self.challenge_threshold} is not a uint256"
            )
        if not 1 <= self.min_action_delay <= self.action_delay <= MAX_ACTION_DELAY:
            raise ValueError(
                f"profile {self.name}: action delay {self.action_delay} s is outside "
                f"{self.min_action_delay}..{MAX_ACTION_DELAY} s; the guardian needs time to cancel "
                "a RESUME or ROTATE signed with a stolen key"
            )


def devnet_profile() -> Profile:
    """Anvil: all dev accounts allowed (admin 0, relayers 1..n, alice 8, bob 9, guardian 10); wide limits."""
    return Profile(
        name="devnet",
        guardian=dev_account(10).address,
        allow=tuple(dev_account(i).address for i in range(12)),
        action_delay=DEVNET_ACTION_DELAY,
        min_action_delay=1,
        challenge_period=DEVNET_CHALLENGE_PERIOD,
        challenge_threshold=0,
    )


def artifact(name: str) -> dict[str, Any]:
    path = ARTIFACTS / f"{name}.sol" / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing; run scripts/bootstrap.sh (forge build) first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def endpoint_abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract `name`; for an endpoint (QiaoVault, QiaoGateway) with its
    SentinelModule's functions added, which the endpoint runs from its fallback (setSentinel,
    curse, veto, uncurse, isCursed, ...): web3 handles and the deployment file then know them."""
    abi: list[dict[str, Any]] = list(artifact(name)["abi"])
    if name not in ENDPOINTS:
        return abi
    # the SentinelModule, and the IssuerModule behind it (both run from the endpoint's fallback):
    # their functions, and the IssuerModule's events (emitted by the endpoint)
    for module in ("SentinelModule", "IssuerModule"):
        have = {(e.get("type"), e.get("name")) for e in abi}
        abi += [
            e
            for e in artifact(module)["abi"]
            if (e.get("type") == "function" or (module == "IssuerModule" and e.get("type") == "event"))
            and (e.get("type"), e.get("name")) not in have
        ]
    return abi


def send(w3: Web3, account: LocalAccount, fn: Any, wait: bool = True, gas: int | None = None) -> Any:
    params: dict[str, Any] = {"from": account.address, "chainId": w3.eth.chain_id}
    # A margin over the estimate: state can change between estimation and inclusion.
    params["gas"] = gas if gas is not None else int(fn.estimate_gas(params) * 1.25) + 10_000
    params["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    tx = fn.build_transaction(params)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    if not wait:
        return tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=RECEIPT_POLL_SECONDS)
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
    return receipt


class LinkError(ValueError):
    """An artifact's bytecode cannot be linked: a library address is missing or malformed, or
    the bytecode does not hold a library placeholder where the artifact says it does."""


def link_bytecode(bytecode: dict[str, Any], libraries: dict[str, str]) -> str:
    """The bytecode object of a forge artifact (`art["bytecode"]`) with every library placeholder
    replaced by the library's address.

    `bytecode["linkReferences"]` is `{source path: {library name: [{"start": byte offset,
    "length": 20}, ...]}}`; at each offset the unlinked object holds a 40-character placeholder
    (`__$<34 hex digits>$__`) that becomes the library's 20-byte address. `libraries` maps a
    library name (or "path:name") to its address. Pure: no I/O.
    """
    obj = str(bytecode["object"])
    prefix = "0x" if obj.startswith("0x") else ""
    code = obj[len(prefix) :]
    for path, names in (bytecode.get("linkReferences") or {}).items():
        for lib, refs in names.items():
            address = libraries.get(f"{path}:{lib}", libraries.get(lib))
            if address is None:
                raise LinkError(
                    f"library {lib} ({path}) has no address: deploy it first and pass its address "
                    f"(known: {', '.join(sorted(libraries)) or 'none'})"
                )
            hex_address = address[2:] if address.startswith("0x") else address
            if len(hex_address) != 40 or any(c not in "0123456789abcdefABCDEF" for c in hex_address):
                raise LinkError(f"library {lib}: {address!r} is not a 20-byte hex address")
            for ref in refs:
                start, length = int(ref["start"]), int(ref["length"])
                if length != 20:
                    raise LinkError(f"library {lib}: a link reference of {length} bytes (expected 20)")
                at = 2 * start
                placeholder = code[at : at + 40]
                if len(placeholder) != 40 or not (
                    placeholder.startswith("__$") and placeholder.endswith("$__")
                ):
                    raise LinkError(
                        f"library {lib}: no placeholder at byte {start} of the bytecode "
                        f"(found {placeholder!r}); the artifact is stale: run scripts/forge build"
                    )
                code = code[:at] + hex_address.lower() + code[at + 40 :]
    if "__$" in code:
        raise LinkError("the bytecode still holds a library placeholder that linkReferences does not list")
    return prefix + code


# Libraries deployed per chain, by (RPC endpoint, chain id): {library name: address}. Checked
# against the chain's code before reuse (an anvil restarted on the same URL has none).
_LIBRARIES: dict[tuple[str, int], dict[str, str]] = {}


def _endpoint_key(w3: Web3) -> tuple[str, int]:
    uri = str(getattr(w3.provider, "endpoint_uri", "") or id(w3.provider))
    return uri, int(w3.eth.chain_id)


def deploy_libraries(w3: Web3, account: LocalAccount, name: str) -> dict[str, str]:
    """Deploys (once per chain) every external library `name`'s bytecode links, and the ones
    those link in turn; returns {library name: address} for all libraries deployed on this chain."""
    known = _LIBRARIES.setdefault(_endpoint_key(w3), {})
    for lib, address in list(known.items()):
        if w3.eth.get_code(Web3.to_checksum_address(address)) in (b"", None):
            del known[lib]
    refs = artifact(name)["bytecode"].get("linkReferences") or {}
    for names in refs.values():
        for lib in names:
            if lib in known:
                continue
            deploy_libraries(w3, account, lib)
            art = artifact(lib)
            code = link_bytecode(art["bytecode"], known)
            receipt = send(w3, account, w3.eth.contract(abi=art["abi"], bytecode=code).constructor())
            known[lib] = receipt["contractAddress"]
    return dict(known)


def libraries_on(w3: Web3) -> dict[str, str]:
    """The libraries deploy() has deployed on this chain so far: {name: address}."""
    return dict(_LIBRARIES.get(_endpoint_key(w3), {}))


def deploy(w3: Web3, account: LocalAccount, name: str, *args: Any) -> Contract:
    """Deploys contract `name` from its forge artifact, first deploying and linking the external
    libraries its bytecode needs (once per chain)."""
    art = artifact(name)
    libraries = deploy_libraries(w3, account, name) if art["bytecode"].get("linkReferences") else {}
    factory = w3.eth.contract(abi=art["abi"], bytecode=link_bytecode(art["bytecode"], libraries))
    receipt = send(w3, account, factory.constructor(*args))
    contract: Contract = w3.eth.contract(address=receipt["contractAddress"], abi=endpoint_abi(name))
    return contract


@dataclass
class Spoke:
    """A further wrapped chain of the consortium chain's asset: its gateway, its own WrappedToken and
    KYC registry (a third chain, e.g. an L2 beside Ethereum), deployed by `deploy_spoke`."""

    name: str  # the chain's name in the deployment file and in the members' [chains.<name>]
    url: str
    gateway: Contract
    wrapped: Contract
    registry: Contract
    block: int  # the block the members start scanning from
    libraries: dict[str, str] = field(default_factory=dict)

    @property
    def chain_id(self) -> int:
        return int(self.gateway.w3.eth.chain_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "rpc": self.url,
            "start_block": self.block,
            "endpoint": self.gateway.address,
            "contracts": {
                "gateway": {"address": self.gateway.address, "abi": self.gateway.abi},
                "wrapped": {"address": self.wrapped.address, "abi": self.wrapped.abi},
                "registry": {"address": self.registry.address, "abi": self.registry.abi},
            },
            "libraries": dict(self.libraries),
        }


@dataclass
class Deployment:
    consortium_url: str
    ethereum_url: str
    vault: Contract
    asset: Contract
    gateway: Contract
    wrapped: Contract
    consortium_block: int
    ethereum_block: int
    registry_c: Contract | None = None
    registry_e: Contract | None = None
    # External libraries the endpoints link, per chain ("consortium", "ethereum"): {name: address}.
    libraries: dict[str, dict[str, str]] = field(default_factory=dict)
    # further wrapped chains of the asset (deploy_spoke), by name; empty: the two-chain bridge
    spokes: dict[str, Spoke] = field(default_factory=dict)
    # the issuer's register of record on the consortium chain (IssuerRegistry; issue 19)
    issuer: Contract | None = None

    def wrapped_chains(self) -> dict[str, tuple[Contract, Contract]]:
        """Every chain holding a wrapped token of the asset: name -> (its gateway, the token);
        Ethereum first, then the spokes."""
        out = {"ethereum": (self.gateway, self.wrapped)}
        out.update({name: (s.gateway, s.wrapped) for name, s in self.spokes.items()})
        return out

    def to_json(self) -> dict[str, Any]:
        """Addresses, ABIs and start blocks, as written to the deployment file."""

        def entry(c: Contract | None) -> dict[str, Any]:
            assert c is not None
            return {"address": c.address, "abi": c.abi}

        wc, we = Web3(HTTPProvider(self.consortium_url)), Web3(HTTPProvider(self.ethereum_url))
        return {
            "version": 1,
            "chains": {
                "consortium": {
                    "chain_id": wc.eth.chain_id,
                    "rpc": self.consortium_url,
                    "start_block": self.consortium_block,
                    "endpoint": self.vault.address,
                    "contracts": {
                        "vault": entry(self.vault),
                        "asset": entry(self.asset),
                        "registry": entry(self.registry_c),
                        **({"issuer": entry(self.issuer)} if self.issuer is not None else {}),
                    },
                    "libraries": dict(self.libraries.get("consortium", {})),
                },
                "ethereum": {
                    "chain_id": we.eth.chain_id,
                    "rpc": self.ethereum_url,
                    "start_block": self.ethereum_block,
                    "endpoint": self.gateway.address,
                    "contracts": {
                        "gateway": entry(self.gateway),
                        "wrapped": entry(self.wrapped),
                        "registry": entry(self.registry_e),
                    },
                    "libraries": dict(self.libraries.get("ethereum", {})),
                },
                **{name: spoke.to_json() for name, spoke in self.spokes.items()},
            },
        }


def deploy_bridge(
    consortium_url: str,
    ethereum_url: str,
    group_public_key: bytes,
    *,
    admin: LocalAccount | None = None,
    profile: Profile | None = None,
    out: Path | None = None,
) -> Deployment:
    """Deploy and wire both sides; `group_public_key` is the 96-byte compressed G2 group key."""
    admin = admin or dev_account(0)
    profile = profile or devnet_profile()
    wc = Web3(HTTPProvider(consortium_url))
    we = Web3(HTTPProvider(ethereum_url))
    c_id, e_id = wc.eth.chain_id, we.eth.chain_id
    key = g2_to_eip2537(group_public_key)
    guardian = profile.guardian or admin.address

    registry_c = deploy(wc, admin, "KycRegistry", admin.address)
    registry_e = deploy(we, admin, "KycRegistry", admin.address)
    if profile.deploy_test_asset:
        asset = deploy(wc, admin, "TestAsset", profile.asset_name, profile.asset_symbol, admin.address)
    else:
        if profile.asset_address is None:
            raise ValueError(f"profile {profile.name}: asset_address is required without a test asset")
        asset = wc.eth.contract(
            address=Web3.to_checksum_address(profile.asset_address), abi=artifact("TestAsset")["abi"]
        )
    delay = profile.action_delay
    vault = deploy(wc, admin, "QiaoVault", admin.address, guardian, key, registry_c.address, delay)
    gateway = deploy(we, admin, "QiaoGateway", admin.address, guardian, key, registry_e.address, delay)
    wrapped = deploy(
        we,
        admin,
        "WrappedToken",
        f"Wrapped {profile.asset_name}",
        f"w{profile.asset_symbol}",
        gateway.address,
        registry_e.address,
        admin.address,
    )
    for w3, endpoint in ((wc, vault), (we, gateway)):
        send(w3, admin, endpoint.functions.setChallengePeriod(profile.challenge_period))
    if profile.challenge_threshold:
        send(wc, admin, vault.functions.setChallenge(asset.address, profile.challenge_threshold))
        send(we, admin, gateway.functions.setChallenge(wrapped.address, profile.challenge_threshold))
    send(wc, admin, vault.functions.registerToken(e_id, asset.address, wrapped.address))
    send(we, admin, gateway.functions.registerToken(c_id, wrapped.address, asset.address))
    freezer = registry_e.functions.FREEZER_ROLE().call()
    send(we, admin, registry_e.functions.grantRole(freezer, gateway.address))
    # the gateway applies the issuer's decisions carried from C through the token's agent functions
    send(we, admin, wrapped.functions.addAgent(gateway.address))
    allow = list(dict.fromkeys(Web3.to_checksum_address(a) for a in profile.allow))
    if allow:
        send(wc, admin, registry_c.functions.setAllowedBatch(allow, True))
        send(we, admin, registry_e.functions.setAllowedBatch(allow, True))
    lim = profile.limit
    for direction in (OUTBOUND, INBOUND):
        send(
            wc,
            admin,
            vault.functions.setRateLimit(asset.address, direction, lim.capacity, lim.refill_per_second),
        )
        send(
            we,
            admin,
            gateway.functions.setRateLimit(wrapped.address, direction, lim.capacity, lim.refill_per_second),
        )
    # deployed last so that the other contracts keep the addresses the example profile names
    issuer = deploy(wc, admin, "IssuerRegistry", admin.address)
    dep = Deployment(
        consortium_url,
        ethereum_url,
        vault,
        asset,
        gateway,
        wrapped,
        wc.eth.block_number,
        we.eth.block_number,
        registry_c,
        registry_e,
        {"consortium": libraries_on(wc), "ethereum": libraries_on(we)},
        issuer=issuer,
    )
    if out is not None:
        write_deployment(out, dep)
    return dep


def deploy_spoke(
    dep: Deployment,
    name: str,
    url: str,
    group_public_key: bytes,
    *,
    admin: LocalAccount | None = None,
    profile: Profile | None = None,
) -> Spoke:
    """A further chain for the consortium chain's asset (a third chain): on it a KYC registry, a
    QiaoGateway and a WrappedToken of the asset, set up as `deploy_bridge` sets up Ethereum's
    (challenge period and threshold, the registry's freezer role for the gateway, the allow-list,
    the rate limits); the pair registered both ways (on the vault toward this chain, on the new
    gateway toward the consortium chain). Adds the spoke to `dep.spokes` and returns it."""
    admin = admin or dev_account(0)
    profile = profile or devnet_profile()
    if name in ("consortium", "ethereum") or name in dep.spokes:
        raise ValueError(f"spoke {name!r}: the deployment already has a chain of that name; choose another")
    wc = dep.vault.w3
    ws = Web3(HTTPProvider(url))
    c_id, s_id = int(wc.eth.chain_id), int(ws.eth.chain_id)
    taken = {c_id: "consortium", int(dep.gateway.w3.eth.chain_id): "ethereum"}
    taken.update({spoke.chain_id: other for other, spoke in dep.spokes.items()})
    if s_id in taken:
        raise ValueError(f"spoke {name!r}: {url} has chain id {s_id}, already the chain {taken[s_id]!r}'s")
    key = g2_to_eip2537(group_public_key)
    guardian = profile.guardian or admin.address
    registry = deploy(ws, admin, "KycRegistry", admin.address)
    delay = profile.action_delay
    gateway = deploy(ws, admin, "QiaoGateway", admin.address, guardian, key, registry.address, delay)
    wrapped = deploy(
        ws,
        admin,
        "WrappedToken",
        f"Wrapped {profile.asset_name}",
        f"w{profile.asset_symbol}",
        gateway.address,
        registry.address,
        admin.address,
    )
    send(ws, admin, gateway.functions.setChallengePeriod(profile.challenge_period))
    if profile.challenge_threshold:
        send(ws, admin, gateway.functions.setChallenge(wrapped.address, profile.challenge_threshold))
    send(wc, admin, dep.vault.functions.registerToken(s_id, dep.asset.address, wrapped.address))
    send(ws, admin, gateway.functions.registerToken(c_id, wrapped.address, dep.asset.address))
    send(ws, admin, registry.functions.grantRole(registry.functions.FREEZER_ROLE().call(), gateway.address))
    send(ws, admin, wrapped.functions.addAgent(gateway.address))
    allow = list(dict.fromkeys(Web3.to_checksum_address(a) for a in profile.allow))
    if allow:
        send(ws, admin, registry.functions.setAllowedBatch(allow, True))
    lim = profile.limit
    for direction in (OUTBOUND, INBOUND):
        send(
            ws,
            admin,
            gateway.functions.setRateLimit(wrapped.address, direction, lim.capacity, lim.refill_per_second),
        )
    spoke = Spoke(name, url, gateway, wrapped, registry, int(ws.eth.block_number), libraries_on(ws))
    dep.spokes[name] = spoke
    return spoke


def write_deployment(path: Path, dep: Deployment) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dep.to_json(), indent=2) + "\n")


def load_deployment(path: Path) -> Deployment:
    """Read a deployment file back into contract handles."""
    data = json.loads(path.read_text())
    c, e = data["chains"]["consortium"], data["chains"]["ethereum"]
    wc, we = Web3(HTTPProvider(c["rpc"])), Web3(HTTPProvider(e["rpc"]))

    def at(w3: Web3, item: dict[str, Any]) -> Contract:
        contract: Contract = w3.eth.contract(address=item["address"], abi=item["abi"])
        return contract

    cc, ec = c["contracts"], e["contracts"]
    return Deployment(
        c["rpc"],
        e["rpc"],
        at(wc, cc["vault"]),
        at(wc, cc["asset"]),
        at(we, ec["gateway"]),
        at(we, ec["wrapped"]),
        int(c["start_block"]),
        int(e["start_block"]),
        at(wc, cc["registry"]),
        at(we, ec["registry"]),
        {"consortium": dict(c.get("libraries", {})), "ethereum": dict(e.get("libraries", {}))},
        {
            name: _load_spoke(name, chain)
            for name, chain in data["chains"].items()
            if name not in ("consortium", "ethereum")
        },
        at(wc, cc["issuer"]) if "issuer" in cc else None,
    )


def _load_spoke(name: str, chain: dict[str, Any]) -> Spoke:
    """A spoke (a further wrapped chain) of a deployment file back into contract handles."""
    w3 = Web3(HTTPProvider(chain["rpc"]))
    cc = chain["contracts"]

    def at(item: dict[str, Any]) -> Contract:
        contract: Contract = w3.eth.contract(address=item["address"], abi=item["abi"])
        return contract

    return Spoke(
        name,
        chain["rpc"],
        at(cc["gateway"]),
        at(cc["wrapped"]),
        at(cc["registry"]),
        int(chain["start_block"]),
        dict(chain.get("libraries", {})),
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="relayer.provisioning.deploy", description=__doc__.split("\n")[0] if __doc__ else ""
    )
    p.add_argument("--consortium-rpc", required=True)
    p.add_argument("--ethereum-rpc", required=True)
    p.add_argument("--committee", type=Path, required=True, help="the committee's public file (group key)")
    p.add_argument(
        "--admin-key-file", type=Path, help="hex private key of the deployer (default: anvil account 0)"
    )
    p.add_argument("--profile", choices=["devnet", "testnet"], default="devnet")
    p.add_argument("--guardian", help="guardian address (testnet default: the admin)")
    p.add_argument(
        "--allow", action="append", default=[], help="an address for both allow-lists (repeatable)"
    )
    p.add_argument("--asset", help="testnet: the existing asset on the consortium chain")
    p.add_argument(
        "--action-delay",
        type=int,
        default=TESTNET_ACTION_DELAY,
        help="testnet: seconds a committee-signed RESUME or ROTATE waits, the guardian's time to "
        f"cancel it (at least {TESTNET_ACTION_DELAY}, at most {MAX_ACTION_DELAY})",
    )
    p.add_argument(
        "--challenge-period",
        type=int,
        default=TESTNET_CHALLENGE_PERIOD,
        help="testnet: seconds a transfer at or above the challenge threshold is held for a "
        f"sentinel's veto (1 .. {MAX_CHALLENGE_PERIOD}; default {TESTNET_CHALLENGE_PERIOD})",
    )
    p.add_argument(
        "--challenge-threshold",
        type=int,
        default=TESTNET_CHALLENGE_THRESHOLD,
        help="testnet: the smallest amount (token base units) held for the challenge period; 0 holds "
        f"nothing (default {TESTNET_CHALLENGE_THRESHOLD}: a thousandth of the default daily capacity)",
    )
    p.add_argument(
        "--spoke",
        action="append",
        default=[],
        metavar="NAME=RPC",
        help="a further chain with its own gateway and wrapped token of the asset (e.g. l2=http://...); "
        "repeatable; the members name it [chains.NAME]",
    )
    p.add_argument("--out", type=Path, required=True, help="where the deployment JSON goes")
    args = p.parse_args(argv)
    spokes = []
    for item in args.spoke:
        spoke_name, sep, spoke_url = item.partition("=")
        if not sep or not spoke_name or not spoke_url.startswith(("http://", "https://")):
            p.error(f"--spoke {item!r}: expected NAME=RPC, e.g. l2=http://127.0.0.1:8547")
        spokes.append((spoke_name, spoke_url))

    group_key = load_public_file(args.committee).group_public_key
    admin = (
        Account.from_key(args.admin_key_file.read_text().strip()) if args.admin_key_file else dev_account(0)
    )
    try:
        if args.profile == "devnet":
            profile = devnet_profile()
        else:
            profile = Profile(
                name="testnet",
                guardian=args.guardian,
                allow=tuple(args.allow),
                limit=RateLimit(10**6 * UNIT, 10**6 * UNIT // DAY),
                deploy_test_asset=args.asset is None,
                asset_address=args.asset,
                action_delay=args.action_delay,
                challenge_period=args.challenge_period,
                challenge_threshold=args.challenge_threshold,
            )
        dep = deploy_bridge(args.consortium_rpc, args.ethereum_rpc, group_key, admin=admin, profile=profile)
        for spoke_name, spoke_url in spokes:
            deploy_spoke(dep, spoke_name, spoke_url, group_key, admin=admin, profile=profile)
        write_deployment(args.out, dep)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"relayer.provisioning.deploy: {exc}", file=sys.stderr)
        return 1
    more = "".join(f"  {n} gateway {s.gateway.address}" for n, s in dep.spokes.items())
    print(f"vault {dep.vault.address}  gateway {dep.gateway.address}{more}  -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
