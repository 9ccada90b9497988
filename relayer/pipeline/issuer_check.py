"""The relayer's comparison of every registered pair's asset with the issuer's register on the
source (review of issue 19, finding #5): not only the tokens the carried decisions named, but every
wrapped token the follower's gateway paired with an asset of the source (`TokenRegistered`, read
incrementally up to the final head; a pair never changes once registered), its asset status, NAV
and the number of the last decision on each side (`relayer.core.issuer_scan.pair_difference`).
A token with a decision still open (being signed) or waiting for its pair is skipped: it is in
flight, not different."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.core.issuer_scan import pair_difference
from relayer.core.items import nav_age
from relayer.core.types import ChainId

CHUNKS_PER_CHECK = 50  # block ranges of registrations read per check; the next check goes on


@dataclass
class RegisteredPairs:
    """The pairs each follower's gateway registered with the source (follower -> its token -> the
    source's asset), read up to `next_block` - 1 (in memory: read again from the start after a
    restart)."""

    pairs: dict[ChainId, dict[str, str]] = field(default_factory=dict)
    next_block: dict[ChainId, int] = field(default_factory=dict)

    async def read(self, dst: ChainClient, source: ChainId) -> dict[str, str]:
        """`dst`'s pairs with `source`, caught up toward its final head."""
        chain_id = ChainId(dst.chain_id)
        pairs = self.pairs.setdefault(chain_id, {})
        first = self.next_block.get(chain_id, dst.cfg.start_block)
        final = await dst.final_head()
        for _ in range(CHUNKS_PER_CHECK):
            if first > final:
                break
            last = min(final, first + dst.cfg.max_block_range - 1)
            for remote_chain, local, remote in await dst.token_registrations(first, last):
                if remote_chain == source:
                    pairs[local] = remote
            first = last + 1
            self.next_block[chain_id] = first
        return pairs


async def asset_mismatches(
    followers: Mapping[str, ChainClient],
    src: ChainClient,
    registry: str,
    registered: RegisteredPairs,
    busy: Mapping[ChainId, Iterable[str]],
    nav_max_age: float,
    now: float,
) -> dict[str, list[str]]:
    """Follower chain name -> the differences of its registered pairs with the source's issuer
    registry (both read at their final heads), skipping the tokens in `busy` (follower -> tokens
    with a decision in flight). Sets `qiao_asset_status_mismatch`, `qiao_nav_age_seconds` and
    `qiao_nav_stale` for every pair."""
    out: dict[str, list[str]] = {}
    for name, dst in followers.items():
        pairs = await registered.read(dst, ChainId(src.chain_id))
        skip = {t.lower() for t in busy.get(ChainId(dst.chain_id), ())}
        found = []
        for token, asset in sorted(pairs.items()):
            e_state = await dst.token_asset_state(token)
            age = nav_age(e_state, now)
            metrics.NAV_AGE_SECONDS.labels(name, token).set(-1 if age is None else age)
            metrics.NAV_STALE.labels(name, token).set(1 if age is None or age > nav_max_age else 0)
            if token.lower() in skip:
                continue
            c_state = await src.issuer_asset_state(registry, asset)
            c_sequence = await src.issuer_registry_sequence(registry, asset)
            e_sequence = await dst.issuer_sequence(token, final=True)
            metrics.ASSET_STATUS_MISMATCH.labels(name, token).set(int(c_state.status != e_state.status))
            why = pair_difference(token, c_state, e_state, c_sequence, e_sequence)
            if why is not None:
                found.append(why)
        out[name] = found
    return out
