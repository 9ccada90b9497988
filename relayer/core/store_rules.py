"""The store's words, pure: a failed transfer's history line, and what an operator does about an
unusable store file. (What the signed-once rule allows is `relayer.core.signing`.)
"""

from __future__ import annotations

from pathlib import Path

from relayer.core.refunds import failure_words


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
