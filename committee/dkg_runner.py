"""Drives a `DkgMachine` over MQTT (aiomqtt, QoS 1).

Topics: `qiao/v1/<network>/dkg/<session id, 16 hex>/<sender>/<type>`. Messages are published
retained, so a participant that starts late (or reconnects) still receives everything already
said; the machine drops duplicates. The broker can delay or drop, never forge: every message is
signed by its sender and checked by the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import aiomqtt

from committee.dkg import DkgFailure, DkgMachine, DkgResult, Outgoing, SessionConfig, Timeouts
from committee.identity import Identity

log = logging.getLogger(__name__)

__all__ = ["DkgFailed", "local_dkg", "run_machine", "run_machines", "session_topic"]

OutgoingFilter = Callable[[Outgoing], bytes | None]
"""Test hook: what to publish instead of an outgoing message (None drops it)."""


class DkgFailed(RuntimeError):
    """The session ended without a key; `failure.reason` says why."""

    def __init__(self, failure: DkgFailure) -> None:
        self.failure = failure
        named = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(failure.misbehaving.items()))
        super().__init__(f"DKG failed: {failure.reason}" + (f" (misbehaving: {named})" if named else ""))


def session_topic(network: str, session_id: bytes) -> str:
    return f"qiao/v1/{network}/dkg/{session_id.hex()[:16]}"


async def run_machine(
    machine: DkgMachine,
    *,
    host: str,
    port: int,
    network: str,
    status_path: Path | None = None,
    outgoing_filter: OutgoingFilter | None = None,
    clock: Callable[[], float] = time.monotonic,
    keepalive: int = 120,
    username: str | None = None,
    password: str | None = None,
    tls_ca_file: Path | None = None,
) -> DkgResult:
    """Run one participant to the end; returns the result or raises `DkgFailed`.

    The machine's work runs in a worker thread, so the event loop keeps answering the broker's
    keep-alives during the long computations. A lost connection is re-established with a
    jittered delay; everything already published is published again (retained, so idempotent)
    and the retained messages of the others arrive again (the machine drops duplicates)."""
    root = session_topic(network, machine.session_id)
    name = machine.identity.name
    published: list[tuple[str, bytes]] = []
    pending = list(await asyncio.to_thread(machine.start, clock()))
    attempt = 0
    while True:
        try:
            async with aiomqtt.Client(
                hostname=host,
                port=port,
                identifier=f"qiao-dkg-{name}-{os.urandom(4).hex()}",
                keepalive=keepalive,
                username=username,
                password=password,
                tls_params=None if tls_ca_file is None else aiomqtt.TLSParameters(ca_certs=str(tls_ca_file)),
                timeout=30,
                socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),  # no Nagle wait
            ) as client:
                await client.subscribe(f"{root}/+/+", qos=1)
                for topic, data in published:
                    await client.publish(topic, data, qos=1, retain=True)
                attempt = 0
                await _drive(machine, client, root, pending, published, outgoing_filter, status_path, clock)
                break
        except aiomqtt.MqttError as exc:
            attempt += 1
            if attempt > 20:
                raise
            delay = min(5.0, 0.2 * 2**attempt) * (0.5 + random.random())
            log.warning("dkg broker connection lost (%s); reconnecting in %.1f s", exc, delay)
            await asyncio.sleep(delay)
    if machine.result is None:
        assert machine.failure is not None
        raise DkgFailed(machine.failure)
    return machine.result


async def _drive(
    machine: DkgMachine,
    client: aiomqtt.Client,
    root: str,
    pending: list[Outgoing],
    published: list[tuple[str, bytes]],
    outgoing_filter: OutgoingFilter | None,
    status_path: Path | None,
    clock: Callable[[], float],
) -> None:
    name = machine.identity.name
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)

    async def pump() -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                await queue.put(bytes(payload))

    pump_task = asyncio.create_task(pump())
    try:
        while True:
            while pending:
                message = pending[0]
                data = message.data if outgoing_filter is None else outgoing_filter(message)
                if data is not None:
                    topic = f"{root}/{name}/{message.type.value}"
                    await client.publish(topic, data, qos=1, retain=True)
                    published.append((topic, data))
                pending.pop(0)
            _write_status(status_path, machine)
            if machine.finished:
                return
            wait = max(0.0, machine.deadline - clock()) + 0.01
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, pump_task}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            if pump_task in done:
                getter.cancel()
                pump_task.result()  # raises the connection's MqttError
                raise aiomqtt.MqttError("message stream ended")
            if getter in done:
                batch = [getter.result()]
                while not queue.empty() and len(batch) < 256:
                    batch.append(queue.get_nowait())
                pending.extend(await asyncio.to_thread(_receive_all, machine, batch, clock))
            else:
                getter.cancel()
                pending.extend(await asyncio.to_thread(machine.tick, clock()))
    finally:
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await pump_task


async def run_machines(
    machines: Sequence[DkgMachine],
    *,
    host: str,
    port: int,
    network: str,
    filters: dict[str, OutgoingFilter] | None = None,
) -> list[DkgResult | DkgFailed]:
    """Run several participants in this process (devnet, tests, benchmark)."""
    filters = filters or {}

    async def one(machine: DkgMachine) -> DkgResult | DkgFailed:
        try:
            return await run_machine(
                machine,
                host=host,
                port=port,
                network=network,
                outgoing_filter=filters.get(machine.identity.name),
            )
        except DkgFailed as exc:
            return exc

    return list(await asyncio.gather(*(one(m) for m in machines)))


def _receive_all(machine: DkgMachine, batch: Sequence[bytes], clock: Callable[[], float]) -> list[Outgoing]:
    """Feed several messages in one worker-thread hop (each hop costs a GIL hand-over)."""
    out: list[Outgoing] = []
    for data in batch:
        out.extend(machine.receive(data, clock()))
    return out


def _write_status(path: Path | None, machine: DkgMachine) -> None:
    if path is None:
        return
    status = machine.status()
    status["updated"] = time.time()
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(status, indent=2) + "\n")
    os.replace(temporary, path)


async def local_dkg(
    n: int,
    t: int,
    *,
    host: str,
    port: int,
    network: str,
    key_epoch: int = 1,
    timeouts: Timeouts | None = None,
) -> list[DkgResult]:
    """A DKG of n members run by n state machines in this process over the broker (the devnet's
    way): each member derives its own share; no dealer ever holds the group secret. Identities
    are fresh and thrown away. Returns the members' results in index order, or raises `DkgFailed`."""
    identities = [Identity.generate(f"member-{i}") for i in range(1, n + 1)]
    names = tuple(i.name for i in identities)
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=t,
        key_epoch=key_epoch,
        identities={i.name: i.public for i in identities},
        receivers=names,
        dealers={k + 1: name for k, name in enumerate(names)},
    )
    machines = [DkgMachine(config, i, timeouts=timeouts) for i in identities]
    results = await run_machines(machines, host=host, port=port, network=network)
    for r in results:
        if isinstance(r, DkgFailed):
            raise r
    return [r for r in results if isinstance(r, DkgResult)]
