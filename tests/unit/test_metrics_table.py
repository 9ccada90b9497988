"""docs/OPERATIONS.md's metrics table is the registry (relayer/metrics.py), both ways: every metric
the node exports has a row with its type and labels, and every row names an exported metric."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from relayer import metrics

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(qiao_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|")


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, labels) of every row of the "## Metrics" table."""
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m is None:
            continue
        name, kind, labels = m.group(1), m.group(2), m.group(3).strip()
        assert name not in rows, f"{name} has two rows"
        rows[name] = (kind, tuple(sorted(x.strip() for x in labels.split(",") if x.strip() not in ("-", ""))))
    return rows


def registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (type, labels) of every metric in relayer/metrics.py, as exported (counters with
    their `_total`)."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            kind = value._type
            name = value._name + ("_total" if kind == "counter" else "")
            out[name] = (kind, tuple(sorted(value._labelnames)))
    return out


def test_the_table_parses_into_many_rows() -> None:
    assert len(documented()) >= 60


def test_every_exported_metric_has_a_row_with_its_type_and_labels() -> None:
    rows = documented()
    missing = sorted(set(registered()) - set(rows))
    assert not missing, f"docs/OPERATIONS.md's metrics table does not list {missing}"
    wrong = {n: (rows[n], r) for n, r in registered().items() if rows[n] != r}
    assert not wrong, f"rows whose (type, labels) differ from the registry (doc, code): {wrong}"


def test_every_row_names_an_exported_metric() -> None:
    extra = sorted(set(documented()) - set(registered()))
    assert not extra, f"docs/OPERATIONS.md lists metrics the node does not export: {extra}"
