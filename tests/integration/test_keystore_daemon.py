"""The daemon's start-up with an EIP-2335 keystore: it refuses an open keystore, a wrong password
and a share that is not the member's published one, before it touches a chain or the broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from committee.keyfile import write_public_file
from committee.keystore import write_keystore
from committee.threshold import deal
from relayer import daemon
from relayer.config import ConfigError, load_config

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "devnet.example.toml"


@pytest.fixture
def member(tmp_path: Path) -> Path:
    shares = deal(4, 3)
    write_public_file(tmp_path / "committee.json", shares[0].public)
    write_keystore(tmp_path / "member-1.keystore.json", shares[0], "right", work_factor=1000)
    write_keystore(tmp_path / "member-2.keystore.json", shares[1], "right", work_factor=1000)
    password = tmp_path / "password"
    password.write_text("right\n")
    password.chmod(0o600)
    text = EXAMPLE.read_text()
    text = text.replace('"../.devnet/keys/committee.json"', f'"{tmp_path / "committee.json"}"')
    text = text.replace(
        'key_file = "../.devnet/keys/member-1.json"',
        f'keystore_file = "{tmp_path / "member-1.keystore.json"}"\npassword_file = "{password}"',
    )
    text = text.replace("../.devnet", str(tmp_path))
    (tmp_path / "node.toml").write_text(text)
    return tmp_path


async def start(directory: Path) -> str:
    cfg = load_config(directory / "node.toml", environ={})
    assert cfg.committee.keystore_file is not None
    assert cfg.committee.key_file is None
    with pytest.raises(ConfigError) as info:
        await daemon.run(cfg)
    return str(info.value)


async def test_a_keystore_readable_by_others_stops_the_daemon(member: Path) -> None:
    (member / "member-1.keystore.json").chmod(0o640)
    assert "chmod 600" in await start(member)


async def test_a_wrong_password_stops_the_daemon(member: Path) -> None:
    (member / "password").write_text("wrong\n")
    assert "wrong password" in await start(member)


async def test_another_members_share_stops_the_daemon(member: Path) -> None:
    (member / "member-2.keystore.json").replace(member / "member-1.keystore.json")
    assert "does not match member 1's published public share" in await start(member)


async def test_the_systemd_credential_is_used_without_a_password_file(
    member: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = member / "node.toml"
    toml.write_text(
        "\n".join(line for line in toml.read_text().splitlines() if not line.startswith("password_file"))
    )
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert "LoadCredential=qiao-keystore-password" in await start(member)
    creds = member / "creds"
    creds.mkdir()
    (creds / "qiao-keystore-password").write_text("wrong")
    (creds / "qiao-keystore-password").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert "wrong password" in await start(member)  # it read the credential
