"""The admin socket: a unix stream socket (mode 0600, never a network port) the operator CLI uses.

Protocol: one JSON object per line each way. The client sends `{"cmd": "<verb>", "args": {...}}`
and reads one reply, `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`, then the
connection closes. Verbs: `status`, `transfers_list`, `transfers_show`, `batch_show`, `retry`, `reobserve`,
`pause`, `resume`, `endpoints_paused`, `reconcile`, `keys_show`, `ping`, and the committee
actions' `actions.propose|approve|reject|list|show` (relayer.ops.actions).

There are two pauses. `pause` alone is local to this node and recorded in its store (it survives
restarts): a paused route cuts no batches and signs nothing here (relayer.pipeline.halts), and
this node's whole submitter for the route's destination chain stands by (`Node.run_submitter`):
it sends no batch of any route into that chain, nor any refund whose source is that chain, until
every route into it is resumed. `pause` with `on_chain` is also the on-chain pause: it checks the
guardian's key against every endpoint first, pauses locally, then sends `QiaoEndpoint.pause()`
(relayer.ops.endpoints), which stops every route through that endpoint for every relayer;
`resume` undoes only the local pause, an on-chain resume needs the committee.

Longer than the layout's ~500 lines: one method per verb over the node's public state and the
store's operator queries; reobserve and the on-chain pause already live apart (relayer.ops.reobserve,
relayer.ops.endpoints), and the status view is the next candidate to move out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from committee.threshold import MemberIndex
from relayer import metrics
from relayer.adapters.aio import within
from relayer.adapters.store import Store
from relayer.config import ConfigError
from relayer.core.batch_view import batch_report
from relayer.core.lifecycle import ItemKind, item_phases, states_of_every_kind
from relayer.core.presence import Presence, presence
from relayer.core.states import BatchState, TransferState
from relayer.core.types import BatchId, ChainId, Route
from relayer.ops import endpoints
from relayer.ops.actions import ActionVerbs
from relayer.ops.admin_client import AdminError, request, socket_path_problem
from relayer.ops.probes import ChainProbes
from relayer.ops.reobserve import reobserve
from relayer.pipeline.halts import Halt
from relayer.pipeline.node import Node

log = structlog.get_logger(__name__)

__all__ = ["AdminError", "Ops", "request", "serve"]

MAX_REQUEST = 64 * 1024
HEARTBEAT_FRESH_SECONDS = 20.0


def _text(halt: Halt | None) -> str | None:
    return None if halt is None else str(halt)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Ops:
    """What the admin socket and the health endpoints see of a running node.

    It reads the store through its own read-only `Store` (WAL lets readers run beside the node's
    writer) and writes only through the node's `Store`.
    """

    def __init__(
        self, node: Node, account_address: str | None = None, probes: ChainProbes | None = None
    ) -> None:
        self.node = node
        self.cfg = node.cfg
        self.account_address = account_address
        self.probes = probes if probes is not None else ChainProbes(node.chains)
        self.last_supply: dict[str, Any] | None = None
        self.on_chain_paused: dict[str, bool | None] = {}
        self.curses: list[endpoints.RouteCurse] = []  # every route's curse on each endpoint, last read
        self.pending_actions = endpoints.PendingActionWatch()
        self._reader: Store | None = None

    @property
    def paused(self) -> frozenset[Route]:
        """The routes an operator paused on this node (relayer.pipeline.halts)."""
        return self.node.paused

    @property
    def rpc_ok(self) -> Mapping[ChainId, bool]:
        """Per chain, whether its RPC answered the last health probe."""
        return self.probes.rpc_ok

    @property
    def heads(self) -> Mapping[ChainId, int]:
        """Per chain, its head at the last health probe."""
        return self.probes.heads

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Ops]:
        async with Store.open_readonly(self.cfg.store_path) as reader:
            self._reader = reader
            try:
                await self.load_pauses()
                yield self
            finally:
                self._reader = None

    @property
    def reader(self) -> Store:
        """The read-only store (`async with ops.opened()`)."""
        assert self._reader is not None, "use `async with ops.opened()`"
        return self._reader

    # ---- committee -----------------------------------------------------------------------

    def presence(self) -> Presence:
        """Members online, and those online but paused (relayer.core.presence)."""
        transport = self.node.transport
        return presence(
            transport.online_members,
            transport.paused_members,
            self.cfg.routes,
            now=time.monotonic(),  # heartbeats are timed on arrival; a wall-clock step changes nothing
            fresh=HEARTBEAT_FRESH_SECONDS,
            threshold=self.node.public.threshold,
        )

    def members_online(self) -> list[int]:
        """Members with a fresh heartbeat that paused nothing: those counted in the margin."""
        return list(self.presence().online)

    def members_paused(self) -> dict[str, list[str]]:
        """Member -> the routes it paused (fresh heartbeats only), for status and /readyz."""
        return {str(m): [str(r) for r in routes] for m, routes in self.presence().paused.items()}

    def margin(self) -> int:
        return self.presence().margin

    def brokers(self) -> dict[str, Any]:
        """The brokers this node reaches, how many it must, and the brokers each member online
        says it reaches (members configured with several brokers name them in their heartbeats)."""
        transport = self.node.transport
        online = set(self.presence().online) | {int(m) for m in self.members_paused()}
        return {
            "brokers": transport.brokers_connected,
            "min_brokers": transport.cfg.min_brokers,
            "members_brokers": {
                str(m): list(names) for m, names in sorted(transport.member_brokers.items()) if m in online
            },
        }

    # ---- status --------------------------------------------------------------------------

    async def route_stats(self) -> dict[Route, tuple[int, float | None]]:
        return await self.reader.pending_by_route()

    async def cursors(self) -> dict[ChainId, int]:
        return await self.reader.cursors()

    async def items(self) -> dict[str, dict[str, int]]:
        """Signed items per kind and phase (relayer.core.lifecycle): one count query per kind."""
        actions, _ = await self.reader.action_counts()
        return item_phases(
            {
                ItemKind.BATCH: await self.reader.batch_counts_by_state(),
                ItemKind.REFUND: await self.reader.refund_counts_by_state(),
                ItemKind.ACTION: states_of_every_kind(actions),
            }
        )

    async def status(self) -> dict[str, Any]:
        stats = await self.route_stats()
        kept = await self.reader.waiting_counts()  # held / queued on their destination
        cursors = await self.cursors()
        now = time.time()
        routes = []
        for route in self.cfg.routes:
            src = self.cfg.chain_by_id(route.src)
            dst = self.cfg.chain_by_id(route.dst)
            pending, oldest = stats.get(route, (0, None))
            head = self.heads.get(route.src)
            scanned = cursors.get(route.src)
            lag = None if head is None or scanned is None else max(0, head - (scanned - 1))
            routes.append(
                {
                    "route": str(route),
                    "src": src.name,
                    "dst": dst.name,
                    "src_head": head,
                    "dst_head": self.heads.get(route.dst),
                    "scanned_through": None if scanned is None else scanned - 1,
                    "lag_blocks": lag,
                    "pending": pending,
                    "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1),
                    "held": kept.get(route, {}).get("held", 0),
                    "queued": kept.get(route, {}).get("queued", 0),
                    "paused": route in self.paused,
                    "paused_since": _iso(self.node.paused_at.get(route)) if route in self.paused else None,
                    "paused_on_chain": self.paused_on_chain(route),
                    "cursed_on": self.cursed_on(route),
                    "halted": _text(self.node.halt_of(route)),  # an error halt shows while paused too
                }
            )
        online = self.members_online()
        return {
            "member": self.cfg.member_index,
            "routes": routes,
            "members_online": online,
            "members_paused": self.members_paused(),
            "online": len(online),
            "threshold": self.node.public.threshold,
            "members": len(self.node.public.members),
            "margin": len(online) - self.node.public.threshold,
            "broker_connected": self.node.transport.connected.is_set(),
            **self.brokers(),
            "rpc_ok": {self.cfg.chain_by_id(c).name: ok for c, ok in self.rpc_ok.items()},
            "endpoint_paused": self.on_chain_paused,
            "route_curses": self.curse_table(),
            "items": await self.items(),
        }

    # ---- transfers -----------------------------------------------------------------------

    async def transfers_list(self, state: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self.node.store.transfers(TransferState(state) if state else None, limit)
        return [
            {
                "route": str(r.transfer.route),
                "nonce": r.transfer.nonce,
                "state": str(r.state),
                "amount": str(r.transfer.amount),
                "recipient": r.transfer.recipient,
                "source_tx": r.tx_hash,
                "detail": r.detail,
                "updated": _iso(r.updated_at),
            }
            for r in rows
        ]

    async def transfers_show(self, src: int, dst: int, nonce: int) -> dict[str, Any]:
        route = Route(ChainId(src), ChainId(dst))
        history = await self.node.store.history(route, nonce)
        if not history:
            raise AdminError(f"no transfer {route}#{nonce} in this node's store")
        row = await self.reader.transfer_row(route, nonce)
        if row is None:
            raise AdminError(f"no transfer {route}#{nonce} in this node's store")
        return {
            "route": str(route),
            "nonce": nonce,
            "state": str(row.state),
            "amount": str(row.transfer.amount),
            "sender": row.transfer.sender,
            "recipient": row.transfer.recipient,
            "source_tx": row.tx_hash,
            "block": row.block_number,
            "batch_first_nonce": row.batch_first,
            "history": [{"state": s, "detail": d, "at": _iso(a)} for s, d, a in history],
            "batch": None if row.batch_first is None else await self._batch(route, row.batch_first),
        }

    async def batch_show(self, src: int, dst: int, first_nonce: int) -> dict[str, Any]:
        """One batch this node cut, per member: a valid partial (when), an invalid one (why) or
        none, with its heartbeat (relayer.core.batch_view)."""
        route = Route(ChainId(src), ChainId(dst))
        report = await self._batch(route, first_nonce)
        if report is None:
            raise AdminError(
                f"no batch {route} starting at nonce {first_nonce} in this node's store; "
                "`relayer transfers show` names a transfer's batch (batch_first_nonce)"
            )
        return report

    async def _batch(self, route: Route, first_nonce: int) -> dict[str, Any] | None:
        return await batch_report(
            self.node.store,
            route,
            first_nonce,
            members=self.node.public.members,
            threshold=self.node.public.threshold,
            rejected=self.node.rejected_partials(route, first_nonce),
            heartbeat=self.presence().heartbeat,
        )

    # ---- interventions -------------------------------------------------------------------

    def _route(self, src: int, dst: int) -> Route:
        route = Route(ChainId(src), ChainId(dst))
        if route not in self.cfg.routes:
            raise AdminError(f"route {route} is not configured on this node")
        return route

    async def retry(self, src: int, dst: int, nonce: int) -> dict[str, Any]:
        """Put a failed transfer's batch back in the pipeline and clear an error halt on its route."""
        route = self._route(src, dst)
        row = await self.reader.transfer_batch(route, nonce)
        actions: list[str] = []
        if row is None:
            raise AdminError(f"no transfer {route}#{nonce} in this node's store; try `reobserve <tx>`")
        if row.batch_first is not None and row.state == BatchState.FAILED:
            bid = await self._batch_id(route, row.batch_first)
            back = BatchState.AGGREGATED if row.signed else BatchState.PENDING
            await self.node.store.set_batch_state(bid, back, "retried by operator", retry=True)
            actions.append(f"batch {bid} back to {back}")
        halt = self.node.halt_of(route)
        if halt is not None and route not in self.paused:
            self.node.clear_halt(route)
            actions.append(f"route halt cleared ({halt})")
        self.node.wake()
        if not actions:
            actions.append("nothing to retry: the transfer is not failed and its route is not halted")
        log.info("operator_retry", route=str(route), nonce=nonce, actions=actions)
        return {"route": str(route), "nonce": nonce, "actions": actions}

    async def _batch_id(self, route: Route, first: int) -> BatchId:
        stored = await self.node.store.batch(route, first)
        if stored is None:
            raise AdminError(f"batch {route}#{first} is missing from the store")
        return stored.batch.id

    async def reobserve(self, tx_hash: str) -> dict[str, Any]:
        """Read a source transaction's receipt again and store any transfer it holds that is final
        (relayer.ops.reobserve); clears the nonce-gap halts it may heal."""
        return await reobserve(self.node, tx_hash)

    def _routes(self, src: int | None, dst: int | None) -> list[Route]:
        return list(self.cfg.routes) if src is None else [self._route(src, dst or 0)]

    # ---- pause and resume ----------------------------------------------------------------

    async def load_pauses(self) -> None:
        """Apply the pauses recorded in the store (they survive restarts) before any work starts."""
        recorded = await self.node.store.pauses()
        for route, at in recorded.items():
            if route in self.cfg.routes:
                self._mark_paused(route, at)
        if recorded:
            log.warning("paused_from_store", routes=sorted(str(r) for r in recorded))

    def _mark_paused(self, route: Route, at: float) -> None:
        self.node.pause(route, at)
        metrics.ROUTE_PAUSED.labels(str(route.src), str(route.dst)).set(1)

    async def pause(self, src: int | None, dst: int | None) -> dict[str, Any]:
        """Pause routes on this node: recorded in the store first (a restart keeps them paused)."""
        routes = self._routes(src, dst)
        now = time.time()
        await self.node.store.pause_routes(routes, now)
        for route in routes:
            self._mark_paused(route, now)
        log.warning("operator_pause", routes=[str(r) for r in routes])
        return {"paused": sorted(str(r) for r in self.paused), "scope": "local", "on_chain": []}

    async def pause_on_chain(
        self, src: int | None, dst: int | None, guardian_key_file: str
    ) -> dict[str, Any]:
        """Check the guardian's key against every endpoint first, then pause locally, then pause
        the endpoints of the chosen routes' chains (`QiaoEndpoint.pause`, guardian only, immediate;
        it stops every route through that endpoint). A failure after the local pause says what
        was done."""
        chain_ids = sorted({c for r in self._routes(src, dst) for c in (r.src, r.dst)})
        guardian, already = await endpoints.guardian_checked(self.node.chains, chain_ids, guardian_key_file)
        out = await self.pause(src, dst)
        done: list[dict[str, Any]] = []
        for chain_id in chain_ids:
            chain = self.node.chains[chain_id]
            if already[chain_id]:
                done.append({"chain": chain.cfg.name, "tx": None, "result": "already paused"})
                continue
            try:
                done.append(await endpoints.send_pause(chain, guardian))
            except Exception as exc:
                so_far = "; ".join(f"{c['chain']} {c['result']}" for c in done) or "none"
                raise AdminError(
                    f"{chain.cfg.name}: the on-chain pause failed ({exc!r}). Done so far: paused "
                    f"locally on this node: {', '.join(out['paused'])}; on-chain: {so_far}. Run the "
                    "same command again to retry (it skips what is paused already)"
                ) from exc
        out["on_chain"] = done
        await self.endpoints_paused()
        return out

    async def resume(self, src: int | None, dst: int | None) -> dict[str, Any]:
        """Undo the local pause of routes (recorded in the store first); says what it resumed,
        what was not paused, what stays paused here, and which endpoints stay paused on-chain."""
        routes = self._routes(src, dst)
        resumed = [r for r in routes if r in self.paused]
        await self.node.store.resume_routes(resumed)
        for route in resumed:
            self.node.resume(route)
            metrics.ROUTE_PAUSED.labels(str(route.src), str(route.dst)).set(0)
            metrics.ROUTE_PAUSED_SECONDS.labels(str(route.src), str(route.dst)).set(0)
        self.node.wake()
        log.warning("operator_resume", routes=[str(r) for r in resumed])
        return {
            "resumed": sorted(str(r) for r in resumed),
            "not_paused": sorted(str(r) for r in routes if r not in resumed),
            "paused": sorted(str(r) for r in self.paused),
            "scope": "local",
            "on_chain": [],
            "still_paused_on_chain": sorted({c for r in routes for c in self.paused_on_chain(r)}),
        }

    def paused_on_chain(self, route: Route) -> list[str]:
        """The chains of `route` whose endpoint is paused on-chain (last read): such a pause stops
        every route through that endpoint."""
        names = [self.cfg.chain_by_id(route.src).name, self.cfg.chain_by_id(route.dst).name]
        return [n for n in names if self.on_chain_paused.get(n)]

    def cursed_on(self, route: Route) -> list[str]:
        """The endpoints (chain names) whose route with the other end of `route` is cursed (last
        read): the source's stops the lock or burn, the destination's the execution."""
        src, dst = self.cfg.chain_by_id(route.src).name, self.cfg.chain_by_id(route.dst).name
        return endpoints.cursed_on(self.curses, src, dst)

    def curse_table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Endpoint (chain name) -> remote chain name -> {cursed, curse_count, remote_chain_id}, for
        every configured route, as last read at the final head."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for c in self.curses:
            out.setdefault(c.chain, {})[c.remote] = {
                "cursed": c.cursed,
                "curse_count": c.curse_count,
                "remote_chain_id": c.remote_chain_id,
            }
        return out

    def route_remotes(self) -> dict[ChainId, dict[ChainId, str]]:
        """Each chain -> the chains it has a configured route with (either way), by id, with names."""
        out: dict[ChainId, dict[ChainId, str]] = {}
        for route in self.cfg.routes:
            for here, there in ((route.src, route.dst), (route.dst, route.src)):
                out.setdefault(here, {})[there] = self.cfg.chain_by_id(there).name
        return out

    async def routes_cursed(self) -> list[endpoints.RouteCurse]:
        """Every configured route's curse on each endpoint (`isCursed`, `curseCount` at the final
        head); sets `qiao_route_cursed`."""
        self.curses = await endpoints.routes_cursed(self.node.chains, self.route_remotes())
        return self.curses

    def paused_seconds(self, now: float) -> dict[Route, float]:
        """How long each locally paused route has been paused."""
        return {r: max(0.0, now - at) for r, at in self.node.paused_at.items()}

    async def endpoints_paused(self) -> dict[str, bool | None]:
        """Each chain's endpoint `paused()` (None when the contract has no pause)."""
        self.on_chain_paused = await endpoints.endpoints_paused(self.node.chains)
        return self.on_chain_paused

    async def endpoints_pending_actions(self) -> dict[str, endpoints.EndpointPending]:
        """Each chain's committee-signed RESUME and ROTATE actions waiting for their delay (the
        last `endpoints.PENDING_WINDOW` action nonces, and those seen pending before)."""
        return await self.pending_actions.read(self.node.chains)

    # ---- reconcile -----------------------------------------------------------------------

    async def reconcile(self) -> dict[str, Any]:
        """The supply check per token pair and the nonce gaps per route (store vs chain)."""
        pairs = await self.supply_check()
        gaps = []
        for route in self.cfg.routes:
            nonces = await self.reader.stored_nonces(route)
            missing = sorted(set(range(1, (nonces[-1] if nonces else 0) + 1)) - set(nonces))
            src_chain = self.node.chains[route.src]
            on_chain_next = int(await src_chain.endpoint.functions.nextNonce(route.dst).call())
            stored_last = nonces[-1] if nonces else 0
            not_yet = on_chain_next - 1 - stored_last
            gaps.append(
                {
                    "route": str(route),
                    "stored": len(nonces),
                    "stored_last_nonce": stored_last,
                    "chain_last_nonce": on_chain_next - 1,
                    "not_yet_stored": not_yet,
                    "missing_nonces": missing[:100],
                }
            )
        registry = await self.node.actions.registry_mismatches()
        assets = await self.node.actions.asset_mismatches()
        open_actions = [
            {"id": v.action.id, "kind": v.action.kind.value, "state": v.state.value}
            for v in await self.node.actions.actions(limit=200)
            if v.state.value in ("proposed", "approved", "submitted", "scheduled")
        ]
        ok = (
            all(p["ok"] for p in pairs)
            and all(not g["missing_nonces"] for g in gaps)
            and not any(registry.values())
            and not any(assets.values())
        )
        return {
            "ok": ok,
            "supply": pairs,
            "routes": gaps,
            "registry": registry,
            "assets": assets,
            "open_actions": open_actions,
        }

    async def supply_check(self) -> list[dict[str, Any]]:
        """For each token pair seen in the store: wrapped supply must not exceed the amount locked;
        the pairs of one vault token wrapped on several chains, by the sum of their supplies."""
        seen: set[tuple[int, str, int, str]] = set()
        out = []
        for src_chain, src_token, dst_chain, dst_token in await self.reader.token_pairs():
            a = (src_chain, src_token)
            b = (dst_chain, dst_token)
            key = (*min(a, b), *max(a, b))
            if key in seen:
                continue
            seen.add(key)
            result = await endpoints.pair_supply(self.node.chains, a, b)
            if result is not None:
                out.append(result)
        out = endpoints.shared_backing(out)  # one vault backing several wrapped chains: judged together
        self.last_supply = {"at": time.time(), "pairs": out}
        metrics.SUPPLY_CHECK_TIMESTAMP.set(time.time())
        for p in out:
            metrics.SUPPLY_CHECK_OK.labels(p["pair"]).set(1 if p["ok"] else 0)
            metrics.SUPPLY_LOCKED_UNITS.labels(p["pair"]).set(int(p["locked"]))
            metrics.SUPPLY_WRAPPED_UNITS.labels(p["pair"]).set(int(p["wrapped"]))
        return out

    # ---- keys ----------------------------------------------------------------------------

    def keys_show(self) -> dict[str, Any]:
        public = self.node.public
        me = self.cfg.member_index
        share = public.public_shares.get(MemberIndex(me))
        return {
            "member": me,
            "members": len(public.members),
            "threshold": public.threshold,
            "key_epoch": public.key_epoch,
            "group_public_key": "0x" + public.group_public_key.hex(),
            "member_public_share": None if share is None else "0x" + bytes(share).hex(),
            "signer": self.node.share is not None,
            "key_file": None if self.cfg.committee.key_file is None else str(self.cfg.committee.key_file),
            "public_file": str(self.cfg.committee.public_file),
            "relayer_account": self.account_address,
            # a key rotation: every key epoch held, and the one each endpoint is signed for now
            "key_epochs_held": {
                str(e): {
                    "group_public_key": "0x" + bytes(k.public.group_public_key).hex(),
                    "signer": k.share is not None,
                }
                for e in self.node.epochs.keyring.epochs
                if (k := self.node.epochs.keyring.get(e)) is not None
            },
            "signing_epoch": {
                c.name: self.node.epochs.cut_epoch(c.chain_id) for c in self.cfg.chains.values()
            },
            "endpoint_epoch": {
                c.name: self.node.epochs.current(c.chain_id) for c in self.cfg.chains.values()
            },
        }

    # ---- dispatch ------------------------------------------------------------------------

    async def handle(self, cmd: str, args: dict[str, Any]) -> Any:
        handlers: dict[str, Callable[[], Awaitable[Any]]] = {
            "ping": self._async(lambda: {"pong": True, "member": self.cfg.member_index}),
            "status": self.status,
            "transfers_list": lambda: self.transfers_list(args.get("state"), int(args.get("limit", 50))),
            "transfers_show": lambda: self.transfers_show(
                int(args["src"]), int(args["dst"]), int(args["nonce"])
            ),
            "batch_show": lambda: self.batch_show(
                int(args["src"]), int(args["dst"]), int(args["first_nonce"])
            ),
            "retry": lambda: self.retry(int(args["src"]), int(args["dst"]), int(args["nonce"])),
            "reobserve": lambda: self.reobserve(str(args["tx"])),
            "pause": (
                (
                    lambda: self.pause_on_chain(
                        args.get("src"), args.get("dst"), str(args["guardian_key_file"])
                    )
                )
                if args.get("on_chain")
                else (lambda: self.pause(args.get("src"), args.get("dst")))
            ),
            "resume": lambda: self.resume(args.get("src"), args.get("dst")),
            "endpoints_paused": self.endpoints_paused,
            "reconcile": self.reconcile,
            "keys_show": self._async(self.keys_show),
            **ActionVerbs.of(self.node).handlers(args),
        }
        handler = handlers.get(cmd)
        if handler is None:
            raise AdminError(f"unknown command {cmd!r}; one of {', '.join(sorted(handlers))}")
        return await handler()

    @staticmethod
    def _async(fn: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            return fn()

        return run


def _clear_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(str(path).encode()) > 107:
        raise AdminError(f"{path}: too long for a unix socket (107 bytes); use a shorter node.data_dir")
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise AdminError(f"{path} exists and is not a socket; move it away")
        if _answers(path):  # never take over a live daemon's socket (the data-dir lock keeps a
            # second instance from getting here; this guards a socket shared some other way)
            raise AdminError(f"{path}: another process listens on it; stop that process first")
        path.unlink()  # a stale socket left by a process that is gone


def _answers(path: Path) -> bool:
    """Whether something accepts connections on the unix socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


async def serve(ops: Ops, path: Path) -> asyncio.Server:
    """Listen on the unix socket at `path`, mode 0600 (only the node's user may talk to it)."""
    problem = socket_path_problem(path)
    if problem is not None:
        raise AdminError(problem)
    _clear_socket_path(path)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cmd = "?"
        try:
            line = await within(10, reader.readline())
            if not line:  # connected and left without a word (a liveness probe of the socket)
                writer.close()
                return
            if len(line) > MAX_REQUEST:
                raise AdminError("request too large")
            req = json.loads(line)
            if not isinstance(req, dict):
                raise AdminError("a request is a JSON object")
            cmd = str(req.get("cmd", ""))
            args = req.get("args") or {}
            if not isinstance(args, dict):
                raise AdminError("args must be a JSON object")
            result = await ops.handle(cmd, args)
            reply: dict[str, Any] = {"ok": True, "result": result}
            metrics.ADMIN_REQUESTS.labels(cmd, "ok").inc()
        except (AdminError, ConfigError, ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc) or type(exc).__name__}
            metrics.ADMIN_REQUESTS.labels(cmd, "refused").inc()
        except Exception as exc:
            log.exception("admin_error", cmd=cmd)
            reply = {"ok": False, "error": f"internal error: {exc!r}"}
            metrics.ADMIN_REQUESTS.labels(cmd, "error").inc()
        with contextlib.suppress(ConnectionError):
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(on_client, path=str(path), limit=MAX_REQUEST + 1)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    log.info("admin_socket_listening", path=str(path))
    return server
