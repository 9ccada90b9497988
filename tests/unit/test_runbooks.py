"""The runbooks lead somewhere: every runbook they name exists, node-down covers each way a node
runs, and a transfer stuck at `signed` while the margin is positive is not sent to the
margin-zero runbook alone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "deploy" / "runbooks"


def test_every_runbook_named_in_a_runbook_exists() -> None:
    for book in RUNBOOKS.glob("*.md"):
        for name in re.findall(r"`([a-z0-9-]+\.md)`", book.read_text()):
            assert (RUNBOOKS / name).exists(), f"{book.name} names {name}, which does not exist"


def test_node_down_covers_systemd_docker_and_a_plain_process() -> None:
    text = (RUNBOOKS / "node-down.md").read_text()
    for how in ("systemctl status", "journalctl -u", "docker logs", "docker ps", "relayer run --config"):
        assert how in text, f"node-down.md does not say `{how}`"
    assert "plain process" in text


def test_a_transfer_stuck_at_signed_with_a_positive_margin_has_a_path() -> None:
    text = (RUNBOOKS / "transfer-in-flight-too-long.md").read_text()
    signed = next(p for p in text.split("\n") if "`signed`" in p)
    step = text[text.index(signed) :].split("\n3. ")[0]
    assert "batches show" in step or "transfers show" in step, "the batch view is not named"
    for outcome in ("`valid`", "`invalid`", "`none`", "`paused`", "`offline`"):
        assert outcome in step, f"the `signed` step does not say what {outcome} means"
    leads = set(re.findall(r"`([a-z0-9-]+\.md)`", step))
    assert leads - {"committee-margin-zero.md"}, "margin 1: the only way out is committee-margin-zero.md"
    assert {"broker-disconnected.md", "invalid-partials.md", "node-down.md"} <= leads


def test_every_runbook_relayer_actions_names_exists() -> None:
    from relayer.ops.action_view import RUNBOOK

    for kind, path in RUNBOOK.items():
        assert (ROOT / path).exists(), f"`relayer actions` names {path} for a {kind}, which does not exist"
    assert RUNBOOK["rotate"] == "deploy/runbooks/key-rotation.md"
