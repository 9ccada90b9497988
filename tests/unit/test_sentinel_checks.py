"""The sentinel's pure decisions (sentinel/checks.py): what a destination record must match, and
when the evidence allows a curse: never on one RPC, never on RPCs that disagree, never while the
source is merely not final yet."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import example, given
from hypothesis import strategies as st

from relayer.core.encoding import leaf_hash, merkle_root
from relayer.core.types import ChainId, Nonce, Transfer
from sentinel.checks import (
    BatchExecuted,
    Executed,
    Kind,
    NonceState,
    Queued,
    RpcView,
    SupplyRead,
    Verdict,
    agree,
    check_record,
    judge,
    supply_excess,
    supply_verdict,
)

SRC, DST = 7001, 7002
A = to_checksum_address("0x" + "11" * 20)
B = to_checksum_address("0x" + "22" * 20)
C = to_checksum_address("0x" + "33" * 20)
ALICE = to_checksum_address("0x" + "aa" * 20)
BOB = to_checksum_address("0x" + "bb" * 20)
MALLORY = to_checksum_address("0x" + "cc" * 20)


def transfer(nonce: int = 1, amount: int = 777, recipient: str = BOB, dst_token: str = B) -> Transfer:
    return Transfer(ChainId(SRC), ChainId(DST), Nonce(nonce), A, dst_token, ALICE, recipient, amount)


def executed(t: Transfer, claimed: bool = False, in_batch: bool = False) -> Executed:
    return Executed(SRC, DST, t.nonce, t.recipient.lower(), t.amount, t if claimed else None, in_batch)


def queued(t: Transfer, held: bool = False) -> Queued:
    return Queued(SRC, DST, t.nonce, leaf_hash(t), t.amount, held=held, release_after=100 if held else 0)


def batch(ts: list[Transfer]) -> BatchExecuted:
    return BatchExecuted(SRC, DST, ts[0].nonce, ts[-1].nonce, merkle_root([leaf_hash(t) for t in ts]), 1)


def view(
    url: str, states: list[NonceState], latest: list[NonceState] | None = None, block: int = 90
) -> RpcView:
    return RpcView(url, block, tuple(states), tuple(latest if latest is not None else states))


ABSENT = NonceState(False, bytes(32))


def present(t: Transfer) -> NonceState:
    return NonceState(True, leaf_hash(t))


amounts = st.integers(min_value=1, max_value=2**128)
nonces = st.integers(min_value=1, max_value=2**32)


# ---- suspicion ------------------------------------------------------------------------------------


@given(nonce=nonces, amount=amounts)
def test_an_honest_record_matches(nonce: int, amount: int) -> None:
    t = transfer(nonce, amount)
    assert check_record(executed(t, in_batch=True), [t]) is None
    assert check_record(executed(t, claimed=True), [t]) is None
    assert check_record(queued(t), [t]) is None
    assert check_record(queued(t, held=True), [t]) is None


@given(nonce=nonces)
def test_a_forged_nonce_is_unbacked(nonce: int) -> None:
    t = transfer(nonce)
    for record in (executed(t), queued(t), queued(t, held=True)):
        finding = check_record(record, [None])
        assert finding is not None
        assert finding.kind is Kind.UNBACKED


@given(amount=amounts, other=amounts)
def test_another_amount_is_found(amount: int, other: int) -> None:
    real, forged = transfer(amount=amount), transfer(amount=other)
    finding = check_record(executed(forged, in_batch=True), [real])
    assert (finding is None) == (amount == other)
    if finding is not None:
        assert finding.kind is Kind.AMOUNT


def test_another_recipient_is_found() -> None:
    real, forged = transfer(), transfer(recipient=MALLORY)
    finding = check_record(executed(forged), [real])
    assert finding is not None
    assert finding.kind is Kind.RECIPIENT
    finding = check_record(queued(forged), [real])
    assert finding is not None
    assert finding.kind is Kind.LEAF


def test_another_token_is_found_from_the_calldata_or_the_leaf() -> None:
    real, forged = transfer(), transfer(dst_token=C)
    finding = check_record(executed(forged, claimed=True), [real])
    assert finding is not None
    assert finding.kind is Kind.TOKEN
    finding = check_record(queued(forged, held=True), [real])
    assert finding is not None
    assert finding.kind is Kind.LEAF


def test_another_sender_is_found_by_the_leaf() -> None:
    real = transfer()
    forged = dataclasses.replace(real, sender=MALLORY)
    finding = check_record(executed(forged, claimed=True), [real])
    assert finding is not None
    assert finding.kind is Kind.LEAF


@given(size=st.integers(min_value=1, max_value=9), bad=st.integers(min_value=0, max_value=8))
def test_a_batch_is_checked_by_its_root(size: int, bad: int) -> None:
    real = [transfer(n, 100 + n) for n in range(1, size + 1)]
    assert check_record(batch(real), real) is None
    forged = list(real)
    forged[bad % size] = transfer(bad % size + 1, 1)
    finding = check_record(batch(forged), real)
    assert finding is not None
    assert finding.kind is Kind.ROOT
    holes: list[Transfer | None] = list(real)
    holes[bad % size] = None
    finding = check_record(batch(real), holes)
    assert finding is not None
    assert finding.kind is Kind.UNBACKED


def test_check_record_refuses_the_wrong_number_of_sources() -> None:
    t = transfer()
    with pytest.raises(ValueError, match="one source"):
        check_record(executed(t), [t, t])
    with pytest.raises(ValueError, match="sources given"):
        check_record(batch([t]), [])


# ---- evidence -------------------------------------------------------------------------------------


def test_a_forged_nonce_on_every_rpc_is_cursed() -> None:
    forged = transfer(5)
    views = [view("a", [ABSENT]), view("b", [ABSENT])]
    e = judge(executed(forged), [None], views, 2)
    assert e.verdict is Verdict.UNBACKED


def test_a_single_rpc_never_curses() -> None:
    forged = transfer(5)
    e = judge(executed(forged), [None], [view("a", [ABSENT])], 1)
    assert e.verdict is Verdict.INSUFFICIENT


@given(liar=st.integers(min_value=0, max_value=2), lie=st.sampled_from(["absent", "other_leaf", "error"]))
def test_a_lying_rpc_does_not_curse_an_honest_route(liar: int, lie: str) -> None:
    """The sentinel's store was fed by a lying RPC (it misses the real transfer): one of three RPCs
    says it is absent, or shows another leaf, or fails; the honest ones show it. Never a curse."""
    real = transfer(3)
    honest = present(real)
    lies = {"absent": view("liar", [ABSENT]), "other_leaf": view("liar", [present(transfer(3, 1))]),
            "error": RpcView("liar", error="timeout")}  # fmt: skip
    views = [view(f"rpc{i}", [honest]) for i in range(3)]
    views[liar] = lies[lie]
    e = judge(executed(real), [None], views, 3)
    assert e.verdict is Verdict.INSUFFICIENT


def test_every_configured_rpc_must_answer() -> None:
    forged = transfer(5)
    e = judge(executed(forged), [None], [view("a", [ABSENT]), view("b", [ABSENT])], 3)
    assert e.verdict is Verdict.INSUFFICIENT


def test_a_destination_record_not_final_on_every_rpc_is_no_record() -> None:
    forged = executed(transfer(5))
    record, why = agree([forged, None], 2)
    assert record is None
    assert "final on 1 of 2 RPCs" in why
    assert agree([forged], 2)[0] is None  # an RPC did not answer
    assert agree([forged], 1)[0] is None  # a single RPC never makes a record
    assert agree([forged, forged], 2) == (forged, "")


def test_a_source_not_yet_final_waits() -> None:
    """The source's latest head has the transfer, its final head not yet (the sentinel's finality
    rule is stricter than the committee's): wait, do not curse."""
    real = transfer(4)
    views = [view("a", [ABSENT], [present(real)]), view("b", [ABSENT], [present(real)])]
    assert judge(executed(real, claimed=True), [None], views, 2).verdict is Verdict.PENDING
    assert judge(queued(real), [None], views, 2).verdict is Verdict.PENDING


def test_a_record_backed_at_the_final_head_is_backed() -> None:
    real = transfer(4)
    views = [view("a", [present(real)]), view("b", [present(real)])]
    assert judge(queued(real), [None], views, 2).verdict is Verdict.BACKED
    assert judge(executed(real, in_batch=True), [real], views, 2).verdict is Verdict.BACKED
    assert judge(executed(real, claimed=True), [None], views, 2).verdict is Verdict.BACKED


def test_another_amount_on_a_real_nonce_is_cursed_when_every_rpc_confirms_the_source() -> None:
    real = transfer(2, 10)
    forged = transfer(2, 10**24)
    views = [view("a", [present(real)]), view("b", [present(real)])]
    assert judge(executed(forged), [real], views, 2).verdict is Verdict.UNBACKED
    assert judge(queued(forged, held=True), [real], views, 2).verdict is Verdict.UNBACKED


def test_a_store_that_disagrees_with_every_rpc_is_not_evidence() -> None:
    """The store's source transfer (read through one RPC) is not the one every RPC shows: the
    sentinel cannot tell what the record should be, so it does not curse."""
    stored, onchain = transfer(2, 10), transfer(2, 11)
    views = [view("a", [present(onchain)]), view("b", [present(onchain)])]
    e = judge(executed(transfer(2, 12)), [stored], views, 2)
    assert e.verdict is Verdict.INSUFFICIENT


def test_a_source_transfer_final_everywhere_but_not_scanned_yet_waits() -> None:
    """Every RPC's final head (block 90) holds the transfer; the store scanned the source to block
    80 only, so it lacks it: wait for the scan. Scanned to 90 and still missing, the store's log
    RPC hid it: that is no evidence either way."""
    real = transfer(4)
    views = [view("a", [present(real)]), view("b", [present(real)])]
    assert judge(executed(real), [None], views, 2, scanned_to=80).verdict is Verdict.PENDING
    assert judge(executed(real), [None], views, 2, scanned_to=90).verdict is Verdict.INSUFFICIENT


def test_a_forged_batch_is_judged_by_the_leaves_every_rpc_shows() -> None:
    real = [transfer(1), transfer(2)]
    forged = [transfer(1), transfer(2, 5)]
    views = [view(u, [present(t) for t in real]) for u in ("a", "b")]
    assert judge(batch(forged), [*real], views, 2).verdict is Verdict.UNBACKED
    assert judge(batch(real), [*real], views, 2).verdict is Verdict.BACKED
    beyond = [view(u, [present(real[0]), ABSENT]) for u in ("a", "b")]
    assert judge(batch(real), [real[0], None], beyond, 2).verdict is Verdict.UNBACKED


# ---- supply ---------------------------------------------------------------------------------------


@given(locked=st.integers(min_value=0, max_value=2**200), wrapped=st.integers(min_value=0, max_value=2**200))
def test_supply_excess(locked: int, wrapped: int) -> None:
    assert supply_excess(locked, wrapped) == (wrapped - locked if wrapped > locked else 0)


def test_supply_within_is_backed() -> None:
    reads = [SupplyRead(100, 90), SupplyRead(100, 90)]
    assert supply_verdict([reads], 2).verdict is Verdict.BACKED


def test_supply_excess_needs_every_rpc_in_consecutive_checks() -> None:
    excess = [SupplyRead(100, 150), SupplyRead(100, 150)]
    assert supply_verdict([excess], 2).verdict is Verdict.INSUFFICIENT  # once only
    assert supply_verdict([excess, excess], 2).verdict is Verdict.UNBACKED
    one_liar = [SupplyRead(100, 150), SupplyRead(200, 150)]
    assert supply_verdict([one_liar, one_liar], 2).verdict is Verdict.INSUFFICIENT
    failed = [SupplyRead(100, 150), SupplyRead(None, 150)]
    assert supply_verdict([failed, failed], 2).verdict is Verdict.INSUFFICIENT
    assert supply_verdict([excess, [SupplyRead(100, 90)] * 2, excess], 2).verdict is Verdict.INSUFFICIENT
    assert supply_verdict([excess], 1).verdict is Verdict.UNBACKED
    assert supply_verdict([[SupplyRead(100, 150)]], 1).verdict is Verdict.INSUFFICIENT  # one RPC


def test_supply_confirmations_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        supply_verdict([], 0)


def test_a_tiny_transfer_at_the_forged_nonce_in_the_latest_head_does_not_hold_the_curse() -> None:
    """Review of the PENDING rule: a forger starts a tiny transfer at nonce N on the source and
    forges a large delivery of N. The final head has nothing at N (the sentinel knows no source
    transfer), the latest head has the tiny one: evidence against the record, not a reason to wait
    until the source is final (while the forged mint can be spent)."""
    forged = dataclasses.replace(executed(transfer(6)), amount=10**24, recipient=MALLORY)
    tiny = present(transfer(6, 1))
    views = [view("r", [ABSENT], [tiny], 0), view("r", [ABSENT], [tiny], 0)]
    assert judge(forged, [None], views, 2).verdict is Verdict.UNBACKED
    # the record's own transfer in the latest head, known to the sentinel: not final yet, wait
    honest = [view("r", [ABSENT], [present(transfer(6))], 0)] * 2
    assert judge(executed(transfer(6)), [transfer(6)], honest, 2).verdict is Verdict.PENDING
    # the same head, but the record says another recipient: evidence against it
    assert judge(forged, [transfer(6)], honest, 2).verdict is Verdict.UNBACKED


states = st.sampled_from(
    [ABSENT, present(transfer(6)), present(transfer(6, 1)), present(transfer(6, recipient=MALLORY))]
)
rpc_views = st.one_of(
    st.builds(
        lambda f, la, b: view("r", [f], [la], b), states, states, st.integers(min_value=0, max_value=100)
    ),
    st.just(RpcView("r", error="timeout")),
)


@given(
    views=st.lists(rpc_views, min_size=0, max_size=4),
    configured=st.integers(min_value=0, max_value=4),
    claimed=st.booleans(),
    in_batch=st.booleans(),
)
@example(  # found by hypothesis: a latest head that may back it (the token pair not verifiable)
    views=[view("r", [ABSENT], [ABSENT], 0), view("r", [ABSENT], [present(transfer(6))], 0)],
    configured=2,
    claimed=False,
    in_batch=False,
)
def test_a_curse_only_on_complete_agreeing_final_evidence(
    views: list[RpcView], configured: int, claimed: bool, in_batch: bool
) -> None:
    """Whatever the RPCs answer: UNBACKED only if every configured source RPC (two or more)
    answered with the same final state, that state does not back the record and no latest head
    backs it; BACKED only if every one answered with the same final state that backs it."""
    record = executed(transfer(6), claimed=claimed, in_batch=in_batch)
    e = judge(record, [transfer(6)], views, configured)
    if e.verdict in (Verdict.UNBACKED, Verdict.BACKED):
        assert configured >= 2
        assert len(views) >= configured
        assert all(v.error is None for v in views)
        assert len({v.final for v in views}) == 1
    if e.verdict is Verdict.BACKED:
        assert views[0].final[0] == present(transfer(6))
        assert claimed or in_batch  # the token pair shown by the calldata or a batch's root
    if e.verdict is Verdict.UNBACKED:
        assert configured >= 2
        assert len(views) >= configured
        assert all(v.error is None for v in views)
        assert len({v.final for v in views}) == 1
        assert views[0].final[0] != present(transfer(6))
        assert all(v.latest[0] != present(transfer(6)) for v in views)
