"""The on-chain side of operations: the endpoint's pause and guardian, and the supply of each token pair.

These read (and, for the guardian's pause, send) through the node's chain clients; the admin
socket's verbs call them (relayer.ops.admin) and the health loop refreshes their gauges.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import structlog
from eth_account import Account
from eth_utils.address import to_checksum_address

from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.config import ConfigError, read_secret_file
from relayer.core.types import ChainId
from relayer.ops.admin_client import AdminError
from relayer.ops.reconciler import supply_violations

log = structlog.get_logger(__name__)

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "a", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "totalSupply",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "gateway",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
]


ENDPOINT_OPS_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "paused",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {"type": "function", "name": "pause", "stateMutability": "nonpayable", "inputs": [], "outputs": []},
    {
        "type": "function",
        "name": "guardian",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
    {
        "type": "function",
        "name": "availableCapacity",
        "stateMutability": "view",
        "inputs": [{"name": "token", "type": "address"}, {"name": "direction", "type": "uint8"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]
UNLIMITED = 2**256 - 1


async def guardian_checked(
    chains: Mapping[ChainId, ChainClient], chain_ids: list[ChainId], guardian_key_file: str
) -> tuple[Any, dict[ChainId, bool]]:
    """The guardian's account, checked against every endpoint's `guardian()`, and whether each
    endpoint is paused already. Raises AdminError before anything changes."""
    try:
        key = read_secret_file(Path(guardian_key_file), "guardian key file")
    except ConfigError as exc:
        raise AdminError(f"{exc}; nothing was paused") from None
    try:
        guardian = Account.from_key(key)
    except Exception:  # what eth_account raises for garbage varies; never echo the key
        raise AdminError(
            f"guardian key file {guardian_key_file}: not a private key (0x + 64 hex digits); "
            "nothing was paused"
        ) from None
    already: dict[ChainId, bool] = {}
    for chain_id in chain_ids:
        chain = chains[chain_id]
        endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
        try:
            already[chain_id] = bool(await endpoint.functions.paused().call())
            on_chain_guardian = await endpoint.functions.guardian().call()
        except Exception as exc:
            raise AdminError(
                f"{chain.cfg.name}: cannot read the endpoint's guardian ({exc!r}); nothing was paused"
            ) from exc
        if not already[chain_id] and to_checksum_address(on_chain_guardian) != guardian.address:
            raise AdminError(
                f"{chain.cfg.name}: the endpoint's guardian is {on_chain_guardian}, the key file holds "
                f"{guardian.address}; nothing was paused (neither here nor on-chain); use the "
                "guardian's key"
            )
    return guardian, already


async def send_pause(chain: ChainClient, guardian: Any) -> dict[str, Any]:
    endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
    tx = await endpoint.functions.pause().build_transaction(
        {
            "from": guardian.address,
            "nonce": await chain.w3.eth.get_transaction_count(guardian.address, "pending"),
            "chainId": chain.chain_id,
        }
    )
    signed = guardian.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = await chain.w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    ok = receipt["status"] == 1
    sent = "0x" + bytes(tx_hash).hex()
    log.warning("operator_pause_on_chain", chain=chain.cfg.name, tx=sent, ok=ok)
    if not ok:
        raise RuntimeError(f"the pause transaction {sent} reverted")
    return {"chain": chain.cfg.name, "tx": sent, "result": "paused"}


async def endpoints_paused(chains: Mapping[ChainId, ChainClient]) -> dict[str, bool | None]:
    """Each chain's endpoint `paused()` (None when the contract has no pause)."""
    out: dict[str, bool | None] = {}
    for chain in chains.values():
        endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
        try:
            value: bool | None = bool(await endpoint.functions.paused().call())
        except Exception:
            value = None
        out[chain.cfg.name] = value
        if value is not None:
            metrics.ENDPOINT_PAUSED.labels(chain.cfg.name).set(1 if value else 0)
    return out


async def pair_supply(
    chains: Mapping[ChainId, ChainClient], a: tuple[int, str], b: tuple[int, str]
) -> dict[str, Any] | None:
    """The supply check of one token pair, read from both chains: which side is wrapped (its
    `gateway()` is the endpoint), the amount locked on the home side and the wrapped supply,
    judged by the one S3 check (relayer.ops.reconciler); None when neither side is wrapped."""

    async def is_wrapped(side: tuple[int, str]) -> bool:
        chain = chains.get(ChainId(side[0]))
        if chain is None:
            return False
        token = chain.w3.eth.contract(address=to_checksum_address(side[1]), abi=ERC20_ABI)
        try:
            gateway = await token.functions.gateway().call()
        except Exception:
            return False
        return bool(to_checksum_address(gateway) == chain.endpoint.address)

    if await is_wrapped(b):
        home, wrapped = a, b
    elif await is_wrapped(a):
        home, wrapped = b, a
    else:
        return None
    hc = chains[ChainId(home[0])]
    wc = chains[ChainId(wrapped[0])]
    home_token = hc.w3.eth.contract(address=to_checksum_address(home[1]), abi=ERC20_ABI)
    wrapped_token = wc.w3.eth.contract(address=to_checksum_address(wrapped[1]), abi=ERC20_ABI)
    for chain, token in ((hc, home[1]), (wc, wrapped[1])):
        await headroom(chain, token)
    locked = int(await home_token.functions.balanceOf(hc.endpoint.address).call())
    supply = int(await wrapped_token.functions.totalSupply().call())
    pair = f"{hc.cfg.name}:{home[1][:10]}/{wc.cfg.name}:{wrapped[1][:10]}"
    return {
        "pair": pair,
        "home_chain": hc.cfg.name,
        "home_token": home[1],
        "wrapped_chain": wc.cfg.name,
        "wrapped_token": wrapped[1],
        "locked": str(locked),
        "wrapped": str(supply),
        "in_flight": str(locked - supply),
        "ok": not supply_violations(supply, locked, settled=False),
    }


async def headroom(chain: ChainClient, token: str) -> None:
    """Export the endpoint's rate-limit headroom for `token`, both directions (none: unlimited)."""
    endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
    for direction, name in ((0, "outbound"), (1, "inbound")):
        try:
            value = int(
                await endpoint.functions.availableCapacity(to_checksum_address(token), direction).call()
            )
        except Exception:  # a contract without rate limits
            return
        gauge = metrics.RATE_LIMIT_HEADROOM.labels(chain.cfg.name, token, name)
        if value == UNLIMITED:
            metrics.RATE_LIMIT_HEADROOM.remove(chain.cfg.name, token, name)
        else:
            gauge.set(value)
