"""`relayer actions …`: the command line it accepts, the admin verbs over the node's action stage
(relayer.ops.actions: the JSON shape, the refusals turned into errors that say what to do), and
the text people read (relayer.ops.action_view).

The verbs run here over tests.support.action_stage.Stage, a small implementation of `ActionsPort`
(pure: no store, no socket); tests/integration/test_actions_admin.py drives the real stage.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from relayer.cli import CliError, build_parser, failure, main
from relayer.ops import action_view
from relayer.ops.actions import ActionVerbs, describe, onchain_fields
from relayer.ops.admin_client import AdminError
from tests.support.action_stage import NEXT_KEY_HASH, T0, Action, Stage, View

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "config" / "devnet.example.toml")
HOLDER = "0x" + "ab" * 20
FREEZE_PARAMS = bytes(12) + bytes.fromhex("ab" * 20) + bytes(31) + b"\x01"


# ---- the command line ------------------------------------------------------------------------


def parse(*words: str) -> Any:
    return build_parser().parse_args(["actions", *words])


def test_propose_takes_the_kind_the_chain_and_a_ttl_in_seconds() -> None:
    args = parse("propose", "resume", "--config", "n.toml", "--chain", "ethereum", "--ttl", "21600")
    assert (args.actions_command, args.kind, args.chain, args.ttl) == (
        "propose",
        "resume",
        "ethereum",
        21600.0,
    )
    assert parse("propose", "pause", "--config", "n.toml", "--chain", "consortium").ttl is None


def test_a_rotate_is_proposed_for_one_endpoint_or_for_every_endpoint() -> None:
    one = parse("propose", "rotate", "--config", "n.toml", "--chain", "ethereum", "--ttl", "3600")
    assert (one.kind, one.chain, one.ttl) == ("rotate", "ethereum", 3600.0)
    every = parse("propose", "rotate", "--config", "n.toml")
    assert (every.kind, every.chain, every.ttl) == ("rotate", None, None)


def test_a_resume_without_a_chain_is_refused_before_the_daemon_is_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QIAO_NODE__DATA_DIR", str(tmp_path / "no-daemon-here"))
    code = main(["actions", "propose", "resume", "--config", EXAMPLE])
    assert code == 2
    err = capsys.readouterr().err
    assert "error: --chain is needed to propose a resume" in err
    assert "only a rotate goes to every endpoint without it" in err


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["propose", "freeze", "--chain", "ethereum"], "invalid choice: 'freeze'"),
        (["propose", "rotate", "--chain", "ethereum", "--ttl", "0"], "'0' is not a number of seconds > 0"),
        (["propose", "resume", "--chain", "ethereum", "--ttl", "0"], "'0' is not a number of seconds > 0"),
        (
            ["propose", "resume", "--chain", "ethereum", "--ttl", "-60"],
            "'-60' is not a number of seconds > 0",
        ),
        (
            ["propose", "resume", "--chain", "ethereum", "--ttl", "nan"],
            "'nan' is not a number of seconds > 0",
        ),
        (
            ["propose", "resume", "--chain", "ethereum", "--ttl", "inf"],
            "'inf' is not a number of seconds > 0",
        ),
        (["propose", "resume", "--chain", "ethereum", "--ttl", "6h"], "'6h' is not a number of seconds > 0"),
        (["approve"], "id"),
        (["show"], "id"),
        (["list", "--limit", "many"], "--limit"),
        ([], "propose"),
    ],
)
def test_a_bad_command_line_is_a_usage_error_that_names_the_argument(words: list[str], says: str) -> None:
    with pytest.raises(CliError) as caught:
        build_parser().parse_args(["actions", *words[:1], "--config", "n.toml", *words[1:]])
    assert says in caught.value.error
    assert caught.value.code == 2
    assert "--help" in caught.value.hint


@pytest.mark.parametrize(
    "words",
    [
        ["propose", "resume", "--chain", "ethereum"],
        ["approve", "p2-0a1b2c3d"],
        ["reject", "p2-0a1b2c3d"],
        ["list"],
        ["show", "p2-0a1b2c3d"],
    ],
)
def test_every_actions_verb_has_json_output(words: list[str]) -> None:
    args = parse(words[0], "--config", "n.toml", "--json", *words[1:])
    assert args.json is True
    assert args.func.__name__ == "cmd_actions"


def test_under_json_a_bad_ttl_is_one_json_error_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["actions", "propose", "resume", "--config", EXAMPLE, "--json", "--chain", "ethereum", "--ttl", "0"]
    )
    assert code == 2
    out = json.loads(capsys.readouterr().out)
    assert "--ttl" in out["error"]
    assert out["hint"]


def test_a_chain_not_in_the_configuration_is_refused_before_the_daemon_is_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QIAO_NODE__DATA_DIR", str(tmp_path / "no-daemon-here"))
    code = main(["actions", "propose", "resume", "--config", EXAMPLE, "--chain", "etherium"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error: --chain etherium: no chain of that name" in err
    assert "hint: give one of consortium, ethereum" in err


# ---- the admin verbs over the action stage ---------------------------------------------------


def verbs(stage: Stage) -> ActionVerbs:
    return ActionVerbs(stage, {"consortium": 7001, "ethereum": 7002}, member=2, threshold=3)


def freeze_view(**changes: Any) -> View:
    action = Action("r7001-118-0", "freeze", 7002, FREEZE_PARAMS, 0)
    view = View(
        action, "scheduled", "", T0 - 600, None, signers=(1, 2, 4), onchain="pending delay until 1767326400"
    )
    return replace(view, **changes)


async def test_a_proposal_comes_back_in_the_json_shape_of_every_action() -> None:
    stage = Stage()
    out = await verbs(stage).propose("resume", "ethereum", 21600)
    assert stage.calls == [("propose", "resume", "ethereum", 21600.0)]
    assert out == {
        "id": "p2-0a1b2c3d",
        "kind": "resume",
        "what": "resume the endpoint",
        "chain": "ethereum",
        "chain_id": 7002,
        "params": "0x",
        "account": None,
        "flag": None,
        "new_key_epoch": None,
        "remote_chain_id": None,
        "remote": None,
        "curse_count": None,
        "origin": "operator",
        "proposer": 2,
        "state": "proposed",
        "detail": "proposed by member 2's operator",
        "created_at": "2026-01-02T03:00:00Z",
        "expires_at": "2026-01-02T09:00:00Z",
        "approved_here": False,
        "signers": [],
        "threshold": 3,
        "onchain": "",
        "executable_at": None,
        "action_nonce": None,
        "tx_hash": None,
        "history": [
            {"state": "proposed", "detail": "proposed by member 2's operator", "at": "2026-01-02T03:00:00Z"}
        ],
        "member": 2,
    }
    assert json.loads(json.dumps(out)) == out


async def test_a_registry_freeze_shows_its_account_flag_origin_and_the_end_of_its_delay() -> None:
    stage = Stage()
    stage.add(freeze_view(action_nonce=4, tx_hash="0x" + "12" * 32))
    out = await verbs(stage).show("r7001-118-0")
    assert (out["what"], out["account"], out["flag"]) == (f"freeze {HOLDER}", HOLDER, True)
    assert (out["origin"], out["proposer"], out["approved_here"]) == ("registry", None, False)
    assert out["params"] == "0x" + FREEZE_PARAMS.hex()
    assert out["onchain"] == "pending delay until 2026-01-02T04:00:00Z"
    assert out["executable_at"] == "2026-01-02T04:00:00Z"
    assert (out["signers"], out["action_nonce"], out["expires_at"]) == ([1, 2, 4], 4, None)


@pytest.mark.parametrize(
    ("kind", "params", "words"),
    [
        ("freeze", FREEZE_PARAMS, f"freeze {HOLDER}"),
        ("freeze", FREEZE_PARAMS[:-1] + b"\x00", f"unfreeze {HOLDER}"),
        ("allow", FREEZE_PARAMS, f"allow {HOLDER}"),
        ("allow", FREEZE_PARAMS[:-1] + b"\x00", f"disallow {HOLDER}"),
        ("pause", b"", "pause the endpoint"),
        ("rotate", b"\x11" * 32, "rotate to a key this member does not hold (key hash 0x" + "11" * 32 + ")"),
        ("freeze", b"\x01", "freeze"),  # malformed params: the kind alone, no account made up
    ],
)
def test_each_kind_is_described_in_words(kind: str, params: bytes, words: str) -> None:
    assert describe(kind, params)[0] == words


def test_a_rotation_is_described_by_the_key_epoch_it_installs() -> None:
    assert describe("rotate", b"\x11" * 32, 3)[0] == "rotate to key epoch 3 (key hash 0x" + "11" * 32 + ")"


@pytest.mark.parametrize(
    ("onchain", "expected"),
    [
        (
            "pending delay until 1767326400",
            ("pending delay until 2026-01-02T04:00:00Z", "2026-01-02T04:00:00Z"),
        ),
        ("executable", ("executable", None)),
        ("cancelled by the guardian", ("cancelled by the guardian", None)),
        ("", ("", None)),
    ],
)
def test_the_end_of_a_pending_delay_is_an_iso_time(onchain: str, expected: tuple[str, str | None]) -> None:
    assert onchain_fields(onchain) == expected


async def test_approve_then_reject_go_to_the_stage_and_return_the_action_as_it_is_now() -> None:
    stage = Stage()
    proposed = await verbs(stage).propose("resume", "ethereum")
    approved = await verbs(stage).approve(proposed["id"])
    assert (approved["state"], approved["approved_here"], approved["signers"]) == ("approved", True, [2])
    rejected = await verbs(stage).reject(proposed["id"])
    assert rejected["state"] == "refused"
    assert [h["state"] for h in rejected["history"]] == ["proposed", "approved", "refused"]


async def test_a_refusal_says_why_and_points_at_the_action() -> None:
    stage = Stage()
    aid = (await verbs(stage).propose("resume", "ethereum"))["id"]
    await verbs(stage).approve(aid)
    with pytest.raises(AdminError) as caught:
        await verbs(stage).approve(aid)
    assert str(caught.value) == (
        f"action {aid} not approved: already approved here; `relayer actions show {aid}` shows its state and history"
    )
    assert failure(caught.value).hint == f"`relayer actions show {aid}` shows its state and history"


async def test_a_refusal_that_says_what_to_do_keeps_its_own_advice() -> None:
    stage = Stage()
    aid = (await verbs(stage).propose("resume", "ethereum", 60))["id"]
    stage.now += 61
    with pytest.raises(AdminError) as caught:
        await verbs(stage).approve(aid)
    assert str(caught.value) == (
        f"action {aid} not approved: it expired at its deadline; propose it again if it is still wanted"
    )
    assert failure(caught.value).hint == "propose it again if it is still wanted"


async def test_a_rotation_without_a_chain_is_one_action_per_endpoint_each_described() -> None:
    stage = Stage()
    out = await verbs(stage).propose("rotate", None, 3600)
    assert stage.calls == [("propose_rotation", None, 3600.0)]
    assert (out["member"], out["threshold"]) == (2, 3)
    assert [(a["chain"], a["kind"], a["state"]) for a in out["actions"]] == [
        ("consortium", "rotate", "approved"),
        ("ethereum", "rotate", "approved"),
    ]
    assert len({a["id"] for a in out["actions"]}) == 2
    first = out["actions"][0]
    assert first["what"] == f"rotate to key epoch 2 (key hash 0x{NEXT_KEY_HASH.hex()})"
    assert (first["new_key_epoch"], first["params"]) == (2, "0x" + NEXT_KEY_HASH.hex())
    text = action_view.text("propose", out)
    for a in out["actions"]:
        assert f"proposed {a['id']}: rotate to key epoch 2 (key hash 0x" in text
    assert "deploy/runbooks/key-rotation.md" in text


async def test_a_rotation_of_one_endpoint_is_one_action() -> None:
    stage = Stage()
    out = await verbs(stage).propose("rotate", "ethereum")
    assert stage.calls == [("propose_rotation", "ethereum", None)]
    assert [a["chain_id"] for a in out["actions"]] == [7002]


async def test_a_rotation_without_a_next_key_says_to_run_the_dkg() -> None:
    with pytest.raises(AdminError) as caught:
        await verbs(Stage(next_epoch=False)).propose("rotate", None)
    text = str(caught.value)
    assert text.startswith(
        "the rotation of every endpoint was not proposed: this member holds only key epoch 1"
    )
    assert "run the DKG for epoch 2" in text


def test_an_executed_rotation_says_to_move_next_to_current() -> None:
    view = View(
        Action("p2-0a1b2c3d", "rotate", 7002, NEXT_KEY_HASH, 2), "executed", "", T0, T0 + 600, new_key_epoch=2
    )
    text = action_view.show_text(as_json(view))
    assert "action p2-0a1b2c3d: rotate to key epoch 2 (key hash 0x" in text
    assert "move [committee.next] to [committee] on every member" in text


async def test_a_proposal_the_stage_refuses_says_so() -> None:
    with pytest.raises(
        AdminError,
        match="the resume of consortium was not proposed: the endpoint on consortium is not paused; ",
    ):
        await verbs(Stage()).propose("resume", "consortium")


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda v: v.propose("freeze", "ethereum"),
            "an operator proposes a pause, a resume, a rotate or an uncurse, not 'freeze'",
        ),
        (lambda v: v.propose("resume", None), "no chain named None"),
        (lambda v: v.propose("rotate", "etherium"), "no chain named 'etherium'"),
        (lambda v: v.propose("rotate", None, 0), "ttl 0 is not a number of seconds > 0"),
        (
            lambda v: v.propose("resume", "etherium"),
            "no chain named 'etherium' in this node's configuration; give one of consortium, ethereum",
        ),
        (lambda v: v.propose("resume", ["ethereum"]), "no chain named ['ethereum']"),
        (lambda v: v.propose("resume", "ethereum", 0), "ttl 0 is not a number of seconds > 0"),
        (lambda v: v.propose("resume", "ethereum", -1.5), "ttl -1.5 is not a number"),
        (lambda v: v.propose("resume", "ethereum", True), "ttl True is not a number"),
        (lambda v: v.propose("resume", "ethereum", "600"), "ttl '600' is not a number"),
        (lambda v: v.propose("resume", "ethereum", float("inf")), "ttl inf is not a number"),
        (lambda v: v.approve(""), "'' is not an action id"),
        (lambda v: v.approve(None), "None is not an action id"),
        (lambda v: v.show("p2 0a1b"), "'p2 0a1b' is not an action id"),
        (lambda v: v.reject("p" * 65), "is not an action id"),
        (lambda v: v.approve("p3-ffffffff"), "no action p3-ffffffff on this node (member 2)"),
        (lambda v: v.show("p3-ffffffff"), "`relayer actions list` shows the ones it holds"),
        (lambda v: v.listing(0), "limit 0 must be a whole number from 1 to 1000"),
        (lambda v: v.listing(1001), "limit 1001 must be"),
        (lambda v: v.listing("5"), "limit '5' must be"),
    ],
)
async def test_bad_requests_are_refused_before_the_stage_is_asked(call: Any, says: str) -> None:
    stage = Stage()
    with pytest.raises(AdminError) as caught:
        await call(verbs(stage))
    assert says in str(caught.value)
    assert stage.calls == []


async def test_the_admin_verbs_dispatch_with_the_request_args() -> None:
    stage = Stage()
    stage.add(freeze_view())
    handlers = verbs(stage).handlers({"limit": 7, "id": "r7001-118-0"})
    assert sorted(handlers) == [
        "actions.approve",
        "actions.list",
        "actions.propose",
        "actions.reject",
        "actions.show",
    ]
    listed = await handlers["actions.list"]()
    assert stage.calls == [("actions", 7)]
    assert (listed["member"], listed["threshold"], [a["id"] for a in listed["actions"]]) == (
        2,
        3,
        ["r7001-118-0"],
    )
    assert (await handlers["actions.show"]())["kind"] == "freeze"
    assert (await verbs(stage).handlers({})["actions.list"]()) == listed
    assert stage.calls[-1] == ("actions", 100)


# ---- the text for people ---------------------------------------------------------------------


def as_json(view: View) -> dict[str, Any]:
    return verbs(Stage()).action_json(view)


def resume_view(**changes: Any) -> View:
    action = Action("p2-0a1b2c3d", "resume", 7002, b"", 2)
    view = View(action, "approved", "", T0, T0 + 21600, approved_here=True, signers=(1, 2))
    return replace(view, **changes)


def test_list_is_one_table_with_the_signers_against_t() -> None:
    out = {"member": 2, "threshold": 3, "actions": [as_json(resume_view()), as_json(freeze_view())]}
    assert action_view.list_text(out) == "\n".join(
        [
            "ID           KIND    CHAIN     STATE      SIGNERS       APPROVED HERE  EXPIRES               ON-CHAIN",
            "p2-0a1b2c3d  resume  ethereum  approved   1,2 of t=3    yes            2026-01-02T09:00:00Z  -",
            "r7001-118-0  freeze  ethereum  scheduled  1,2,4 of t=3  auto           -                     pending delay until 2026-01-02T04:00:00Z",
        ]
    )


def test_list_names_the_proposals_waiting_for_this_operator() -> None:
    waiting = as_json(resume_view(state="proposed", approved_here=False, signers=()))
    text = action_view.list_text({"member": 2, "threshold": 3, "actions": [waiting]})
    assert "none of t=3" in text
    assert text.endswith(
        "waiting for this member's operator: p2-0a1b2c3d (`relayer actions show ID`, then `approve ID` or `reject ID`)"
    )


def test_an_empty_list_says_how_to_propose() -> None:
    text = action_view.list_text({"member": 4, "threshold": 3, "actions": []})
    assert text.startswith("no committee actions on this node (member 4)")
    assert "`relayer actions propose {resume,pause,rotate} --chain NAME`" in text


def test_show_prints_every_field_the_history_and_what_is_left() -> None:
    history = (
        ("proposed", "proposed by member 2's operator", T0),
        ("approved", "approved by this member's operator", T0 + 60),
    )
    text = action_view.show_text(as_json(resume_view(action_nonce=4, history=history)))
    assert text == "\n".join(
        [
            "action p2-0a1b2c3d: resume the endpoint on ethereum (chain 7002)",
            "  state          approved",
            "  proposed by    member 2's operator",
            "  created        2026-01-02T03:00:00Z",
            "  expires        2026-01-02T09:00:00Z",
            "  approved here  yes",
            "  signers        1,2 of t=3 (valid partials member 2's node holds, its own included)",
            "  action nonce   4",
            "  on-chain       -",
            "  tx             -",
            "  params         0x",
            "history",
            "  2026-01-02T03:00:00Z  proposed  proposed by member 2's operator",
            "  2026-01-02T03:01:00Z  approved  approved by this member's operator",
            "next: 1 more member(s)' partial(s) needed: their operators approve it on their own nodes "
            "(`relayer actions approve p2-0a1b2c3d`); it expires at 2026-01-02T09:00:00Z",
        ]
    )


@pytest.mark.parametrize(
    ("view", "step"),
    [
        (
            resume_view(state="proposed", approved_here=False, signers=()),
            "this member's operator decides: check it as deploy/runbooks/resume-after-guardian-pause.md "
            "says, then `relayer actions approve p2-0a1b2c3d` or `relayer actions reject p2-0a1b2c3d`",
        ),
        (
            replace(
                resume_view(state="proposed", approved_here=False),
                action=Action("p1-00000001", "pause", 7001, b"", 1),
            ),
            "this member's operator decides: check it as deploy/runbooks/committee-pause.md says, then "
            "`relayer actions approve p1-00000001` or `relayer actions reject p1-00000001`",
        ),
        (
            freeze_view(state="approved", signers=(2,), onchain=""),
            "2 more member(s)' partial(s) needed: each member signs once it sees the registry's event "
            "final on the consortium chain",
        ),
        (resume_view(signers=(1, 2, 3)), "t partials held: a relayer combines them and submits the action"),
        (
            resume_view(state="submitted", signers=(1, 2, 3)),
            "sent: waiting for the transaction's outcome on the chain",
        ),
        (
            freeze_view(action_nonce=4),
            "the endpoint waits out its delay, then a relayer executes it (anyone may); the guardian can "
            "still cancel it with `cancelPending(4)` (deploy/runbooks/signed-action-pending.md)",
        ),
        (
            resume_view(state="cancelled", onchain="cancelled by the guardian"),
            "nothing: it will not execute; if the resume is still wanted, propose it again (`relayer "
            "actions propose resume --chain ethereum`, deploy/runbooks/resume-after-guardian-pause.md)",
        ),
        (resume_view(state="executed", onchain="executed"), None),
        (freeze_view(state="executed", onchain="executed"), None),
        (resume_view(state="refused", detail="rejected by this member's operator"), None),
    ],
)
def test_the_next_step_says_who_must_do_what(view: View, step: str | None) -> None:
    assert action_view.next_step(as_json(view)) == step


def test_propose_says_whether_it_counts_as_this_members_approval_and_whom_to_tell() -> None:
    proposed = as_json(resume_view(state="proposed", approved_here=False, signers=()))
    lines = action_view.text("propose", proposed).split("\n")
    assert lines[0] == (
        "proposed p2-0a1b2c3d: resume the endpoint on ethereum (state proposed, signers none of t=3, "
        "expires 2026-01-02T09:00:00Z)"
    )
    assert lines[1] == "this member's approval: not yet (`relayer actions approve p2-0a1b2c3d`)"
    assert lines[2].startswith("send the id p2-0a1b2c3d to the other members' operators")
    assert lines[3].startswith("next: this member's operator decides")
    approved = action_view.text("propose", as_json(resume_view(signers=(2,))))
    assert "this member's approval: given with the proposal" in approved


def test_approve_and_reject_say_what_became_of_the_action() -> None:
    assert action_view.text("approve", as_json(resume_view())).split("\n")[0] == (
        "approved p2-0a1b2c3d: resume the endpoint on ethereum (state approved, signers 1,2 of t=3, "
        "expires 2026-01-02T09:00:00Z)"
    )
    rejected = as_json(resume_view(state="refused", approved_here=False, signers=()))
    assert action_view.text("reject", rejected) == (
        "rejected p2-0a1b2c3d: resume the endpoint on ethereum (state refused, signers none of t=3, "
        "expires 2026-01-02T09:00:00Z)"
    )


# ---- uncurse: lifting the sentinels' curse of one route -------------------------------------------

UNCURSE_PARAMS = (7001).to_bytes(32, "big") + (1).to_bytes(32, "big")


def test_an_uncurse_takes_the_endpoints_chain_and_the_cursed_routes_remote() -> None:
    args = parse("propose", "uncurse", "--config", "n.toml", "--chain", "ethereum", "--remote", "consortium")
    assert (args.kind, args.chain, args.remote, args.ttl) == ("uncurse", "ethereum", "consortium", None)
    by_id = parse("propose", "uncurse", "--config", "n.toml", "--chain", "ethereum", "--remote", "7001")
    assert by_id.remote == "7001"
    assert parse("propose", "resume", "--config", "n.toml", "--chain", "ethereum").remote is None


@pytest.mark.parametrize(
    ("words", "error", "hint"),
    [
        (
            ["--chain", "ethereum"],
            "error: --remote is needed to propose an uncurse",
            "hint: give the cursed route's other end: a chain name under [chains] or a chain id",
        ),
        (
            ["--chain", "ethereum", "--remote", "moon"],
            "error: --remote moon: neither a chain name in",
            "hint: give one of consortium, ethereum or the remote chain's id (digits)",
        ),
        (
            ["--chain", "ethereum", "--remote", "0"],
            "error: --remote 0: neither a chain name",
            "hint: give one",
        ),
        (["--remote", "consortium"], "error: --chain is needed to propose an uncurse", "hint: give one of"),
    ],
)
def test_a_bad_uncurse_is_refused_before_the_daemon_is_asked(
    words: list[str],
    error: str,
    hint: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("QIAO_NODE__DATA_DIR", str(tmp_path / "no-daemon-here"))
    code = main(["actions", "propose", "uncurse", "--config", EXAMPLE, *words])
    assert code == 2
    err = capsys.readouterr().err
    assert error in err
    assert hint in err


def test_a_remote_for_another_kind_is_refused_before_the_daemon_is_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QIAO_NODE__DATA_DIR", str(tmp_path / "no-daemon-here"))
    code = main(
        ["actions", "propose", "resume", "--config", EXAMPLE, "--chain", "ethereum", "--remote", "consortium"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "error: --remote is for an uncurse, not a resume" in err
    assert "uncurse --chain ethereum --remote consortium" in err


@pytest.mark.parametrize("remote", ["consortium", "7001", 7001])
async def test_an_uncurse_is_proposed_for_the_route_named_by_its_remote(remote: Any) -> None:
    stage = Stage()
    out = await verbs(stage).propose("uncurse", "ethereum", None, remote)
    assert stage.calls == [("propose_uncurse", "ethereum", 7001, None)]
    assert (out["kind"], out["chain"], out["state"]) == ("uncurse", "ethereum", "approved")
    assert out["what"] == "lift curse #1 of the route with consortium"
    assert (out["remote_chain_id"], out["remote"], out["curse_count"]) == (7001, "consortium", 1)
    assert out["params"] == "0x" + UNCURSE_PARAMS.hex()


async def test_an_uncurse_of_a_route_that_is_not_cursed_says_so_and_where_to_look() -> None:
    with pytest.raises(AdminError) as caught:
        await verbs(Stage()).propose("uncurse", "consortium", None, "ethereum")
    text = str(caught.value)
    assert text.startswith("the uncurse of the route of consortium with ethereum was not proposed: ")
    assert "is not cursed (it had 0 curse(s)): there is nothing to lift" in text
    assert "`relayer status` shows the cursed routes" in text


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda v: v.propose("uncurse", "ethereum"), "an uncurse needs --remote"),
        (lambda v: v.propose("uncurse", "ethereum", None, "moon"), "--remote 'moon' names no chain"),
        (lambda v: v.propose("uncurse", "ethereum", None, "0"), "--remote '0' names no chain"),
        (lambda v: v.propose("uncurse", "ethereum", None, -3), "--remote -3 names no chain"),
        (lambda v: v.propose("uncurse", "ethereum", None, True), "--remote True names no chain"),
        (lambda v: v.propose("uncurse", "etherium", None, "consortium"), "no chain named 'etherium'"),
        (lambda v: v.propose("uncurse", "ethereum", 0, "consortium"), "ttl 0 is not a number"),
        (lambda v: v.propose("resume", "ethereum", None, "consortium"), "--remote is for an uncurse"),
    ],
)
async def test_a_bad_uncurse_request_is_refused_before_the_stage_is_asked(call: Any, says: str) -> None:
    stage = Stage()
    with pytest.raises(AdminError) as caught:
        await call(verbs(stage))
    assert says in str(caught.value)
    assert stage.calls == []


async def test_the_propose_verb_passes_the_remote_from_the_request() -> None:
    stage = Stage()
    handlers = verbs(stage).handlers({"kind": "uncurse", "chain": "ethereum", "remote": "consortium"})
    out = await handlers["actions.propose"]()
    assert stage.calls == [("propose_uncurse", "ethereum", 7001, None)]
    assert out["curse_count"] == 1


def test_an_uncurse_is_described_by_its_route_and_curse() -> None:
    assert describe("uncurse", UNCURSE_PARAMS)[0] == "lift curse #1 of the route with chain 7001"
    assert describe("uncurse", UNCURSE_PARAMS, None, {7001: "consortium"})[0] == (
        "lift curse #1 of the route with consortium"
    )
    assert describe("uncurse", b"\x01")[0] == "uncurse"  # malformed params: the kind alone


def uncurse_view(**changes: Any) -> View:
    action = Action("p2-0a1b2c3d", "uncurse", 7002, UNCURSE_PARAMS, 2)
    view = View(action, "approved", "", T0, T0 + 21600, approved_here=True, signers=(1, 2))
    return replace(view, **changes)


def test_the_next_step_of_an_uncurse_names_its_runbook_and_route() -> None:
    assert "deploy/runbooks/route-cursed.md" in (
        action_view.next_step(as_json(uncurse_view(state="proposed"))) or ""
    )
    again = action_view.next_step(as_json(uncurse_view(state="cancelled")))
    assert again is not None
    assert "`relayer actions propose uncurse --chain ethereum --remote consortium`" in again
    done = action_view.next_step(as_json(uncurse_view(state="executed")))
    assert done is not None
    assert "the route is open again on ethereum" in done
    shown = action_view.show_text(as_json(uncurse_view()))
    assert "action p2-0a1b2c3d: lift curse #1 of the route with consortium on ethereum (chain 7002)" in shown
