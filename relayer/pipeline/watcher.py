"""The watcher stage: scans each source chain's final blocks for transfers and failures.

A scan reads one range of final blocks, checks that the blocks it read from are still the chain's
afterwards, and records what it found with the new cursor in one transaction. A reorg deeper
than finality, a malformed event or a chain with no trustworthy endpoint left halts the routes
from that chain (relayer.pipeline.halts).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from relayer import metrics
from relayer.adapters.aio import within
from relayer.adapters.chain import ChainClient, FinalBlockChanged, MalformedEvent, Untrusted
from relayer.adapters.store import StoreError, StoreUnwritable
from relayer.config import NodeConfig
from relayer.core.finality import FinalityEvent, FinalityWatch, observe_finality
from relayer.core.refunds import failure_words
from relayer.core.states import ObservedFailure, ObservedWait
from relayer.core.types import ChainId, Route
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.halts import Halt, HaltKind, Halts
from relayer.pipeline.ports import WatchStore

log = structlog.get_logger(__name__)

# While a chain's head subscription is up, its pushed heads wake the watcher and polling is only the
# safety net (a subscription that stays open but stops pushing): the watcher then polls no more often
# than every PUSHED_POLL_SECONDS (or its `poll_interval`, if longer). Without a subscription, or
# once it drops, it polls every `poll_interval` again.
PUSHED_POLL_SECONDS = 2.0
# Pushed heads wake at most one scan per `poll_interval`, and at least one per PUSH_GAP_MAX_SECONDS
# whatever the poll_interval: a node pushing a flood of heads cannot make the watcher read the RPCs
# more often than polling would, and a chain polled rarely still scans its pushed heads promptly.
PUSH_GAP_MAX_SECONDS = 1.0
SCAN_STALL_SECONDS = 60.0  # a watcher scan taking longer is cancelled (and logged) and started again
# the final head standing still this long while the head grows is a finality stall (Ethereum
# finalizes every epoch, 6.4 min; one missed epoch is 12.8 min): logged once, and alerted on
FINALITY_STALL_SECONDS = 1200.0


class DeepReorg(Exception):
    """A block already treated as final was replaced: the route must stop for an operator."""


@dataclass
class Watcher:
    """Scans every configured source chain; `wake` tells the pipeline something new was stored."""

    cfg: NodeConfig
    store: WatchStore
    chains: Mapping[ChainId, ChainClient]
    halts: Halts
    wake: Callable[[], None]
    finality_stall_seconds: float = FINALITY_STALL_SECONDS
    _finality: dict[ChainId, FinalityWatch] = field(default_factory=dict)
    _pushed: dict[ChainId, asyncio.Event] = field(default_factory=dict)
    _push_up: dict[ChainId, bool] = field(default_factory=dict)
    # whether the last scan of a chain stopped short of the final head it read (max_block_range):
    # only then is the next range read at once; a scan that caught up waits for the next head
    _behind: dict[ChainId, bool] = field(default_factory=dict)
    # the last block of the batch window of the newest transfer read from a chain, until a scan
    # reaches it: that scan completes a window the batcher may cut, so it wakes the pipeline too
    _window_due: dict[ChainId, int] = field(default_factory=dict)

    def head_pushed(self, chain_id: ChainId) -> None:
        """A new head of `chain_id` was pushed (relayer.adapters.heads): scan it now instead of at
        the next poll. A wake-up only: the scan reads everything again through the chain's RPCs."""
        self._pushed.setdefault(chain_id, asyncio.Event()).set()

    def push_state(self, chain_id: ChainId, up: bool) -> None:
        """Whether `chain_id`'s head subscription is up: while it is, the watcher waits for its
        pushed heads and polls only every PUSHED_POLL_SECONDS; once it drops, every
        `poll_interval` again (woken at once, so the first poll does not wait out the longer one)."""
        was = self._push_up.get(chain_id, False)
        self._push_up[chain_id] = up
        if was and not up:
            self._pushed.setdefault(chain_id, asyncio.Event()).set()

    def poll_wait(self, chain: ChainClient) -> float:
        """How long the watcher of `chain` waits for a pushed head before it polls."""
        if self._push_up.get(chain.chain_id, False):
            return max(chain.cfg.poll_interval, PUSHED_POLL_SECONDS)
        return chain.cfg.poll_interval

    async def watch(self, chain: ChainClient) -> None:
        """Scan final blocks for transfer events from the durable cursor, forever: again at once
        while the scan stops short of the final head (a backlog read `max_block_range` at a time),
        else when a head is pushed or after `poll_wait`, whichever is first (with no subscription,
        or one that dropped, that is a poll every `poll_interval`; a head pushed during a scan
        wakes the next one, so no block waits for the poll).
        Pushed heads wake at most one scan per `poll_interval` (or PUSH_GAP_MAX_SECONDS if shorter)."""
        name = chain.cfg.name
        limit = max(SCAN_STALL_SECONDS, 6 * chain.cfg.rpc_timeout)
        pushed = self._pushed.setdefault(chain.chain_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        gap = min(chain.cfg.poll_interval, PUSH_GAP_MAX_SECONDS)
        woken_at = -gap  # when the last scan a push woke started
        while True:
            pushed.clear()  # a head pushed from here on, during the scan, wakes the next wait
            try:
                advanced = await within(limit, self.scan_once(chain))
            except TimeoutError:  # every RPC has its own timeout: a scan this long is stuck somewhere
                metrics.RPC_ERRORS.labels(name).inc()
                log.error(
                    "watcher_scan_stalled", chain=name, seconds=limit, effect="cancelled; scanning again"
                )
                advanced = False
            except FinalBlockChanged as exc:  # the endpoint is quarantined (rpc_quarantined)
                if exc.trusted_left:
                    advanced = False  # read again from another endpoint
                else:
                    self._deep_reorg(chain, exc)
                    return
            except DeepReorg as exc:
                self._deep_reorg(chain, exc)
                return
            except (MalformedEvent, StoreError) as exc:
                metrics.MALFORMED_EVENTS.labels(name).inc()
                self._halt_source(chain, Halt(HaltKind.SOURCE, str(exc)))
                log.error("watcher_halted", chain=name, error=str(exc))
                return
            except Untrusted as exc:  # every endpoint quarantined (rpc_quarantined, logs_refused)
                self._halt_source(chain, Halt(HaltKind.UNTRUSTED, str(exc)))
                log.critical("logs_refused_halt", chain=name, error=str(exc))
                return
            except StoreUnwritable:  # the store said so once; the cursor stays, try again later
                advanced = False
            except Exception as exc:  # RPC trouble: count, back off, go on from the cursor
                log.warning("watcher_rpc_error", chain=name, error=repr(exc))
                advanced = False
            if not (advanced and self._behind.get(chain.chain_id, False)):
                with contextlib.suppress(TimeoutError):
                    await within(self.poll_wait(chain), pushed.wait())
                if pushed.is_set():  # a flood of pushes waits out the gap (PUSH_GAP_MAX_SECONDS)
                    rest = woken_at + gap - loop.time()
                    if rest > 0:
                        await asyncio.sleep(rest)
                    woken_at = loop.time()

    def _deep_reorg(self, chain: ChainClient, exc: Exception) -> None:
        metrics.DEEP_REORGS.labels(chain.cfg.name).inc()
        self._halt_source(chain, Halt(HaltKind.DEEP_REORG, str(exc)))
        log.critical("deep_reorg", chain=chain.cfg.name, error=str(exc))

    def _halt_source(self, chain: ChainClient, halt: Halt) -> None:
        for route in self.cfg.routes:
            if route.src == chain.chain_id:
                self.halts.halt(route, halt)

    async def scan_once(self, chain: ChainClient) -> bool:
        """Scan one range of final blocks; True if the cursor moved.

        The hash of the last scanned block is kept with the cursor: if the chain no longer has it,
        a block this node treated as final was replaced (a reorg deeper than finality) and
        `DeepReorg` is raised. The range's last block hash is read before the logs, must be the
        one the log reply's block-hash batch holds, and is read again after: a final block that
        changes is evidence against the endpoint that answered (quarantined; with none left,
        `DeepReorg`). Every log read must be the endpoint's, inside the range and from the block
        the chain has at its number (`relayer.adapters.chain`; the endpoint is quarantined otherwise and,
        with no trustworthy endpoint left, `Untrusted` halts the routes).
        """
        head = await chain.head()
        final = await chain.final_head(head)
        metrics.CHAIN_HEAD.labels(chain.cfg.name).set(head)
        metrics.CHAIN_FINAL.labels(chain.cfg.name).set(final)
        self._observe_finality(chain, head, final)
        cursor = await self.store.cursor(chain.chain_id)
        start = chain.cfg.start_block if cursor is None else cursor
        if start > final:
            self._behind[chain.chain_id] = False
            return False
        if cursor is not None and cursor > 0:
            known = await self.store.cursor_hash(chain.chain_id)
            now_hash = await chain.block_hash(cursor - 1) if known else known
            if now_hash != known:
                detail = (
                    f"block {cursor - 1} of chain {chain.cfg.name} was {known} when final, {now_hash} now"
                )
                if not chain.quarantine_active("final_block_changed", detail):
                    raise DeepReorg(detail)
                return False
        end = min(final, start + chain.cfg.max_block_range - 1)
        self._behind[chain.chain_id] = end < final
        end_hash = await chain.block_hash(end)
        observed = await chain.transfers(start, end, end_hash=end_hash)
        # failures of transfers toward this chain whose source this node watches itself, and those
        # it holds for their challenge window or queues by its rate limit (one read)
        sources = {r.src for r in self.cfg.routes if r.dst == chain.chain_id and r.src in self.chains}
        outcomes = (
            [o for o in await chain.outcomes(start, end, end_hash=end_hash) if o.route.src in sources]
            if sources
            else []
        )
        failures = [o for o in outcomes if isinstance(o, ObservedFailure)]
        waits = [o for o in outcomes if isinstance(o, ObservedWait)]
        # the blocks the logs came from are still the chain's once everything is read (a reorg,
        # or a balancer answering from another node, shows here and quarantines the endpoint)
        blocks = {o.located.block_number: o.block_hash for o in observed}
        blocks.update({o.block_number: o.block_hash for o in outcomes})
        await chain.recheck_final(blocks)
        crashpoint("after_observe")
        after = await chain.block_hash(end)
        if after != end_hash:  # a final block changed: evidence against the endpoint, not a retry
            detail = f"block {end} of chain {chain.cfg.name} was {end_hash} before the logs, {after} after"
            if not chain.quarantine_active("final_block_changed", detail):
                raise DeepReorg(f"{detail} (a reorg deeper than finality, or an endpoint serving two views)")
            return False
        wanted = {r.dst for r in self.cfg.routes if r.src == chain.chain_id}
        events = [
            (o.located, o.block_hash, o.tx_hash, o.log_index)
            for o in observed
            if o.located.transfer.dst_chain_id in wanted
        ]
        new = await self.store.record_scan(chain.chain_id, end + 1, events, end_hash, failures, waits)
        for w in waits:
            log.info(
                "transfer_kept_final",
                route=str(w.route),
                nonce=w.nonce,
                reason=w.reason.value,
                release_after=w.release_after or None,
            )
        for f in failures:
            log.info(
                "transfer_failed_final",
                route=str(f.route),
                nonce=f.nonce,
                reason=f.reason,
                why=failure_words(f.reason),
            )
        if new:
            crashpoint("after_store")
        per_route: dict[Route, int] = {}
        for t in new:
            per_route[t.route] = per_route.get(t.route, 0) + 1
            log.info("transfer_final", route=str(t.route), nonce=t.nonce, amount=str(t.amount))
        for route, count in per_route.items():
            metrics.TRANSFERS_OBSERVED.labels(str(route.src), str(route.dst)).inc(count)
        metrics.CHAIN_SCANNED.labels(chain.cfg.name).set(end)
        observed_at = [located.block_number for located, *_ in events]
        if self._wakes_pipeline(chain.chain_id, end, observed_at, bool(new or failures or waits)):
            self.wake()
        return True

    def _wakes_pipeline(self, chain_id: ChainId, end: int, observed: list[int], stored: bool) -> bool:
        """Whether a scan through `end` that read transfers in blocks `observed` (new or stored
        before: a re-read after a restart, a `reobserve`) and `stored` something gives the pipeline
        work at once: something stored, or the batch window of a transfer read earlier completed.
        A scan of empty blocks does not wake it (it ticks every IDLE_TICK_SECONDS, or its poll
        interval if longer, anyway): at two chains and two blocks a second each, that was most ticks."""
        if observed:
            last = self.cfg.committee.rule.window_end(max(observed))
            self._window_due[chain_id] = max(last, self._window_due.get(chain_id, last))
        due = self._window_due.get(chain_id)
        completed = due is not None and due <= end
        if completed:
            del self._window_due[chain_id]
        return stored or completed

    def _observe_finality(self, chain: ChainClient, head: int, final: int) -> None:
        """Export how long the final head has stood still under a growing head, and log a finality
        stall once when it reaches `finality_stall_seconds` (and once when it ends)."""
        name, now = chain.cfg.name, time.monotonic()
        previous = self._finality.get(chain.chain_id)
        watch, event = observe_finality(
            previous, head=head, final=final, now=now, stall_after=self.finality_stall_seconds
        )
        self._finality[chain.chain_id] = watch
        metrics.FINALITY_STALLED_SECONDS.labels(name).set(watch.stalled_seconds(head, now))
        if event is FinalityEvent.STALLED:
            log.error(
                "finality_stalled",
                chain=name,
                finality=chain.cfg.finality,
                final=watch.final,
                head=head,
                seconds=round(watch.stalled_seconds(head, now), 1),
                effect="nothing from this chain becomes final; its transfers wait",
            )
        elif event is FinalityEvent.RESUMED and previous is not None:
            log.warning(
                "finality_resumed",
                chain=name,
                final=final,
                head=head,
                stalled_from=previous.final,
                seconds=round(now - previous.since, 1),
            )
