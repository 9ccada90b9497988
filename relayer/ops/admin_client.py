"""The client side of the admin socket, kept light (no web3) so the operator CLI starts fast."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class AdminError(Exception):
    """A request the daemon refuses, or the daemon cannot be reached; the message says why."""


class DaemonUnreachable(AdminError):
    """Nothing answers on the admin socket (the daemon is down, or the socket is not its own)."""


MAX_SOCKET_PATH = 107  # bytes of a unix socket address's path on Linux (sun_path, NUL included: 108)


def socket_path_problem(path: Path) -> str | None:
    """Why the admin socket cannot live at `path` (a unix socket's path has at most 107 bytes), or None."""
    size = len(str(path).encode())
    if size <= MAX_SOCKET_PATH:
        return None
    return (
        f"the admin socket path {path} is {size} bytes; a unix socket allows {MAX_SOCKET_PATH}: "
        "set [node] data_dir to a shorter path (and without '..' parts)"
    )


def request(path: Path, cmd: str, args: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    """The client side (blocking): send one request and return the result or raise AdminError."""
    problem = socket_path_problem(path)
    if problem is not None:
        raise DaemonUnreachable(problem)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise DaemonUnreachable(
                f"cannot reach the daemon on {path} ({exc.strerror}); is `relayer run` running "
                "with this configuration, and are you its user?"
            ) from exc
        sock.sendall(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data)
    if not reply.get("ok"):
        raise AdminError(str(reply.get("error")))
    return reply["result"]
