"""How far a relayer trusts another's "sent batch X in tx H" notice (relayer.core.messages.SentMessage).

Under a backlog two relayers whose turns have both come often pass the pending check at the same
instant and both send; the second copy reverts and costs gas. A relayer that sends a batch says so
on the broker, and the next one in turn waits for that transaction instead of racing it. The broker
is not authenticated, so a notice is a hint, never a fact: it holds a relayer back only while

- the node knows transaction H, sent to this chain's endpoint with exactly this batch's
  `executeBatch` calldata, and not mined yet (`judge`); a mined one is left to the executed bitmap,
  which says whether it executed the batch; and
- less than `limit` (the relayer's `receipt_timeout`, what it would give its own transaction) has
  passed since the relayer first consulted a notice for the batch (`holds`; the moment is kept
  while the batch is in flight): later notices, with other hashes, or the same one sent again after
  a flood pushed it out of the relayer's table, do not extend it, so forged notices cannot stall a
  batch for ever.

Past either, the relayer goes on as without a notice: bitmap, pending state, send.

A relayer also claims a batch before its estimate (a notice without a transaction, and the same
once signed while its node may not know the transaction yet): that holds back only a relayer whose
turn comes after the claimant's, and for at most a grace from that moment (`claim_holds`), so
two relayers claiming at once do not both stand back, and forged claims delay a batch by the grace
at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    PENDING = "pending"  # H is this batch's executeBatch, waiting in the node's mempool: wait for it
    MINED = "mined"  # H is mined: the executed bitmap decides (executed, or reverted and sent again)
    UNKNOWN = "unknown"  # the node does not know H (forged, or dropped)
    NOT_ENDPOINT = "not_to_the_endpoint"  # H is sent elsewhere
    NOT_THIS_BATCH = "not_this_batch"  # H's calldata is not this batch's executeBatch


@dataclass(frozen=True, slots=True)
class TxView:
    """What the node says of a transaction: its recipient, its input and whether it is mined."""

    to: str | None
    data: bytes
    mined: bool


def judge(tx: TxView | None, endpoint: str, calldata: bytes) -> Verdict:
    """The verdict on a notice whose transaction the node describes as `tx` (None: unknown), for
    the batch whose `executeBatch` calldata to `endpoint` is `calldata`."""
    if tx is None:
        return Verdict.UNKNOWN
    if tx.to is None or tx.to.lower() != endpoint.lower():
        return Verdict.NOT_ENDPOINT
    if tx.data != calldata:
        return Verdict.NOT_THIS_BATCH
    return Verdict.MINED if tx.mined else Verdict.PENDING


def holds(first_notice_at: float, now: float, limit: float) -> bool:
    """Whether a notice first received at `first_notice_at` may still hold a relayer back at
    `now` (monotonic seconds): for `limit` seconds, never longer."""
    return now - first_notice_at < limit


def claim_holds(claimant_rank: int, own_rank: int, first_notice_at: float, now: float, grace: float) -> bool:
    """Whether a claim (or a transaction the node does not know yet) by the relayer of
    `claimant_rank` holds back this relayer of `own_rank` at `now`: only if the claimant's turn
    comes first, and for `grace` seconds from `first_notice_at` (when this relayer first
    consulted a notice for the batch)."""
    return claimant_rank < own_rank and holds(first_notice_at, now, grace)
