"""One batch as an operator sees it: per member, a valid partial (when), an invalid one (why) or
none. Used by the daemon's admin socket and, when the daemon is down, by the CLI from the store.

Valid partials come from the store (kept until the batch executes; after that the `aggregated`
history entry names the members combined). Refused partials are known only to a running daemon,
in memory (`Node.rejections`): a restart forgets them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from relayer.core.partials import PartialStatus, Received, Rejection, combined_members, member_partials
from relayer.core.states import BatchHead, BatchState
from relayer.core.types import Route


class BatchRecords(Protocol):
    """What the report reads of one batch (the store provides it)."""

    async def batch_head(self, route: Route, first_nonce: int) -> BatchHead | None: ...

    async def received_partials(
        self, route: Route, first_nonce: int
    ) -> list[tuple[int, int, bytes, float]]: ...

    async def history(self, route: Route, nonce: int) -> list[tuple[str, str, float]]: ...


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def batch_report(
    store: BatchRecords,
    route: Route,
    first_nonce: int,
    *,
    members: Collection[int],
    threshold: int,
    rejected: Mapping[int, Rejection],
    heartbeat: Callable[[int], str],
) -> dict[str, Any] | None:
    """The batch of `route` starting at `first_nonce` that this node cut, None if it cut none."""
    head = await store.batch_head(route, first_nonce)
    if head is None:
        return None
    received = [Received(*r) for r in await store.received_partials(route, first_nonce)]
    history = await store.history(route, first_nonce)
    combined = combined_members([d for s, d, _ in history if s == "aggregated"])
    partials = member_partials(
        members,
        last_nonce=head.id.last_nonce,
        message=head.message,
        received=received,
        rejected=rejected,
        combined=combined,
    )
    valid = sum(1 for p in partials if p.partial is PartialStatus.VALID)
    return {
        "route": str(route),
        "first_nonce": first_nonce,
        "last_nonce": head.id.last_nonce,
        "state": str(head.state),
        "root": "0x" + head.root.hex(),
        "threshold": threshold,
        "valid": valid,
        "missing": max(0, threshold - valid) if head.state == BatchState.PENDING else 0,
        "combined": combined,
        "partials": [
            {
                "member": p.member,
                "partial": p.partial.value,
                "at": _iso(p.at),
                "why": p.why or None,
                "heartbeat": heartbeat(p.member),
            }
            for p in partials
        ],
    }
