"""Committee-signed RESUME and ROTATE on a real anvil endpoint: schedule, wait the delay, execute.

Both only schedule the action (`ActionScheduled`); `executePending` applies it once the endpoint's
action delay has passed (docs/PROTOCOL.md, "Signed actions"). On the devnet the delay is seconds;
`execute_when_due` moves anvil's clock past it instead of sleeping, then executes.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from harness import devnet


def scheduled(endpoint: Contract, receipt: Any) -> tuple[int, int]:
    """The (action nonce, executableAt) of the one action a transaction scheduled."""
    events = endpoint.events.ActionScheduled().process_receipt(receipt)
    assert len(events) == 1, f"expected one ActionScheduled event, got {len(events)}"
    return int(events[0]["args"]["actionNonce"]), int(events[0]["args"]["executableAt"])


def execute_when_due(w3: Web3, account: LocalAccount, endpoint: Contract, receipt: Any) -> Any:
    """Fast-forwards anvil past the scheduled action's `executableAt`, then executes it."""
    nonce, at = scheduled(endpoint, receipt)
    # Refused before the delay: the brake holds while the guardian may still cancel.
    assert endpoint.functions.pendingAction(nonce).call()[4] == 1  # PendingStatus.Pending
    now = int(w3.eth.get_block("latest")["timestamp"])
    if at > now:
        w3.provider.make_request("evm_increaseTime", [at - now])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return devnet.send(w3, account, endpoint.functions.executePending(nonce))
