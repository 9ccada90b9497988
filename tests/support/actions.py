"""Committee-signed RESUME and ROTATE on a real anvil endpoint: sign (a RESUME for the endpoint's
current pause and until a deadline), schedule, wait the delay, execute.

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
from relayer.core.encoding import action_params, resume_fields

RESUME_WINDOW = 3_600  # seconds of chain time a test's RESUME may be submitted in (its deadline)


def resume_params(w3: Web3, endpoint: Contract, window: int = RESUME_WINDOW) -> bytes:
    """The params of a RESUME of `endpoint`'s current pause (`pauseCount()`) that may be submitted
    until `window` seconds after the latest block's timestamp (its signed deadline)."""
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + window
    pause_count = int(endpoint.functions.pauseCount().call())
    return action_params("resume", pause_count=pause_count, deadline=deadline)


def resume_message(endpoint: Contract, key_epoch: int, params: bytes) -> bytes:
    """The endpoint's own RESUME message for its next action nonce (`actionMessage`)."""
    typehash = endpoint.functions.RESUME_TYPEHASH().call()
    return bytes(endpoint.functions.actionMessage(typehash, key_epoch, params).call())


def resume_call(endpoint: Contract, key_epoch: int, params: bytes, signature: bytes) -> Any:
    """`resume(keyEpoch, deadline, signature)` with the deadline the RESUME `params` were signed for."""
    return endpoint.functions.resume(key_epoch, resume_fields(params)[1], signature)


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
