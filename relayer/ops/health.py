"""Liveness, readiness and metrics over HTTP, and the probe loop that keeps them true.

One small asyncio HTTP server on `metrics.host:metrics.port` serves:
- `GET /metrics`: every `qiao_*` metric (Prometheus text format);
- `GET /livez`: 200 while the event loop answers and every pipeline loop is running, else 503;
- `GET /readyz`: 200 only while every chain's RPC answered the last probe, a broker is connected
  (one of them, with several: the body names each and what every member online says it reaches),
  the store's last write succeeded (not a full disk) and at least t members are online (the
  signing margin is not negative), else 503. It turns false again as soon as any of them is
  lost. The body is JSON naming each check.

The probe loop reads each chain's head (RPC up, latency, lag, reorg depth), the committee's margin,
per-route pending counts and ages, the store's state history (aggregation and submission latency),
and, every SUPPLY_INTERVAL, each endpoint's `paused()` and pending RESUME/ROTATE actions and the
supply check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from relayer import metrics
from relayer.adapters.aio import within
from relayer.adapters.chain import ChainClient
from relayer.ops.admin import Ops

log = structlog.get_logger(__name__)

PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 3.0
SUPPLY_INTERVAL = 15.0
CURSE_INTERVAL = 5.0  # seconds between reads of every route's curse (a few calls per route)
REORG_WINDOW = 64


class Health:
    """The HTTP endpoints and the probe loop; what it probes goes to the `ChainProbes` it shares
    with the admin side (`ops.probes`), never into the admin side's own fields."""

    def __init__(self, ops: Ops, alive: Callable[[], bool]) -> None:
        self.ops = ops
        self.alive = alive
        self._hashes: dict[int, dict[int, str]] = {}
        self._history_seen = time.time()
        self._last_supply = 0.0
        self._last_curses = 0.0

    # ---- checks --------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        ok = self.alive()
        return ok, {"live": ok}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, bool] = {}
        for chain_id, ok in self.ops.rpc_ok.items():
            checks[f"rpc:{self.ops.cfg.chain_by_id(chain_id).name}"] = ok
        checks["broker"] = self.ops.node.transport.connected.is_set()
        checks["store"] = self.ops.node.store.writable
        checks["signing_margin"] = self.ops.margin() >= 0
        checks["loops"] = self.alive()
        ready = all(checks.values())
        metrics.READY.set(1 if ready else 0)
        for name, ok in checks.items():
            metrics.READY_CHECK.labels(name).set(1 if ok else 0)
        return ready, {
            "ready": ready,
            "checks": checks,
            "members_online": self.ops.members_online(),
            "members_paused": self.ops.members_paused(),
            "threshold": self.ops.node.public.threshold,
            **self.ops.brokers(),  # which brokers this node reaches, and each member online says it does
        }

    # ---- probe loop ----------------------------------------------------------------------

    async def probe_forever(self) -> None:
        while True:
            try:
                await self.probe_once()
            except Exception as exc:
                log.warning("probe_error", error=repr(exc))
            await asyncio.sleep(PROBE_INTERVAL)

    async def probe_once(self) -> None:
        await asyncio.gather(*(self._probe_chain(c) for c in self.ops.node.chains.values()))
        cursors = await self.ops.cursors()
        for chain_id, head in self.ops.heads.items():
            if chain_id in cursors:
                name = self.ops.cfg.chain_by_id(chain_id).name
                metrics.CHAIN_LAG.labels(name).set(max(0, head - (cursors[chain_id] - 1)))
        seen = self.ops.presence()
        metrics.MEMBERS_ONLINE.set(len(seen.online))
        metrics.MEMBERS_PAUSED.set(len(seen.paused))
        metrics.COMMITTEE_MARGIN.set(seen.margin)
        stats = await self.ops.route_stats()
        now = time.time()
        for route in self.ops.cfg.routes:
            pending, oldest = stats.get(route, (0, None))
            labels = (str(route.src), str(route.dst))
            metrics.ROUTE_PENDING.labels(*labels).set(pending)
            metrics.ROUTE_OLDEST_PENDING.labels(*labels).set(0 if oldest is None else now - oldest)
            metrics.ROUTE_PAUSED_SECONDS.labels(*labels).set(self.ops.paused_seconds(now).get(route, 0.0))
        await self._observe_latencies()
        self.readiness()
        if now - self._last_curses >= CURSE_INTERVAL:
            self._last_curses = now
            try:
                await self.ops.routes_cursed()  # qiao_route_cursed, from isCursed at the final head
            except Exception as exc:
                log.warning("route_curse_check_error", error=repr(exc))
        if now - self._last_supply >= SUPPLY_INTERVAL and all(self.ops.rpc_ok.values()):
            self._last_supply = now
            try:
                await self.ops.endpoints_paused()  # qiao_endpoint_paused, read from each paused()
            except Exception as exc:
                log.warning("endpoint_paused_check_error", error=repr(exc))
            try:
                # qiao_endpoint_pending_actions and ..._executable_seconds, from pendingAction(n)
                await self.ops.endpoints_pending_actions()
            except Exception as exc:
                log.warning("endpoint_pending_actions_check_error", error=repr(exc))
            try:
                await self.ops.supply_check()
            except Exception as exc:
                log.warning("supply_check_error", error=repr(exc))

    async def _probe_chain(self, chain: ChainClient) -> None:
        name = chain.cfg.name
        started = time.monotonic()
        try:
            block = await within(PROBE_TIMEOUT, chain.w3.eth.get_block("latest"))
            metrics.RPC_LATENCY.labels(name).observe(time.monotonic() - started)
            number = int(block["number"])
            block_hash = "0x" + bytes(block["hash"]).hex()
            await self._check_reorg(chain, number, block_hash)
        except Exception as exc:
            if self.ops.rpc_ok.get(chain.chain_id, True):
                log.warning("rpc_probe_failed", chain=name, error=repr(exc))
            self.ops.probes.down(chain.chain_id)
            metrics.CHAIN_UP.labels(name).set(0)
            metrics.RPC_ERRORS.labels(name).inc()
            return
        self.ops.probes.up(chain.chain_id, number)
        metrics.CHAIN_UP.labels(name).set(1)

    async def _check_reorg(self, chain: ChainClient, number: int, block_hash: str) -> None:
        """Compare the hashes remembered for recent heights with the chain's; a mismatch is a reorg
        whose depth is how far back the first still-matching height is."""
        seen = self._hashes.setdefault(chain.chain_id, {})
        if seen:
            last = max(seen)
            if last <= number:
                current = await chain.w3.eth.get_block(last)
                if "0x" + bytes(current["hash"]).hex() != seen[last]:
                    depth = 1
                    for height in sorted(seen, reverse=True)[1:]:
                        b = await chain.w3.eth.get_block(height)
                        if "0x" + bytes(b["hash"]).hex() == seen[height]:
                            break
                        depth = last - height + 1
                    else:
                        depth = len(seen)
                    metrics.REORGS.labels(chain.cfg.name).inc()
                    metrics.REORG_DEPTH.labels(chain.cfg.name).set(depth)
                    log.warning("reorg_seen", chain=chain.cfg.name, depth=depth, at=last)
                    seen.clear()
            elif last - number > 0:
                metrics.REORGS.labels(chain.cfg.name).inc()
                metrics.REORG_DEPTH.labels(chain.cfg.name).set(last - number)
                log.warning("reorg_seen", chain=chain.cfg.name, depth=last - number, at=number)
                seen.clear()
        seen[number] = block_hash
        for height in [h for h in seen if h <= number - REORG_WINDOW]:
            del seen[height]

    async def _observe_latencies(self) -> None:
        since = self._history_seen
        for state, at, created, aggregated in await self.ops.reader.latency_marks(since):
            self._history_seen = max(self._history_seen, at)
            if state == "aggregated":
                metrics.AGGREGATION_LATENCY.observe(max(0.0, at - created))
            elif aggregated is not None:
                metrics.SUBMISSION_LATENCY.observe(max(0.0, at - aggregated))

    # ---- HTTP ----------------------------------------------------------------------------

    async def serve(self, host: str, port: int) -> asyncio.Server:
        server = await asyncio.start_server(self._on_client, host, port)
        log.info("http_listening", host=host, port=port, paths=["/metrics", "/livez", "/readyz"])
        return server

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await within(5, reader.readline())
            while (await within(5, reader.readline())) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else "/"
            if path == "/metrics":
                status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest()
            elif path in ("/livez", "/healthz", "/readyz"):
                ok, detail = self.readiness() if path == "/readyz" else self.liveness()
                status, ctype = (200 if ok else 503), "application/json"
                body = json.dumps(detail).encode()
            else:
                status, ctype, body = 404, "text/plain", b"not found: try /metrics, /livez, /readyz\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
