"""Unit tests do no network I/O: an autouse fixture refuses every IP socket's connect and bind.

Unix-domain sockets and socket pairs stay allowed (asyncio's event loop wakes itself through
one). A unit test that needs a chain, a broker or a port belongs in tests/integration.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NetworkInUnitTest(RuntimeError):
    pass


def _refuse(original: Any, what: str) -> Any:
    def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if self.family in IP_FAMILIES:
            raise NetworkInUnitTest(
                f"unit tests cannot open sockets ({what} {args[0] if args else ''}); "
                "move this test to tests/integration"
            )
        return original(self, *args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, _refuse(getattr(socket.socket, name), name))
