"""The operator transfer of `relayer devnet lock|burn`: a lock or a burn from a devnet's deployment file.

A provisioning tool in the wheel (the CLI runs it), kept apart from the development harness
(`harness.devnet` writes the deployment file and runs the chains it names).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.logs import DISCARD

from relayer.provisioning.deploy import load_deployment, send

UNIT = 10**18


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _key_of(data: dict[str, Any], name: str) -> Any:
    from eth_account import Account

    key_file = Path(data["devnet"]["accounts"][name]["key_file"])
    return Account.from_key(key_file.read_text().strip())


def _units(amount: str) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(amount) * UNIT
    except InvalidOperation:
        raise ValueError(f"--amount {amount!r} is not a number; give whole tokens, e.g. --amount 5") from None
    if value <= 0 or value != value.to_integral_value():
        raise ValueError(f"--amount {amount}: must be > 0 with at most 18 decimals")
    return int(value)


def operator_transfer(
    deployment: Path, direction: str, amount: str, to: str | None, wait: float, *, chain: str = "ethereum"
) -> dict[str, Any]:
    """A lock on the consortium chain (alice's TBILL to `to`, default bob, on the wrapped chain
    `chain`: Ethereum, or a further chain of the deployment such as the L2 of `--chains 3`) or a
    burn on that chain (bob's wTBILL to `to`, default alice, on the consortium chain), from the
    devnet's deployment file; with `wait` > 0, waits that long for the committee to execute it."""
    units = _units(amount)
    data = json.loads(deployment.read_text())
    dep = load_deployment(deployment)
    wrapped_chains = dep.wrapped_chains()
    if chain not in wrapped_chains:
        raise ValueError(
            f"--chain {chain!r}: not a wrapped chain of {deployment}; it has {', '.join(wrapped_chains)}"
        )
    gateway, wrapped = wrapped_chains[chain]
    wrapped_url = dep.ethereum_url if chain == "ethereum" else dep.spokes[chain].url
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(wrapped_url))
    for w3, url in ((wc, dep.consortium_url), (we, wrapped_url)):
        if not w3.is_connected():
            raise RuntimeError(
                f"the chain at {url} does not answer; is `scripts/demo.sh --keep-running` of {deployment} "
                "still running?"
            )
    c_id, e_id = wc.eth.chain_id, we.eth.chain_id
    if direction == "lock":
        sender, default_to = _key_of(data, "alice"), "bob"
        w3, endpoint, token = wc, dep.vault, dep.asset
        dst_w3, dst_endpoint, src_id, dst_id = we, gateway, c_id, e_id
    else:
        sender, default_to = _key_of(data, "bob"), "alice"
        w3, endpoint, token = we, gateway, wrapped
        dst_w3, dst_endpoint, src_id, dst_id = wc, dep.vault, e_id, c_id
    recipient = Web3.to_checksum_address(to or data["devnet"]["accounts"][default_to]["address"])
    endpoint = w3.eth.contract(address=endpoint.address, abi=endpoint.abi)
    token = w3.eth.contract(address=token.address, abi=token.abi)
    balance = token.functions.balanceOf(sender.address).call()
    if balance < units:
        if direction == "burn":
            raise ValueError(
                f"bob holds {balance / UNIT} wTBILL, less than {amount}; "
                "lock more first (relayer devnet lock)"
            )
        send(w3, _key_of(data, "admin"), token.functions.mint(sender.address, units - balance))
    send(w3, sender, token.functions.approve(endpoint.address, units))
    fn = (
        endpoint.functions.lock(token.address, dst_id, recipient, units)
        if direction == "lock"
        else endpoint.functions.burn(token.address, dst_id, recipient, units)
    )
    receipt = send(w3, sender, fn)
    events = endpoint.events.TransferInitiated().process_receipt(receipt, errors=DISCARD)  # token logs
    nonce = int(events[0]["args"]["nonce"])
    out: dict[str, Any] = {
        "direction": direction,
        "route": f"{src_id}->{dst_id}",
        "nonce": nonce,
        "amount": amount,
        "token": "TBILL" if direction == "lock" else "wTBILL",
        "sender": sender.address,
        "recipient": recipient,
        "tx": "0x" + bytes(receipt["transactionHash"]).hex(),
        "executed": None,
    }
    if wait > 0:
        dst = dst_w3.eth.contract(address=dst_endpoint.address, abi=dst_endpoint.abi)
        wait_until(
            lambda: bool(dst.functions.isExecuted(src_id, nonce).call()),
            wait,
            f"transfer {src_id}->{dst_id}#{nonce} executed on the destination",
            interval=0.5,
        )
        out["executed"] = True
    return out
