"""The operator commands: identities, a roster, a DKG and a resharing run by four member processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from committee.cli import main
from committee.keyfile import load_public_file
from committee.keystore import load_keystore_share

pytestmark = pytest.mark.integration

NAMES = [f"node-{i}" for i in range(1, 5)]


def start_all(tmp_path: Path, kind: str, session: Path, port: int, network: str, epoch: str) -> None:
    procs = []
    for name in NAMES:
        argv = [sys.executable, "-m", "committee.cli", kind, "start", "--session", str(session)]
        argv += ["--identity", str(tmp_path / f"{name}.json"), "--state-dir", str(tmp_path / epoch / name)]
        argv += ["--mqtt-port", str(port), "--network", network, "--password-file", str(tmp_path / "pw")]
        argv += ["--timeout-deal", "60", "--timeout", "30"]
        if kind == "reshare":
            argv += ["--old-keystore", str(tmp_path / "a" / name / "keystore.json")]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err


def test_operators_run_a_dkg_and_a_resharing_with_the_cli(
    tmp_path: Path, mosquitto_port: int, network: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in NAMES:
        assert main(["identity", "new", "--name", name, "--out", str(tmp_path / f"{name}.json")]) == 0
    pubs = [str(tmp_path / f"{name}.pub.json") for name in NAMES]
    assert main(["roster", "--out", str(tmp_path / "roster.json"), *pubs]) == 0
    assert (
        main(["dkg", "new", "--roster", str(tmp_path / "roster.json"), "--out", str(tmp_path / "s1.json")])
        == 0
    )
    (tmp_path / "pw").write_text("operator password\n")
    (tmp_path / "pw").chmod(0o600)

    start_all(tmp_path, "dkg", tmp_path / "s1.json", mosquitto_port, network, "a")
    capsys.readouterr()
    assert main(["dkg", "status", "--state-dir", str(tmp_path / "a" / "node-2")]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "done"
    assert main(["dkg", "show", "--state-dir", str(tmp_path / "a" / "node-2")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["qualified"] == [1, 2, 3, 4]
    assert shown["threshold"] == 3
    public = load_public_file(tmp_path / "a" / "node-1" / "committee.json")
    share = load_keystore_share(tmp_path / "a" / "node-3" / "keystore.json", "operator password", public, 3)
    assert share.index == 3

    # members 1..3 deal the same key to the same four members; old keystores are erased
    assert main(
        [
            "reshare", "new", "--roster", str(tmp_path / "roster.json"),
            "--committee", str(tmp_path / "a" / "node-1" / "committee.json"),
            "--dealers", "1=node-1,2=node-2,3=node-3", "--out", str(tmp_path / "s2.json"),
        ]
    ) == 0  # fmt: skip
    start_all(tmp_path, "reshare", tmp_path / "s2.json", mosquitto_port, network, "b")
    new_public = load_public_file(tmp_path / "b" / "node-4" / "committee.json")
    assert new_public.group_public_key == public.group_public_key
    assert new_public.public_shares != public.public_shares
    assert not any((tmp_path / "a" / n / "keystore.json").exists() for n in NAMES)
    assert load_keystore_share(
        tmp_path / "b" / "node-4" / "keystore.json", "operator password", new_public, 4
    )
