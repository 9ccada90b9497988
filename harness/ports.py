"""Ports for the devnet's servers (anvil, mosquitto, nats, metrics), handed out so two never race.

The old way (bind port 0, read the port, close, start the server on it) raced twice over: the
kernel could hand the same port to another process's bind(0) before the server bound it (two
pytest workers, or another run on the machine), and it is a port of the ephemeral range, which
every outgoing connection (web3's HTTP, MQTT clients) takes its local port from; a server restarted
on its port (a chain, a broker, a proxy brought back) could find it taken the same way. Seen once:
"address already in use" in tests/e2e/test_refund_consistency.py.

Here the ports come from below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range,
32768-60999 by default), where no outgoing connection takes one, split into blocks. A process
claims one block with an exclusive flock on a lock file of that block's own (the kernel releases it
when the process exits, so nothing is left stale), and hands its ports out in turn, skipping any
that something is bound to. Two processes so never hand out the same port, and a port comes back
to its process only after the block's other BLOCK - 1 ports. When every block is claimed (or the
range is too small) it falls back to the kernel's choice.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import IO

FLOOR = 10_000  # the lowest port handed out: clear of the well-known and registered ones in use here
BLOCK = 500  # ports per process: a devnet of 31 members with metrics asks for about 40
LOCK_DIR = Path(tempfile.gettempdir()) / "qiao-ports"
ENV_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


def ephemeral_low() -> int:
    """The lowest port the kernel picks for an outgoing connection (or a bind to port 0)."""
    try:
        return int(Path(ENV_RANGE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port: int) -> bool:
    """Nothing is bound to `port` on any local address (a socket in TIME_WAIT counts as bound)."""
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Block:
    """This process's block of ports: [start, start + BLOCK), held by `lock`'s flock."""

    def __init__(self, start: int, lock: IO[bytes]) -> None:
        self.start = start
        self.lock = lock
        self.pid = os.getpid()
        self.next = 0


_block: _Block | None = None
_guard = threading.Lock()


def _claim() -> _Block | None:
    """Claim a free block (an exclusive, non-blocking flock on its lock file), or None."""
    low, high = FLOOR, ephemeral_low()
    count = (high - low) // BLOCK
    if count < 1:
        return None
    LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
    first = os.getpid() % count  # processes started together mostly try different blocks first
    for i in range(count):
        k = (first + i) % count
        path = LOCK_DIR / f"block-{low + k * BLOCK}"
        try:
            fh = path.open("ab")
        except OSError:
            continue
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        return _Block(low + k * BLOCK, fh)
    return None


def free_port() -> int:
    """A port no other process is handed out and nothing is bound to, for a server to listen on."""
    global _block
    with _guard:
        if _block is None or _block.pid != os.getpid():  # a forked child claims its own block
            _block = _claim()
        block = _block
        if block is None:
            return kernel_port()
        for _ in range(BLOCK):
            port = block.start + block.next
            block.next = (block.next + 1) % BLOCK
            if bindable(port):
                return port
    return kernel_port()  # the whole block bound: not expected, but not a reason to fail
