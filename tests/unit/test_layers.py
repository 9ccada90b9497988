"""The import boundaries of the layers (README, "Layout"), checked on the source's syntax trees.

Imports go one way: cli -> daemon -> ops -> pipeline -> adapters -> core. `core` is pure (no I/O
library, no outer layer); `adapters` never reach up into the pipeline or operations; SQL lives in
`relayer/adapters/store` only; `committee` never imports `relayer`; nothing shipped imports the
development harness. (That the built wheel holds no harness is checked by tests/integration/
test_install.py, which builds and installs it.)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = frozenset(
    {
        "asyncio",
        "aiosqlite",
        "sqlite3",
        "aiomqtt",
        "paho",
        "web3",
        "structlog",
        "prometheus_client",
        "socket",
        "subprocess",
        "requests",
        "tenacity",
        "logging",
    }
)
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|REPLACE|WITH)\s", re.MULTILINE)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str


def sources(*tops: str) -> Iterator[Path]:
    for top in tops:
        yield from sorted((ROOT / top).rglob("*.py"))


def imports(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(path, node.lineno, node.module)
            for alias in node.names:  # `from relayer import chain` imports relayer.chain
                yield Import(path, node.lineno, f"{node.module}.{alias.name}")


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def where(i: Import) -> str:
    return f"{i.path.relative_to(ROOT)}:{i.line} imports {i.module}"


def offending(tops: tuple[str, ...], forbidden: tuple[str, ...], within: str | None = None) -> list[str]:
    found = []
    for path in sources(*tops):
        if within and not str(path.relative_to(ROOT)).startswith(within):
            continue
        found.extend(where(i) for i in imports(path) if under(i.module, *forbidden))
    return sorted(set(found))


def test_the_layers_exist() -> None:
    for package in ("core", "adapters", "adapters/store", "pipeline", "ops", "provisioning"):
        assert (ROOT / "relayer" / package / "__init__.py").is_file(), package
    assert (ROOT / "harness" / "__init__.py").is_file()


def test_committee_never_imports_relayer_or_the_harness() -> None:
    assert offending(("committee",), ("relayer", "harness")) == []


def test_core_imports_no_io_library_and_no_outer_layer() -> None:
    outer = ("relayer.adapters", "relayer.pipeline", "relayer.ops", "relayer.provisioning")
    top = ("relayer.cli", "relayer.daemon", "relayer.config", "relayer.metrics", "relayer.logs")
    bad = offending(("relayer/core",), (*IO_LIBRARIES, *outer, *top, "harness"))
    assert bad == []


def test_adapters_never_import_the_pipeline_or_operations() -> None:
    forbidden = ("relayer.pipeline", "relayer.ops", "relayer.cli", "relayer.daemon", "harness")
    assert offending(("relayer/adapters",), forbidden) == []


def test_the_pipeline_never_imports_operations_or_the_daemon() -> None:
    assert offending(("relayer/pipeline",), ("relayer.ops", "relayer.cli", "relayer.daemon", "harness")) == []


def test_operations_never_import_the_daemon_or_the_cli() -> None:
    assert offending(("relayer/ops",), ("relayer.cli", "relayer.daemon", "harness")) == []


def test_nothing_shipped_imports_the_harness() -> None:
    assert offending(("relayer", "committee", "sentinel"), ("harness",)) == []


def test_the_sentinel_is_independent_of_the_relayer_and_the_committee() -> None:
    """A second line of defence shares only the protocol's definitions (types, leaf encoding) with
    the relayer, never its pipeline, adapters or operations, nor the committee's code."""
    forbidden = ("relayer.pipeline", "relayer.adapters", "relayer.ops", "relayer.provisioning", "committee")
    assert offending(("sentinel",), (*forbidden, "harness")) == []


def test_the_sentinel_checks_are_pure() -> None:
    assert offending(("sentinel",), IO_LIBRARIES, within="sentinel/checks.py") == []
    assert (
        offending(
            ("sentinel",),
            ("sentinel.chain", "sentinel.store", "sentinel.runner"),
            within="sentinel/checks.py",
        )
        == []
    )


def test_sql_lives_in_the_store_adapter_only() -> None:
    store = ROOT / "relayer" / "adapters" / "store"
    found = []
    for path in sources("relayer", "harness"):
        if store in path.parents:
            continue
        found.extend(where(i) for i in imports(path) if under(i.module, "sqlite3", "aiosqlite"))
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} holds SQL: {node.value.strip()[:60]!r}")
    assert found == []


@pytest.mark.parametrize(
    ("source", "module", "offends"),
    [
        ("import asyncio\n", "asyncio", True),
        ("from relayer.adapters import chain\n", "relayer.adapters.chain", True),
        ("from relayer import adapters\n", "relayer.adapters", True),
        ("from relayer.core.types import Route\n", "relayer.core.types", False),
    ],
)
def test_the_checker_sees_each_import_form(tmp_path: Path, source: str, module: str, offends: bool) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    found = [i.module for i in imports(path)]
    assert module in found
    forbidden = ("asyncio", "relayer.adapters")
    assert any(under(m, *forbidden) for m in found) is offends


def test_the_sql_pattern_sees_a_query_and_not_prose() -> None:
    assert SQL.search("SELECT nonce FROM transfers WHERE route = ?")
    assert SQL.search("\n            INSERT INTO batches (hash) VALUES (?)")
    assert not SQL.search("select the oldest transfer first")
