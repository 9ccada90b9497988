"""The action stage of a node on a real store judges action partials as every kind's and combines
t of them: forged, foreign and misplaced partials are counted under their outcome and never kept,
and t valid ones (this member's own included) make the group signature on the action's message."""

from __future__ import annotations

from pathlib import Path

from committee.bls import get_backend
from committee.threshold import KeyShare, deal, partial_sign, verify
from relayer import metrics
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.core.encoding import action_message
from relayer.core.items import Action, ActionKind, ActionState, Origin
from relayer.core.messages import ActionPartialMessage
from relayer.core.types import ChainId
from relayer.pipeline.node import Node
from tests.integration.test_aggregation import GATEWAY, config

E = ChainId(7002)
PAUSE = Action("p2-0123abcd", ActionKind.PAUSE, E, b"", Origin.OPERATOR, 2, 1000.0, None, (1, 0))
NONCE = 4
MESSAGE = action_message(ActionKind.PAUSE, E, GATEWAY, 1, NONCE, b"")


def make_node(tmp_path: Path, store: Store, share: KeyShare) -> Node:
    cfg = config(tmp_path, int(share.index))
    return Node(
        cfg=cfg,
        store=store,
        chains={},
        public=share.public,
        share=share,
        backend=get_backend(),
        transport=Transport(cfg.mqtt, cfg.member_index),
    )


def partial(
    member: int, signer: KeyShare, *, message: bytes = MESSAGE, **changes: object
) -> ActionPartialMessage:
    fields: dict[str, object] = {
        "member": member,
        "action_id": PAUSE.id,
        "kind": PAUSE.kind,
        "chain_id": PAUSE.chain_id,
        "key_epoch": 1,
        "nonce": NONCE,
        "params": b"",
        "message": message,
        "partial": partial_sign(signer, message),
    }
    fields.update(changes)
    return ActionPartialMessage(**fields)  # type: ignore[arg-type]


def counted(member: str, outcome: str) -> float:
    return metrics.ACTION_PARTIALS_RECEIVED.labels(member, outcome)._value.get()  # type: ignore[attr-defined]


async def test_forged_and_misplaced_action_partials_are_refused_and_t_valid_ones_combine(
    tmp_path: Path,
) -> None:
    shares = deal(4, 3)
    async with Store.open(tmp_path / "node.sqlite3") as store:
        node = make_node(tmp_path, store, shares[0])
        await store.put_action(PAUSE, ActionState.APPROVED, "approved here", approved_at=1000.0)
        await store.set_action_state(PAUSE.id, ActionState.APPROVED, "signing", signing=(NONCE, 1, MESSAGE))
        own = await store.sign_item(
            "pause", E, GATEWAY, 1, f"{PAUSE.id}@{NONCE}", MESSAGE, partial_sign(shares[0], MESSAGE)
        )
        await store.put_action_partial(PAUSE.id, NONCE, 1, 1, MESSAGE, own)
        refused = [
            (partial(2, shares[2]), "2", "invalid"),  # member 3's signature on member 2's topic
            (partial(2, shares[1], key_epoch=2), "2", "wrong_epoch"),
            (partial(2, shares[1], action_id="p2-ffffffff"), "2", "unknown_action"),
            (partial(2, shares[1], nonce=NONCE + 1), "2", "invalid"),  # not the message at that nonce
            (partial(9, shares[1]), "unknown", "not_member"),
        ]
        labels = sorted({(m, o) for _, m, o in refused})
        before = {label: counted(*label) for label in labels}
        for msg, _, _ in refused:
            await node.actions.on_partial(msg)
        assert {label: counted(*label) - before[label] for label in labels} == {
            ("2", "invalid"): 2,
            ("2", "unknown_action"): 1,
            ("2", "wrong_epoch"): 1,
            ("unknown", "not_member"): 1,
        }
        assert [m for m, _, _ in await store.action_partials(PAUSE.id, NONCE, 1)] == [1]

        duplicates = counted("1", "duplicate")
        await node.actions.on_partial(partial(1, shares[0]))  # this member's own, back from the broker
        assert counted("1", "duplicate") == duplicates + 1

        await node.actions.on_partial(partial(3, shares[2]))
        assert (await store.action_record(PAUSE.id)).signature is None  # type: ignore[union-attr]
        await node.actions.on_partial(partial(4, shares[3]))
        done = await store.action_record(PAUSE.id)
        assert done is not None
        assert done.signature is not None
        assert verify(shares[0].public.group_public_key, MESSAGE, done.signature)
        assert done.detail == f"signed by [1, 3, 4] for action nonce {NONCE}"
