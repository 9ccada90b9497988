"""The `relayer` command: the daemon (`run`) and the operator verbs that talk to it over its admin socket.

Longer than the layout's ~500 lines: one short function per verb (ask the socket, print text or
JSON) and the one argparse tree; the verbs share `_ask`/`_print`, and `relayer --help` is read in
one place. Splitting it by verb is the next step if it grows (docs: README, Layout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from relayer.config import ConfigError, NodeConfig, load_config, quorum_warnings
from relayer.core.states import TransferState
from relayer.core.types import ChainId, Route
from relayer.ops import admin_client as admin

if TYPE_CHECKING:
    from relayer.adapters.store import Store


def _load(path: str) -> NodeConfig:
    return load_config(Path(path))


def cmd_run(args: argparse.Namespace) -> int:
    from committee.keyfile import KeyFileError
    from relayer import daemon, logs
    from relayer.adapters import instance
    from relayer.adapters.chain import RpcUnavailable

    cfg = _load(args.config)
    logs.configure(cfg.log_level)
    try:
        asyncio.run(daemon.run(cfg))
    except instance.AlreadyRunning as exc:  # one line: the holder's PID and what to do
        print(f"error: {exc}", file=sys.stderr)
        return instance.EXIT_ALREADY_RUNNING
    except (KeyFileError, instance.RunFileDamaged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RpcUnavailable as exc:  # a start-up check found no endpoint of a chain reachable
        print(
            f"error: {exc}; check the chain's rpc in {args.config} and that its node is up "
            "(under systemd the unit restarts and tries again)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """The checks `run` makes before it starts (relayer.ops.preflight), without starting anything;
    with --online also what needs the chains."""
    from relayer.ops import preflight

    try:
        cfg = _load(args.config)
        material = preflight.load_material(cfg)
        if args.online:
            problems = asyncio.run(preflight.check_online(cfg, material.keyring))
            if problems:
                raise ConfigError(cfg.source, problems)
    except ConfigError as exc:
        if not args.json:
            print(exc, file=sys.stderr)
        else:
            report = failure(exc)
            out = {"config": exc.source, "ok": False, "errors": exc.errors}
            _print({"error": report.error, "hint": report.hint, **out}, True, str)
        return 2
    warnings = quorum_warnings(cfg)
    out = {
        "config": cfg.source,
        "ok": True,
        "online": bool(args.online),
        "errors": [],
        "warnings": warnings,
        "member_index": cfg.member_index,
        "signer": material.share is not None,
        "data_dir": str(cfg.data_dir),
        "admin_socket": str(admin_socket(cfg)),
        "chains": {n: {"chain_id": c.chain_id, "rpc": c.rpc} for n, c in cfg.chains.items()},
        "routes": [str(r) for r in cfg.routes],
    }
    checked = "files and chains" if args.online else "files; --online also checks the chains"
    notes = "".join(f"\n  warning: {w}" for w in warnings)
    _print(
        out,
        args.json,
        lambda: (
            f"{cfg.source}: OK ({len(cfg.chains)} chains, {len(cfg.routes)} routes, "
            f"member {cfg.member_index}; checked {checked}){notes}"
        ),
    )
    return 0


def admin_socket(cfg: NodeConfig) -> Path:
    return cfg.data_dir / "admin.sock"


def _ask(args: argparse.Namespace, cmd: str, **kwargs: Any) -> Any:
    cfg = _load(args.config)
    return admin.request(admin_socket(cfg), cmd, kwargs)


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, list):
            return ",".join(str(x) for x in v) or "-"
        return str(v)

    widths = {c: max([len(c)] + [len(cell(r.get(c))) for r in rows]) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)


def _pairs(obj: dict[str, Any], keys: list[str] | None = None) -> str:
    keys = keys or list(obj)
    width = max(len(k) for k in keys)
    return "\n".join(f"{k.ljust(width)}  {obj.get(k)}" for k in keys)


def _items_line(items: dict[str, dict[str, int]] | None) -> str:
    """`relayer status`'s line of signed items per kind and phase (the phases with any), open first."""
    if not items:
        return ""
    parts = []
    for kind, phases in items.items():
        shown = ", ".join(f"{phase} {n}" for phase, n in phases.items() if n)
        parts.append(f"{kind}: {shown or 'none'}")
    return "\nitems  " + "; ".join(parts)


def broker_cell(st: dict[str, Any]) -> str:
    """`status`'s broker: connected or not; with several brokers, how many of how many (and the
    minimum), and each by name."""
    reached = st.get("brokers") or {}
    if len(reached) < 2:
        return "connected" if st["broker_connected"] else "DISCONNECTED"
    up = sum(1 for ok in reached.values() if ok)
    minimum = st.get("min_brokers", 1)
    names = ", ".join(f"{name} {'ok' if ok else 'DOWN'}" for name, ok in reached.items())
    below = " BELOW MINIMUM" if up < minimum else ""
    return f"{up}/{len(reached)} (min {minimum}{below}: {names})"


def cmd_status(args: argparse.Namespace) -> int:
    st = _ask(args, "status")

    def human() -> str:
        rpc = ", ".join(f"{k} {'ok' if v else 'DOWN'}" for k, v in st["rpc_ok"].items())
        broker = broker_cell(st)
        paused = [k for k, v in st.get("endpoint_paused", {}).items() if v]
        rpc += f"; endpoint PAUSED on {', '.join(paused)}" if paused else ""
        rpc += _cursed_note(st.get("route_curses"))
        held = st.get("members_paused") or {}
        paused_members = (
            "; paused (not counted): " + ", ".join(f"{m} ({', '.join(r)})" for m, r in sorted(held.items()))
            if held
            else ""
        )
        head = (
            f"member {st['member']}: members online {st['online']}/{st['members']} "
            f"(t = {st['threshold']}, margin {st['margin']}: {st['members_online']}{paused_members}), "
            f"broker {broker}, rpc {rpc}"
        )
        cols = [
            "route",
            "src",
            "dst",
            "src_head",
            "dst_head",
            "lag_blocks",
            "pending",
            "oldest_pending_seconds",
            "held",
            "queued",
            "paused",
            "cursed",
            "halted",
        ]
        rows = [{**r, "paused": _pause_cell(r), "cursed": _curse_cell(r)} for r in st["routes"]]
        return head + "\n" + _table(rows, cols) + _items_line(st.get("items"))

    _print(st, args.json, human)
    return 0


STORE_FILE = "store_file"  # `read_from` of output read from the store file (the daemon did not answer)
DAEMON = "daemon"


def reading_store_note(cfg: NodeConfig) -> str:
    """The stderr line of a verb that reads the store file because the daemon does not answer."""
    from relayer.adapters import instance

    pid = instance.holder(cfg.data_dir)
    if pid is not None:
        who = f"PID {pid}" if pid > 0 else "a process"
        why = f"the daemon ({who}) holds {cfg.data_dir} but does not answer on {admin_socket(cfg)}"
        then = "what it had written; check its log"
    else:
        why = f"the daemon is not running (nothing holds {cfg.data_dir})"
        then = "what it recorded before it stopped"
    return f"note: {why}; reading the store file {cfg.store_path} directly: {then}"


def _pause_cell(route: dict[str, Any]) -> str:
    """The status table's PAUSED cell: `local`, `on-chain (ethereum)`, both, or `no`."""
    parts = ["local"] if route.get("paused") else []
    on_chain = route.get("paused_on_chain") or []
    if on_chain:
        parts.append(f"on-chain ({','.join(on_chain)})")
    return " + ".join(parts) or "no"


def _cursed_note(route_curses: dict[str, dict[str, dict[str, Any]]] | None) -> str:
    """The status head's note of the routes the sentinels cursed, per endpoint, with the curse
    number (what `relayer actions propose uncurse` lifts); "" when none is (or an older daemon)."""
    cursed = [
        f"{chain} with {remote} (curse #{c['curse_count']})"
        for chain, routes in sorted((route_curses or {}).items())
        for remote, c in sorted(routes.items())
        if c.get("cursed")
    ]
    return f"; route CURSED on {', '.join(cursed)}" if cursed else ""


def _curse_cell(route: dict[str, Any]) -> str:
    """The status table's CURSED cell: the endpoints whose curse stops the route, or `no`."""
    on = route.get("cursed_on") or []
    return f"on-chain ({','.join(on)})" if on else "no"


async def _transfers(cfg: NodeConfig, state: str | None, limit: int) -> list[dict[str, Any]]:
    from relayer.adapters.store import Store

    async with Store.open_readonly(cfg.store_path) as store:
        rows = await store.transfers(TransferState(state) if state else None, limit)
    return [
        {
            "route": str(r.transfer.route),
            "nonce": r.transfer.nonce,
            "state": str(r.state),
            "amount": str(r.transfer.amount),
            "recipient": r.transfer.recipient,
            "source_tx": r.tx_hash,
            "detail": r.detail,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.updated_at)),
            "read_from": STORE_FILE,
        }
        for r in rows
    ]


def cmd_transfers_list(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    try:
        rows = admin.request(admin_socket(cfg), "transfers_list", {"state": args.state, "limit": args.limit})
        for row in rows:
            row["read_from"] = DAEMON
    except admin.DaemonUnreachable:
        if not cfg.store_path.exists():
            raise
        print(reading_store_note(cfg), file=sys.stderr)
        rows = asyncio.run(_transfers(cfg, args.state, args.limit))
    shown = [{**r, "state": _state_cell(r)} for r in rows]
    _print(
        rows, args.json, lambda: _table(shown, ["route", "nonce", "state", "amount", "recipient", "updated"])
    )
    return 0


HELD_UNTIL = re.compile(r"\(heldUntil (\d+)\)")


def _state_cell(row: dict[str, Any]) -> str:
    """`transfers list`'s STATE cell: the state, and until when a held transfer waits (its detail
    names the endpoint's `heldUntil`: relayer.adapters.store.releases)."""
    state = str(row["state"])
    found = HELD_UNTIL.search(str(row.get("detail", ""))) if state == "held" else None
    if found is None:
        return state
    return f"held until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(found.group(1))))}"


async def _show(cfg: NodeConfig, src: int, dst: int, nonce: int) -> dict[str, Any] | None:
    from relayer.adapters.store import Store

    route = Route(ChainId(src), ChainId(dst))
    async with Store.open_readonly(cfg.store_path) as store:
        history = await store.history(route, nonce)
        if not history:
            return None
        first = await store.batch_first(route, nonce)
        batch = None if first is None else await _batch_from_store(cfg, store, route, first)
    return {
        "route": str(route),
        "nonce": nonce,
        "batch_first_nonce": first,
        "read_from": STORE_FILE,
        "history": [
            {"state": s, "detail": d, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a))}
            for s, d, a in history
        ],
        "batch": batch,
    }


async def _batch_from_store(cfg: NodeConfig, store: Store, route: Route, first: int) -> dict[str, Any] | None:
    """The batch view without the daemon: valid partials from the store; refused ones and
    heartbeats are known only to a running daemon."""
    from committee.keyfile import KeyFileError, load_public_file
    from relayer.core.batch_view import batch_report

    try:
        public = load_public_file(cfg.committee.public_file)
    except KeyFileError as exc:
        raise CliError(
            f"committee.public_file: {exc}", "the batch view needs the committee's public file; fix the path"
        ) from None
    return await batch_report(
        store,
        route,
        first,
        members=public.members,
        threshold=public.threshold,
        rejected={},
        heartbeat=lambda _m: "unknown (daemon down)",
    )


def cmd_transfers_show(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    shown: dict[str, Any] | None
    try:
        shown = admin.request(
            admin_socket(cfg), "transfers_show", {"src": args.src, "dst": args.dst, "nonce": args.nonce}
        )
        shown["read_from"] = DAEMON
    except admin.DaemonUnreachable:
        if not cfg.store_path.exists():
            raise
        print(reading_store_note(cfg), file=sys.stderr)
        shown = asyncio.run(_show(cfg, args.src, args.dst, args.nonce))
    if shown is None:
        raise CliError(
            f"no transfer {args.src}->{args.dst}#{args.nonce} in {cfg.store_path}",
            "check the chain ids and the nonce (`relayer transfers list`); a transfer not final yet is "
            "not stored: wait for finality, or `relayer reobserve <tx>`",
        )

    def human() -> str:
        head = [f"transfer {shown['route']}#{shown['nonce']}"]
        head += [f"  {k}: {shown[k]}" for k in ("state", "amount", "recipient", "source_tx") if k in shown]
        text = "\n".join(head + [f"{h['at']}  {h['state']:<11} {h['detail']}" for h in shown["history"]])
        if shown.get("batch"):
            text += "\n\n" + _batch_text(shown["batch"])
        return text

    _print(shown, args.json, human)
    return 0


async def _batch_offline(cfg: NodeConfig, src: int, dst: int, first: int) -> dict[str, Any] | None:
    from relayer.adapters.store import Store

    async with Store.open_readonly(cfg.store_path) as store:
        return await _batch_from_store(cfg, store, Route(ChainId(src), ChainId(dst)), first)


def _batch_text(batch: dict[str, Any]) -> str:
    """A batch and, per member, its partial as this node judged it."""
    state = batch["state"]
    if state == "pending":
        state += (
            f": {batch['valid']} valid partial(s) of t = {batch['threshold']}, {batch['missing']} missing"
        )
    elif batch.get("combined"):
        state += f"; signature combined from members {batch['combined']}"
    head = f"batch {batch['route']} nonces {batch['first_nonce']}..{batch['last_nonce']} ({state})"
    return head + "\n" + _table(batch["partials"], ["member", "partial", "at", "heartbeat", "why"])


def cmd_batches_show(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    out: dict[str, Any] | None
    try:
        out = admin.request(
            admin_socket(cfg),
            "batch_show",
            {"src": args.src, "dst": args.dst, "first_nonce": args.first_nonce},
        )
        out["read_from"] = DAEMON
    except admin.DaemonUnreachable:
        if not cfg.store_path.exists():
            raise
        print(reading_store_note(cfg) + " (refused partials are known only to the daemon)", file=sys.stderr)
        out = asyncio.run(_batch_offline(cfg, args.src, args.dst, args.first_nonce))
        if out is None:
            raise CliError(
                f"no batch {args.src}->{args.dst} starting at nonce {args.first_nonce} in {cfg.store_path}",
                "`relayer transfers show` names a transfer's batch (batch_first_nonce)",
            ) from None
        out["read_from"] = STORE_FILE
    _print(out, args.json, lambda: _batch_text(out))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    out = _ask(args, "retry", src=args.src, dst=args.dst, nonce=args.nonce)
    _print(out, args.json, lambda: f"retry {out['route']}#{out['nonce']}: " + "; ".join(out["actions"]))
    return 0


def cmd_reobserve(args: argparse.Namespace) -> int:
    out = _ask(args, "reobserve", tx=args.tx)
    _print(
        out,
        args.json,
        lambda: (
            f"{out['tx']} on {out['chain']}: {len(out['transfers'])} transfer(s), {out['new']} new\n"
            + _table(out["transfers"], ["route", "nonce"])
        ),
    )
    return 0


def _route_args(args: argparse.Namespace) -> dict[str, Any]:
    if (args.src is None) != (args.dst is None):
        raise CliError(
            "give both --src and --dst (chain ids), or neither for every route",
            "e.g. --src 7001 --dst 7002 for one route; `relayer status` lists the routes",
            2,
        )
    return {"src": args.src, "dst": args.dst}


def cmd_pause(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    if args.on_chain:
        if not args.guardian_key_file:
            raise CliError(
                "--on-chain needs --guardian-key-file",
                "give the file holding the guardian's private key (mode 0600)",
                2,
            )
        extra = {"on_chain": True, "guardian_key_file": str(Path(args.guardian_key_file).resolve())}
    out = _ask(args, "pause", **_route_args(args), **extra)

    def human() -> str:
        text = f"paused (local to this node, kept across restarts): {', '.join(out['paused']) or 'none'}"
        for c in out["on_chain"]:
            text += f"\non-chain {c['chain']}: {c['result']}" + (f" (tx {c['tx']})" if c["tx"] else "")
        if out["on_chain"]:
            text += "\nan endpoint paused on-chain stops every route through it (see `relayer status`)"
        return text

    _print(out, args.json, human)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    if args.on_chain:
        raise admin.AdminError(
            "an on-chain resume needs the committee's threshold signature on a RESUME message "
            "(QiaoEndpoint.resume), so `resume` resumes locally only; propose the RESUME to the "
            "committee with `relayer actions propose resume --chain NAME` (t operators approve it, "
            "see deploy/runbooks/resume-after-guardian-pause.md)"
        )
    out = _ask(args, "resume", **_route_args(args))

    def human() -> str:
        lines = [f"resumed (local to this node): {', '.join(out['resumed']) or 'nothing'}"]
        if out["not_paused"]:
            lines.append(f"not paused here: {', '.join(out['not_paused'])}")
        lines.append(f"still paused here: {', '.join(out['paused']) or 'none'}")
        if out["still_paused_on_chain"]:
            lines.append(
                f"still paused ON-CHAIN: the endpoint on {', '.join(out['still_paused_on_chain'])} "
                "(every route through it is stopped; resuming it needs the committee's RESUME: "
                "`relayer actions propose resume --chain NAME`, see "
                "deploy/runbooks/resume-after-guardian-pause.md)"
            )
        return "\n".join(lines)

    _print(out, args.json, human)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    out = _ask(args, "reconcile")

    def human() -> str:
        shared = any("wrapped_total" in p for p in out["supply"])  # one vault, several wrapped chains
        cols = ["pair", "locked", "wrapped", *(["wrapped_total"] if shared else []), "in_flight", "ok"]
        supply = _table(out["supply"], cols) if out["supply"] else "no token pair seen yet"
        routes = _table(
            out["routes"],
            ["route", "stored", "stored_last_nonce", "chain_last_nonce", "not_yet_stored", "missing_nonces"],
        )
        verdict = "OK" if out["ok"] else "PROBLEM: see the rows marked no / missing nonces"
        return f"reconcile: {verdict}\n\nsupply check\n{supply}\n\nnonces\n{routes}"

    _print(out, args.json, human)
    return 0 if out["ok"] else 1


def cmd_actions(args: argparse.Namespace) -> int:
    """`relayer actions propose|approve|reject|list|show`: the admin verbs `actions.*`
    (relayer.ops.actions), printed by relayer.ops.action_view."""
    from relayer.ops import action_view

    verb = args.actions_command
    cfg = _load(args.config)
    if verb == "propose":
        if args.chain is None and args.kind != "rotate":
            raise CliError(
                f"--chain is needed to propose {'an' if args.kind == 'uncurse' else 'a'} {args.kind}",
                f"give one of {', '.join(sorted(cfg.chains))} (the names under [chains]); only a "
                "rotate goes to every endpoint without it",
                2,
            )
        if args.chain is not None and args.chain not in cfg.chains:
            raise CliError(
                f"--chain {args.chain}: no chain of that name in {cfg.source}",
                f"give one of {', '.join(sorted(cfg.chains))} (the names under [chains])",
                2,
            )
        if args.kind == "uncurse" and args.remote is None:
            raise CliError(
                "--remote is needed to propose an uncurse",
                "give the cursed route's other end: a chain name under [chains] or a chain id "
                "(`relayer status` shows the cursed routes per endpoint)",
                2,
            )
        if args.kind != "uncurse" and args.remote is not None:
            raise CliError(
                f"--remote is for an uncurse, not a {args.kind}",
                f"leave it out, or propose `uncurse --chain {args.chain or 'NAME'} --remote {args.remote}`",
                2,
            )
        remote = args.remote
        if remote is not None and remote not in cfg.chains and (not remote.isdigit() or int(remote) == 0):
            raise CliError(
                f"--remote {remote}: neither a chain name in {cfg.source} nor a chain id",
                f"give one of {', '.join(sorted(cfg.chains))} or the remote chain's id (digits)",
                2,
            )
        req = {"kind": args.kind, "chain": args.chain, "ttl": args.ttl}
        if remote is not None:
            req["remote"] = remote
    else:
        req = {"limit": args.limit} if verb == "list" else {"id": args.id}
    out = admin.request(admin_socket(cfg), f"actions.{verb}", req)
    _print(out, args.json, lambda: action_view.text(verb, out))
    return 0


def _seconds(text: str) -> float:
    """--ttl: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds > 0 (e.g. 21600 for six hours)"
        )
    return value


def cmd_keys_show(args: argparse.Namespace) -> int:
    out = _ask(args, "keys_show")
    _print(out, args.json, lambda: _pairs(out))
    return 0


def cmd_devnet_transfer(args: argparse.Namespace) -> int:
    """`relayer devnet lock|burn`: a transfer on a running devnet, from its deployment file."""
    from relayer.provisioning import transfer

    try:
        out = transfer.operator_transfer(
            Path(args.deployment), args.direction, args.amount, args.to, args.wait, chain=args.chain
        )
    except (OSError, ValueError, KeyError, TimeoutError, RuntimeError) as exc:
        print(f"error: devnet {args.direction}: {exc}", file=sys.stderr)
        return 1

    def human() -> str:
        what = "locked" if out["direction"] == "lock" else "burned"
        done = {True: "executed on the destination", None: "not waited for"}[out["executed"]]
        return (
            f"{what} {out['amount']} {out['token']} for {out['recipient']}: "
            f"transfer {out['route']}#{out['nonce']} (tx {out['tx']}), {done}"
        )

    _print(out, args.json, human)
    return 0


def _print(obj: Any, as_json: bool, human: Any, stream: Any = None) -> None:
    print(json.dumps(obj, indent=2) if as_json else human(), file=stream or sys.stdout)


def package_version() -> str:
    """This build's version, from the installed package's metadata."""
    try:
        return version("qiao")
    except PackageNotFoundError:
        return "unknown (not installed; run scripts/bootstrap.sh)"


class CliError(Exception):
    """A failure the CLI reports itself: what went wrong, what to do, the exit status."""

    def __init__(self, error: str, hint: str, code: int = 1) -> None:
        super().__init__(error)
        self.error = error
        self.hint = hint
        self.code = code


class _UsageError(CliError):
    """A command line argparse refused (exit status 2, as argparse's own)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of printing, so --json can report it as JSON."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(
            f"{self.prog}: {message}", f"see `{self.prog} --help` for the arguments it takes", code=2
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """How an error is reported: its text, what to do about it, the exit status."""

    error: str
    hint: str
    code: int


KNOWN_ERRORS: tuple[type[Exception], ...] = (CliError, ConfigError, admin.AdminError)


def _store_error(exc: BaseException) -> bool:
    """Whether `exc` is the store's StoreError. The verbs that talk to the daemon never import the
    store (its modules and theirs are half the CLI's start-up); one that did not cannot raise it."""
    module = sys.modules.get("relayer.adapters.store.connection")
    return module is not None and isinstance(exc, module.StoreError)


def _known(exc: BaseException) -> bool:
    return isinstance(exc, KNOWN_ERRORS) or _store_error(exc)


DAEMON_HINT = (
    "start the daemon (`relayer run --config FILE`, or `systemctl start qiao-relayer@<member>`) and "
    "run the CLI as the daemon's user; `transfers list` and `transfers show` read the store file "
    "when the daemon is down"
)


def failure(exc: BaseException) -> Failure:
    """The report for an exception that ends a CLI command."""
    if isinstance(exc, CliError):
        return Failure(exc.error, exc.hint, exc.code)
    if isinstance(exc, ConfigError):
        return Failure(
            str(exc),
            f"fix each key listed; `relayer config check --config {exc.source}` lists every error "
            "with its fix",
            2,
        )
    if _store_error(exc):
        return Failure(str(exc), "see docs/OPERATIONS.md, 'A corrupted store' (runbook store-corrupt.md)", 2)
    if isinstance(exc, admin.AdminError):
        text = str(exc)
        if text.startswith("cannot reach the daemon"):
            return Failure(text, DAEMON_HINT, 1)
        what, sep, todo = text.rpartition("; ")
        if sep and what:
            return Failure(text, todo, 1)
        return Failure(text, "the daemon refused the request; `relayer <verb> --help` describes it", 1)
    return Failure(
        f"internal error: {exc!r}", "a bug: report it with the command line and the daemon's log", 1
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="relayer",
        description="Qiao bridge relayer node. Every verb but `run` and `config check` talks to the "
        "running daemon over its admin socket (<data_dir>/admin.sock, mode 0600).",
    )
    p.add_argument("--version", action="version", version=f"relayer {package_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def verb(
        parent: Any, name: str, func: Any, help_text: str, *, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        v: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
        v.add_argument("--config", required=True, help="the node's TOML file")
        if json_flag:
            v.add_argument("--json", action="store_true", help="machine-readable output")
        v.set_defaults(func=func)
        return v

    verb(sub, "run", cmd_run, "run the node daemon", json_flag=False)
    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    cc = verb(
        config_sub,
        "check",
        cmd_config_check,
        "validate a configuration and the files it names as `run` does, listing every error with its fix",
    )
    cc.add_argument(
        "--online",
        action="store_true",
        help="also ask the chains: chain ids, a Qiao endpoint at each endpoint address, key epoch and "
        "group key equal to the committee file's",
    )

    verb(
        sub,
        "status",
        cmd_status,
        "per route: heads, lag, pending, oldest pending; members online vs t; signed items by phase",
    )

    transfers = sub.add_parser("transfers", help="inspect transfers")
    tsub = transfers.add_subparsers(dest="transfers_command", required=True, parser_class=_Parser)
    tl = verb(tsub, "list", cmd_transfers_list, "list recent transfers")
    tl.add_argument("--state", choices=[s.value for s in TransferState])
    tl.add_argument("--limit", type=int, default=50)
    ts = verb(tsub, "show", cmd_transfers_show, "show one transfer and its history")
    for v in (ts,):
        v.add_argument("src", type=int, help="source chain id")
        v.add_argument("dst", type=int, help="destination chain id")
        v.add_argument("nonce", type=int)

    batches = sub.add_parser("batches", help="inspect batches")
    bsub = batches.add_subparsers(dest="batches_command", required=True, parser_class=_Parser)
    bs = verb(
        bsub,
        "show",
        cmd_batches_show,
        "one batch: per member, a valid partial received (when), an invalid one (why) or none",
    )
    bs.add_argument("src", type=int, help="source chain id")
    bs.add_argument("dst", type=int, help="destination chain id")
    bs.add_argument(
        "first_nonce", type=int, help="the batch's first nonce (transfers show: batch_first_nonce)"
    )

    rt = verb(sub, "retry", cmd_retry, "put a failed transfer's batch back in the pipeline; clear a halt")
    rt.add_argument("src", type=int, help="source chain id")
    rt.add_argument("dst", type=int, help="destination chain id")
    rt.add_argument("nonce", type=int)
    ro = verb(sub, "reobserve", cmd_reobserve, "read a source transaction again and store its transfers")
    ro.add_argument("tx", help="source transaction hash (0x...)")
    pa = verb(
        sub,
        "pause",
        cmd_pause,
        "stop batching, signing and submitting on this node (kept across restarts); "
        "--on-chain: also pause the endpoints",
    )
    re_ = verb(sub, "resume", cmd_resume, "undo this node's local pause and say what was resumed")
    for pr in (pa, re_):
        pr.add_argument("--src", type=int, help="source chain id (default: every route)")
        pr.add_argument("--dst", type=int, help="destination chain id")
    pa.add_argument(
        "--on-chain",
        action="store_true",
        help="also pause the endpoint contracts of the routes' chains from the guardian's account "
        "(the key is checked against every endpoint's guardian() before anything is paused); an "
        "endpoint's pause stops every route through it",
    )
    pa.add_argument("--guardian-key-file", help="file with the guardian's private key (mode 0600)")
    re_.add_argument(
        "--on-chain",
        action="store_true",
        help="not done here: an on-chain resume needs the committee's threshold signature on a "
        "RESUME message (QiaoEndpoint.resume), then a delay the guardian can cancel; propose it with "
        "`relayer actions propose resume`; with this flag the command only says so and changes nothing",
    )
    verb(sub, "reconcile", cmd_reconcile, "supply check per token pair and nonce gaps per route")
    acts = sub.add_parser(
        "actions",
        help="committee actions: propose, approve or reject a resume, pause, key rotation or uncurse; list "
        "and show every action",
    )
    asub = acts.add_subparsers(dest="actions_command", required=True, parser_class=_Parser)
    ap = verb(
        asub,
        "propose",
        cmd_actions,
        "propose a committee-signed RESUME, PAUSE, ROTATE or UNCURSE of a chain's endpoint to every "
        "member; each member signs it only after its own operator approves it, so t operators must agree",
    )
    ap.add_argument(
        "kind",
        choices=["resume", "pause", "rotate", "uncurse"],
        help="resume (after the delay), pause (at once), rotate (to this member's [committee.next] key, "
        "after the delay; deploy/runbooks/key-rotation.md) or uncurse (lift the sentinels' curse of the "
        "route with --remote, after the delay; deploy/runbooks/route-cursed.md)",
    )
    ap.add_argument(
        "--chain",
        help="the chain's name under [chains] in the TOML, e.g. ethereum (needed for resume, pause and "
        "uncurse; a rotate without it is proposed for every configured endpoint, one action each)",
    )
    ap.add_argument(
        "--remote",
        help="uncurse only: the cursed route's other end, a chain name under [chains] or a chain id "
        "(the curse it lifts is read from the endpoint: curseCount(remote))",
    )
    ap.add_argument(
        "--ttl",
        type=_seconds,
        help="seconds until the proposal expires unless executed (default: the node's)",
    )
    for name, text in (
        (
            "approve",
            "this member's operator approves an action: the member signs it once its own checks hold",
        ),
        ("reject", "this member's operator refuses an action: the member never signs it"),
        ("show", "one action: what it does, its state, who signed, its on-chain state and history"),
    ):
        v = verb(asub, name, cmd_actions, text)
        v.add_argument("id", help="the action's id (the ID column of `relayer actions list`)")
    al = verb(
        asub,
        "list",
        cmd_actions,
        "every action this node holds: proposals, the registry's freezes and allow-list changes, "
        "who signed, approved here, expiry and on-chain state",
    )
    al.add_argument("--limit", type=int, default=100, help="at most this many (default 100, at most 1000)")
    keys = sub.add_parser("keys", help="committee keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    verb(ksub, "show", cmd_keys_show, "this member's public key material (never the secret)")

    dev = sub.add_parser("devnet", help="drive the local devnet (scripts/demo.sh --keep-running)")
    dsub = dev.add_subparsers(dest="devnet_command", required=True, parser_class=_Parser)
    for name, text in (
        ("lock", "lock alice's TBILL on the consortium chain, minted as wTBILL on Ethereum (default to bob)"),
        (
            "burn",
            "burn bob's wTBILL on Ethereum, unlocked as TBILL on the consortium chain (default to alice)",
        ),
    ):
        d = dsub.add_parser(name, help=text, description=text)
        d.add_argument("--deployment", required=True, help="the demo's deployment.json (printed at start)")
        d.add_argument("--amount", required=True, help="in whole tokens, e.g. 5 or 0.25")
        d.add_argument("--to", help="recipient address on the destination chain")
        d.add_argument(
            "--chain",
            default="ethereum",
            help="the wrapped chain: ethereum (default), or a further one of the deployment "
            "(l2 with scripts/demo.sh --chains 3)",
        )
        d.add_argument(
            "--wait",
            type=float,
            default=120.0,
            help="seconds to wait for the execution on the destination (0: do not wait; default 120)",
        )
        d.add_argument("--json", action="store_true", help="machine-readable output")
        d.set_defaults(func=cmd_devnet_transfer, direction=name)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors go to stderr as `error: ...`, or under --json to stdout as one JSON
    object `{"error": ..., "hint": ...}`; the exit status is non-zero either way. A reader that
    closes the pipe early (`relayer status | head -1`) ends the command quietly (status 141)."""
    words = sys.argv[1:] if argv is None else argv
    as_json = "--json" in words
    try:
        try:
            code = _run(words)
        except SystemExit:  # --help, --version: argparse printed and exits
            sys.stdout.flush()
            raise
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if isinstance(exc, BrokenPipeError) or not (as_json or _known(exc)):
                raise  # a bug: its traceback is what a developer needs
            report = failure(exc)
            if as_json:
                _print({"error": report.error, "hint": report.hint}, True, str)
            else:
                print(f"error: {report.error}", file=sys.stderr)
                if isinstance(exc, CliError):
                    print(f"hint: {report.hint}", file=sys.stderr)
            code = report.code
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # nothing more can reach the reader; point stdout at /dev/null so the interpreter's final
        # flush does not fail again, and exit as a shell reports a process ended by SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
