"""The submitter's pure transaction math: gas limits, whose turn it is to send, and EIP-1559 fees.

Relayers are staggered: for each batch the members take turns by rank (`batch_rank`: the first is
given by a hash of the batch's route and first nonce, `turn`; refunds rotate by nonce,
`refund_rank`). Fees are the chain's base fee doubled plus the configured priority fee, never above
the cap; a replacement raises both by `fee_bump_percent` over the transaction it replaces, and is
refused when the cap leaves no room for the minimum bump a node accepts (`send_fees`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from relayer.core.states import TxRecord

GWEI = 10**9
TX_GAS_CAP = 2**24  # EIP-7825's per-transaction gas limit (Ethereum since Osaka)
MIN_REPLACEMENT_BUMP_PERCENT = 10  # a node refuses a same-nonce replacement bumped by less


def gwei(amount: float) -> int:
    """`amount` gwei in wei (as the configuration gives fees)."""
    return int(amount * GWEI)


def gas_limit(estimate: int) -> int:
    """The gas limit sent for an `estimate`: 20 % + 10,000 of headroom (state may move between
    the estimate and inclusion), but never padded past EIP-7825's cap when the estimate itself is
    under it: a limit over the cap is refused by the node, and the batch would be sent again and
    again. An estimate over the cap is sent as it is (a chain without the cap may take it)."""
    padded = int(estimate * 1.2) + 10_000
    return min(padded, TX_GAS_CAP) if estimate <= TX_GAS_CAP else estimate


# An upper bound of `executeBatch`'s gas, computed from the batch instead of estimated (an
# estimate executes the batch at least once more on the node, and may several times): the
# 21,000 base, the calldata as priced, a fixed part (the BLS pairing check with its gas guard,
# hash-to-G1, the key epoch, the first bitmap and bucket slots) and a part per token pair and
# per transfer, each the worst branch the endpoint's contracts take (a transfer held for its
# challenge window or queued by the rate limit: two fresh storage slots and an event; a
# delivery to a fresh holder with the KYC check; a failure), with a margin. Checked against
# gasUsed on the real contracts for every branch by tests/integration/test_batch_gas_bound.py.
# The send still runs the transaction once (`eth_call` with this limit) before broadcasting it:
# a limit that does not suffice is caught there and the batch is estimated instead.
BATCH_GAS_FIXED = 300_000
BATCH_GAS_PER_PAIR = 12_000
BATCH_GAS_PER_TRANSFER = 55_000


def calldata_gas(data: bytes) -> int:
    """The calldata's intrinsic gas (4 per zero byte, 16 per other byte; EIP-7623's floor is
    below a batch's execution gas and never applies)."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def batch_gas_need(transfers: int, pairs: int, data: bytes) -> int:
    """The most gas an `executeBatch` of `transfers` transfers over `pairs` token pairs with
    calldata `data` takes (see BATCH_GAS_FIXED)."""
    return (
        21_000
        + calldata_gas(data)
        + BATCH_GAS_FIXED
        + BATCH_GAS_PER_PAIR * pairs
        + BATCH_GAS_PER_TRANSFER * transfers
    )


def batch_gas_bound(transfers: int, pairs: int, data: bytes, block_gas_limit: int) -> int:
    """The gas limit to send such a batch with: `batch_gas_need`, never above the block's gas
    limit nor EIP-7825's cap (a batch that needs more fails the send's check and is estimated)."""
    return min(batch_gas_need(transfers, pairs, data), block_gas_limit, TX_GAS_CAP)


def turn(route_src: int, route_dst: int, first_nonce: int, committee_size: int) -> int:
    """Whose turn a batch is, in 0..n-1: spread evenly over the relayers by a hash of the batch's
    route and first nonce (with `first_nonce mod n`, batches of 100 on a committee of 4 all fell
    to the same relayer)."""
    digest = hashlib.sha256(f"qiao-turn:{route_src}:{route_dst}:{first_nonce}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % committee_size


def batch_rank(
    member_index: int, committee_size: int, route_src: int, route_dst: int, first_nonce: int
) -> int:
    """Member `member_index`'s (1-based) place in the turns of a batch (`turn`): 0 sends at once."""
    first = turn(route_src, route_dst, first_nonce, committee_size)
    return (member_index - 1 - first) % committee_size


def refund_rank(member_index: int, committee_size: int, nonce: int) -> int:
    """Member `member_index`'s place in the turns of the refund of transfer `nonce`: 0 sends at
    once (refunds rotate by nonce, not by `turn`)."""
    return (member_index - nonce) % committee_size


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees for one transaction, in wei, with the base fee they were set against."""

    base_fee: int
    max_fee: int
    priority_fee: int


def fees(base_fee: int, priority_fee: int, cap: int) -> Fees:
    """The fees of a new transaction on a chain at `base_fee`: twice the base fee plus the
    priority fee, within `cap` (the priority fee never above the max fee)."""
    max_fee = min(2 * base_fee + priority_fee, cap)
    return Fees(base_fee, max_fee, min(priority_fee, max_fee))


class FeeRefusal(Enum):
    CAP_REACHED = "fee_cap_reached"  # a replacement would need fees over the cap
    BASE_FEE_ABOVE_CAP = "base_fee_above_cap"  # the chain's base fee is above what the cap allows


def send_fees(current: Fees, cap: int, previous: TxRecord | None, bump_percent: int) -> Fees | FeeRefusal:
    """The fees to send with, from `current` (`fees`): a replacement of `previous` (same nonce)
    raises both fees by `bump_percent` over it, clamped to `cap` as long as the clamped fee still
    beats the previous one by the minimum bump a node accepts; a refusal when it cannot, or when the
    fee falls under the base fee (nothing is sent)."""
    max_fee, priority = current.max_fee, current.priority_fee
    if previous is not None:
        bump = 100 + bump_percent
        max_fee = max(max_fee, previous.max_fee * bump // 100)
        priority = max(priority, previous.priority_fee * bump // 100)
        if max_fee > cap:
            if previous.max_fee >= cap or cap * 100 < previous.max_fee * (100 + MIN_REPLACEMENT_BUMP_PERCENT):
                return FeeRefusal.CAP_REACHED
            max_fee = cap
        priority = min(priority, max_fee)
    if max_fee < current.base_fee:
        return FeeRefusal.BASE_FEE_ABOVE_CAP
    return Fees(current.base_fee, max_fee, priority)


def transaction(
    chain_id: int, nonce: int, to: str, data: bytes, estimate: int, fee: Fees, *, exact: bool = False
) -> dict[str, Any]:
    """The unsigned EIP-1559 transaction sending `data` to `to`, its gas limit from `estimate`
    (`gas_limit`), or `estimate` itself if `exact` (a bound already: `batch_gas_bound`)."""
    return {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to,
        "value": 0,
        "data": data,
        "gas": estimate if exact else gas_limit(estimate),
        "maxFeePerGas": fee.max_fee,
        "maxPriorityFeePerGas": fee.priority_fee,
    }
