"""What a revert of `executeBatch` means for the batch: one pure decision.

A gas estimate that reverts is not always the batch's fault. The endpoint may be paused (the batch
must wait for the committee's resume, then go), or the estimate may have raced a state that moves
(another relayer's transaction in a block this node's next read does not see yet, a reorg below
finality): neither may mark the batch failed for good, which would strand its transfers until an
operator retries it. Only a revert that the same batch would always meet (a bad signature, an
expired key epoch, a malformed batch) is permanent.

The decision is made from the revert data's 4-byte selector (`ContractLogicError.data`).

A refund (`refund` on the transfer's source) has its own rule, `classify_refund_revert`: it is
signed for a transfer that the source recorded and the destination failed, so only a revert that
says the signed refund itself is wrong (no such transfer, a bad signature, an expired key epoch)
is permanent. A refund the source cannot pay *now* waits and is sent again later, never marked
refused: the Inbound bucket is short (`RateLimited`), the sender is not allowed or is frozen
(`NotAllowed`), the wrapped token is frozen (`TokenIsFrozen`) or the sender's wallet is frozen on
it (`AddressIsFrozen`, an ERC-3643 agent's freeze), the asset itself refuses the
sender (any other error, or none: a restricted asset's own rule, which its issuer may lift), or the
key epoch is not known here yet (a rotation that reached the other chain first).

A route cursed by the sentinels (`RouteIsCursed`) stops every entry point of that route until the
committee's signed UNCURSE is executed after the action delay: a batch or a refund meeting it
waits, like a pause; nothing about it is wrong and nothing is lost. So does one whose wrapped
token's asset the issuer suspended on the consortium chain (`AssetSuspended`: a refund mint; a
batch's transfers of that token are queued by the gateway instead, and their releases wait for the
suspension to be lifted: docs/PROTOCOL.md, "Issuer actions, asset status and NAV").
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak


class RevertKind(Enum):
    WAIT = "wait"  # the endpoint is paused: hold the batch, send it once it resumes
    TRANSIENT = "transient"  # state that moves: retry a few times before giving up
    PERMANENT = "permanent"  # the batch or its signature is wrong: never retried


def selector(signature: str) -> str:
    """The 4-byte selector of a Solidity error signature, as 8 lowercase hex digits."""
    return keccak(text=signature)[:4].hex()


ROUTE_IS_CURSED = selector("RouteIsCursed(uint256)")
BATCH_ALREADY_EXECUTED = selector("BatchAlreadyExecuted(uint256,uint64,uint64)")
ASSET_SUSPENDED = selector("AssetSuspended()")  # the wrapped token's asset is suspended on C
_WAIT = {selector("EnforcedPause()"), ROUTE_IS_CURSED, ASSET_SUSPENDED}
_TRANSIENT = {
    BATCH_ALREADY_EXECUTED,  # executed in a block not yet seen
    selector("ReentrancyGuardReentrantCall()"),
    selector("Panic(uint256)"),  # arithmetic on state of the moment (e.g. a block time stepping back)
}


def classify_revert(data: object) -> RevertKind:
    """The kind of a revert from its data (a 0x-hex string, or None/other when the node gave none).

    A revert without data is transient: nothing says the batch is at fault (an estimate cut short,
    a node that drops revert data). An unknown custom error or `Error(string)` is permanent: the
    endpoint's own checks are deterministic for a given batch."""
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return RevertKind.TRANSIENT
    sel = data[2:10].lower()
    if sel in _WAIT:
        return RevertKind.WAIT
    if sel in _TRANSIENT:
        return RevertKind.TRANSIENT
    return RevertKind.PERMANENT


def revert_data(error: object) -> object:
    """The revert data of a JSON-RPC error object (`{"code", "message", "data"}`), as
    `classify_revert` takes it: its `data`, or the `data` nested in it (some nodes wrap it);
    None when it has none."""
    if not isinstance(error, Mapping):
        return None
    data = error.get("data")
    if isinstance(data, Mapping):
        data = data.get("data")
    return data


def executed_per_check(call_error: object, src: int, first: int, last: int) -> bool | None:
    """Whether the batch `src`, `first..last` is executed in the state its `executeBatch` was
    checked on by `eth_call` (the send's check, at the pending tag), from the call's outcome:
    False if it ran through (a transfer of it is still to be consumed there), True if it reverted
    with BatchAlreadyExecuted naming exactly this batch (every transfer consumed: another
    relayer's transaction is pending, or mined), None if it reverted for another reason (a pause,
    a curse, gas), or with that error for another range (no contract of Qiao's does that; a node
    that lies might): nothing said, read it apart. The endpoint checks the batch's consumption
    before its signature, after only the pause and the curse."""
    if call_error is None:
        return False
    data = revert_data(call_error)
    expected = (
        "0x" + BATCH_ALREADY_EXECUTED + abi_encode(["uint256", "uint64", "uint64"], [src, first, last]).hex()
    )
    if isinstance(data, str) and data.lower() == expected:
        return True
    return None


_REFUND_PERMANENT = {
    selector("NotRefundable(uint256,uint64)"),  # no transfer initiated here with these fields
    selector("InvalidSignature()"),
    selector("InvalidSignatureLength(uint256)"),
    selector("IdentitySignature()"),
    selector("KeyEpochExpired(uint64)"),  # past the grace period: needs a refund signed anew
    selector("AlreadyRefunded(uint256,uint64)"),  # (the submitter asks isRefunded first)
}


def classify_refund_revert(data: object) -> RevertKind:
    """The kind of a revert of `refund` from its data: PERMANENT only when the signed refund
    itself is wrong; WAIT for everything else, including `RateLimited`, `NotAllowed`,
    `TokenIsFrozen`, `EnforcedPause`, `RouteIsCursed`, an asset's own error, a revert without data (an asset's
    message-less `require`, a node that drops revert data), a panic, and `UnknownKeyEpoch` (a
    rotation that reached the other chain first): a refund must never be lost to a condition that
    can lift. Never TRANSIENT: a refund is not given up after a few reverts."""
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return RevertKind.WAIT
    if data[2:10].lower() in _REFUND_PERMANENT:
        return RevertKind.PERMANENT
    return RevertKind.WAIT


_ACTION_ERRORS = {
    selector(sig): sig.split("(")[0]
    for sig in (
        "PendingActionStale(uint64)",
        "NoPendingAction(uint64)",
        "ActionNotReady(uint64,uint64)",
        "NotCurrentKeyEpoch(uint64)",
        "ExpectedPause()",
        "EnforcedPause()",
        "KeyUnchanged()",
        "InvalidActionNonce(uint64,uint64)",
        "ActionExpired(uint64)",
        "KeyEpochExpired(uint64)",  # a batch or refund signed under an epoch the endpoint no longer accepts
        "UnknownKeyEpoch(uint64)",
        "RouteIsCursed(uint256)",  # the sentinels cursed the route: an UNCURSE lifts it
        "RouteNotCursed(uint256)",  # an UNCURSE for a route not (or no longer) cursed
        "CurseCountMismatch(uint256,uint64,uint64)",  # an UNCURSE signed for another curse of the route
    )
}


def revert_name(data: object) -> str:
    """The name of a committee action's revert error, or of a key epoch's, from its data (its 4-byte
    selector), or the data itself when it is not one of them (a signature error, another
    contract's)."""
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return f"revert data {data!r}"
    return _ACTION_ERRORS.get(data[2:10].lower(), f"revert data {data[:74]}")
