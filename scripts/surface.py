"""The relayer's outward surface, printed so two trees can be compared (the layout issue's proof).

`python scripts/surface.py > before.txt`, change the tree, `python scripts/surface.py > after.txt`,
`diff before.txt after.txt`: an empty diff means the SQL schema, the `qiao_*` metric names, the
log event names, the crashpoints, the admin verbs and every `relayer ... --help` are unchanged.
It finds each thing where it lives in either tree (flat `relayer/*.py` or the layered packages),
so it works before and after a move.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib
import io
import os
import pkgutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("relayer", "harness")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}


def python_files() -> Iterator[Path]:
    for top in SOURCES:
        if (ROOT / top).is_dir():
            yield from sorted((ROOT / top).rglob("*.py"))


def trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in python_files():
        yield path, ast.parse(path.read_text(), filename=str(path))


def log_events() -> list[str]:
    """The first string argument of every `log.<level>("event", ...)` call."""
    events: set[str] = set()
    for _, tree in trees():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"log", "logger", "_log"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                events.add(node.args[0].value)
    return sorted(events)


def crashpoints() -> list[str]:
    """Every `crashpoint("name")` call site's name."""
    points: set[str] = set()
    for _, tree in trees():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "crashpoint"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                points.add(str(node.args[0].value))
    return sorted(points)


def admin_verbs() -> list[str]:
    """The keys of the admin server's `handlers` table."""
    verbs: set[str] = set()
    for _, tree in trees():
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = any(isinstance(t, ast.Name) and t.id == "handlers" for t in targets)
            if named and isinstance(node.value, ast.Dict):
                verbs.update(str(k.value) for k in node.value.keys if isinstance(k, ast.Constant))
    return sorted(verbs)


def metric_names() -> list[str]:
    """Every `qiao_*` collector registered once every module of the daemon is imported."""
    import prometheus_client

    import relayer

    for info in pkgutil.walk_packages(relayer.__path__, "relayer."):
        importlib.import_module(info.name)
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        if family.name.startswith("qiao_"):
            names.add(f"{family.name} {family.type}")
    return sorted(names)


def store_class() -> type:
    for name in ("relayer.adapters.store", "relayer.store"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "Store"):
            return module.Store  # type: ignore[no-any-return]
    raise SystemExit("no Store class found in relayer.adapters.store or relayer.store")


def schema() -> list[str]:
    store = store_class()

    async def create(path: Path) -> None:
        async with store.open(path):
            pass

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "surface.sqlite"
        asyncio.run(create(path))
        db = sqlite3.connect(path)
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.close()
    return [f"user_version {version}"] + [f"{t} {n}: {' '.join((s or '').split())}" for t, n, s in rows]


def helps() -> list[str]:
    """`relayer --help` and the help of every verb and sub-verb, as argparse prints them."""
    cli = importlib.import_module("relayer.cli")
    parser: argparse.ArgumentParser = cli.build_parser()
    out: list[str] = []

    def walk(p: argparse.ArgumentParser, words: list[str]) -> None:
        buf = io.StringIO()
        with redirect_stdout(buf):
            p.print_help()
        out.append(f"$ relayer {' '.join(words)} --help".replace("  ", " "))
        out.extend(buf.getvalue().splitlines())
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    walk(sub, [*words, word])

    walk(parser, [])
    return out


def main() -> int:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: one width for both trees
    sys.path.insert(0, str(ROOT))
    sections = {
        "sql schema": schema(),
        "metrics": metric_names(),
        "log events": log_events(),
        "crashpoints": crashpoints(),
        "admin verbs": admin_verbs(),
        "help": helps(),
    }
    for title, lines in sections.items():
        print(f"## {title} ({len(lines)})")
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
