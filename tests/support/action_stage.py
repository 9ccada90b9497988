"""A stand-in for the node's action stage in the unit tests of the admin verbs and their
rendering (tests/unit/test_cli_actions.py: pure, no store, no socket): `Stage` implements
relayer.ops.actions.ActionsPort over plain records. The real stage (relayer.pipeline.actions) is
what tests/integration/test_actions_admin.py and the end-to-end tests drive."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from relayer.core.items import ActionRefused

T0 = 1_767_322_800.0  # 2026-01-02T03:00:00Z
NEXT_KEY_HASH = b"\x22" * 32  # the hash of the key the stand-in member holds as [committee.next]


@dataclass(frozen=True)
class Action:
    id: str
    kind: str
    chain_id: int
    params: bytes
    proposer: int


@dataclass(frozen=True)
class View:
    action: Action
    state: str
    detail: str
    created_at: float
    expires_at: float | None
    approved_here: bool = False
    signers: tuple[int, ...] = ()
    onchain: str = ""
    action_nonce: int | None = None
    tx_hash: str | None = None
    history: tuple[tuple[str, str, float], ...] = ()
    new_key_epoch: int | None = None


@dataclass
class Stage:
    """ActionsPort as relayer.pipeline.actions.ActionStage implements it, for member `member`."""

    member: int = 2
    now: float = T0
    chains: dict[str, int] = field(default_factory=lambda: {"consortium": 7001, "ethereum": 7002})
    next_id: int = 0x0A1B2C3D
    views: dict[str, View] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    next_epoch: bool = True  # whether it holds a [committee.next] key
    cursed: dict[tuple[str, int], int] = field(default_factory=lambda: {("ethereum", 7001): 1})

    def add(self, view: View) -> View:
        self.views[view.action.id] = view
        return view

    async def propose(self, kind: str, chain: str, ttl: float | None = None, /) -> Action:
        self.calls.append(("propose", kind, chain, ttl))
        if chain == "consortium" and kind == "resume":
            raise ActionRefused("the endpoint on consortium is not paused")
        action = Action(f"p{self.member}-{self.next_id:08x}", kind, self.chains[chain], b"", self.member)
        self.next_id += 1
        expires = self.now + (ttl if ttl is not None else 86_400)
        note = f"proposed by member {self.member}'s operator"
        return self.add(
            View(action, "proposed", note, self.now, expires, history=(("proposed", note, self.now),))
        ).action

    async def propose_rotation(self, chain: str | None, ttl: float | None = None, /) -> list[Action]:
        """As the real stage: one ROTATE per endpoint (every configured one without `chain`), to the
        key epoch 2 this member holds; the consortium's endpoint is refused when `next_epoch` is off."""
        self.calls.append(("propose_rotation", chain, ttl))
        names = sorted(self.chains) if chain is None else [chain]
        if not self.next_epoch:
            raise ActionRefused(
                "this member holds only key epoch 1: there is no next key to rotate to; run the DKG for "
                "epoch 2 with the other members, add its result as [committee.next]"
            )
        out = []
        for name in names:
            action = Action(
                f"p{self.member}-{self.next_id:08x}", "rotate", self.chains[name], NEXT_KEY_HASH, 2
            )
            self.next_id += 1
            expires = self.now + (ttl if ttl is not None else 86_400)
            note = "proposed and approved by this member's operator"
            view = View(
                action,
                "approved",
                note,
                self.now,
                expires,
                approved_here=True,
                signers=(self.member,),
                history=(("approved", note, self.now),),
                new_key_epoch=2,
            )
            out.append(self.add(view).action)
        return out

    async def propose_uncurse(self, chain: str, remote: int, ttl: float | None = None, /) -> Action:
        """As the real stage: the curse the endpoint holds now (`cursed`: (chain, remote) -> curse
        count) is signed into the action; a route that is not cursed is refused."""
        self.calls.append(("propose_uncurse", chain, remote, ttl))
        count = self.cursed.get((chain, remote))
        if count is None:
            raise ActionRefused(
                f"the route of the endpoint on {chain} with chain {remote} is not cursed (it had 0 "
                "curse(s)): there is nothing to lift; `relayer status` shows the cursed routes"
            )
        params = remote.to_bytes(32, "big") + count.to_bytes(32, "big")
        action = Action(
            f"p{self.member}-{self.next_id:08x}", "uncurse", self.chains[chain], params, self.member
        )
        self.next_id += 1
        expires = self.now + (ttl if ttl is not None else 86_400)
        note = "proposed and approved by this member's operator"
        view = View(
            action,
            "approved",
            note,
            self.now,
            expires,
            approved_here=True,
            history=(("approved", note, self.now),),
        )
        return self.add(view).action

    async def approve(self, action_id: str, /) -> Action:
        self.calls.append(("approve", action_id))
        view = self.views[action_id]
        if view.expires_at is not None and self.now >= view.expires_at:
            raise ActionRefused("it expired at its deadline; propose it again if it is still wanted")
        if view.approved_here:
            raise ActionRefused("already approved here")
        history = (*view.history, ("approved", "approved by this member's operator", self.now))
        new = replace(
            view, state="approved", approved_here=True, signers=(*view.signers, self.member), history=history
        )
        return self.add(new).action

    async def reject(self, action_id: str, /) -> Action:
        self.calls.append(("reject", action_id))
        view = self.views[action_id]
        history = (*view.history, ("refused", "rejected by this member's operator", self.now))
        return self.add(
            replace(view, state="refused", detail="rejected by this member's operator", history=history)
        ).action

    async def actions(self, limit: int = 100, /) -> list[View]:
        self.calls.append(("actions", limit))
        return list(self.views.values())[:limit]

    async def action(self, action_id: str, /) -> View | None:
        return self.views.get(action_id)
