"""The signed items of a real SQLite store counted per kind and phase (relayer.core.lifecycle), from
one count query per kind, as `qiao_signed_items` and `relayer status` read them."""

from __future__ import annotations

from pathlib import Path

from eth_utils.address import to_checksum_address as cs

from relayer.adapters.store import Store
from relayer.core.batching import Located
from relayer.core.items import ActionState
from relayer.core.lifecycle import ItemKind, item_phases, states_of_every_kind
from relayer.core.states import BatchState, ObservedFailure, RefundState
from relayer.core.types import Batch, ChainId, Nonce, Route, Transfer
from tests.integration.test_action_store import freeze, resume

ROUTE = Route(ChainId(7001), ChainId(7002))
ADDR = cs("0x" + "ab" * 20)


def transfer(nonce: int) -> Transfer:
    return Transfer(ROUTE.src, ROUTE.dst, Nonce(nonce), ADDR, ADDR, ADDR, ADDR, 1)


async def counted(store: Store) -> dict[str, dict[str, int]]:
    actions, _ = await store.action_counts()
    return item_phases(
        {
            ItemKind.BATCH: await store.batch_counts_by_state(),
            ItemKind.REFUND: await store.refund_counts_by_state(),
            ItemKind.ACTION: states_of_every_kind(actions),
        }
    )


async def test_every_kind_is_counted_in_its_phases(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "s.sqlite3") as store:
        assert all(n == 0 for phases in (await counted(store)).values() for n in phases.values())
        await store.record_scan(
            ROUTE.src, 20, [(Located(transfer(n), 10 + n), "0xb", f"0xt{n}", 0) for n in (1, 2, 3)]
        )
        first, second = Batch((transfer(1), transfer(2)), ADDR, 1), Batch((transfer(3),), ADDR, 1)
        await store.record_batches(
            ROUTE, [(first, b"\x01" * 32, b"\x02" * 32), (second, b"\x03" * 32, b"\x04" * 32)], 19, 4
        )
        await store.set_batch_state(first.id, BatchState.AGGREGATED, signature=b"\x05" * 48)
        failures = [ObservedFailure(ROUTE, n, 1, 30, "0xdstblock", f"0xdsttx{n}", 0) for n in (1, 2)]
        await store.record_scan(ROUTE.dst, 40, [], failures=failures)
        await store.set_refund_state(ROUTE, 2, RefundState.REFUSED, "the destination says Delivered")
        await store.put_action(resume(), ActionState.PROPOSED, "proposed by member 1")
        await store.record_registry_scan(7001, 20, [freeze(11), freeze(12)], "carried")
        await store.set_action_state("r7002-11-0", ActionState.SUPERSEDED, "superseded by r7002-12-0")

        items = await counted(store)
        assert items["batch"]["collecting"] == 1  # pending
        assert items["batch"]["signed"] == 1  # aggregated
        assert items["refund"]["checking"] == 1  # observed
        assert items["refund"]["failed"] == 1  # refused
        assert items["action"]["checking"] == 1  # the resume, proposed
        assert items["action"]["collecting"] == 1  # the later freeze, approved
        assert items["action"]["closed"] == 1  # the earlier freeze, superseded
        assert sum(n for phases in items.values() for n in phases.values()) == 7
        assert await store.refund_counts_by_state() == {"observed": 1, "refused": 1}
