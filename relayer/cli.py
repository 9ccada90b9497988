"""The `relayer` command: the daemon (`run`) and the operator verbs that talk to it over its admin socket."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from relayer import admin_client as admin
from relayer.config import ConfigError, NodeConfig, load_config
from relayer.store import Store, StoreError, TransferState
from relayer.types import ChainId, Route


def _load(path: str) -> NodeConfig:
    return load_config(Path(path))


def cmd_run(args: argparse.Namespace) -> int:
    from committee.keyfile import KeyFileError
    from relayer import daemon, logs
    from relayer.chain import RpcUnavailable

    cfg = _load(args.config)
    logs.configure(cfg.log_level)
    try:
        asyncio.run(daemon.run(cfg))
    except KeyFileError as exc:
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
    """The checks `run` makes before it starts (relayer.preflight), without starting anything;
    with --online also what needs the chains."""
    from relayer import preflight

    try:
        cfg = _load(args.config)
        material = preflight.load_material(cfg)
        if args.online:
            problems = asyncio.run(preflight.check_online(cfg, material.public))
            if problems:
                raise ConfigError(cfg.source, problems)
    except ConfigError as exc:
        if not args.json:
            print(exc, file=sys.stderr)
        else:
            _print({"config": exc.source, "ok": False, "errors": exc.errors}, True, str)
        return 2
    out = {
        "config": cfg.source,
        "ok": True,
        "online": bool(args.online),
        "errors": [],
        "member_index": cfg.member_index,
        "signer": material.share is not None,
        "data_dir": str(cfg.data_dir),
        "admin_socket": str(admin_socket(cfg)),
        "chains": {n: {"chain_id": c.chain_id, "rpc": c.rpc} for n, c in cfg.chains.items()},
        "routes": [str(r) for r in cfg.routes],
    }
    checked = "files and chains" if args.online else "files; --online also checks the chains"
    _print(
        out,
        args.json,
        lambda: (
            f"{cfg.source}: OK ({len(cfg.chains)} chains, {len(cfg.routes)} routes, "
            f"member {cfg.member_index}; checked {checked})"
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


def cmd_status(args: argparse.Namespace) -> int:
    st = _ask(args, "status")

    def human() -> str:
        rpc = ", ".join(f"{k} {'ok' if v else 'DOWN'}" for k, v in st["rpc_ok"].items())
        broker = "connected" if st["broker_connected"] else "DISCONNECTED"
        paused = [k for k, v in st.get("endpoint_paused", {}).items() if v]
        rpc += f"; endpoint PAUSED on {', '.join(paused)}" if paused else ""
        head = (
            f"member {st['member']}: members online {st['online']}/{st['members']} "
            f"(t = {st['threshold']}, margin {st['margin']}: {st['members_online']}), "
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
            "paused",
            "halted",
        ]
        return head + "\n" + _table(st["routes"], cols)

    _print(st, args.json, human)
    return 0


async def _transfers(cfg: NodeConfig, state: str | None, limit: int) -> list[dict[str, Any]]:
    async with Store.open(cfg.store_path) as store:
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
        }
        for r in rows
    ]


def cmd_transfers_list(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    try:
        rows = admin.request(admin_socket(cfg), "transfers_list", {"state": args.state, "limit": args.limit})
    except admin.AdminError:
        if not cfg.store_path.exists():
            raise
        rows = asyncio.run(_transfers(cfg, args.state, args.limit))  # the daemon is down: read the file
    _print(
        rows, args.json, lambda: _table(rows, ["route", "nonce", "state", "amount", "recipient", "updated"])
    )
    return 0


async def _show(cfg: NodeConfig, src: int, dst: int, nonce: int) -> dict[str, Any] | None:
    route = Route(ChainId(src), ChainId(dst))
    async with Store.open(cfg.store_path) as store:
        history = await store.history(route, nonce)
    if not history:
        return None
    return {
        "route": str(route),
        "nonce": nonce,
        "history": [
            {"state": s, "detail": d, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a))}
            for s, d, a in history
        ],
    }


def cmd_transfers_show(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    shown: dict[str, Any] | None
    try:
        shown = admin.request(
            admin_socket(cfg), "transfers_show", {"src": args.src, "dst": args.dst, "nonce": args.nonce}
        )
    except admin.AdminError as exc:
        if "cannot reach the daemon" not in str(exc):
            raise
        shown = asyncio.run(_show(cfg, args.src, args.dst, args.nonce))
    if shown is None:
        print(f"no transfer {args.src}->{args.dst}#{args.nonce} in {cfg.store_path}", file=sys.stderr)
        return 1

    def human() -> str:
        head = [f"transfer {shown['route']}#{shown['nonce']}"]
        head += [f"  {k}: {shown[k]}" for k in ("state", "amount", "recipient", "source_tx") if k in shown]
        return "\n".join(head + [f"{h['at']}  {h['state']:<11} {h['detail']}" for h in shown["history"]])

    _print(shown, args.json, human)
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
        raise admin.AdminError("give both --src and --dst (chain ids), or neither for every route")
    return {"src": args.src, "dst": args.dst}


def cmd_pause(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    if args.on_chain:
        if not args.guardian_key_file:
            raise admin.AdminError("--on-chain needs --guardian-key-file (the guardian key, mode 0600)")
        extra = {"on_chain": True, "guardian_key_file": str(Path(args.guardian_key_file).resolve())}
    out = _ask(args, "pause", **_route_args(args), **extra)

    def human() -> str:
        text = f"paused (local to this node): {', '.join(out['paused']) or 'none'}"
        for c in out["on_chain"]:
            text += f"\non-chain {c['chain']}: {c['result']}" + (f" (tx {c['tx']})" if c["tx"] else "")
        return text

    _print(out, args.json, human)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    if args.on_chain:
        raise admin.AdminError(
            "an on-chain resume needs the committee's threshold signature on a RESUME message "
            "(QiaoEndpoint.resume); this CLI resumes locally only"
        )
    out = _ask(args, "resume", **_route_args(args))
    _print(out, args.json, lambda: f"paused (local to this node): {', '.join(out['paused']) or 'none'}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    out = _ask(args, "reconcile")

    def human() -> str:
        supply = (
            _table(out["supply"], ["pair", "locked", "wrapped", "in_flight", "ok"])
            if out["supply"]
            else "no token pair seen yet"
        )
        routes = _table(
            out["routes"],
            ["route", "stored", "stored_last_nonce", "chain_last_nonce", "not_yet_stored", "missing_nonces"],
        )
        verdict = "OK" if out["ok"] else "PROBLEM: see the rows marked no / missing nonces"
        return f"reconcile: {verdict}\n\nsupply check\n{supply}\n\nnonces\n{routes}"

    _print(out, args.json, human)
    return 0 if out["ok"] else 1


def cmd_keys_show(args: argparse.Namespace) -> int:
    out = _ask(args, "keys_show")
    _print(out, args.json, lambda: _pairs(out))
    return 0


def cmd_devnet_transfer(args: argparse.Namespace) -> int:
    """`relayer devnet lock|burn`: a transfer on a running devnet, from its deployment file."""
    from relayer import devnet

    try:
        out = devnet.operator_transfer(Path(args.deployment), args.direction, args.amount, args.to, args.wait)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="relayer",
        description="Qiao bridge relayer node. Every verb but `run` and `config check` talks to the "
        "running daemon over its admin socket (<data_dir>/admin.sock, mode 0600).",
    )
    sub = p.add_subparsers(dest="command", required=True)

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
    config_sub = config.add_subparsers(dest="config_command", required=True)
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

    verb(sub, "status", cmd_status, "per route: heads, lag, pending, oldest pending; members online vs t")

    transfers = sub.add_parser("transfers", help="inspect transfers")
    tsub = transfers.add_subparsers(dest="transfers_command", required=True)
    tl = verb(tsub, "list", cmd_transfers_list, "list recent transfers")
    tl.add_argument("--state", choices=[s.value for s in TransferState])
    tl.add_argument("--limit", type=int, default=50)
    ts = verb(tsub, "show", cmd_transfers_show, "show one transfer and its history")
    for v in (ts,):
        v.add_argument("src", type=int, help="source chain id")
        v.add_argument("dst", type=int, help="destination chain id")
        v.add_argument("nonce", type=int)

    rt = verb(sub, "retry", cmd_retry, "put a failed transfer's batch back in the pipeline; clear a halt")
    rt.add_argument("src", type=int, help="source chain id")
    rt.add_argument("dst", type=int, help="destination chain id")
    rt.add_argument("nonce", type=int)
    ro = verb(sub, "reobserve", cmd_reobserve, "read a source transaction again and store its transfers")
    ro.add_argument("tx", help="source transaction hash (0x...)")
    for name, func, text in (
        ("pause", cmd_pause, "stop batching, signing and submitting here; --on-chain: pause the endpoints"),
        ("resume", cmd_resume, "undo pause"),
    ):
        pr = verb(sub, name, func, text)
        pr.add_argument("--src", type=int, help="source chain id (default: every route)")
        pr.add_argument("--dst", type=int, help="destination chain id")
        pr.add_argument(
            "--on-chain",
            action="store_true",
            help="also pause the endpoint contracts from the guardian's account (pause only)",
        )
        pr.add_argument("--guardian-key-file", help="file with the guardian's private key (mode 0600)")
    verb(sub, "reconcile", cmd_reconcile, "supply check per token pair and nonce gaps per route")
    keys = sub.add_parser("keys", help="committee keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    verb(ksub, "show", cmd_keys_show, "this member's public key material (never the secret)")

    dev = sub.add_parser("devnet", help="drive the local devnet (scripts/demo.sh --keep-running)")
    dsub = dev.add_subparsers(dest="devnet_command", required=True)
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
            "--wait",
            type=float,
            default=120.0,
            help="seconds to wait for the execution on the destination (0: do not wait; default 120)",
        )
        d.add_argument("--json", action="store_true", help="machine-readable output")
        d.set_defaults(func=cmd_devnet_transfer, direction=name)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except admin.AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
