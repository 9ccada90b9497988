"""The sentinel's key: an encrypted keystore, its password in a file only its owner can read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from sentinel.keys import KeystoreError, load_account, read_password

KEY = bytes.fromhex("11" * 32)


def files(tmp_path: Path, mode: int = 0o600) -> tuple[Path, Path]:
    password = tmp_path / "password"
    password.write_text("correct horse\n")
    password.chmod(mode)
    keystore = tmp_path / "keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(KEY, "correct horse", kdf="pbkdf2", iterations=2)))
    return keystore, password


def test_the_key_decrypts_with_the_password_file(tmp_path: Path) -> None:
    keystore, password = files(tmp_path)
    assert load_account(keystore, password).address == Account.from_key(KEY).address


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_password_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    _, password = files(tmp_path, mode)
    with pytest.raises(KeystoreError, match=f"mode {mode:04o} lets others read the password; run chmod 600"):
        read_password(password)


def test_a_wrong_password_says_which_file_to_check(tmp_path: Path) -> None:
    keystore, password = files(tmp_path)
    password.write_text("wrong")
    with pytest.raises(KeystoreError, match="cannot decrypt.*check the password file"):
        load_account(keystore, password)


def test_missing_files_are_named(tmp_path: Path) -> None:
    keystore, password = files(tmp_path)
    with pytest.raises(KeystoreError, match="cannot read the password file"):
        load_account(keystore, tmp_path / "nope")
    with pytest.raises(KeystoreError, match="cannot read the keystore"):
        load_account(tmp_path / "nope.json", password)
    keystore.write_text("{")
    with pytest.raises(KeystoreError, match="not a JSON keystore"):
        load_account(keystore, password)
