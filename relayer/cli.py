"""The `relayer` command: run the daemon, check a configuration, inspect transfers."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from committee.keyfile import KeyFileError
from relayer import logs
from relayer.config import ConfigError, NodeConfig, load_config
from relayer.store import Store, StoreError, TransferState
from relayer.types import ChainId, Route


def _load(path: str) -> NodeConfig:
    return load_config(Path(path))


def cmd_run(args: argparse.Namespace) -> int:
    from relayer import daemon

    cfg = _load(args.config)
    logs.configure(cfg.log_level)
    asyncio.run(daemon.run(cfg))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    out = {
        "config": cfg.source,
        "member_index": cfg.member_index,
        "chains": {n: {"chain_id": c.chain_id, "rpc": c.rpc} for n, c in cfg.chains.items()},
        "routes": [str(r) for r in cfg.routes],
        "ok": True,
    }
    _print(
        out,
        args.json,
        lambda: (
            f"{cfg.source}: OK ({len(cfg.chains)} chains, "
            f"{len(cfg.routes)} routes, member {cfg.member_index})"
        ),
    )
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
    rows = asyncio.run(_transfers(cfg, args.state, args.limit))
    cols = ["route", "nonce", "state", "amount", "recipient", "updated"]

    def table() -> str:
        widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
        lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols)]
        lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols) for r in rows]
        return "\n".join(lines)

    _print(rows, args.json, table)
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
    shown = asyncio.run(_show(cfg, args.src, args.dst, args.nonce))
    if shown is None:
        print(f"no transfer {args.src}->{args.dst}#{args.nonce} in {cfg.store_path}", file=sys.stderr)
        return 1
    _print(
        shown,
        args.json,
        lambda: "\n".join(f"{h['at']}  {h['state']:<11} {h['detail']}" for h in shown["history"]),
    )
    return 0


def _print(obj: Any, as_json: bool, human: Any) -> None:
    print(json.dumps(obj, indent=2) if as_json else human())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relayer", description="Qiao bridge relayer node")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the node daemon")
    run.add_argument("--config", required=True, help="node TOML file")
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a configuration and list every error")
    check.add_argument("--config", required=True)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_config_check)

    transfers = sub.add_parser("transfers", help="inspect transfers in the node's store")
    tsub = transfers.add_subparsers(dest="transfers_command", required=True)
    tl = tsub.add_parser("list", help="list recent transfers")
    tl.add_argument("--config", required=True)
    tl.add_argument("--state", choices=[s.value for s in TransferState])
    tl.add_argument("--limit", type=int, default=50)
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(func=cmd_transfers_list)
    ts = tsub.add_parser("show", help="show one transfer's history")
    ts.add_argument("--config", required=True)
    ts.add_argument("src", type=int, help="source chain id")
    ts.add_argument("dst", type=int, help="destination chain id")
    ts.add_argument("nonce", type=int)
    ts.add_argument("--json", action="store_true")
    ts.set_defaults(func=cmd_transfers_show)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyFileError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
