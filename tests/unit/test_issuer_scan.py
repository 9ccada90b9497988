"""Review of issue 19, findings #5 and #6 (relayer.core.issuer_scan), pure: an issuer decision
recorded on C before its asset's token pair is registered on a follower waits and is carried in
C's order once the pair is registered (never dropped, never overtaken by a later one); members
that resolve the mapping at different scans carry the same decisions under the same ids; the
signing order is per token and per account, so one token's unsigned decision holds back nothing
else."""

from __future__ import annotations

import pytest

from relayer.core.issuer_scan import (
    OrderItem,
    WaitingDecision,
    c_order_waits,
    order_item,
    plan_issuer_scan,
)
from relayer.core.items import Action, ActionKind, Origin, registry_action_id
from relayer.core.onchain import IssuerEvent
from relayer.core.types import ChainId

E, F = ChainId(7002), ChainId(7003)
ASSET, OTHER = "0x" + "aa" * 20, "0x" + "ab" * 20
TOKEN, TOKEN2 = "0x" + "11" * 20, "0x" + "12" * 20
BOB, ALICE, CAROL = "0x" + "b0" * 20, "0x" + "a1" * 20, "0x" + "c0" * 20
ZERO = "0x" + "00" * 20


def event(sequence: int, block: int, log: int = 0, asset: str = ASSET) -> IssuerEvent:
    return IssuerEvent(
        asset, sequence, 7, ZERO, ZERO, 1, 0, BOB, block, "0x" + "01" * 32, "0x" + "02" * 32, log
    )


def ids(carried: list) -> list[tuple[int, int]]:
    return [(c.chain_id, c.event.sequence) for c in carried]


def test_a_decision_before_the_pair_is_registered_waits_and_is_carried_first_once_it_is() -> None:
    # today's scan dropped #1 (no token for the asset): it must wait instead
    carried, waiting = plan_issuer_scan([], [event(1, 10)], [E], {(E, ASSET): ZERO})
    assert carried == []
    assert [(w.chain_id, w.event.sequence) for w in waiting] == [(E, 1)]
    # the pair is registered: #1 (waiting) and #2 (new) both carried, #1 first, nothing waits
    carried, waiting = plan_issuer_scan(waiting, [event(2, 20)], [E], {(E, ASSET): TOKEN})
    assert ids(carried) == [(E, 1), (E, 2)]
    assert {c.token for c in carried} == {TOKEN}
    assert waiting == []


def test_a_later_decision_never_overtakes_one_that_waits() -> None:
    # one RPC saw the pair at #2's scan but #1 still waits: #2 waits behind it (it cannot happen
    # with one read per asset and scan, but the plan holds it even if the reads disagree)
    waiting = [WaitingDecision(E, event(1, 10))]
    carried, still = plan_issuer_scan(waiting, [event(2, 20)], [E], {(E, ASSET): ZERO})
    assert carried == []
    assert [w.event.sequence for w in still] == [1, 2]


def test_assets_and_followers_wait_independently() -> None:
    tokens = {(E, ASSET): ZERO, (E, OTHER): TOKEN2, (F, ASSET): TOKEN, (F, OTHER): ZERO}
    events = [event(1, 10, 0), event(1, 10, 1, asset=OTHER), event(2, 11, 0)]
    carried, waiting = plan_issuer_scan([], events, [E, F], tokens)
    assert [(c.chain_id, c.event.asset, c.event.sequence) for c in carried] == [
        (E, OTHER, 1),
        (F, ASSET, 1),
        (F, ASSET, 2),
    ]
    assert [(w.chain_id, w.event.asset, w.event.sequence) for w in waiting] == [
        (E, ASSET, 1),
        (E, ASSET, 2),
        (F, OTHER, 1),
    ]


def test_a_decision_read_again_after_a_crash_is_carried_once() -> None:
    waiting = [WaitingDecision(E, event(1, 10))]
    carried, still = plan_issuer_scan(waiting, [event(1, 10)], [E], {(E, ASSET): TOKEN})
    assert ids(carried) == [(E, 1)]
    assert still == []


def test_an_asset_with_no_token_read_is_an_error_not_a_drop() -> None:
    with pytest.raises(KeyError):
        plan_issuer_scan([], [event(1, 10)], [E], {})


def test_two_members_that_saw_different_mappings_end_with_the_same_actions() -> None:
    """Member A's RPC saw the pair registered at the first scan, member B's not yet: after B's
    next scan both carry #1 and #2, with the same ids and the same token."""
    a, _ = plan_issuer_scan([], [event(1, 10)], [E], {(E, ASSET): TOKEN})
    a2, _ = plan_issuer_scan([], [event(2, 20)], [E], {(E, ASSET): TOKEN})
    b, b_wait = plan_issuer_scan([], [event(1, 10)], [E], {(E, ASSET): ZERO})
    assert b == []
    b2, b_wait = plan_issuer_scan(b_wait, [event(2, 20)], [E], {(E, ASSET): TOKEN})
    assert b_wait == []

    def keyed(cs: list) -> list[tuple[str, str, int]]:
        return [
            (
                registry_action_id(c.chain_id, c.event.block_number, c.event.log_index),
                c.token,
                c.event.sequence,
            )
            for c in cs
        ]

    assert keyed(a + a2) == keyed(b2)


def issuer(aid: str, token: str = TOKEN, account: str = ZERO, to: str = ZERO) -> OrderItem:
    return OrderItem(aid, True, token, frozenset({account, to}))


def registry(aid: str, account: str) -> OrderItem:
    return OrderItem(aid, False, None, frozenset({account}))


@pytest.mark.parametrize(
    ("items", "waiting"),
    [
        # one token's open decision holds back its own later ones only
        ([issuer("t1"), issuer("t2"), issuer("u1", TOKEN2)], {"t2"}),
        # a registry decision about another account is not held back by an issuer decision
        ([issuer("t1", account=BOB), registry("r1", CAROL)], set()),
        # ... one about the forced transfer's receiver is (C's order on that account)
        ([issuer("t1", account=BOB, to=ALICE), registry("r1", ALICE)], {"r1"}),
        # an issuer decision waits for an earlier registry decision naming its holder
        ([registry("r1", BOB), issuer("t1", account=BOB)], {"t1"}),
        # ... not for one about another account (a status change names none)
        ([registry("r1", BOB), issuer("t1")], set()),
        # registry decisions among themselves: ordered elsewhere (per account and flag)
        ([registry("r1", BOB), registry("r2", BOB)], set()),
        ([], set()),
    ],
)
def test_the_signing_order_is_per_token_and_per_account(items: list[OrderItem], waiting: set[str]) -> None:
    assert c_order_waits(items) == waiting


def test_order_items_of_actions() -> None:
    from relayer.core.encoding import action_params, issuer_params

    forced = Action(
        "r7002-10-0",
        ActionKind.ISSUER,
        E,
        issuer_params(token=TOKEN, sequence=1, op=5, account=BOB, to=ALICE, amount=3, as_of=0),
        Origin.ISSUER,
        0,
        0.0,
        None,
        (10, 0),
    )
    item = order_item(forced)
    assert (item.issuer, item.token) == (True, TOKEN)
    assert {a.lower() for a in item.accounts} == {BOB, ALICE}
    allow = Action(
        "r7002-9-0",
        ActionKind.ALLOW,
        E,
        action_params("allow", account=BOB, flag=True),
        Origin.REGISTRY,
        0,
        0.0,
        None,
        (9, 0),
    )
    item = order_item(allow)
    assert (item.issuer, item.token) == (False, None)
    assert {a.lower() for a in item.accounts} == {BOB}


@pytest.mark.parametrize(
    ("c", "e", "c_seq", "e_seq", "words"),
    [
        ((0, 0, 0), (0, 0, 0), 0, 0, None),  # a pair nobody decided about
        ((1, 5, 9), (1, 5, 9), 4, 4, None),  # carried
        ((1, 5, 9), (0, 5, 9), 4, 4, ["status suspended on the source, active here"]),
        ((0, 5, 9), (0, 5, 9), 4, 2, ["#4 on the source, #2 is the last consumed here"]),  # not carried
        ((0, 5, 9), (0, 5, 9), 4, 6, ["#4 on the source, #6 is the last consumed here"]),  # C never took it
        ((2, 5, 9), (0, 4, 8), 3, 1, ["status defaulted on the source, active here", "NAV 5 as of 9", "#3"]),
    ],
)
def test_a_registered_pairs_difference_names_status_nav_and_numbers(
    c: tuple[int, int, int], e: tuple[int, int, int], c_seq: int, e_seq: int, words: list[str] | None
) -> None:
    from relayer.core.issuer_scan import pair_difference
    from relayer.core.onchain import AssetState

    why = pair_difference(TOKEN, AssetState(*c), AssetState(*e), c_seq, e_seq)
    if words is None:
        assert why is None
        return
    assert why is not None
    assert why.startswith(f"{TOKEN}: ")
    for w in words:
        assert w in why, why
