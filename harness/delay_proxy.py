"""A TCP delay proxy: WAN latency between network namespaces (harness/netns.py).

The kernel of the machines this project tests on has no `netem` (no `tc qdisc ... delay`), so the
multi-host topology gets its latency here instead: each member's namespace runs one of these
proxies, and everything the member says to a broker or a chain's RPC goes through it, out over the
namespace's own veth link to the other namespace. Each direction of each connection is a delay
line: a chunk read at time t is written on the other side at t + delay, in order (a one-way
delay, not a bandwidth limit); a new connection waits two delays before it is opened upstream
(TCP's handshake costs a round trip before the first byte). Taking the link down is still what
partitions: a connection to an unreachable peer fails and the client's connection is closed.

    python -m harness.delay_proxy --control /run/dir/proxy.sock \
        --route b1=127.0.0.1:18831=10.77.3.2:8883 --route c=127.0.0.1:18545=10.77.7.2:8545

The delay of each route can be changed while it runs, through the control socket (a unix socket
path, reachable from any namespace): one line in, one line of JSON out.

    delay SECONDS [ROUTE ...]   set the one-way delay of these routes (all when none named)
    stats                       every route's delay, connections carried and connects that failed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

CHUNK = 65536
# Chunks in flight in one direction of one connection; a full delay line makes its reader wait
# (back-pressure, as a full TCP window would), so memory stays bounded.
LINE_CHUNKS = 256
CONNECT_TIMEOUT = 5.0
HALF_CLOSED_GRACE = 10.0


@dataclass
class Route:
    """One listener and where it carries connections: `name=LHOST:LPORT=THOST:TPORT`."""

    name: str
    listen_host: str
    listen_port: int
    target_host: str
    target_port: int
    delay: float = 0.0
    connections: int = 0  # carried upstream so far
    failed: int = 0  # upstream connects that failed (a partition, a peer not up yet)
    open: int = 0

    @classmethod
    def parse(cls, text: str) -> Route:
        try:
            name, listen, target = text.split("=")
            lhost, lport = listen.rsplit(":", 1)
            thost, tport = target.rsplit(":", 1)
            return cls(name, lhost, int(lport), thost, int(tport))
        except ValueError:
            raise ValueError(
                f"--route {text!r}: expected NAME=LISTEN_HOST:PORT=TARGET_HOST:PORT, "
                "e.g. b1=127.0.0.1:18831=10.77.3.2:8883"
            ) from None

    def stats(self) -> dict[str, float | int]:
        return {
            "delay": self.delay,
            "connections": self.connections,
            "failed": self.failed,
            "open": self.open,
        }


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def delay_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route) -> None:
    """Copy `reader` to `writer`, each chunk written `route.delay` seconds (as it is when the chunk
    is read) after it was read, in order; the end of the stream is passed on the same way."""
    loop = asyncio.get_running_loop()
    line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=LINE_CHUNKS)

    async def read() -> None:
        while True:
            data = await reader.read(CHUNK)
            await line.put((loop.time() + route.delay, data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await line.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(read())
        tg.create_task(write())


async def carry(route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One client connection: open the upstream one (after the handshake's round trip) and run a
    delay line each way until both ends are done or either breaks."""
    _nodelay(writer)
    route.open += 1
    upstream: asyncio.StreamWriter | None = None
    try:
        if route.delay > 0:
            await asyncio.sleep(2 * route.delay)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(route.target_host, route.target_port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            route.failed += 1
            return
        upstream = up_writer
        route.connections += 1
        _nodelay(up_writer)
        lines = {
            asyncio.create_task(delay_line(reader, up_writer, route)),
            asyncio.create_task(delay_line(up_reader, writer, route)),
        }
        try:
            # once one direction ends (its end of stream passed on, or broken), the other gets a
            # grace period: a peer behind a link that went down never answers, nor resets
            done, pending = await asyncio.wait(lines, return_when=asyncio.FIRST_COMPLETED)
            if pending and not any(t.exception() for t in done):
                await asyncio.wait(pending, timeout=HALF_CLOSED_GRACE + 2 * route.delay)
        finally:
            for task in lines:
                task.cancel()
            for task in lines:
                with contextlib.suppress(asyncio.CancelledError, OSError, ExceptionGroup):
                    await task
    finally:
        route.open -= 1
        for w in (writer, upstream):
            if w is not None:
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()


async def control(
    routes: dict[str, Route], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        line = (await reader.readline()).decode().split()
        reply: dict[str, object]
        if line[:1] == ["delay"] and len(line) >= 2:
            try:
                delay = float(line[1])
                if not 0 <= delay <= 10:
                    raise ValueError
            except ValueError:
                reply = {"error": f"delay {line[1]!r}: give the one-way delay in seconds, 0 to 10"}
            else:
                unknown = [n for n in line[2:] if n not in routes]
                if unknown:
                    reply = {"error": f"no route {unknown[0]!r}; routes: {sorted(routes)}"}
                else:
                    for name in line[2:] or list(routes):
                        routes[name].delay = delay
                    reply = {name: r.stats() for name, r in routes.items()}
        elif line == ["stats"]:
            reply = {name: r.stats() for name, r in routes.items()}
        else:
            reply = {"error": f"unknown command {' '.join(line)!r}: 'delay SECONDS [ROUTE ...]' or 'stats'"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
    finally:
        writer.close()


async def serve(routes: list[Route], control_path: Path) -> None:
    by_name = {r.name: r for r in routes}
    servers = []
    for route in routes:
        servers.append(
            await asyncio.start_server(functools.partial(carry, route), route.listen_host, route.listen_port)
        )
    servers.append(await asyncio.start_unix_server(functools.partial(control, by_name), str(control_path)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"event": "delay_proxy_ready", "routes": [r.name for r in routes]}), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def request(control_path: Path, line: str, timeout: float = 5.0) -> dict[str, object]:
    """Send one control line to a running proxy; its JSON reply (an `error` key says what was wrong)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(control_path))
        s.sendall(line.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise ValueError(f"{control_path}: unexpected reply {reply!r}")
    return reply


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="harness.delay_proxy", description=__doc__.split("\n")[0] if __doc__ else ""
    )
    p.add_argument("--route", action="append", default=[], help="NAME=LISTEN_HOST:PORT=TARGET_HOST:PORT")
    p.add_argument("--control", type=Path, required=True, help="the control socket's path")
    p.add_argument("--delay", type=float, default=0.0, help="every route's one-way delay at start, seconds")
    args = p.parse_args(argv)
    try:
        routes = [Route.parse(text) for text in args.route]
    except ValueError as exc:
        print(f"delay_proxy: {exc}", file=sys.stderr)
        return 2
    if not routes:
        print("delay_proxy: no --route given", file=sys.stderr)
        return 2
    for r in routes:
        r.delay = args.delay
    args.control.unlink(missing_ok=True)  # a socket a killed proxy left
    try:
        asyncio.run(serve(routes, args.control))
    finally:
        args.control.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
