"""Aggregation by turn (issue 20): the relayer whose turn a batch is aggregates it at once; the
others aggregate only when their own turn comes (counted from the quorum of partials) and only if
the batch is not sent or executed by then. Whole member processes on the devnet."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import devnet
from relayer.core.txmath import batch_rank

pytestmark = pytest.mark.e2e

C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID


def first_batch(events: list[dict], name: str) -> list[dict]:  # type: ignore[type-arg]
    """The member's `name` events for the route's first batch (nonce 1)."""
    return [
        e for e in events if e.get("event") == name and str(e.get("batch", "")).startswith(f"{C}->{E}#1-")
    ]


def test_with_the_turns_relayer_down_the_next_aggregates_and_sends_and_the_later_turns_do_not_aggregate(
    tmp_path: Path,
) -> None:
    """The first batch's turn (rank 0) is member `down`, which is stopped: the member of rank 1
    aggregates and sends it, within its stagger from the quorum (it does not wait a further
    stagger after its own aggregation, else the rank-2 member's turn would come with it); the
    members of ranks 2 and 3 never aggregate it (it is sent and executed before their turns)."""
    rank = {m: batch_rank(m, 4, C, E, 1) for m in range(1, 5)}
    down = next(m for m, r in rank.items() if r == 0)
    second = next(m for m, r in rank.items() if r == 1)
    later = [m for m, r in rank.items() if r >= 2]
    with devnet.devnet(tmp_path / "net", down=(down,), block_time=0.5) as net:
        # every member connected before the lock: one that subscribes after the others published
        # their partials hears them only at their re-publication (2 s later), and its turn with it
        for m in net.nodes:
            net.wait_ready(m)
        result = devnet.round_trip(net, locks=1, burns=1, timeout=120, say=lambda s: None)
        assert result.supply_ok
        sent = first_batch(net.nodes[second].events(), "batch_submitted")
        assert sent, f"member {second} (rank 1) did not send the first batch"
        assert first_batch(net.nodes[second].events(), "batch_aggregated")
        for m in later:
            assert not first_batch(net.nodes[m].events(), "batch_submitted"), f"member {m} sent it too"
            assert not first_batch(net.nodes[m].events(), "batch_aggregated"), (
                f"member {m} (rank {rank[m]}) aggregated a batch sent before its turn"
            )
