"""The configuration profiles under config/ and `relayer config check` in both output forms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relayer.cli import broker_cell, build_parser
from relayer.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_testnet_profile_is_valid_and_production_shaped() -> None:
    cfg = load_config(ROOT / "config" / "testnet.toml", environ={})
    assert cfg.mqtt.tls_ca_file is not None
    assert cfg.mqtt.port == 8883
    assert cfg.mqtt.password_file is not None
    assert cfg.chains["ethereum"].finality == "finalized"
    assert len(cfg.chains["ethereum"].endpoints) == 3
    assert str(cfg.committee.keystore_file).startswith("/run/secrets/")
    assert cfg.committee.key_file is None


def test_environment_overrides_the_profile() -> None:
    cfg = load_config(
        ROOT / "config" / "testnet.toml",
        environ={
            "QIAO_METRICS__PORT": "9200",
            "QIAO_COMMITTEE__KEYSTORE_FILE": "/run/credentials/x/k.json",
        },
    )
    assert cfg.metrics_port == 9200
    assert str(cfg.committee.keystore_file) == "/run/credentials/x/k.json"


def _check(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relayer.cli", "config", "check", "--config", str(path), *flags],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_config_check_lists_every_error_with_its_path_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[node]\nmember_index = 0\n[mqtt]\nport = 70000\n[chains.x]\nchain_id = 5\nrpc = "ftp://x"\n'
    )
    human = _check(bad)
    assert human.returncode == 2
    for line in (
        "node.member_index: 0 must be >= 1",
        "node.data_dir: missing; set it or QIAO_NODE__DATA_DIR",
        "mqtt.port: 70000 is not a TCP port",
        "chains.x.rpc: 'ftp://x' must be an http(s) URL",
        "routes: missing",
    ):
        assert line in human.stderr, line
    as_json = _check(bad, "--json")
    assert as_json.returncode == 2
    data = json.loads(as_json.stdout)
    assert data["ok"] is False
    assert len(data["errors"]) >= 6


def test_config_check_flags_secret_files_readable_by_others(tmp_path: Path) -> None:
    text = (ROOT / "config" / "devnet.example.toml").read_text()
    key = tmp_path / "relayer.key"
    key.write_text("0x" + "11" * 32)
    key.chmod(0o644)
    public = tmp_path / "committee.json"
    public.write_text("{}")
    text = text.replace("../.devnet/node-1/relayer.key", str(key)).replace(
        "../.devnet/keys/committee.json", str(public)
    )
    text = text.replace(
        'key_file = "../.devnet/keys/member-1.json"', f'key_file = "{tmp_path / "missing.json"}"'
    )
    cfg = tmp_path / "node.toml"
    cfg.write_text(text)
    out = _check(cfg, "--json")
    assert out.returncode == 2
    errors = json.loads(out.stdout)["errors"]
    assert any(e.startswith("relayer.account_key_file = ") and "chmod 600" in e for e in errors)
    assert any(e.startswith("committee.key_file = ") and "QIAO_COMMITTEE__KEY_FILE" in e for e in errors)


def test_every_operator_verb_has_json_output() -> None:
    parser = build_parser()
    verbs = [
        ["status"],
        ["transfers", "list"],
        ["transfers", "show", "1", "2", "3"],
        ["retry", "1", "2", "3"],
        ["reobserve", "0x" + "00" * 32],
        ["pause"],
        ["resume"],
        ["reconcile"],
        ["keys", "show"],
        ["config", "check"],
    ]
    for words in verbs:
        split = 2 if words[0] in {"transfers", "keys", "config"} else 1
        args = parser.parse_args([*words[:split], "--config", "x.toml", "--json", *words[split:]])
        assert args.json is True, words


@pytest.mark.parametrize(
    ("st", "shown"),
    [
        ({"broker_connected": True}, "connected"),
        ({"broker_connected": False, "brokers": {"127.0.0.1:1883": False}}, "DISCONNECTED"),
        (
            {"broker_connected": True, "brokers": {"a": True, "b": False, "c": True}, "min_brokers": 2},
            "2/3 (min 2: a ok, b DOWN, c ok)",
        ),
        (
            {"broker_connected": True, "brokers": {"a": True, "b": False, "c": False}, "min_brokers": 2},
            "1/3 (min 2 BELOW MINIMUM: a ok, b DOWN, c DOWN)",
        ),
    ],
)
def test_status_names_each_broker_when_there_are_several(st: dict[str, object], shown: str) -> None:
    assert broker_cell(st) == shown
