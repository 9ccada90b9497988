"""The systemd units pass `systemd-analyze verify` and carry the hardening the runbooks rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "qiao-relayer@.service"


def _verify(unit_text: str, name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    unit = tmp_path / name
    unit.write_text(unit_text)
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def test_the_template_unit_verifies_cleanly_for_an_instance(tmp_path: Path) -> None:
    # ExecStart must exist for verify: point it at this checkout's entry point
    relayer = Path(sys.executable).parent / "relayer"
    text = UNIT.read_text().replace("/opt/qiao/bin/relayer", str(relayer))
    out = _verify(text, "qiao-relayer@1.service", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes")
    out = _verify(text, "qiao-relayer@2.service", tmp_path)
    assert out.returncode != 0 or "Restart" in out.stderr


def test_the_unit_is_notify_with_watchdog_restart_hardening_and_credentials() -> None:
    lines = {line.strip() for line in UNIT.read_text().splitlines()}
    for required in (
        "Type=notify",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "StateDirectory=qiao/%i",
        "WatchdogSec=30s",
        "Environment=QIAO_COMMITTEE__KEYSTORE_FILE=%d/member-keystore.json",
    ):
        assert required in lines, required
    assert any(line.startswith("LoadCredential=member-keystore.json:") for line in lines)
    assert any(line.startswith("TimeoutStopSec=") for line in lines)


SENTINEL_UNIT = ROOT / "deploy" / "systemd" / "qiao-sentinel.service"


def test_the_sentinel_unit_verifies_cleanly(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "qiao-sentinel"
    text = SENTINEL_UNIT.read_text().replace("/opt/qiao/bin/qiao-sentinel", str(script))
    out = _verify(text, "qiao-sentinel.service", tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_the_sentinel_unit_checks_first_and_takes_its_password_as_a_credential() -> None:
    lines = {line.strip() for line in SENTINEL_UNIT.read_text().splitlines()}
    for required in (
        "ExecStartPre=/opt/qiao/bin/qiao-sentinel check --config /etc/qiao-sentinel/sentinel.toml",
        "ExecStart=/opt/qiao/bin/qiao-sentinel run --config /etc/qiao-sentinel/sentinel.toml",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=qiao-sentinel",
        "LoadCredential=sentinel-password:/etc/qiao-sentinel/credentials/sentinel.password",
    ):
        assert required in lines, required
