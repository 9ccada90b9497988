"""What the sentinel guarantees against a lying RPC and a colluding committee, on its pure decisions
(sentinel/checks.py, sentinel/abi.py). These began as the attack tests of the independent review of
issue 17 (S1-S5, R1, R3), each failing on the code reviewed; the runner-level ones (a real SQLite
store, real anvil chains behind lying RPCs) are in tests/integration/test_sentinel.py.
"""

from __future__ import annotations

import dataclasses

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from relayer.core.calldata import execute_batch_data
from relayer.core.encoding import leaf_hash
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from sentinel import abi
from sentinel.checks import (
    Executed,
    Kind,
    NonceState,
    Queued,
    Refunded,
    RpcView,
    Status,
    StatusView,
    Verdict,
    agree,
    check_record,
    judge,
    judge_refund,
    pick_source,
    veto_allowed,
)
from sentinel.store import record_from, record_json

SRC, DST = 7001, 7002
CHEAP_SRC = to_checksum_address("0x" + "11" * 20)
CHEAP_DST = to_checksum_address("0x" + "22" * 20)
DEAR_SRC = to_checksum_address("0x" + "33" * 20)
DEAR_DST = to_checksum_address("0x" + "44" * 20)
ALICE = to_checksum_address("0x" + "aa" * 20)
MALLORY = to_checksum_address("0x" + "cc" * 20)
ENDPOINT = to_checksum_address("0x" + "99" * 20)
FORWARDER = to_checksum_address("0x" + "98" * 20)
ABSENT = NonceState(False, bytes(32))


def forged(nonce: int, amount: int = 500) -> Transfer:
    return Transfer(ChainId(SRC), ChainId(DST), Nonce(nonce), CHEAP_SRC, CHEAP_DST, MALLORY, MALLORY, amount)


def everywhere(state: NonceState, rpcs: int = 2) -> list[RpcView]:
    return [RpcView(f"rpc{i}", 100, (state,), (state,)) for i in range(rpcs)]


# ---- S5: one lying RPC of the record's chain makes no record -------------------------------------


def test_a_record_one_rpc_rewrites_is_no_record_and_never_a_veto() -> None:
    """A lying first RPC rewrites the leaf of an honest `TransferHeld` (the transaction's real
    calldata gives the honest transfer): every other RPC's receipt shows the real log, so there is
    no agreed record to judge, hence no curse and no veto of the honest transfer."""
    honest = Transfer(ChainId(SRC), ChainId(DST), Nonce(7), CHEAP_SRC, CHEAP_DST, ALICE, MALLORY, 10**24)
    real = Queued(SRC, DST, 7, leaf_hash(honest), honest.amount, True, 10**10, honest)
    rewritten = dataclasses.replace(real, leaf=b"\x66" * 32)
    record, why = agree([rewritten, real, real], 3)
    assert record is None
    assert "different records" in why
    # agreed, the real record is backed by every source RPC: nothing to veto
    record, _ = agree([real, real], 2)
    assert record == real
    assert judge(real, [honest], everywhere(NonceState(True, leaf_hash(honest))), 2).verdict is Verdict.BACKED


def test_a_transfer_an_rpc_claims_is_kept_for_a_veto_only_with_the_agreed_leaf() -> None:
    """A lying RPC's copy of the transaction (calldata, trace) claims another transfer than the held
    leaf every RPC's log shows: a veto with it would revert NotHeld, and the sentinel keeps only a
    rebuilt transfer whose leaf is the agreed one."""
    t = forged(7, 10**24)
    other = dataclasses.replace(t, recipient=ALICE)
    held = Queued(SRC, DST, 7, leaf_hash(t), t.amount, True, 10**10, None)
    liar, honest = dataclasses.replace(held, claimed=other), dataclasses.replace(held, claimed=t)
    assert agree([liar, held], 2) == (held, "")  # no transfer with the leaf: no veto fields
    assert agree([liar, honest], 2) == (honest, "")


def test_a_delivery_an_rpc_claims_another_transfer_for_is_no_record() -> None:
    """For a `TransferExecuted` the transfer rebuilt from the transaction is evidence (its leaf is
    compared with the source's): every RPC must rebuild the same one."""
    t = forged(7)
    honest = Executed(SRC, DST, 7, t.recipient, t.amount, t)
    liar = dataclasses.replace(honest, claimed=dataclasses.replace(t, dst_token=DEAR_DST))
    assert agree([liar, honest], 2)[0] is None
    assert agree([honest, honest], 2)[0] == honest


# ---- S3: a pass needs every RPC as much as a curse does -------------------------------------------


def test_a_fake_source_transfer_in_the_store_backs_nothing() -> None:
    """A lying primary RPC fed the store a `TransferInitiated` matching the forged delivery; every
    RPC's state says the nonce does not exist. The stored transfer is not taken (its leaf is not the
    agreed one) and the record is judged unbacked: a curse, not a pass."""
    fake = forged(7)
    assert pick_source([fake], ABSENT) is None
    record = Executed(SRC, DST, 7, fake.recipient, fake.amount, fake)
    assert check_record(record, [fake]) is None  # the store alone would settle it ok
    assert judge(record, [None], everywhere(ABSENT), 2).verdict is Verdict.UNBACKED
    batched = Executed(SRC, DST, 7, fake.recipient, fake.amount, None, in_batch=True)
    assert judge(batched, [None], everywhere(ABSENT), 2).verdict is Verdict.UNBACKED


def test_the_source_transfer_is_the_one_with_the_agreed_leaf() -> None:
    real, fake = forged(7, 10), forged(7, 500)
    state = NonceState(True, leaf_hash(real))
    assert pick_source([fake, real], state) == real
    assert pick_source([fake], state) is None


def test_a_pass_needs_every_configured_rpc() -> None:
    t = forged(7)
    record = Executed(SRC, DST, 7, t.recipient, t.amount, t)
    present = NonceState(True, leaf_hash(t))
    assert judge(record, [t], everywhere(present), 2).verdict is Verdict.BACKED
    assert judge(record, [t], everywhere(present, 1), 2).verdict is Verdict.INSUFFICIENT
    lying = [*everywhere(present, 1), RpcView("liar", 100, (ABSENT,), (ABSENT,))]
    assert judge(record, [t], lying, 2).verdict is Verdict.INSUFFICIENT


# ---- S4: a delivery whose token pair nothing shows is never a pass --------------------------------


def test_an_executed_transfer_with_another_token_pair_is_not_a_match() -> None:
    """`TransferExecuted` carries no token. Without a transfer rebuilt from its transaction and
    without a batch root covering it, a delivery of a dearer token with the source's amount and
    recipient cannot be told from an honest one: never settled ok, reported as insufficient."""
    source = Transfer(ChainId(SRC), ChainId(DST), Nonce(7), CHEAP_SRC, CHEAP_DST, ALICE, MALLORY, 500)
    record = Executed(SRC, DST, 7, MALLORY, 500, claimed=None)
    finding = check_record(record, [source])
    assert finding is not None
    assert finding.kind is Kind.INSUFFICIENT
    e = judge(record, [source], everywhere(NonceState(True, leaf_hash(source))), 2)
    assert e.verdict is Verdict.INSUFFICIENT
    assert "token pair is not verifiable" in e.reason
    delivered = dataclasses.replace(source, src_token=DEAR_SRC, dst_token=DEAR_DST)
    claimed = Executed(SRC, DST, 7, MALLORY, 500, claimed=delivered)
    finding = check_record(claimed, [source])
    assert finding is not None
    assert finding.kind is Kind.TOKEN
    e = judge(claimed, [source], everywhere(NonceState(True, leaf_hash(source))), 2)
    assert e.verdict is Verdict.UNBACKED


def test_a_transfer_executed_in_a_batch_is_covered_by_its_root() -> None:
    """Logs of one transaction: the `TransferExecuted` of a nonce a `BatchExecuted` of its route
    covers is marked in_batch (the batch's root check covers its token pair); another route's or
    another range's batch does not cover it."""
    executed = {"topics": [abi.TRANSFER_EXECUTED, SRC.to_bytes(32, "big"), (7).to_bytes(32, "big")],
                "data": encode(["address", "uint256"], [MALLORY, 500])}  # fmt: skip

    def batch(src: int, first: int, last: int) -> dict[str, object]:
        return {"topics": [abi.BATCH_EXECUTED, src.to_bytes(32, "big")],
                "data": encode(["uint64", "uint64", "bytes32", "uint64"], [first, last, b"\x01" * 32, 1])}  # fmt: skip

    record = abi.decode_log(executed, DST, [batch(SRC, 5, 9), executed])
    assert isinstance(record, Executed)
    assert record.in_batch
    for other in (batch(SRC, 8, 9), batch(7003, 5, 9)):
        record = abi.decode_log(executed, DST, [other, executed])
        assert isinstance(record, Executed)
        assert not record.in_batch
    assert record_from(record_json(dataclasses.replace(record, in_batch=True))) == dataclasses.replace(
        record, in_batch=True
    )


def test_a_release_of_a_queued_transfer_is_rebuilt_from_its_calldata() -> None:
    """`releaseQueued(t)` delivers a queued or held transfer: its calldata holds every field (so an
    honest release is verifiable, not an evidence_insufficient alert)."""
    t = forged(7)
    data = abi.RELEASE_QUEUED + encode([abi._TRANSFER], [t.as_abi_tuple()])
    assert abi.claimed_transfers(data, SRC, DST) == {7: t}
    assert abi.claimed_transfers(data, SRC, 7003) == {}


# ---- S1: a forged held transfer sent through a contract is still vetoed ---------------------------


def test_a_batch_sent_through_a_contract_is_rebuilt_from_the_call_trace() -> None:
    """The forged batch goes through a forwarder (a multicall, a proxy): the transaction's calldata
    is the forwarder's, so the transfer is read from the call tracer's frame to the endpoint; a
    reverted frame and calls to other contracts are not taken."""
    t = forged(7, 10**24)
    batch = Batch((t,), ENDPOINT, 1)
    inner = "0x" + execute_batch_data(batch, b"\x01" * 128).hex()
    reverted_t = dataclasses.replace(t, nonce=Nonce(8))
    reverted = "0x" + execute_batch_data(Batch((reverted_t,), ENDPOINT, 1), b"\x01" * 128).hex()
    trace = {"type": "CALL", "from": ALICE, "to": FORWARDER, "input": "0xdeadbeef", "calls": [
        {"type": "CALL", "from": FORWARDER, "to": ENDPOINT.lower(), "input": inner,
         "calls": [{"type": "DELEGATECALL", "from": ENDPOINT, "to": FORWARDER, "input": inner}]},
        {"type": "CALL", "from": FORWARDER, "to": ENDPOINT, "input": reverted, "error": "execution reverted"},
        {"type": "CALL", "from": FORWARDER, "to": CHEAP_DST, "input": inner},
    ]}  # fmt: skip
    assert abi.claims_from_trace(trace, ENDPOINT, SRC, DST) == {7: t}
    assert abi.claims_from_trace(None, ENDPOINT, SRC, DST) == {}
    held = abi.decode_log(
        {"topics": [abi.TRANSFER_HELD, SRC.to_bytes(32, "big")],
         "data": encode(["uint64", "bytes32", "uint256", "uint64"], [7, leaf_hash(t), t.amount, 99])},
        DST, claims=abi.claims_from_trace(trace, ENDPOINT, SRC, DST),
    )  # fmt: skip
    assert held == Queued(SRC, DST, 7, leaf_hash(t), t.amount, True, 99, t)


def test_a_held_unbacked_transfer_is_vetoed_while_its_route_is_cursed_even_after_its_window() -> None:
    """Inside the window the endpoint takes a veto; after it only while the route is cursed
    (then `releaseQueued` cannot deliver it, and the veto makes sure it never is)."""
    assert veto_allowed(now=99, release_after=100, cursed=False)
    assert veto_allowed(now=100, release_after=100, cursed=True)
    assert veto_allowed(now=10**9, release_after=100, cursed=True)
    assert not veto_allowed(now=100, release_after=100, cursed=False)


# ---- R3: a refund of a transfer its destination did not fail is cursed ----------------------------


def status(final: int, latest: int | None = None, rpcs: int = 2) -> list[StatusView]:
    return [StatusView(f"rpc{i}", 100, final, final if latest is None else latest) for i in range(rpcs)]


def test_a_refund_of_a_delivered_transfer_is_cursed() -> None:
    """A colluding committee signs a REFUND on the source of a transfer delivered (or held, or never
    arrived) on the destination: the sender keeps the wrapped tokens and gets the asset back."""
    for shown in (Status.DELIVERED, Status.QUEUED, Status.NONE):
        e = judge_refund(status(shown), 2)
        assert e.verdict is Verdict.UNBACKED, shown
        assert shown.name in e.reason
    assert judge_refund(status(Status.FAILED), 2).verdict is Verdict.BACKED


def test_a_refund_is_judged_on_every_destination_rpc() -> None:
    liar = [*status(Status.FAILED, rpcs=1), StatusView("liar", 100, Status.DELIVERED, Status.DELIVERED)]
    assert judge_refund(liar, 2).verdict is Verdict.INSUFFICIENT
    assert judge_refund(status(Status.DELIVERED, rpcs=1), 1).verdict is Verdict.INSUFFICIENT
    assert judge_refund(status(Status.DELIVERED, rpcs=1), 2).verdict is Verdict.INSUFFICIENT
    failed = [*status(Status.DELIVERED, rpcs=1), StatusView("down", error="timeout")]
    assert judge_refund(failed, 2).verdict is Verdict.INSUFFICIENT
    # the destination's failure is not final on the sentinel's stricter rule yet: wait
    assert judge_refund(status(Status.QUEUED, latest=Status.FAILED), 2).verdict is Verdict.PENDING


def test_a_refund_log_decodes_to_its_record() -> None:
    lg = {"topics": [abi.TRANSFER_REFUNDED, DST.to_bytes(32, "big"), (7).to_bytes(32, "big")],
          "data": encode(["address", "uint256"], [ALICE, 500])}  # fmt: skip
    record = abi.decode_log(lg, SRC)
    assert record == Refunded(SRC, DST, 7, ALICE, 500)
    assert record_from(record_json(record)) == record
    assert abi.TRANSFER_REFUNDED in abi.ALL_TOPICS


_t = forged(7, 10**24)
_real = Queued(SRC, DST, 7, leaf_hash(_t), _t.amount, True, 99, _t)
_shown = st.sampled_from(
    [
        None,
        _real,
        dataclasses.replace(_real, claimed=None),
        dataclasses.replace(_real, leaf=b"\x66" * 32),
        dataclasses.replace(_real, amount=1),
        Executed(SRC, DST, 7, MALLORY, _t.amount, _t),
        Executed(SRC, DST, 7, MALLORY, _t.amount, dataclasses.replace(_t, dst_token=DEAR_DST)),
    ]
)


@given(rebuilt=st.lists(_shown, max_size=4), configured=st.integers(min_value=0, max_value=4))
def test_a_record_is_one_every_configured_rpc_shows(
    rebuilt: list[Queued | Executed | None], configured: int
) -> None:
    """Whatever the RPCs show: a record comes back only if every configured RPC (two or more)
    showed it final, all alike but for a held transfer's rebuilt fields, and those fields only
    with the leaf every RPC's log shows."""
    record, _ = agree(rebuilt, configured)
    if record is None:
        return
    assert configured >= 2
    assert len(rebuilt) >= configured
    assert all(r is not None for r in rebuilt)
    if isinstance(record, Queued):
        assert all(isinstance(r, Queued) and dataclasses.replace(r, claimed=None) == dataclasses.replace(
            record, claimed=None) for r in rebuilt)  # fmt: skip
        assert record.claimed is None or leaf_hash(record.claimed) == record.leaf
    else:
        assert all(r == record for r in rebuilt)
