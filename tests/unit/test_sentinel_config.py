"""The sentinel's TOML: the shipped profiles parse, and each mistake is reported on one line with the
key, its value and the fix, all of them at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sentinel.config import ConfigError, load, parse

ROOT = Path(__file__).resolve().parents[2]
ADDR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def base() -> dict[str, Any]:
    chain = {"chain_id": 7001, "rpcs": ["http://a:1", "http://b:1"], "endpoint": ADDR}
    return {
        "sentinel": {"name": "s", "store": "s.db", "keystore_file": "k.json", "password_file": "p"},
        "chains": {"c": dict(chain), "e": {**chain, "chain_id": 7002, "finality": "finalized"}},
        "pairs": [{"home_chain": "c", "home_token": ADDR, "wrapped_chain": "e", "wrapped_token": ADDR}],
    }


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(raw, "sentinel.toml", Path("/etc/qiao"))
    return info.value.errors


@pytest.mark.parametrize("name", ["sentinel.devnet.toml", "sentinel.testnet.toml"])
def test_the_shipped_profiles_parse(name: str) -> None:
    cfg = load(ROOT / "config" / name)
    assert len(cfg.chains) == 2
    assert all(len(c.rpcs) >= 2 for c in cfg.chains.values())
    assert cfg.pairs


def test_a_valid_config_with_defaults_and_relative_paths() -> None:
    cfg = parse(base(), "sentinel.toml", Path("/etc/qiao"))
    assert cfg.store == Path("/etc/qiao/s.db")
    assert cfg.password_path() == Path("/etc/qiao/p")
    assert cfg.chains["c"].finality == "depth"
    assert cfg.chains["c"].confirmations == 12
    assert cfg.chains["e"].finality == "finalized"
    assert cfg.chain_by_id(7002) is cfg.chains["e"]
    assert cfg.act
    assert cfg.metrics_port == 9110


def test_one_rpc_is_refused_with_the_reason() -> None:
    raw = base()
    raw["chains"]["c"]["rpcs"] = ["http://a:1"]
    (error,) = errors_of(raw)
    assert error.startswith("chains.c.rpcs = ['http://a:1']: 1 RPC; list 2 or more")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda r: r["chains"]["c"].update(finality="safe"),
            "chains.c.finality = 'safe': unknown rule; use one of",
        ),
        (lambda r: r["chains"]["c"].update(endpoint=ADDR.lower()), "chains.c.endpoint = '0x5fbd"),
        (
            lambda r: r["chains"]["c"].update(confirmations=-1),
            "chains.c.confirmations = -1: must be 0 or more",
        ),
        (
            lambda r: r["chains"]["c"].update(rpcs=["ws://x", "http://y"]),
            "every entry must be an http(s) URL",
        ),
        (lambda r: r["chains"]["c"].update(rpcs=["http://y", "http://y"]), "an URL repeats"),
        (lambda r: r["chains"]["c"].update(chain_id="7001"), "chains.c.chain_id = '7001': not a int"),
        (lambda r: r["chains"]["e"].update(chain_id=7001), "chains: chain ids [7001, 7001] repeat"),
        (lambda r: r["chains"]["c"].update(finalty="depth"), "chains.c.finalty: unknown key"),
        (lambda r: r["sentinel"].pop("keystore_file"), "sentinel.keystore_file: missing; give its encrypted"),
        (
            lambda r: r["sentinel"].update(poll_interval=0),
            "sentinel.poll_interval = 0.0: must be in (0, 3600]",
        ),
        (lambda r: r["sentinel"].update(supply_confirmations=0), "sentinel.supply_confirmations = 0"),
        (lambda r: r["pairs"][0].update(home_chain="x"), "pairs[0].home_chain = 'x': no such chain"),
        (
            lambda r: r["pairs"][0].update(wrapped_chain="c"),
            "pairs[0].wrapped_chain = 'c': the same as home_chain",
        ),
        (lambda r: r.update(extra={}), "extra: unknown table"),
        (lambda r: r["chains"].pop("e"), "chains: 1 chains; configure exactly two"),
    ],
)
def test_each_mistake_names_key_value_and_fix(edit: Any, expected: str) -> None:
    raw = copy.deepcopy(base())
    edit(raw)
    errors = errors_of(raw)
    assert any(expected in e for e in errors), errors


def test_every_error_is_reported_at_once() -> None:
    raw = base()
    raw["chains"]["c"]["finality"] = "safe"
    raw["sentinel"]["poll_interval"] = -1
    with pytest.raises(ConfigError) as info:
        parse(raw, "sentinel.toml", Path("/"))
    lines = str(info.value).splitlines()
    assert len(info.value.errors) == 2
    assert lines[-1] == "sentinel.toml: 2 configuration errors"
    assert all(line.startswith("sentinel.toml: ") for line in lines)


def test_the_password_from_the_systemd_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = base()
    del raw["sentinel"]["password_file"]
    cfg = parse(raw, "sentinel.toml", Path("/"))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ConfigError, match="LoadCredential=sentinel-password"):
        cfg.password_path()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/qiao-sentinel.service")
    assert cfg.password_path() == Path("/run/credentials/qiao-sentinel.service/sentinel-password")


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sentinel\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
