"""Committee actions' pure rules: what an action is, the order members sign in, and what a member
decides on its own before signing (relayer.core.items)."""

from __future__ import annotations

import pytest

from relayer.core.encoding import action_params
from relayer.core.items import (
    DELAYED,
    PROPOSABLE,
    Action,
    ActionKind,
    ActionRecord,
    ActionState,
    Decision,
    EndpointView,
    FlagView,
    HeldKey,
    Origin,
    RotationView,
    action_facts,
    check_action_id,
    decide,
    decide_uncurse,
    onchain_text,
    queue_order,
    registry_action_id,
    same_subject,
)
from relayer.core.onchain import CurseView
from relayer.core.types import ChainId

HOLDER = "0x" + "ab" * 20


def flag_params(account: str, flag: bool) -> bytes:
    return bytes(12) + bytes.fromhex(account[2:]) + bytes(31) + bytes([int(flag)])


def action(kind: ActionKind = ActionKind.RESUME, **kw: object) -> Action:
    base: dict[str, object] = {
        "id": "p1-0123abcd",
        "kind": kind,
        "chain_id": ChainId(7002),
        "params": action_params("resume", pause_count=1, deadline=2000) if kind is ActionKind.RESUME else b"",
        "origin": Origin.OPERATOR,
        "proposer": 1,
        "created_at": 1000.0,
        "expires_at": 2000.0,
        "position": (1000000, 0),
    }
    base.update(kw)
    return Action(**base)  # type: ignore[arg-type]


def freeze(flag: bool = True, block: int = 10, log: int = 0) -> Action:
    return action(
        ActionKind.FREEZE,
        id=registry_action_id(7002, block, log),
        params=flag_params(HOLDER, flag),
        origin=Origin.REGISTRY,
        proposer=0,
        expires_at=None,
        position=(block, log),
    )


PAUSED = EndpointView(paused=True, action_nonce=3, key_epoch=1, pause_count=1)
RUNNING = EndpointView(paused=False, action_nonce=3, key_epoch=1, pause_count=1)


def test_ids_are_checked() -> None:
    assert check_action_id("r7002-10-0") == "r7002-10-0"
    assert check_action_id("p4-deadbeef") == "p4-deadbeef"
    for bad in ("", "p1-DEADBEEF", "p1-123", "x1-0-0", "r1-2", "p1-deadbeef/../x", "r" + "9" * 30 + "-1-1"):
        with pytest.raises(ValueError, match="not an action id"):
            check_action_id(bad)


def test_an_action_with_the_wrong_parameters_cannot_exist() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        action(ActionKind.FREEZE, params=b"\x01")
    with pytest.raises(ValueError, match="no parameters"):
        action(ActionKind.PAUSE, params=b"\x00" * 32)
    with pytest.raises(ValueError, match="chain id"):
        action(chain_id=ChainId(0))


def test_account_and_flag_of_a_registry_decision() -> None:
    a = freeze(True)
    assert a.account == HOLDER
    assert a.flag is True
    assert a.describe() == f"freeze {HOLDER}"
    assert freeze(False).describe() == f"unfreeze {HOLDER}"
    assert action().account is None


def test_queue_order_pause_first_then_registry_in_chain_order_then_proposals() -> None:
    later_freeze = freeze(block=12)
    early_freeze = freeze(block=11, log=3)
    resume = action(ActionKind.RESUME, created_at=10.0)
    pause = action(ActionKind.PAUSE, id="p2-00000001", created_at=5000.0)
    ordered = sorted([resume, later_freeze, pause, early_freeze], key=queue_order)
    assert ordered == [pause, early_freeze, later_freeze, resume]


def test_resume_is_signed_only_in_the_pause_it_was_proposed_for() -> None:
    assert decide(action(), PAUSED, None, 1500.0).decision is Decision.SIGN
    for later in (RUNNING, EndpointView(paused=True, action_nonce=3, key_epoch=1, pause_count=2)):
        refused = decide(action(), later, None, 1500.0)
        assert refused.decision is Decision.REFUSE
        assert "the pause it was proposed for (#1) ended" in refused.why


def test_a_resume_expires_at_its_signed_deadline() -> None:
    with pytest.raises(ValueError, match="expires at its signed deadline 2000"):
        action(expires_at=3000.0)
    with pytest.raises(ValueError, match="resume params must be 64 bytes"):
        action(params=b"")


def test_a_proposal_past_its_expiry_is_refused() -> None:
    verdict = decide(action(), PAUSED, None, 2000.0)
    assert verdict.decision is Decision.REFUSE
    assert "expired" in verdict.why


def test_pause_is_done_once_the_endpoint_is_paused() -> None:
    pause = action(ActionKind.PAUSE)
    assert decide(pause, RUNNING, None, 1500.0).decision is Decision.SIGN
    assert decide(pause, PAUSED, None, 1500.0).decision is Decision.DONE


def test_a_registry_decision_already_on_the_destination_is_done_and_unknown_waits() -> None:
    assert decide(freeze(True), RUNNING, FlagView(False), 0.0).decision is Decision.SIGN
    assert decide(freeze(True), RUNNING, FlagView(True), 0.0).decision is Decision.DONE
    assert decide(freeze(False), RUNNING, FlagView(True), 0.0).decision is Decision.SIGN
    assert decide(freeze(True), RUNNING, None, 0.0).decision is Decision.WAIT


NEXT_HASH = b"\x22" * 32
NEXT = HeldKey(epoch=2, group_key=b"\x02" * 96, has_share=True)
CURRENT = HeldKey(epoch=1, group_key=b"\x01" * 96, has_share=True)
HELD = RotationView({b"\x11" * 32: CURRENT, NEXT_HASH: NEXT})


def rotate(**kw: object) -> Action:
    return action(ActionKind.ROTATE, params=NEXT_HASH, **kw)


def test_a_rotation_to_the_next_key_this_member_has_a_share_of_is_signed() -> None:
    verdict = decide(rotate(), RUNNING, None, 1500.0, rotation=HELD)
    assert verdict.decision is Decision.SIGN
    assert "key epoch 2" in verdict.why
    assert rotate().describe() == f"rotate to the key with hash 0x{NEXT_HASH.hex()}"
    assert rotate().new_key_hash == NEXT_HASH


def test_a_rotation_takes_a_key_hash() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        action(ActionKind.ROTATE, params=b"\x22" * 31)


def test_a_rotation_to_a_key_this_member_does_not_hold_is_refused() -> None:
    for rotation in (None, RotationView({b"\x11" * 32: CURRENT})):
        verdict = decide(rotate(), RUNNING, None, 1500.0, rotation=rotation)
        assert verdict.decision is Decision.REFUSE
        assert f"holds no key epoch whose key hashes to 0x{NEXT_HASH.hex()}" in verdict.why
        assert "run the DKG for epoch 2" in verdict.why
        assert "[committee.next]" in verdict.why


def test_a_rotation_to_a_key_that_is_not_the_endpoints_next_epoch_is_refused() -> None:
    at_two = EndpointView(paused=False, action_nonce=3, key_epoch=0, pause_count=0)
    verdict = decide(rotate(), at_two, None, 1500.0, rotation=HELD)
    assert verdict.decision is Decision.REFUSE
    assert "is key epoch 2 here, and the endpoint is at key epoch 0" in verdict.why
    assert "--key-epoch 1" in verdict.why
    ahead = EndpointView(paused=False, action_nonce=3, key_epoch=3, pause_count=0)
    assert decide(rotate(), ahead, None, 1500.0, rotation=HELD).decision is Decision.REFUSE


def test_a_rotation_to_a_key_this_member_holds_no_share_of_is_refused() -> None:
    public_only = RotationView({NEXT_HASH: HeldKey(2, b"\x02" * 96, has_share=False)})
    verdict = decide(rotate(), RUNNING, None, 1500.0, rotation=public_only)
    assert verdict.decision is Decision.REFUSE
    assert f"holds no share of key 0x{NEXT_HASH.hex()} (epoch 2)" in verdict.why
    assert "run the DKG for epoch 2" in verdict.why


def test_a_second_rotation_of_the_same_endpoint_is_refused() -> None:
    busy = RotationView(HELD.keys, other="p3-00000001")
    verdict = decide(rotate(), RUNNING, None, 1500.0, rotation=busy)
    assert verdict.decision is Decision.REFUSE
    assert "rotation p3-00000001 of this endpoint goes first" in verdict.why


def test_a_rotation_the_endpoint_has_installed_is_done() -> None:
    at_next = EndpointView(paused=False, action_nonce=4, key_epoch=2, pause_count=0)
    assert decide(rotate(), at_next, None, 1500.0, rotation=HELD).decision is Decision.DONE


def test_a_rotation_past_its_expiry_is_refused_until_sent() -> None:
    assert decide(rotate(), RUNNING, None, 2000.0, rotation=HELD).decision is Decision.REFUSE
    sent = decide(rotate(), RUNNING, None, 2000.0, rotation=HELD, expiring=False)
    assert sent.decision is Decision.SIGN


def test_onchain_text() -> None:
    assert onchain_text(ActionState.SCHEDULED, 100, 50) == "pending delay until 100"
    assert onchain_text(ActionState.SCHEDULED, 100, 100) == "executable"
    assert onchain_text(ActionState.CANCELLED, None, None) == "cancelled by the guardian"
    assert onchain_text(ActionState.EXECUTED, None, None) == "executed"
    assert onchain_text(ActionState.APPROVED, None, None) == ""


def test_registry_difference_compares_the_carried_flags_only() -> None:
    from relayer.core.items import registry_difference

    assert registry_difference(HOLDER, True, False, True, False) is None
    assert registry_difference(HOLDER, True, True, True, True) is None
    why = registry_difference(HOLDER, True, True, False, False)
    assert why is not None
    assert "allowed True on the source, False here" in why
    assert "frozen True on the source, bridge-frozen False here" in why


def test_only_cs_latest_decision_per_account_and_flag_is_carried() -> None:
    from relayer.core.items import superseded

    first, again, last = freeze(True, block=5), freeze(False, block=7), freeze(True, block=9, log=2)
    allow = action(
        ActionKind.ALLOW,
        id=registry_action_id(7002, 6, 0),
        params=flag_params(HOLDER, True),
        origin=Origin.REGISTRY,
        proposer=0,
        expires_at=None,
        position=(6, 0),
    )
    other = action(
        ActionKind.FREEZE,
        id=registry_action_id(7002, 8, 0),
        params=flag_params("0x" + "cd" * 20, True),
        origin=Origin.REGISTRY,
        proposer=0,
        expires_at=None,
        position=(8, 0),
    )
    assert superseded([last, first, allow, again, other, action()]) == {first.id: last.id, again.id: last.id}
    assert superseded([first]) == {}


def test_a_sent_action_does_not_expire() -> None:
    verdict = decide(action(), PAUSED, None, 2000.0, expiring=False)
    assert verdict.decision is Decision.SIGN


# ---- UNCURSE: lifting one curse of one route (the sentinels') --------------------------------------


def uncurse(count: int = 2, remote: int = 7001, **kw: object) -> Action:
    params = action_params("uncurse", remote_chain_id=remote, curse_count=count)
    return action(ActionKind.UNCURSE, params=params, **kw)


def test_an_uncurse_names_its_route_and_the_curse_it_lifts() -> None:
    a = uncurse(count=2, remote=7001)
    assert (a.remote_chain_id, a.curse_count) == (7001, 2)
    assert a.describe() == "lift curse #2 of the route with chain 7001"
    assert ActionKind.UNCURSE in (*PROPOSABLE, *DELAYED)
    assert action(ActionKind.PAUSE).remote_chain_id is None
    assert action().curse_count is None


def test_an_uncurse_with_the_wrong_parameters_cannot_exist() -> None:
    with pytest.raises(ValueError, match="uncurse params must be 64 bytes"):
        action(ActionKind.UNCURSE, params=b"\x01" * 32)
    with pytest.raises(ValueError, match="curse count >= 1"):
        action(ActionKind.UNCURSE, params=(7001).to_bytes(32, "big") + bytes(32))
    with pytest.raises(ValueError, match="remote chain id 0"):
        action(ActionKind.UNCURSE, params=bytes(32) + (1).to_bytes(32, "big"))
    with pytest.raises(ValueError, match="not the endpoint's own"):
        uncurse(remote=7002)  # the action is for the endpoint on 7002


@pytest.mark.parametrize(
    ("curse", "decision", "why"),
    [
        (CurseView(cursed=True, count=2), Decision.SIGN, "the route with chain 7001 is in curse #2"),
        (
            CurseView(cursed=False, count=2),
            Decision.REFUSE,
            "curse #2 of the route with chain 7001 is lifted",
        ),
        (CurseView(cursed=True, count=3), Decision.REFUSE, "cursed again since (curse #3, cursed now)"),
        (CurseView(cursed=False, count=3), Decision.REFUSE, "cursed again since (curse #3, not cursed now)"),
        (CurseView(cursed=True, count=1), Decision.REFUSE, "curse #2, which has not happened"),
        (CurseView(cursed=False, count=1), Decision.REFUSE, "never sign a lifting in advance"),
        (CurseView(cursed=False, count=0), Decision.REFUSE, "has had 0 curse(s)"),
        (None, Decision.WAIT, "could not be read"),
    ],
)
def test_an_uncurse_is_signed_only_while_the_route_is_in_exactly_its_curse(
    curse: CurseView | None, decision: Decision, why: str
) -> None:
    for verdict in (decide_uncurse(uncurse(), curse), decide(uncurse(), RUNNING, None, 1500.0, curse=curse)):
        assert verdict.decision is decision
        assert why in verdict.why


def test_a_refused_uncurse_says_what_to_do() -> None:
    later = decide_uncurse(uncurse(), CurseView(cursed=True, count=3))
    assert "propose an uncurse of it" in later.why
    assert "deploy/runbooks/route-cursed.md" in later.why
    early = decide_uncurse(uncurse(), CurseView(cursed=True, count=1))
    assert "reject it" in early.why


def test_an_uncurse_ignores_the_pause_and_expires_until_sent() -> None:
    cursed = CurseView(cursed=True, count=2)
    assert decide(uncurse(), PAUSED, None, 1500.0, curse=cursed).decision is Decision.SIGN
    expired = decide(uncurse(), RUNNING, None, 2000.0, curse=cursed)
    assert (expired.decision, expired.why) == (Decision.REFUSE, "expired before it was executed")
    sent = decide(uncurse(), RUNNING, None, 2000.0, expiring=False, curse=cursed)
    assert sent.decision is Decision.SIGN


def test_a_curse_view_checks_itself() -> None:
    with pytest.raises(ValueError, match="cursed with curse count 0"):
        CurseView(cursed=True, count=0)
    with pytest.raises(ValueError, match="not a uint64"):
        CurseView(cursed=False, count=-1)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        # the same pause, another deadline: duplicates
        (
            action(),
            action(
                id="p2-0123abcd",
                params=action_params("resume", pause_count=1, deadline=1900),
                expires_at=1900.0,
            ),
            True,
        ),
        (
            action(),
            action(id="p2-0123abcd", params=action_params("resume", pause_count=2, deadline=2000)),
            False,
        ),
        (action(), action(id="p2-0123abcd", chain_id=ChainId(7001)), False),
        (action(), action(), False),  # itself
        (uncurse(2), uncurse(2, id="p2-0123abcd"), True),
        (uncurse(2), uncurse(3, id="p2-0123abcd"), False),  # another curse
        (uncurse(2), uncurse(2, remote=999, id="p2-0123abcd"), False),  # another route
        (rotate(), rotate(id="p2-0123abcd"), True),
        (rotate(), action(ActionKind.ROTATE, id="p2-0123abcd", params=b"\x02" * 32), False),  # another key
        (action(ActionKind.PAUSE), action(ActionKind.PAUSE, id="p2-0123abcd"), False),  # not delayed
        (uncurse(2), rotate(id="p2-0123abcd"), False),
    ],
)
def test_duplicates_of_a_delayed_action_do_the_same_thing(a: Action, b: Action, same: bool) -> None:
    assert same_subject(a, b) is same
    assert same_subject(b, a) is same


@pytest.mark.parametrize(
    ("state", "nonce", "endpoint_nonce", "late"),
    [
        (ActionState.PROPOSED, 4, 7, "signed for action nonce 4, used on the endpoint before it arrived"),
        (ActionState.APPROVED, 6, 7, "signed for action nonce 6, used on the endpoint before it arrived"),
        (ActionState.PROPOSED, 7, 7, None),  # the nonce the endpoint is at: in time
        (ActionState.PROPOSED, 8, 7, None),
        (ActionState.PROPOSED, 4, None, None),  # the endpoint's nonce not read here: no fact
        (ActionState.SCHEDULED, 7, 7, "is scheduled here"),
    ],
)
def test_an_action_partial_for_a_nonce_the_endpoint_used_already_is_late(
    state: ActionState, nonce: int, endpoint_nonce: int | None, late: str | None
) -> None:
    """Review #15: a member's valid partial for an old action nonce (one whose action of the same
    kind the guardian once cancelled) would tie a proposal to that old outcome; it is late."""
    a = action()
    record = ActionRecord(a, state, "", None, None, None, None, None, None, None, None, 0.0)
    message = b"\x01" * 32
    facts = action_facts(
        record,
        a.kind,
        a.chain_id,
        a.params,
        message,
        message,
        False,
        nonce=nonce,
        endpoint_nonce=endpoint_nonce,
    )
    if late is None:
        assert facts.late is None
    else:
        assert facts.late is not None
        assert late in facts.late, facts.late
