"""Which logs of an eth_getLogs reply a member may use (pure: the chain client does the I/O).

A member signs what its endpoint says happened, so every log must be the endpoint contract's own
log, from inside the block range asked, not `removed`, with well-formed hashes, and from the block
the chain has at that number (`judge_logs` with the canonical hashes of `blocks_to_check`). One bad
log refuses the whole reply: nothing of it is stored, and the watcher reads the range again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class LogFault(Enum):
    NOT_CANONICAL = "not_canonical"  # its block hash is not the chain's block at its number
    OUT_OF_RANGE = "out_of_range"  # its block is outside the range asked for
    WRONG_ADDRESS = "wrong_address"  # another contract's log
    REMOVED = "removed"  # `removed` is not false: a log of a block reorged out
    BAD_HASH = "bad_hash"  # a block or transaction hash that is not 32 bytes of hex
    END_MISMATCH = "end_mismatch"  # its block at the range's end is not the one read before the logs
    MALFORMED = "malformed"  # a log no other endpoint (of the quorum) serves that does not decode


@dataclass(frozen=True, slots=True)
class LogPlace:
    """Where a raw log says it comes from (its content is decoded elsewhere)."""

    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: str
    removed: object

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> LogPlace:
        """From a raw JSON-RPC log; a missing `removed` counts as false (some nodes omit it)."""
        return cls(
            address=str(entry.get("address", "")),
            block_number=_quantity(entry.get("blockNumber")),
            block_hash=_text(entry.get("blockHash")),
            tx_hash=_text(entry.get("transactionHash")),
            log_index=_text(entry.get("logIndex")),
            removed=entry.get("removed", False),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    fault: LogFault
    place: LogPlace
    canonical_hash: str | None = None

    def describe(self) -> str:
        p = self.place
        where = f"log {p.tx_hash}#{p.log_index} in block {p.block_number} ({p.block_hash})"
        known = self.canonical_hash or "unknown to the endpoint"
        why = {
            LogFault.NOT_CANONICAL: f"the chain's block {p.block_number} is {known}",
            LogFault.OUT_OF_RANGE: "its block is outside the range asked for",
            LogFault.WRONG_ADDRESS: f"it was emitted by {p.address}, not the endpoint",
            LogFault.REMOVED: f"removed is {p.removed!r}",
            LogFault.BAD_HASH: "a block or transaction hash is not 32 bytes of hex",
            LogFault.END_MISMATCH: f"the range's last block was {known} when read before the logs",
            LogFault.MALFORMED: "it is not a valid event, and the quorum of endpoints serves another log",
        }[self.fault]
        return f"{where}: {why}"


def blocks_to_check(places: Iterable[LogPlace]) -> tuple[int, ...]:
    """The distinct blocks whose canonical hash the logs need (none for an empty reply)."""
    return tuple(sorted({p.block_number for p in places}))


def judge_log(
    place: LogPlace, *, endpoint: str, first: int, last: int, canonical: Mapping[int, str] | None
) -> LogFault | None:
    """What is wrong with one log, if anything. `canonical` None: judge the shape only."""
    if not (_HASH.fullmatch(place.block_hash) and _HASH.fullmatch(place.tx_hash)):
        return LogFault.BAD_HASH
    if place.removed is not False:
        return LogFault.REMOVED
    if place.address.lower() != endpoint.lower():
        return LogFault.WRONG_ADDRESS
    if not first <= place.block_number <= last:
        return LogFault.OUT_OF_RANGE
    if canonical is not None:
        known = canonical.get(place.block_number)
        if known is None or known.lower() != place.block_hash.lower():
            return LogFault.NOT_CANONICAL
    return None


def judge_logs(
    places: Iterable[LogPlace],
    *,
    endpoint: str,
    first: int,
    last: int,
    canonical: Mapping[int, str] | None,
) -> Refusal | None:
    """The first log of a reply that may not be used, or None if all may."""
    for place in places:
        fault = judge_log(place, endpoint=endpoint, first=first, last=last, canonical=canonical)
        if fault is not None:
            known = canonical.get(place.block_number) if canonical is not None else None
            return Refusal(fault, place, known)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value if isinstance(value, str) else repr(value)


def _quantity(value: Any) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return -1
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return -1  # outside any range: refused as OUT_OF_RANGE (the decoder also refuses it)
