"""The devnet's members push by default: each chain's `ws` is the WebSocket of the URL they read
the chain through (anvil serves it on its HTTP port), a proxy's when `rpc` is overridden by one."""

from __future__ import annotations

import tomllib

from harness import devnet


def test_the_ws_line_is_the_anvils_websocket_on_the_same_port() -> None:
    assert tomllib.loads(devnet.ws_line("http://127.0.0.1:8545", True)) == {"ws": "ws://127.0.0.1:8545"}
    assert tomllib.loads(devnet.ws_line("https://node.example/rpc", True)) == {"ws": "wss://node.example/rpc"}
    assert devnet.ws_line("http://127.0.0.1:8545", False) == ""  # --no-push: poll only


def test_a_single_rpc_override_carries_the_ws_too_and_a_list_does_not() -> None:
    # the netns topology reads each chain through a delay proxy: the push must take the same path
    assert devnet._single_url('"http://127.0.0.1:18545"') == "http://127.0.0.1:18545"
    assert devnet._single_url('["http://127.0.0.1:1", "http://127.0.0.1:2"]') is None
    assert devnet._single_url(None) is None
