"""The sentinel's ECDSA key: an encrypted eth_account JSON keystore, its password in a file readable
by the owner only (mode 0600 or stricter) or in the systemd credential."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount


class KeystoreError(Exception):
    """The key cannot be loaded; the message says which file and what to do."""


def read_password(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeystoreError(
            f"{path}: cannot read the password file ({exc.strerror}); create it, mode 0600"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeystoreError(
            f"{path}: mode {stat.S_IMODE(mode):04o} lets others read the password; run chmod 600 {path}"
        )
    return path.read_text().rstrip("\n")


def load_account(keystore: Path, password_file: Path) -> LocalAccount:
    password = read_password(password_file)
    try:
        data = json.loads(keystore.read_text())
    except OSError as exc:
        raise KeystoreError(
            f"{keystore}: cannot read the keystore ({exc.strerror}); give an existing file"
        ) from exc
    except json.JSONDecodeError as exc:
        raise KeystoreError(
            f"{keystore}: not a JSON keystore ({exc}); create one with `qiao-sentinel keygen`"
        ) from exc
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        raise KeystoreError(
            f"{keystore}: cannot decrypt ({exc}); check the password file {password_file}"
        ) from exc
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(
    keystore: Path, password_file: Path, key: bytes | None = None, *, force: bool = False
) -> str:
    """A new (or the given) key encrypted into `keystore` (mode 0600) with the password file's
    password; returns the address (register it with the owner's setSentinel). An existing file is
    refused unless `force`: it may hold the registered key, and overwriting it would lose it."""
    if keystore.exists() and not force:
        raise KeystoreError(
            f"{keystore}: exists; it may hold the key registered on the endpoints. Move it aside, "
            "or pass --force to replace it (the old key is then lost)"
        )
    password = read_password(password_file)
    account = Account.from_key(key) if key is not None else Account.create()
    keystore.write_text(json.dumps(Account.encrypt(account.key, password)))
    keystore.chmod(0o600)
    return str(account.address)
