"""The sentinel's runner on its real SQLite store, for what needs no chain: a curse found again after
the route was uncursed is wanted again (review S2), and a record from a chain the sentinel has no
RPCs for is counted with an alerting kind (review note). (The chain-facing guarantees run on real
anvil in test_sentinel.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from prometheus_client import REGISTRY

from sentinel.checks import Executed
from sentinel.config import parse
from sentinel.runner import Sentinel
from sentinel.store import Store

pytestmark = pytest.mark.integration

SRC, DST, UNKNOWN = 7001, 7002, 7009
MALLORY = to_checksum_address("0x" + "cc" * 20)


def sentinel(tmp_path: Path) -> tuple[Sentinel, Store]:
    chain = {
        "finality": "depth",
        "confirmations": 2,
        "rpcs": ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"],
    }
    raw = {
        "sentinel": {"name": "t", "store": "s.sqlite3", "keystore_file": "k.json", "password_file": "p"},
        "metrics": {"port": 0},
        "chains": {
            "consortium": {**chain, "chain_id": SRC, "endpoint": to_checksum_address("0x" + "01" * 20)},
            "ethereum": {**chain, "chain_id": DST, "endpoint": to_checksum_address("0x" + "02" * 20)},
        },
    }
    cfg = parse(raw, "test", tmp_path)
    store = Store(cfg.store)
    return Sentinel(cfg, store, None), store


def unsent(store: Store, action: str) -> set[tuple[int, str]]:
    return {(chain, target) for chain, a, target, tx in store.actions() if a == action and tx == ""}


def sent(store: Store) -> None:
    """What `send_wanted` records once the transactions landed."""
    for chain, action, target, tx in store.actions():
        if tx == "":
            store.record_action(chain, action, target, "0x" + "cd" * 32)


def test_the_sentinel_curses_a_route_again_after_an_uncurse(tmp_path: Path) -> None:
    """docs/PROTOCOL.md: a colluding committee's UNCURSE "waits the action delay, in which the
    guardian cancels it and the sentinels curse again". A curse sent (or found 'already-cursed')
    once must not keep the sentinel from cursing the route again on a new finding: it is wanted
    again unless every RPC shows the route cursed now (here its RPCs do not answer, so it cannot
    tell: the curse is wanted; the endpoint refuses a vote it counts already)."""
    s, store = sentinel(tmp_path)
    s.want_curse(SRC, DST)
    assert unsent(store, "curse") == {(DST, str(SRC)), (SRC, str(DST))}
    sent(store)
    assert unsent(store, "curse") == set()
    s.want_curse(SRC, DST)  # a forgery found after the route was uncursed
    assert unsent(store, "curse") == {(DST, str(SRC)), (SRC, str(DST))}
    veto = json.dumps({"nonce": 7, "release_after": 100})
    s.want(DST, "veto", veto)
    sent(store)
    s.want(DST, "veto", veto)  # a veto names one transfer: it is never sent twice
    assert unsent(store, "veto") == set()


def test_a_record_from_an_unmonitored_chain_raises_an_alerting_metric(tmp_path: Path) -> None:
    """A transfer executed on Ethereum from a chain the sentinel has no RPCs for cannot be judged;
    it is not silently logged: kind `unmonitored_source` fires QiaoSentinelMismatch (promtool test)."""
    s, store = sentinel(tmp_path)
    labels = {"route": f"{UNKNOWN}->{DST}", "kind": "unmonitored_source"}
    before = REGISTRY.get_sample_value("qiao_sentinel_mismatches_total", labels) or 0.0
    store.record_scan(DST, 50, [], [("0x" + "01" * 32, 0, 50, Executed(UNKNOWN, DST, 3, MALLORY, 500))])
    for stored in store.pending():
        s.check(stored)
    assert REGISTRY.get_sample_value("qiao_sentinel_mismatches_total", labels) == before + 1
    assert store.count("unmonitored") == 1
    assert store.pending() == []
