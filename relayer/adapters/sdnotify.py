"""systemd's notify protocol (sd_notify), without libsystemd: READY=1, STOPPING=1, WATCHDOG=1.

systemd passes `NOTIFY_SOCKET` (a unix datagram socket; a leading `@` means the abstract namespace)
and, when the unit sets `WatchdogSec=`, `WATCHDOG_USEC` (and `WATCHDOG_PID`). Outside systemd both
are absent and every call here does nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

from relayer import metrics

log = structlog.get_logger(__name__)


def _address(environ: Mapping[str, str]) -> str | None:
    addr = environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr.startswith("@"):
        return "\0" + addr[1:]
    return addr


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification; False when not under systemd or the socket refused it."""
    addr = _address(os.environ if environ is None else environ)
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), addr)
    except OSError as exc:
        log.warning("sd_notify_failed", message=message, error=str(exc))
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half the unit's WatchdogSec), or None without a watchdog."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 / 2 if value > 0 else None


async def watchdog(interval: float, healthy: Callable[[], bool]) -> None:
    """Ping the watchdog every `interval` seconds while `healthy()` holds.

    The pings come from the event loop itself, so a blocked loop stops them and systemd restarts
    the service; `healthy` lets the daemon withhold pings when its loops died.
    """
    while True:
        if healthy():
            if notify("WATCHDOG=1"):
                metrics.WATCHDOG_PINGS.inc()
        else:
            log.error("watchdog_withheld", reason="a pipeline loop is not running")
        await asyncio.sleep(interval)
