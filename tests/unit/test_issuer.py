"""The issuer's decisions as the relayer carries them (issue 19), pure: the ISSUER action's params
and calldata, a member's own check (`decide_issuer`), C's order in the queue, the C/E asset
comparison, the NAV age, the config, and the reconciler's A1."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi.abi import decode
from eth_utils.crypto import keccak

from relayer.core.calldata import ACTION_SELECTORS, action_call_data, execute_issuer_data
from relayer.core.encoding import ACTION_TYPEHASHES, action_message, issuer_fields, issuer_params
from relayer.core.items import (
    Action,
    ActionKind,
    Decision,
    EndpointView,
    IssuerView,
    Origin,
    asset_difference,
    decide,
    nav_age,
    queue_order,
)
from relayer.core.onchain import AssetState, IssuerScheduledView, IssuerScheduleStatus
from relayer.core.types import ChainId
from relayer.ops.action_view import next_step
from relayer.ops.reconciler import AssetPair, check

TOKEN = "0x" + "11" * 20
BOB = "0x" + "b0" * 20
ALICE = "0x" + "a1" * 20
ZERO = "0x" + "00" * 20


def params(sequence: int = 3, op: int = 5, amount: int = 7) -> bytes:
    return issuer_params(token=TOKEN, sequence=sequence, op=op, account=BOB, to=ALICE, amount=amount, as_of=0)


def action(sequence: int = 3, position: tuple[int, int] = (10, 1), origin: Origin = Origin.ISSUER) -> Action:
    return Action(
        id=f"r7002-{position[0]}-{position[1]}",
        kind=ActionKind.ISSUER,
        chain_id=ChainId(7002),
        params=params(sequence),
        origin=origin,
        proposer=0,
        created_at=0.0,
        expires_at=None,
        position=position,
    )


def test_params_are_the_seven_words_and_read_back() -> None:
    p = params()
    assert len(p) == 224
    f = issuer_fields(p)
    assert (f.token, f.sequence, f.op, f.account, f.to, f.amount, f.as_of) == (TOKEN, 3, 5, BOB, ALICE, 7, 0)
    assert decode(["address", "uint64", "uint8", "address", "address", "uint256", "uint64"], p)[1:3] == (3, 5)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"token": ZERO}, "token is the zero address"),
        ({"sequence": 0}, "sequence 0"),
        ({"op": 9}, "op 9"),
        ({"op": 0}, "op 0"),
        ({"sequence": 2**64}, "out of range"),
        ({"amount": -1}, "not a uint256"),
    ],
)
def test_bad_params_are_refused_with_the_reason(change: dict[str, object], why: str) -> None:
    fields: dict[str, object] = {
        "token": TOKEN,
        "sequence": 1,
        "op": 1,
        "account": BOB,
        "to": ZERO,
        "amount": 0,
        "as_of": 0,
    }
    fields.update(change)
    with pytest.raises(ValueError, match=why):
        issuer_params(**fields)  # type: ignore[arg-type]


def test_dirty_words_are_refused() -> None:
    p = bytearray(params())
    p[32 * 3] = 1  # the account word's padding
    with pytest.raises(ValueError, match="word 3 is not an address"):
        issuer_fields(bytes(p))
    q = bytearray(params())
    q[32 + 3] = 1  # the sequence wider than uint64
    with pytest.raises(ValueError, match="word 1 is not a uint64"):
        issuer_fields(bytes(q))


def test_only_the_issuer_registry_originates_an_issuer_action() -> None:
    with pytest.raises(ValueError, match="issuer registry only"):
        action(origin=Origin.OPERATOR)


def test_the_message_and_the_call_are_the_contracts_forms() -> None:
    assert ACTION_TYPEHASHES["issuer"] == keccak(
        text="QiaoIssuerAction(string version,uint256 chainId,address endpoint,uint64 keyEpoch,"
        "uint64 actionNonce,address token,uint64 sequence,uint8 op,address account,address to,"
        "uint256 amount,uint64 asOf)"
    )
    message = action_message("issuer", 7002, "0x" + "22" * 20, 1, 4, params())
    assert len(message) == 32
    assert (
        ACTION_SELECTORS["issuer"]
        == keccak(
            text="applyIssuerAction(uint64,(address,uint64,uint8,address,address,uint256,uint64),bytes)"
        )[:4]
    )
    data = action_call_data("issuer", 1, params(), b"\x01" * 128)
    epoch, fields, sig = decode(
        ["uint64", "(address,uint64,uint8,address,address,uint256,uint64)", "bytes"], data[4:]
    )
    assert (epoch, fields[1], fields[2], fields[5], sig) == (1, 3, 5, 7, b"\x01" * 128)


@pytest.mark.parametrize(
    ("applied", "decision"),
    [
        (None, Decision.WAIT),  # not read
        (0, Decision.WAIT),  # nothing consumed here: #1 goes first (never skipped, review #5/#6)
        (2, Decision.SIGN),  # the next one
        (1, Decision.WAIT),  # #2 goes first
        (3, Decision.DONE),
        (9, Decision.DONE),
    ],
)
def test_a_member_signs_only_the_next_decision(applied: int | None, decision: Decision) -> None:
    view = None if applied is None else IssuerView(applied)
    verdict = decide(action(3), EndpointView(False, 0, 1), None, 0.0, issuer=view)
    assert verdict.decision is decision, verdict.why


def test_a_tokens_first_decision_here_is_number_one() -> None:
    first = decide(action(1), EndpointView(False, 0, 1), None, 0.0, issuer=IssuerView(0))
    assert first.decision is Decision.SIGN, first.why


def test_the_queue_keeps_cs_order_across_the_registry_and_the_issuer() -> None:
    issuer = action(3, (10, 1))
    registry = Action(
        "r7002-10-0",
        ActionKind.ALLOW,
        ChainId(7002),
        b"\x00" * 12 + bytes.fromhex("b0" * 20) + b"\x00" * 31 + b"\x01",
        Origin.REGISTRY,
        0,
        0.0,
        None,
        (10, 0),
    )
    later = action(4, (11, 0))
    assert sorted([later, issuer, registry], key=queue_order) == [registry, issuer, later]


def test_asset_difference_and_nav_age() -> None:
    same = AssetState(1, 10**18, 100)
    assert asset_difference(TOKEN, same, same) is None
    why = asset_difference(TOKEN, AssetState(1, 10**18, 100), AssetState(0, 10**18, 100))
    assert why is not None
    assert "status suspended on the source, active here" in why
    why = asset_difference(TOKEN, AssetState(0, 2, 200), AssetState(0, 1, 100))
    assert why is not None
    assert "NAV 2 as of 200" in why
    assert nav_age(AssetState(0, 0, 0), 1000.0) is None
    assert nav_age(AssetState(0, 1, 400), 1000.0) == 600.0


def test_the_reconciler_reports_a_status_difference_once_settled() -> None:
    statuses = [(7002, 1, 0)]
    pending = check([], [], [], [], [], 0, 0, settled=False, asset_status=statuses)
    assert pending.ok
    assert pending.counts["pending_status"] == 1
    settled = check([], [], [], [], [], 0, 0, settled=True, asset_status=statuses)
    assert [v.invariant for v in settled.violations] == ["A1"]
    assert check([], [], [], [], [], 0, 0, settled=True, asset_status=[(7002, 2, 2)]).ok


# ---- forced transfers and recoveries: scheduled, executed after the delay (review #2, #7) ----------


def test_only_forced_transfers_and_recoveries_are_delayed() -> None:
    delayed = {
        op
        for op in range(1, 9)
        if dataclasses.replace(action(), params=params(op=op, amount=0 if op == 6 else 7)).delayed_issuer
    }
    assert delayed == {5, 6}


def test_the_execution_call_is_the_contracts_form() -> None:
    data = execute_issuer_data(TOKEN, 3)
    assert data[:4] == keccak(text="executeIssuerAction(address,uint64)")[:4]
    assert decode(["address", "uint64"], data[4:]) == (TOKEN, 3)
    for bad in (0, 2**64):
        with pytest.raises(ValueError, match="not a positive uint64"):
            execute_issuer_data(TOKEN, bad)
    with pytest.raises(ValueError, match="not a 0x address"):
        execute_issuer_data("0x1234", 3)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": 5}, "not 0 none .. 4 failed"),
        ({"executable_at": 2**64}, "executableAt"),
        ({"account": "0x12"}, "account"),
        ({"held": -1}, "held"),
        ({"amount": 2**256}, "amount"),
    ],
)
def test_a_scheduled_view_checks_itself(change: dict[str, object], why: str) -> None:
    good: dict[str, object] = {
        "status": IssuerScheduleStatus.PENDING,
        "executable_at": 10,
        "action_nonce": 2,
        "account": BOB,
        "to": ALICE,
        "amount": 7,
        "held": 7,
    }
    IssuerScheduledView(**good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=why):
        IssuerScheduledView(**(good | change))  # type: ignore[arg-type]


def test_a_scheduled_issuer_action_names_the_guardians_cancel() -> None:
    a = {"id": "r7002-10-1", "state": "scheduled", "kind": "issuer", "origin": "issuer", "action_nonce": 4}
    text = next_step(a)
    assert text is not None
    assert "cancelIssuerAction(token, sequence)" in text
    assert "deploy/runbooks/issuer-forced-move-pending.md" in text
    resume = next_step(a | {"kind": "resume", "origin": "operator"})
    assert resume is not None
    assert "cancelPending(4)" in resume


def test_the_reconciler_compares_every_registered_pairs_status_and_last_decision() -> None:
    pairs = [
        AssetPair(7002, TOKEN, 1, 1, 3, 3),  # carried
        AssetPair(7002, ALICE, 0, 0, 2, 0),  # decisions of C never consumed on E (dropped, skipped)
        AssetPair(7002, BOB, 1, 0, 1, 1),  # consumed, status differs (a refused status change)
    ]
    pending = check([], [], [], [], [], 0, 0, settled=False, asset_pairs=pairs)
    assert pending.ok
    assert pending.counts["pending_status"] == 2
    settled = check([], [], [], [], [], 0, 0, settled=True, asset_pairs=pairs)
    assert [v.detail for v in settled.violations] == [
        f"token {ALICE} of 7002: the issuer's last decision is #2 on the consortium chain, #0 the last consumed here",
        f"token {BOB} of 7002: asset status 1 on the consortium chain, 0 here",
    ]
    assert check([], [], [], [], [], 0, 0, settled=True, asset_pairs=pairs[:1]).ok
