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


def request(path: Path, cmd: str, args: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    """The client side (blocking): send one request and return the result or raise AdminError."""
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
