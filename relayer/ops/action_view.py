"""Committee actions for people: the text `relayer actions …` prints from the JSON the admin verbs
return (relayer.ops.actions, whose docstring gives the shape). Pure, and light: the CLI imports it
without web3.

`relayer actions list` is one table, columns ID, KIND, CHAIN, STATE, SIGNERS ("1,3 of t=3"),
APPROVED HERE, EXPIRES, ON-CHAIN; `show` one action with its history; `propose`, `approve` and
`reject` what became of the action. Each ends, while something is left to do, with a `next:` line
that says who must do what, and the runbook that says how.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = ("ID", "KIND", "CHAIN", "STATE", "SIGNERS", "APPROVED HERE", "EXPIRES", "ON-CHAIN")
RUNBOOK = {
    "resume": "deploy/runbooks/resume-after-guardian-pause.md",
    "pause": "deploy/runbooks/committee-pause.md",
    "freeze": "deploy/runbooks/registry-carry.md",
    "allow": "deploy/runbooks/registry-carry.md",
    "rotate": "deploy/runbooks/key-rotation.md",
    "uncurse": "deploy/runbooks/route-cursed.md",
    "issuer": "deploy/runbooks/asset-status.md",
}
# a forced transfer or recovery waiting out the endpoint's delay (IssuerModule), and its cancel
ISSUER_MOVE_RUNBOOK = "deploy/runbooks/issuer-forced-move-pending.md"
CLOSED = ("executed", "cancelled", "expired", "refused", "superseded", "failed")
DONE = {"propose": "proposed", "approve": "approved", "reject": "rejected"}


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Columns padded to their widest cell, two spaces apart (as the CLI's other tables)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows])


def signers_cell(a: dict[str, Any]) -> str:
    """`1,3 of t=3`; `none of t=3` before any partial."""
    members = ",".join(str(m) for m in a["signers"]) or "none"
    return f"{members} of t={a['threshold']}"


def approved_cell(a: dict[str, Any]) -> str:
    """Whether this member's operator approved it; `auto` for the registry's decisions, which
    every member signs on its own view of the consortium chain with no operator step."""
    if a["origin"] == "registry":
        return "auto"
    return "yes" if a["approved_here"] else "no"


def row(a: dict[str, Any]) -> list[str]:
    return [
        a["id"],
        a["kind"],
        a["chain"],
        a["state"],
        signers_cell(a),
        approved_cell(a),
        a["expires_at"] or "-",
        a["onchain"] or "-",
    ]


def list_text(out: dict[str, Any]) -> str:
    actions = out["actions"]
    if not actions:
        return (
            f"no committee actions on this node (member {out['member']}); an operator proposes one "
            "with `relayer actions propose {resume,pause,rotate} --chain NAME` (an uncurse also "
            "names the cursed route: `--remote REMOTE`)"
        )
    waiting = [a["id"] for a in actions if a["state"] == "proposed" and a["origin"] == "operator"]
    text = table([row(a) for a in actions], COLUMNS)
    if waiting:
        text += (
            f"\nwaiting for this member's operator: {', '.join(waiting)} "
            "(`relayer actions show ID`, then `approve ID` or `reject ID`)"
        )
    return text


def proposer_text(a: dict[str, Any]) -> str:
    if a["origin"] == "registry":
        return "the consortium chain's registry (carried with no operator step)"
    return f"member {a['proposer']}'s operator"


def next_step(a: dict[str, Any]) -> str | None:
    """What is left to do for the action, and by whom; None once it is closed and nothing is."""
    aid, state, kind = a["id"], a["state"], a["kind"]
    runbook = RUNBOOK.get(kind, "deploy/runbooks/action-proposal-pending.md")
    if state in CLOSED:
        if state in ("cancelled", "expired") and a["origin"] == "operator":
            again = f"relayer actions propose {kind} --chain {a['chain']}"
            if kind == "uncurse":
                again += f" --remote {a.get('remote') or a.get('remote_chain_id')}"
            return (
                f"nothing: it will not execute; if the {kind} is still wanted, propose it again "
                f"(`{again}`, {runbook})"
            )
        if state == "executed" and kind == "uncurse":
            return (
                f"the route is open again on {a['chain']}: batches and refunds waiting on it go through; "
                f"check `relayer status` shows it uncursed on every endpoint ({runbook})"
            )
        if state == "failed":
            return (
                f"nothing on-chain: its turn on {a['chain']} is consumed and the token did not apply it "
                f"(`relayer actions show {aid}` says why); the issuer decides again on the consortium "
                f"chain if it still wants it ({runbook})"
            )
        if state == "executed" and kind == "rotate":
            return (
                f"the endpoint on {a['chain']} is at the new key epoch; once every endpoint is, move "
                f"[committee.next] to [committee] on every member and restart at leisure ({runbook})"
            )
        return None
    if state == "proposed":
        return (
            f"this member's operator decides: check it as {runbook} says, then "
            f"`relayer actions approve {aid}` or `relayer actions reject {aid}`"
        )
    if state in ("approved", "submitted"):
        missing = a["threshold"] - len(a["signers"])
        if missing > 0:
            who = (
                "each member signs once it sees the registry's event final on the consortium chain"
                if a["origin"] == "registry"
                else f"their operators approve it on their own nodes (`relayer actions approve {aid}`)"
            )
            until = f"; it expires at {a['expires_at']}" if a["expires_at"] else ""
            return f"{missing} more member(s)' partial(s) needed: {who}{until}"
        if state == "approved":
            return "t partials held: a relayer combines them and submits the action"
        return "sent: waiting for the transaction's outcome on the chain"
    if state == "scheduled" and kind == "issuer":
        return (
            "the gateway holds the tokens it takes (frozen on the holder) while the endpoint's delay "
            "runs, then a relayer executes it (`executeIssuerAction(token, sequence)`; anyone may); the "
            "guardian can still cancel it with `cancelIssuerAction(token, sequence)` "
            f"({ISSUER_MOVE_RUNBOOK})"
        )
    if state == "scheduled":
        nonce = a["action_nonce"] if a["action_nonce"] is not None else "<actionNonce>"
        return (
            "the endpoint waits out its delay, then a relayer executes it (anyone may); the guardian "
            f"can still cancel it with `cancelPending({nonce})` (deploy/runbooks/signed-action-pending.md)"
        )
    return None


def show_text(a: dict[str, Any]) -> str:
    fields = [
        ("state", a["state"] + (f": {a['detail']}" if a["detail"] else "")),
        ("proposed by", proposer_text(a)),
        ("created", a["created_at"]),
        ("expires", a["expires_at"] or "never"),
        ("approved here", approved_cell(a)),
        (
            "signers",
            signers_cell(a) + f" (valid partials member {a['member']}'s node holds, its own included)",
        ),
        ("action nonce", a["action_nonce"]),
        ("on-chain", a["onchain"]),
        ("tx", a["tx_hash"]),
        ("params", a["params"]),
    ]
    width = max(len(k) for k, _ in fields)
    lines = [f"action {a['id']}: {a['what']} on {a['chain']} (chain {a['chain_id']})"]
    lines += [f"  {k.ljust(width)}  {'-' if v in (None, '') else v}" for k, v in fields]
    if a["history"]:
        lines.append("history")
        state_width = max(len(h["state"]) for h in a["history"])
        lines += [
            f"  {h['at']}  {h['state'].ljust(state_width)}  {h['detail']}".rstrip() for h in a["history"]
        ]
    step = next_step(a)
    if step:
        lines.append(f"next: {step}")
    return "\n".join(lines)


def result_text(verb: str, a: dict[str, Any]) -> str:
    """What `propose`, `approve` or `reject` did, and what is left."""
    head = f"{DONE[verb]} {a['id']}: {a['what']} on {a['chain']}"
    head += f" (state {a['state']}, signers {signers_cell(a)}"
    head += f", expires {a['expires_at']})" if a["expires_at"] else ")"
    lines = [head]
    if verb == "propose":
        lines.append(
            "this member's approval: "
            + (
                "given with the proposal"
                if a["approved_here"]
                else f"not yet (`relayer actions approve {a['id']}`)"
            )
        )
        lines.append(
            f"send the id {a['id']} to the other members' operators through your decision process; "
            f"each checks it and approves it on their own node ({RUNBOOK.get(a['kind'], '')})"
        )
    step = next_step(a)
    if step:
        lines.append(f"next: {step}")
    return "\n".join(lines)


def text(verb: str, out: Any) -> str:
    """The human text of `relayer actions <verb>` from the admin verb's result."""
    if verb == "list":
        return list_text(out)
    if verb == "show":
        return show_text(out)
    if verb == "propose" and "actions" in out:  # a rotate: one action per endpoint
        return "\n\n".join(result_text(verb, a) for a in out["actions"])
    return result_text(verb, out)
