"""What the health probes last saw of each chain (RPC up, head), shared read-only with the admin side.

`relayer.ops.health` records each probe here; `relayer.ops.admin` reads it for `status` and the
readiness checks. Neither writes the other's fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from relayer.core.types import ChainId


class ChainProbes:
    """Per chain: whether its RPC answered the last probe (False until one did), and its head."""

    def __init__(self, chains: Iterable[ChainId]) -> None:
        self._ok: dict[ChainId, bool] = {c: False for c in chains}
        self._heads: dict[ChainId, int] = {}

    def up(self, chain_id: ChainId, head: int) -> None:
        self._ok[chain_id] = True
        self._heads[chain_id] = head

    def down(self, chain_id: ChainId) -> None:
        self._ok[chain_id] = False

    @property
    def rpc_ok(self) -> Mapping[ChainId, bool]:
        return MappingProxyType(self._ok)

    @property
    def heads(self) -> Mapping[ChainId, int]:
        return MappingProxyType(self._heads)
