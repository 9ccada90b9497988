"""One set-up per test module on real anvil chains, a fresh copy of it for every test.

A module deploys the bridge once (on `module_chains`) and keeps a `Snapshots` of its chains: before
each test `fresh()` drops whatever a test left in the chains' pools, reverts every chain to the
module's set-up (`evm_revert`) and snapshots it again (anvil deletes a snapshot once reverted to).
Everything after the set-up is undone: state, blocks (block numbers go back to the set-up's) and
the clock (anvil sets it back to the set-up block's timestamp; interval mining goes on from there).
A test must therefore not cache a block number it saw in an earlier test: its own processes,
proxies and stores stay function-scoped.
"""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    reply = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")


class Snapshots:
    """The chains at `urls` as they are now, to come back to before each test."""

    def __init__(self, *urls: str) -> None:
        self._chains = [Web3(HTTPProvider(url)) for url in urls]
        # each head read before its snapshot: interval mining may mine a block between the two, and
        # a head read after would be one above the snapshot's (CI: "at block 17 after the revert,
        # set up at 18")
        self._heads = [int(w3.eth.block_number) for w3 in self._chains]
        self._ids = [_rpc(w3, "evm_snapshot") for w3 in self._chains]

    def fresh(self) -> None:
        """Every chain back to the snapshot, with nothing waiting in its pool; snapshotted again."""
        for i, w3 in enumerate(self._chains):
            _rpc(w3, "anvil_dropAllTransactions")
            if _rpc(w3, "evm_revert", self._ids[i]) is not True:
                raise RuntimeError(f"evm_revert to {self._ids[i]} refused")
            self._ids[i] = _rpc(w3, "evm_snapshot")
            head = int(w3.eth.block_number)
            # interval mining may have mined a block since the revert, never fewer than the set-up's
            if head < self._heads[i]:
                raise RuntimeError(f"chain {i} at block {head} after the revert, set up at {self._heads[i]}")
