"""Independent review of the sentinel process (issue 17): attack tests. Each asserts what the sentinel
promises (docs/PROTOCOL.md "Sentinels", sentinel/checks.py) and FAILS on the code reviewed (a220e5b).

The runner's decision (`Sentinel.check`) is driven with a real SQLite store and a stand-in for the
chain reads: `Reads` answers what every RPC of the source shows (the truth: the forged nonce does
not exist on the source) and that the destination event is final everywhere, i.e. the evidence a
curse needs is there.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from eth_utils.address import to_checksum_address

from relayer.core.encoding import leaf_hash
from relayer.core.types import ChainId, Nonce, Transfer
from sentinel.checks import Executed, NonceState, Queued, RpcView, check_record
from sentinel.runner import Sentinel
from sentinel.store import Store

SRC, DST = 7001, 7002
CHEAP_SRC = to_checksum_address("0x" + "11" * 20)
CHEAP_DST = to_checksum_address("0x" + "22" * 20)
DEAR_SRC = to_checksum_address("0x" + "33" * 20)
DEAR_DST = to_checksum_address("0x" + "44" * 20)
ALICE = to_checksum_address("0x" + "aa" * 20)
MALLORY = to_checksum_address("0x" + "cc" * 20)
ABSENT = NonceState(False, bytes(32))


class Reads:
    """Two RPCs of each chain, all honest and agreeing: the source has nothing under the nonces asked."""

    cfg = SimpleNamespace(rpcs=["https://a.example", "https://b.example"])

    def nonce_views(self, dst_chain_id: int, nonces: list[int]) -> list[RpcView]:
        return [RpcView(url, 100, (ABSENT,) * len(nonces), (ABSENT,) * len(nonces)) for url in self.cfg.rpcs]

    def log_final_everywhere(self, tx_hash: str, log_index: int) -> list[bool]:
        return [True, True]


def sentinel(tmp_path: Path) -> tuple[Sentinel, Store]:
    store = Store(tmp_path / "s.sqlite3")
    s = Sentinel.__new__(Sentinel)
    s.store = store
    s.readers = {SRC: Reads(), DST: Reads()}  # type: ignore[dict-item]
    store.record_scan(SRC, 100, [], [])
    return s, store


def forged(nonce: int, amount: int = 500) -> Transfer:
    return Transfer(ChainId(SRC), ChainId(DST), Nonce(nonce), CHEAP_SRC, CHEAP_DST, MALLORY, MALLORY, amount)


def unsent(store: Store, action: str) -> list[tuple[int, str, str, str]]:
    return [a for a in store.actions() if a[1] == action and a[3] == ""]


def test_review_S1_a_forged_held_transfer_sent_through_a_contract_is_vetoed(tmp_path: Path) -> None:
    """A colluding committee sends its forged batch through a contract (a multicall, a proxy): the
    transaction's `to` is not the endpoint, so `abi.claimed_transfers` decodes nothing and the
    `TransferHeld` record has `claimed=None`. The sentinel curses, but never vetoes: the veto needs
    the transfer's fields and `check` asks for one only when `claimed` is set. The held forgery
    then outlives its window (see contracts/test/ReviewSentinels.t.sol R1)."""
    s, store = sentinel(tmp_path)
    t = forged(7, amount=10**24)
    held = Queued(SRC, DST, t.nonce, leaf_hash(t), t.amount, held=True, release_after=10**10, claimed=None)
    store.record_scan(DST, 50, [], [("0x" + "ab" * 32, 0, 50, held)])
    for stored in store.pending():
        s.check(stored)
    assert unsent(store, "curse"), "the route is cursed (this part works)"
    assert unsent(store, "veto"), "the held forgery is never vetoed"


def test_review_S2_the_sentinel_curses_again_after_an_uncurse(tmp_path: Path) -> None:
    """docs/PROTOCOL.md: a colluding committee's UNCURSE "waits the action delay, in which the
    guardian cancels it and the sentinels curse again". The runner records each action under
    (chain, 'curse', route) and `want` skips any action recorded before: once a curse of a route
    was sent (or found 'already-cursed'), the sentinel never sends another for that route, whatever
    it finds after the curse is lifted."""
    s, store = sentinel(tmp_path)
    first = forged(7)
    store.record_scan(DST, 50, [], [("0x" + "01" * 32, 0, 50, Executed(SRC, DST, 7, MALLORY, 500))])
    for stored in store.pending():
        s.check(stored)
    for chain_id, action, target, _ in unsent(store, "curse"):
        store.record_action(chain_id, action, target, "0x" + "cd" * 32)  # as send_wanted records it
    # ... the route is uncursed (a committee UNCURSE the guardian missed), and forging goes on:
    second = forged(first.nonce + 1)
    store.record_scan(
        DST, 60, [], [("0x" + "02" * 32, 0, 60, Executed(SRC, DST, second.nonce, MALLORY, 500))]
    )
    for stored in store.pending():
        s.check(stored)
    assert store.count("mismatch") == 2, "both forgeries were found"
    assert unsent(store, "curse"), "found, but no new curse is ever sent for the route"


def test_review_S3_one_lying_primary_rpc_settles_a_forgery_as_ok(tmp_path: Path) -> None:
    """The scan reads the source's `TransferInitiated` logs from one RPC (`ChainReader.primary`),
    and a record that matches the store is settled 'ok' with no other RPC asked: a curse needs
    every RPC to agree, a pass needs one. A first RPC that adds a fake `TransferInitiated`
    matching the forged delivery keeps the sentinel from ever cursing it, although every RPC's
    state (`initiatedLeaf`, `nextNonce`) shows no such transfer."""
    s, store = sentinel(tmp_path)
    t = forged(7)
    store.record_scan(SRC, 100, [(t, 90)], [])  # the lying primary's fake log
    store.record_scan(DST, 50, [], [("0x" + "01" * 32, 0, 50, Executed(SRC, DST, 7, MALLORY, 500))])
    for stored in store.pending():
        s.check(stored)
    assert store.count("ok") == 0, "a forgery passed on one RPC's word"


def test_review_S4_an_executed_transfer_with_another_token_pair_is_a_mismatch() -> None:
    """`TransferExecuted(srcChainId, nonce, recipient, amount)` carries no token. When the
    transaction's calldata is not decoded (executeTransfer called through a contract: no
    BatchExecuted, no claimed transfer), `check_record` compares amount and recipient only: a
    delivery of a dearer token (another registered pair) with the source's amount and recipient
    passes as matching. (Only the supply check of a configured pair, after its confirmations,
    can still notice it.)"""
    source = Transfer(ChainId(SRC), ChainId(DST), Nonce(7), CHEAP_SRC, CHEAP_DST, ALICE, MALLORY, 500)
    delivered = Transfer(ChainId(SRC), ChainId(DST), Nonce(7), DEAR_SRC, DEAR_DST, ALICE, MALLORY, 500)
    record = Executed(SRC, DST, 7, delivered.recipient, delivered.amount, claimed=None)
    assert check_record(record, [source]) is not None, "another token delivered, judged a match"


class HonestDestinationRpc:
    """What an honest RPC of the destination answers: the transaction's real receipt (one log at
    index 0: the honest `TransferHeld`), its head at block 200 (depth finality, 0 confirmations)."""

    def __init__(self, real_log: dict[str, object]) -> None:
        self.eth = SimpleNamespace(
            block_number=200,
            get_transaction_receipt=lambda tx: {"blockNumber": 50, "logs": [real_log]},
        )


def test_review_S5_one_lying_destination_rpc_makes_it_curse_and_veto_an_honest_transfer(
    tmp_path: Path,
) -> None:
    """The records come from the first RPC's logs, and `ChainReader.log_final_everywhere` asks the
    other RPCs only whether the receipt has *a* log at that index, never whether it is the same
    log. A first destination RPC that rewrites the `TransferHeld` of an honest held transfer (another
    leaf), with the transaction's real calldata, is 'confirmed' by every honest RPC; every source
    RPC then shows a leaf that contradicts the rewritten record: UNBACKED. The sentinel curses the
    honest route on both ends and vetoes the honest transfer (the veto carries the real fields, so
    it lands on-chain)."""
    from sentinel.chain import ChainReader
    from sentinel.config import ChainConfig

    s, store = sentinel(tmp_path)
    honest = Transfer(ChainId(SRC), ChainId(DST), Nonce(7), CHEAP_SRC, CHEAP_DST, ALICE, MALLORY, 10**24)
    real_log = {"logIndex": 0, "data": leaf_hash(honest)}  # what the chain really holds
    dst = ChainReader(
        ChainConfig("dst", DST, ("https://liar.example", "https://honest.example"), "0x" + "99" * 20,
                    "depth", 0, 0, 1000, 5.0)
    )  # fmt: skip
    dst.w3s = [HonestDestinationRpc(real_log), HonestDestinationRpc(real_log)]  # type: ignore[list-item]

    class SourceTruth(Reads):
        def nonce_views(self, dst_chain_id: int, nonces: list[int]) -> list[RpcView]:
            state = (NonceState(True, leaf_hash(honest)),)
            return [RpcView(url, 100, state, state) for url in self.cfg.rpcs]

    s.readers = {SRC: SourceTruth(), DST: dst}  # type: ignore[dict-item]
    store.record_scan(SRC, 100, [(honest, 90)], [])
    # The lying first RPC's version of the honest TransferHeld: another leaf; claimed from the real calldata.
    rewritten = Queued(
        SRC, DST, 7, b"\x66" * 32, honest.amount, held=True, release_after=10**10, claimed=honest
    )
    store.record_scan(DST, 50, [], [("0x" + "ab" * 32, 0, 50, rewritten)])
    for stored in store.pending():
        s.check(stored)
    assert not unsent(store, "curse"), "one lying RPC made the sentinel curse an honest route"
    assert not unsent(store, "veto"), "one lying RPC made the sentinel veto an honest transfer"
