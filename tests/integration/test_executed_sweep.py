"""The executed sweep's bitmap reads (`ChainClient.batches_executed`, Node.sweep_executed): many
batches as of the final head in one call, answering as `is_batch_executed` does."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from tests.integration.test_submitter_notices import count_batches
from tests.integration.test_submitter_pending import FINALITY, mine, relayer
from tests.support.signed_batch import SignedBatch


async def test_the_final_bitmaps_of_many_batches_are_read_in_one_json_rpc_batch(
    signed: SignedBatch, we: Web3, tmp_path: Path
) -> None:
    """Sent and mined: executed once its block is final, not before; a range never executed is
    not; each answer is `is_batch_executed`'s, and the bitmaps are read by one eth_call."""
    src = signed.batch.id.route.src
    ranges = [(src, 1, 1), (src, 2, 5), (src, 1, 2)]
    async with relayer(signed, tmp_path / "a.sqlite3", member=1, account=3, receipt_timeout=30.0) as a:
        chain = a.submitter.chain
        assert await chain.batches_executed(ranges) == [False, False, False]
        await a.submitter.step()  # sent, in the mempool
        mine(we)
        assert await chain.is_batch_executed(src, 1, 1, final=False)
        assert await chain.batches_executed(ranges) == [False, False, False]  # not final yet
        mine(we, FINALITY)
        batches = count_batches(chain)
        got = await chain.batches_executed(ranges)
        assert batches == [1]
        assert got == [True, False, False]
        assert got == [await chain.is_batch_executed(*r) for r in ranges]
        assert await chain.batches_executed([]) == []
