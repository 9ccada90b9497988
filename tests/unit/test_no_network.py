"""The unit tests' socket guard refuses IP sockets and lets socket pairs through."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.unit.conftest import NetworkInUnitTest


def test_connecting_to_a_port_is_refused() -> None:
    with socket.socket() as s, pytest.raises(NetworkInUnitTest, match="tests/integration"):
        s.connect(("127.0.0.1", 1883))


def test_binding_a_port_is_refused() -> None:
    with socket.socket(socket.AF_INET6) as s, pytest.raises(NetworkInUnitTest):
        s.bind(("::1", 0))


def test_create_connection_is_refused() -> None:
    with pytest.raises(NetworkInUnitTest):
        socket.create_connection(("127.0.0.1", 4222), timeout=1)


def test_an_event_loop_still_runs() -> None:
    assert asyncio.run(asyncio.sleep(0, result=7)) == 7


def test_every_collected_test_carries_its_layer(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
