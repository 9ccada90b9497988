"""The action stage's settle and scheduled follow-up return the one Outcome (relayer.core.lifecycle),
and record the action's state to match: the chain's answers are faked, the stage is the real one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from committee.bls import get_backend
from committee.threshold import deal
from relayer.config import load_config
from relayer.core.encoding import ACTION_TYPEHASHES, action_params, issuer_params
from relayer.core.items import Action, ActionKind, ActionRecord, ActionState, Origin
from relayer.core.keyring import EndpointEpochs, EpochKey, Keyring
from relayer.core.lifecycle import OutcomeKind
from relayer.core.onchain import EndpointState, IssuerScheduledView, IssuerScheduleStatus, PendingActionView
from relayer.core.types import ChainId
from relayer.pipeline.actions import ActionStage

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "devnet.example.toml"
NONCE = 4
PENDING, EXECUTED, CANCELLED = 1, 2, 3


@dataclass
class FakeStore:
    states: list[tuple[str, ActionState, str]] = field(default_factory=list)

    async def set_action_state(self, action_id: str, state: ActionState, detail: str, **_: Any) -> bool:
        self.states.append((action_id, state, detail))
        return True

    async def action_record(self, action_id: str) -> ActionRecord | None:
        return None

    async def open_actions(self) -> list[ActionRecord]:
        return []  # no duplicate to close with a cancelled action


@dataclass
class FakeChain:
    """An endpoint as the stage reads it at its final head: its state, the action scheduled under
    NONCE, and its clock."""

    state: EndpointState
    pending: PendingActionView
    now: int = 1_000
    chain_id: int = 7002

    async def endpoint_state(self, final: bool = False) -> EndpointState:
        return self.state

    async def pending_action(self, nonce: int, final: bool = False) -> PendingActionView:
        assert nonce == NONCE
        return self.pending

    async def chain_time(self) -> int:
        return self.now


def stage(store: FakeStore) -> ActionStage:
    shares = deal(4, 3)
    keyring = Keyring([EpochKey(shares[0].public, shares[0])])
    return ActionStage(
        cfg=load_config(EXAMPLE, environ={"QIAO_NODE__DATA_DIR": "/nonexistent"}),
        store=store,  # type: ignore[arg-type]
        chains={},
        keyring=keyring,
        epochs=EndpointEpochs(keyring),
        backend=get_backend(),
        publisher=None,  # type: ignore[arg-type]
        submitters={},
        lock=asyncio.Lock(),
    )


def record(kind: ActionKind, state: ActionState) -> ActionRecord:
    params = action_params("resume", pause_count=1, deadline=5000) if kind is ActionKind.RESUME else b""
    a = Action("p1-0123abcd", kind, ChainId(7002), params, Origin.OPERATOR, 1, 1.0, 5000.0, (1, 0))
    return ActionRecord(a, state, "", 1.0, NONCE, 1, b"\x01" * 32, b"\x02" * 48, None, 1_100, None, 1.0)


def resume_view(status: int, executable_at: int = 1_100) -> PendingActionView:
    return PendingActionView(ACTION_TYPEHASHES["resume"], 1, executable_at, status, "0x" + "00" * 20, 1)


def endpoint(nonce: int, *, paused: bool = True) -> EndpointState:
    return EndpointState(paused, nonce, 1, 1)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_scheduled_resume_is_scheduled_until_due_then_confirmed_once_executed() -> None:
    store = FakeStore()
    s = stage(store)
    chain = FakeChain(endpoint(NONCE + 1), resume_view(PENDING), now=1_000)
    r = record(ActionKind.RESUME, ActionState.SCHEDULED)
    waiting = run(s._follow_scheduled(chain, r))  # type: ignore[arg-type]
    assert waiting.kind is OutcomeKind.SCHEDULED
    assert "1100" in waiting.detail
    assert store.states == []
    due_chain = FakeChain(endpoint(NONCE + 1), resume_view(PENDING), now=1_200)
    due = run(s._follow_scheduled(due_chain, r))  # type: ignore[arg-type]
    assert due.kind is OutcomeKind.NOT_READY  # no relayer account for the chain on this node
    executed = FakeChain(endpoint(NONCE + 1), resume_view(EXECUTED))
    done = run(s._follow_scheduled(executed, r))  # type: ignore[arg-type]
    assert done.kind is OutcomeKind.CONFIRMED
    assert not done.ours
    assert [st for _, st, _ in store.states] == [ActionState.EXECUTED]


def test_a_cancelled_scheduled_resume_is_refused_and_closed() -> None:
    store = FakeStore()
    r = record(ActionKind.RESUME, ActionState.SCHEDULED)
    cancelled = FakeChain(endpoint(NONCE + 1), resume_view(CANCELLED))
    out = run(stage(store)._follow_scheduled(cancelled, r))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.REFUSED
    assert out.label == "drop"
    assert store.states == [
        (r.action.id, ActionState.CANCELLED, "cancelled by the guardian during the delay")
    ]


def test_settling_reads_the_final_head_schedules_confirms_or_signs_again() -> None:
    r = record(ActionKind.RESUME, ActionState.SUBMITTED)
    store = FakeStore()
    s = stage(store)
    # the nonce used in a block not final yet: nothing recorded
    out = run(s._settle(FakeChain(endpoint(NONCE), resume_view(PENDING)), r))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.NOT_READY
    assert store.states == []
    out = run(s._settle(FakeChain(endpoint(NONCE + 1), resume_view(PENDING)), r))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.SCHEDULED
    assert store.states[-1][1] is ActionState.SCHEDULED
    # another action took the nonce (none of its kind pending there): approved again, a retry
    none = PendingActionView(b"\x00" * 32, 0, 0, 0, "0x" + "00" * 20)
    out = run(s._settle(FakeChain(endpoint(NONCE + 1), none), r))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.RETRY
    assert store.states[-1][1] is ActionState.APPROVED
    # a pause: its effect (the endpoint paused) confirmed
    pause = record(ActionKind.PAUSE, ActionState.SUBMITTED)
    out = run(s._settle(FakeChain(endpoint(NONCE + 1, paused=True), none), pause))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.CONFIRMED
    assert store.states[-1][1] is ActionState.EXECUTED


# ---- an issuer's forced transfer, scheduled by the gateway's IssuerModule (review #2) -------------

TOKEN, BOB, ALICE = "0x" + "11" * 20, "0x" + "b0" * 20, "0x" + "a1" * 20


@dataclass
class IssuerChain(FakeChain):
    """The gateway's IssuerModule as the stage reads it: decision #3 of TOKEN, a forced transfer."""

    scheduled: IssuerScheduledView | None = None
    failed: bool = False
    applied: int = 3
    cfg: Any = field(default_factory=lambda: type("Cfg", (), {"name": "ethereum"})())

    async def issuer_scheduled(self, token: str, sequence: int, *, final: bool = True) -> IssuerScheduledView:
        assert (token, sequence) == (TOKEN, 3)
        assert self.scheduled is not None
        return self.scheduled

    async def issuer_action_failed(self, token: str, sequence: int) -> bool:
        return self.failed

    async def issuer_sequence(self, token: str, *, final: bool = False) -> int:
        return self.applied


def forced(state: ActionState, nonce: int | None) -> ActionRecord:
    params = issuer_params(token=TOKEN, sequence=3, op=5, account=BOB, to=ALICE, amount=7, as_of=0)
    a = Action("r7002-10-1", ActionKind.ISSUER, ChainId(7002), params, Origin.ISSUER, 0, 1.0, None, (10, 1))
    return ActionRecord(a, state, "", 1.0, nonce, 1, None, None, None, None, None, 1.0)


def issuer_view(status: IssuerScheduleStatus, executable_at: int = 1_100) -> IssuerScheduledView:
    return IssuerScheduledView(status, executable_at, NONCE, BOB, ALICE, 7, 7)


def test_an_applied_forced_transfer_is_scheduled_not_executed() -> None:
    store = FakeStore()
    chain = IssuerChain(endpoint(NONCE + 1, paused=False), resume_view(PENDING))
    chain.scheduled = issuer_view(IssuerScheduleStatus.PENDING)
    out = run(stage(store)._settle(chain, forced(ActionState.SUBMITTED, NONCE)))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.SCHEDULED
    assert store.states[-1][1] is ActionState.SCHEDULED
    assert "cancelIssuerAction" in store.states[-1][2]


def test_a_scheduled_forced_transfer_waits_then_goes_out_without_a_nonce_of_its_own() -> None:
    """A member that found it applied before it signed it holds no action nonce for it: it still
    takes its turn by the nonce used on-chain (the e2e's member 4 failed on an assertion here)."""
    store = FakeStore()
    s = stage(store)
    r = forced(ActionState.SCHEDULED, None)
    chain = IssuerChain(endpoint(NONCE + 1, paused=False), resume_view(PENDING), now=1_000)
    chain.scheduled = issuer_view(IssuerScheduleStatus.PENDING)
    assert run(s._follow_scheduled(chain, r)).kind is OutcomeKind.SCHEDULED  # type: ignore[arg-type]
    chain.now = 1_200
    chain.state = endpoint(NONCE + 1, paused=True)
    paused = run(s._follow_scheduled(chain, r))  # type: ignore[arg-type]
    assert (paused.kind, "paused" in paused.detail) == (OutcomeKind.NOT_READY, True)
    chain.state = endpoint(NONCE + 1, paused=False)
    due = run(s._follow_scheduled(chain, r))  # type: ignore[arg-type]
    assert due.kind is OutcomeKind.NOT_READY  # no relayer account for the chain on this node
    assert "relayer account" in due.detail
    assert store.states == []


@pytest.mark.parametrize(
    ("status", "failed", "state", "words"),
    [
        (IssuerScheduleStatus.EXECUTED, False, ActionState.EXECUTED, "executed after the delay"),
        (IssuerScheduleStatus.FAILED, True, ActionState.FAILED, "REFUSED by the token"),
    ],
)
def test_a_scheduled_forced_transfer_ends_executed_or_refused(
    status: IssuerScheduleStatus, failed: bool, state: ActionState, words: str
) -> None:
    store = FakeStore()
    chain = IssuerChain(endpoint(NONCE + 1, paused=False), resume_view(PENDING), failed=failed)
    chain.scheduled = issuer_view(status)
    out = run(stage(store)._follow_scheduled(chain, forced(ActionState.SCHEDULED, None)))  # type: ignore[arg-type]
    assert out.kind is OutcomeKind.CONFIRMED
    assert store.states[-1][1] is state
    assert words in store.states[-1][2]
