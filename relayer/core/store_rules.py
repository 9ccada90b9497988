"""The store's business rules, pure: what the signed-once guard allows, and the store's words.

The signed-once guard's decisions (a batch or a refund signed once, never contradicted), a failed
transfer's history line, and what an operator does about an unusable store file. The store
(`relayer.adapters.store`) reads the rows and writes the outcome; what is allowed is decided here,
with no database in sight.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from relayer.core.refunds import failure_words
from relayer.core.states import Equivocation, SignedRange
from relayer.core.types import BatchId, Route


def remedy(path: Path) -> str:
    """What an operator does about an unusable store file (docs/OPERATIONS.md, 'A corrupted store')."""
    name = path.name
    return (
        f"the node does not start (and never signs) from it. With the node stopped, either restore "
        f"{name} from a backup, or delete {name}, {name}-wal and {name}-shm in {path.parent} so the "
        "node rebuilds its store from the chains (safe: the same batches are cut again and the "
        "destination's executed bitmap keeps anything from executing twice); see "
        "docs/OPERATIONS.md, 'A corrupted store'"
    )


def failure_detail(reason: int, block_number: int, tx_hash: str) -> str:
    """A transfer's `failed` history line: why the destination did not deliver it, and where."""
    return f"{failure_words(reason)}: TransferFailed in block {block_number}, tx {tx_hash}"


def signed_before(
    bid: BatchId, key_epoch: int, root: bytes, message: bytes, overlapping: Iterable[SignedRange]
) -> bytes | None:
    """The signed-once guard: given what this member signed on nonce ranges overlapping `bid`,
    the partial recorded for this exact batch (publish it again, never re-sign), or None when
    nothing overlaps (sign and record). Raises `Equivocation` if an overlapping range was signed
    with anything else (another range, epoch, root or message)."""
    for signed in overlapping:
        same = (
            signed.first_nonce == bid.first_nonce
            and signed.last_nonce == bid.last_nonce
            and signed.key_epoch == key_epoch
            and signed.root == root
            and signed.message == message
        )
        if not same:
            raise Equivocation(
                f"batch {bid} overlaps {signed.first_nonce}-{signed.last_nonce} signed "
                f"earlier with root 0x{signed.root.hex()}; refusing to sign "
                f"root 0x{root.hex()}"
            )
        return signed.partial
    return None


def check_refund_message(route: Route, nonce: int, approved: bytes | None, message: bytes) -> None:
    """A refund approved once is approved with one message: raises `Equivocation` if `approved`
    (the message recorded at approval, if any) differs from `message`."""
    if approved is not None and approved != message:
        raise Equivocation(
            f"refund of {route}#{nonce} was approved with message "
            f"0x{approved.hex()}; refusing 0x{message.hex()}"
        )
