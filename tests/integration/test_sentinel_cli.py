"""`qiao-sentinel` as a process: `check` validates the configuration and its files (exit 2 with the
reason), `keygen` writes a keystore, `run` serves its metrics, keeps going while every RPC is down
(a failed round is logged, never fatal) and ends cleanly on SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness import devnet

# every test runs on its copy of a keystore made by `keygen` (the `keyed` fixture)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("keyed")]

SCRIPT = str(Path(sys.executable).parent / "qiao-sentinel")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def made_by_keygen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A password file and the keystore `keygen` made with it, once for the module: each `keygen`
    is a process and a scrypt at the keystore's real work factor (n = 2^18), seconds on a loaded
    machine. Each test works on its own copy (`setup`)."""
    made = tmp_path_factory.mktemp("keygen")
    password = made / "sentinel.password"
    password.write_text("pw\n")
    password.chmod(0o600)
    out = subprocess.run(
        [SCRIPT, "keygen", "--keystore", str(made / "sentinel.keystore.json"), "--password-file", str(password)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip().startswith("0x")
    return made


@pytest.fixture
def keyed(made_by_keygen: Path, tmp_path: Path) -> Path:
    """This test's copy of the module's password file and keystore, in its tmp_path (mode 0600)."""
    for name in ("sentinel.password", "sentinel.keystore.json"):
        shutil.copy2(made_by_keygen / name, tmp_path / name)
    return tmp_path


def setup(tmp_path: Path, metrics_port: int = 0, rpc_port: int | None = None) -> Path:
    """The devnet profile, with its key made by `keygen` (the `keyed` copy in tmp_path) and its
    store and metrics port moved."""
    text = (
        (ROOT / "config" / "sentinel.devnet.toml")
        .read_text()
        .replace("port = 9110", f"port = {metrics_port}")
    )
    if rpc_port is not None:  # every RPC refuses connections
        text = text.replace(":8545", f":{rpc_port}").replace(":8546", f":{rpc_port}")
    config = tmp_path / "sentinel.toml"
    config.write_text(text)
    return config


def test_check_accepts_the_devnet_profile_with_its_files(tmp_path: Path) -> None:
    config = setup(tmp_path)
    out = subprocess.run(
        [SCRIPT, "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "ok (2 chains, 1 pairs, act=True)" in out.stdout
    assert "register it on both endpoints with setSentinel" in out.stdout


def test_check_names_a_readable_password_file_and_a_bad_key(tmp_path: Path) -> None:
    config = setup(tmp_path)
    (tmp_path / "sentinel.password").chmod(0o644)
    out = subprocess.run(
        [SCRIPT, "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 2
    assert "mode 0644 lets others read the password; run chmod 600" in out.stderr
    (tmp_path / "sentinel.password").chmod(0o600)
    (tmp_path / "sentinel.password").write_text("wrong")
    out = subprocess.run(
        [SCRIPT, "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 2
    assert "cannot decrypt" in out.stderr


def test_check_reports_a_config_error_on_one_line(tmp_path: Path) -> None:
    config = setup(tmp_path)
    config.write_text(config.read_text().replace('finality = "depth"', 'finality = "safe"', 1))
    out = subprocess.run(
        [SCRIPT, "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 2
    assert (
        f"{config}: chains.consortium.finality = 'safe': unknown rule; use one of finalized, depth"
        in out.stderr
    )


def test_run_serves_metrics_survives_dead_rpcs_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, dead = devnet.free_port(), devnet.free_port()
    config = setup(tmp_path, metrics_port=port, rpc_port=dead)
    proc = subprocess.Popen(
        [SCRIPT, "run", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "qiao_sentinel_up 1.0" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
                    body = reply.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "qiao_sentinel_up 1.0" in body
        assert proc.poll() is None  # the failed rounds did not end it
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "sentinel_round_failed" in output


def test_keygen_refuses_to_overwrite_a_keystore_unless_forced(tmp_path: Path) -> None:
    """The keystore may hold the key registered on the endpoints: a second `keygen` must not lose it."""
    config = setup(tmp_path)
    keystore = tmp_path / "sentinel.keystore.json"
    before = keystore.read_text()
    argv = [
        SCRIPT,
        "keygen",
        "--keystore",
        str(keystore),
        "--password-file",
        str(tmp_path / "sentinel.password"),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert f"{keystore}: exists" in out.stderr
    assert "pass --force to replace it" in out.stderr
    assert keystore.read_text() == before
    out = subprocess.run([*argv, "--force"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert keystore.read_text() != before
    assert config.exists()
