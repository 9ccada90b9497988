"""`relayer run`: wires the configuration to the node's loops and runs them until SIGTERM.

The first SIGTERM or SIGINT asks every loop to stop: no new work is taken, in-flight store writes
finish (each is one transaction), then the tasks are cancelled after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TypeVar

import structlog

from committee.bls import get_backend
from relayer import metrics
from relayer.adapters import instance, sdnotify
from relayer.adapters.aio import within
from relayer.adapters.chain import ChainClient
from relayer.adapters.heads import HeadFeed
from relayer.adapters.store import Store, StoreError, StoreUnwritable
from relayer.adapters.transport import DEDUP_WINDOW_SECONDS, Transport
from relayer.config import ConfigError, NodeConfig, quorum_warnings
from relayer.core.heartbeats import HeartbeatKeys
from relayer.core.types import ChainId
from relayer.ops import admin, preflight
from relayer.ops.health import Health
from relayer.ops.probes import ChainProbes
from relayer.pipeline.node import Node
from relayer.pipeline.submitter import Submitter

log = structlog.get_logger(__name__)
_M = TypeVar("_M")

GRACE_SECONDS = 10.0


async def run(cfg: NodeConfig, stop: asyncio.Event | None = None) -> None:
    """Run the node until `stop` (or SIGTERM/SIGINT). First of all it takes the data directory's
    exclusive lock (relayer.adapters.instance): a second instance of the member is refused with
    `AlreadyRunning` before it opens the store, the admin socket or the broker connection. Before
    that, the files the configuration names are checked against each other (as `config check`
    does): a configuration `run` refuses creates nothing, not even the data directory."""
    material = preflight.load_material(cfg)
    try:
        with instance.exclusive(cfg.data_dir):
            try:
                run_number = instance.next_run(cfg.data_dir)  # under the lock, before anything opens
            except instance.RunFileDamaged as exc:
                log.critical("run_file_damaged", member=cfg.member_index, error=str(exc))
                raise
            await _run(cfg, stop, material, run_number)
    except instance.AlreadyRunning as exc:  # raised only by taking the lock: nothing was touched
        log.critical("already_running", member=cfg.member_index, holder_pid=exc.pid, lock=str(exc.lock_path))
        raise


async def _run(
    cfg: NodeConfig, stop: asyncio.Event | None, material: preflight.Material, run_number: int
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    public, share = material.public, material.share
    metrics.COMMITTEE_THRESHOLD.set(public.threshold)
    passwords = material.mqtt_passwords

    async with AsyncExitStack() as stack:
        try:
            store = await stack.enter_async_context(Store.open(cfg.store_path))
        except StoreError as exc:  # refuse to start: nothing is signed from a damaged store
            log.critical("store_unusable", member=cfg.member_index, path=str(cfg.store_path), error=str(exc))
            raise
        chains: dict[ChainId, ChainClient] = {}
        for warning in quorum_warnings(cfg):
            log.warning("rpc_quorum_one", member=cfg.member_index, warning=warning)
        for chain_cfg in cfg.chains.values():
            chains[chain_cfg.chain_id] = await stack.enter_async_context(ChainClient.connect(chain_cfg))
        # chain ids, the endpoint contracts, key epoch and group key (as `config check --online`)
        problems = await preflight.check_chains(cfg, material.keyring, chains, every_endpoint=False)
        if problems:
            raise ConfigError(cfg.source, problems)
        transport = Transport(
            cfg.mqtt,
            cfg.member_index,
            passwords,
            members=public.members,
            # copies through several brokers are dropped for less than a re-publication interval
            dedup_window=min(DEDUP_WINDOW_SECONDS, cfg.committee.republish_interval / 2),
            # heartbeats signed with this member's share, verified against the others' public shares
            keys=HeartbeatKeys(material.keyring, get_backend("arkworks")),
            run=run_number,  # this start's number (instance.next_run, under the data directory's lock)
        )
        node = Node(
            cfg=cfg,
            store=store,
            chains=chains,
            public=public,
            share=share,
            backend=get_backend("arkworks"),
            transport=transport,
            keyring=material.keyring,
        )
        await node.refresh_epochs(force=True)  # what each endpoint accepts, before anything is cut
        ops = admin.Ops(node, probes=ChainProbes(chains))
        transport.paused_routes = lambda: node.paused  # heartbeats say what this member paused
        if cfg.relayer.enabled:
            account = material.account
            assert account is not None
            ops.account_address = account.address
            # every destination (batches) and every source (refunds of failed transfers)
            # (each stands by while a route into its chain is paused: Node.run_submitter)
            for dst in {r.dst for r in cfg.routes} | {r.src for r in cfg.routes}:
                node.submitters[dst] = Submitter(
                    chains[dst],
                    store,
                    account,
                    cfg.relayer,
                    cfg.member_index,
                    len(public.members),
                )
                node.submitters[dst].announce = transport.publish_sent
        log.info(
            "node_started",
            member=cfg.member_index,
            routes=[str(r) for r in cfg.routes],
            relayer=cfg.relayer.enabled,
            signer=share is not None,
            key_epochs=list(material.keyring.epochs),
        )
        metrics.COMMITTEE_SIZE.set(len(public.members))
        metrics.DKG_KEY_EPOCH.set(public.key_epoch)
        for epoch in material.keyring.epochs:
            metrics.MEMBER_KEY_EPOCHS_HELD.labels(str(epoch)).set(1)
        metrics.DKG_SHARE_LOADED.set(1 if share is not None else 0)
        metrics.BUILD_INFO.labels(_version(), str(cfg.member_index)).set(1)
        await stack.enter_async_context(ops.opened())
        await _run_tasks(node, stop, ops)
    log.info("node_stopped", member=cfg.member_index)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qiao")
    except PackageNotFoundError:
        return "unknown"


async def _run_tasks(node: Node, stop: asyncio.Event, ops: admin.Ops | None = None) -> None:
    """Run every loop in one task group; on `stop`, let the pipeline and submitters finish their
    current step (bounded by the grace period), then cancel everything.

    With `ops`, also serve the admin socket, /metrics, /livez and /readyz, tell systemd READY=1
    once everything runs, and feed its watchdog while every loop is alive.
    """
    loops: list[asyncio.Task[None]] = []

    def alive() -> bool:
        return bool(loops) and not any(t.done() for t in loops)

    servers: list[asyncio.Server] = []
    every: list[asyncio.Task[None]] = []
    enforcer = asyncio.get_running_loop().create_task(_enforce_cancel(every, stop), name="enforce-stop")
    try:
        async with asyncio.TaskGroup() as tg:
            for chain in node.chains.values():
                tg.create_task(node.watch(chain), name=f"watch-{chain.cfg.name}")  # returns on a halt
                if chain.cfg.ws is not None:  # pushed heads wake the watcher; it polls without them
                    feed = HeadFeed(chain.cfg, _waking(node, chain.chain_id), _pushing(node, chain.chain_id))
                    tg.create_task(feed.run(), name=f"heads-{chain.cfg.name}")
            loops.append(
                tg.create_task(
                    node.transport.run(
                        _kept(node.on_partial),
                        _kept(node.on_refund_partial),
                        _kept(node.actions.on_partial),
                        _kept(node.actions.on_proposal),
                        node.on_sent,
                    ),
                    name="transport",
                )
            )
            draining = [tg.create_task(node.run_pipeline(stop), name="pipeline")]
            draining += [
                tg.create_task(node.run_submitter(sub, stop), name=f"submit-{dst}")
                for dst, sub in node.submitters.items()
            ]
            loops += draining
            if ops is not None:
                cfg = node.cfg
                health = Health(ops, alive)
                with contextlib.suppress(Exception):
                    await health.probe_once()  # first figures before READY=1; the loop retries
                try:
                    servers.append(await admin.serve(ops, cfg.data_dir / "admin.sock"))
                except (admin.AdminError, OSError) as exc:  # the node still runs; the CLI cannot reach it
                    log.error("admin_socket_unavailable", error=str(exc))
                if cfg.metrics_port:
                    servers.append(await health.serve(cfg.metrics_host, cfg.metrics_port))
                tg.create_task(health.probe_forever(), name="probe")
                interval = sdnotify.watchdog_interval()
                if interval is not None:
                    tg.create_task(sdnotify.watchdog(interval, alive), name="watchdog")
                sdnotify.notify(f"READY=1\nSTATUS=member {cfg.member_index} running")
                log.info("node_ready", watchdog_interval=interval)
            await stop.wait()
            sdnotify.notify("STOPPING=1")
            for server in servers:
                server.close()
            log.info("stopping", grace_seconds=GRACE_SECONDS)
            with contextlib.suppress(TimeoutError):
                await within(GRACE_SECONDS, asyncio.shield(asyncio.gather(*draining)))
            every.extend(t for t in asyncio.all_tasks() if t not in (asyncio.current_task(), enforcer))
            raise _Stop
    except* _Stop:
        pass
    finally:
        enforcer.cancel()


def _waking(node: Node, chain_id: ChainId) -> Callable[[int], None]:
    """A head feed's callback: each head pushed wakes the chain's watcher (its number is not used:
    the scan reads the head again through the chain's RPCs)."""

    def on_head(_number: int) -> None:
        node.head_pushed(chain_id)

    return on_head


def _pushing(node: Node, chain_id: ChainId) -> Callable[[bool], None]:
    """A head feed's state callback: while its subscription is up the chain's watcher polls less."""

    def on_state(up: bool) -> None:
        node.push_state(chain_id, up)

    return on_state


def _kept(handle: Callable[[_M], Awaitable[None]]) -> Callable[[_M], Awaitable[None]]:
    """A transport handler (partials, refund and action partials, proposals): a store that cannot
    record one (disk full) drops it rather than ending the transport and the daemon; its sender
    re-publishes it while it is open, so it is kept once space is back."""

    async def on_message(msg: _M) -> None:
        with contextlib.suppress(StoreUnwritable):
            await handle(msg)

    return on_message


async def _enforce_cancel(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """After the grace period, cancel every loop again and again: a library that swallows one
    cancellation (a retry around an RPC call) must not keep the daemon alive past the unit's stop
    timeout."""
    await stop.wait()
    await asyncio.sleep(GRACE_SECONDS + 2.0)
    while True:
        pending = [t for t in tasks if not t.done()]
        if pending:
            log.warning("stop_overdue", tasks=[t.get_name() for t in pending])
        for task in pending:
            task.cancel()
        await asyncio.sleep(0.5)


class _Stop(Exception):
    """Raised inside the task group to cancel every loop once the pipeline has drained."""
