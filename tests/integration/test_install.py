"""Installing for real: `scripts/install.sh --prefix DIR` into a temporary prefix, then the daemon
runs from there and `systemd-analyze verify` passes on the unit rendered for that prefix. The
unit, the Dockerfile and docs/OPERATIONS.md use that one layout (PREFIX/bin/relayer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "qiao-relayer@.service"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("install") / "qiao"
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh"), "--prefix", str(where)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd="/",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"installed {where}/bin/relayer" in out.stdout
    return where


def test_the_install_puts_the_daemon_at_prefix_bin_relayer(prefix: Path) -> None:
    relayer = prefix / "bin" / "relayer"
    assert relayer.stat().st_mode & 0o111
    out = subprocess.run(
        [str(relayer), "config", "check", "--config", str(prefix / "share/qiao/config/testnet.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
    )
    # the installed code runs (not this checkout's): the profile's secret files do not exist here
    assert out.returncode == 2, out.stderr
    assert "committee.public_file = '/etc/qiao/committee.json': No such file or directory" in out.stderr
    imported = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import relayer; print(relayer.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert imported.stdout.startswith(str(prefix / "lib"))
    # the wheel ships the daemon and the committee library, never the development harness
    site = Path(imported.stdout.strip()).parents[1]
    shipped = {p.name for p in site.iterdir() if (p / "__init__.py").is_file()}
    assert {"relayer", "committee"} <= shipped
    assert "harness" not in shipped
    assert not list(site.rglob("harness/devnet.py"))
    not_shipped = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import harness"], capture_output=True, text=True, cwd="/"
    )
    assert not_shipped.returncode != 0
    assert "No module named 'harness'" in not_shipped.stderr
    assert (prefix / "share/qiao/doc/OPERATIONS.md").is_file()
    assert (prefix / "share/qiao/doc/runbooks/node-down.md").is_file()


def test_systemd_verifies_the_unit_rendered_for_the_prefix(prefix: Path, tmp_path: Path) -> None:
    rendered = (prefix / "share/qiao/systemd/qiao-relayer@.service").read_text()
    assert f"ExecStart={prefix}/bin/relayer run --config /etc/qiao/%i.toml" in rendered
    assert rendered == UNIT.read_text().replace("/opt/qiao", str(prefix))
    unit = tmp_path / "qiao-relayer@1.service"
    unit.write_text(rendered)
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_unit_dockerfile_and_docs_use_the_one_install_path() -> None:
    unit = UNIT.read_text()
    assert "ExecStart=/opt/qiao/bin/relayer run --config /etc/qiao/%i.toml" in unit
    assert ".venv" not in unit
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "bash scripts/install.sh --prefix /opt/qiao" in dockerfile
    assert "PATH=/opt/qiao/bin:$PATH" in dockerfile
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    assert "bash scripts/install.sh --prefix /opt/qiao" in operations
    assert "/opt/qiao/share/qiao/systemd/qiao-relayer@.service" in operations
