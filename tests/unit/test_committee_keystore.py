"""EIP-2335 keystores: the EIP's own vectors, round trips, and every refusal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from committee.identity import Identity, load_identity, open_share, seal_share, share_binding, write_identity
from committee.keyfile import KeyFileError
from committee.keystore import (
    CREDENTIAL_NAME,
    KeystoreError,
    decrypt_keystore,
    encrypt_keystore,
    erase_file,
    load_keystore_share,
    process_password,
    read_password,
    write_keystore,
)
from committee.threshold import deal

EIP_PASSWORD = "\U0001d531\U0001d522\U0001d530\U0001d531\U0001d52d\U0001d51e\U0001d530\U0001d530\U0001d534\U0001d52c\U0001d52f\U0001d521\U0001f511"
EIP_SECRET = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
EIP_SALT = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"


def eip_vector(kdf: str) -> dict:  # type: ignore[type-arg]
    """The test vectors of EIP-2335 ("Test Cases")."""
    if kdf == "scrypt":
        module = {"dklen": 32, "n": 262144, "p": 1, "r": 8, "salt": EIP_SALT}
        checksum = "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484"
        message = "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f"
    else:
        module = {"dklen": 32, "c": 262144, "prf": "hmac-sha256", "salt": EIP_SALT}
        checksum = "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1"
        message = "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad"
    return {
        "crypto": {
            "kdf": {"function": kdf, "params": module, "message": ""},
            "checksum": {"function": "sha256", "params": {}, "message": checksum},
            "cipher": {
                "function": "aes-128-ctr",
                "params": {"iv": "264daa3f303d7259501c93d997d84fe6"},
                "message": message,
            },
        },
        "description": "test vector",
        "pubkey": "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07",
        "path": "m/12381/60/0/0",
        "uuid": "64625def-3331-4eea-ab6f-782f3ed16a83",
        "version": 4,
    }


def test_the_password_is_processed_as_eip_2335_says() -> None:
    assert process_password(EIP_PASSWORD).hex() == "7465737470617373776f7264f09f9491"
    assert process_password("a\x00b\x1fc\x7fd\x80e\x9ff g") == b"abcdef g"


@pytest.mark.parametrize("kdf", ["pbkdf2", "scrypt"])
def test_the_eip_2335_vectors_decrypt_to_the_eip_secret(kdf: str) -> None:
    assert decrypt_keystore(eip_vector(kdf), EIP_PASSWORD).hex() == EIP_SECRET
    with pytest.raises(ValueError, match="wrong password"):
        decrypt_keystore(eip_vector("pbkdf2"), "testpassword")


@pytest.mark.parametrize("kdf", ["pbkdf2", "scrypt"])
def test_a_written_keystore_has_the_eip_shape_and_round_trips(kdf: str) -> None:
    doc = encrypt_keystore(12345, "pw", b"\x01" * 96, kdf=kdf, work_factor=2**10)
    assert set(doc) == {"crypto", "description", "pubkey", "path", "uuid", "version"}
    assert doc["version"] == 4
    assert doc["path"] == ""
    assert set(doc["crypto"]) == {"kdf", "checksum", "cipher"}
    assert doc["crypto"]["cipher"]["function"] == "aes-128-ctr"
    assert doc["crypto"]["checksum"]["function"] == "sha256"
    assert int.from_bytes(decrypt_keystore(doc, "pw"), "big") == 12345


@pytest.fixture
def committee(tmp_path: Path):  # type: ignore[no-untyped-def]
    shares = deal(4, 3)
    path = tmp_path / "member-2.keystore.json"
    write_keystore(path, shares[1], "secret pw", work_factor=1000)
    return shares, path


def test_the_daemon_loader_returns_the_share(committee) -> None:  # type: ignore[no-untyped-def]
    shares, path = committee
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = load_keystore_share(path, "secret pw", shares[0].public, 2)
    assert loaded.secret == shares[1].secret
    assert str(shares[1].secret) not in path.read_text()


def test_a_keystore_readable_by_others_is_refused(committee) -> None:  # type: ignore[no-untyped-def]
    shares, path = committee
    path.chmod(0o644)
    with pytest.raises(KeystoreError, match="chmod 600"):
        load_keystore_share(path, "secret pw", shares[0].public, 2)


def test_a_wrong_password_is_refused(committee) -> None:  # type: ignore[no-untyped-def]
    shares, path = committee
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keystore_share(path, "secret pW", shares[0].public, 2)


def test_a_share_that_does_not_match_the_published_public_share_is_refused(committee) -> None:  # type: ignore[no-untyped-def]
    shares, path = committee
    with pytest.raises(KeystoreError, match="does not match member 3"):
        load_keystore_share(path, "secret pw", shares[0].public, 3)
    other = deal(4, 3)
    with pytest.raises(KeystoreError, match="does not match"):
        load_keystore_share(path, "secret pw", other[0].public, 2)


def test_a_tampered_keystore_is_refused(committee) -> None:  # type: ignore[no-untyped-def]
    shares, path = committee
    doc = json.loads(path.read_text())
    doc["crypto"]["cipher"]["message"] = "00" * 32
    path.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keystore_share(path, "secret pw", shares[0].public, 2)
    path.write_text("{not json")
    with pytest.raises(KeystoreError, match="malformed"):
        load_keystore_share(path, "secret pw", shares[0].public, 2)


def test_the_password_comes_from_a_file_or_the_systemd_credential(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    pw.chmod(0o600)
    assert read_password(pw, {}) == "hunter2"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / CREDENTIAL_NAME).write_text("from-systemd")
    (creds / CREDENTIAL_NAME).chmod(0o400)
    assert read_password(None, {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-systemd"
    with pytest.raises(KeystoreError, match="LoadCredential"):
        read_password(None, {})
    pw.chmod(0o644)
    with pytest.raises(KeystoreError, match="readable by group or others"):
        read_password(pw, {})


def test_erasing_a_keystore_removes_it(committee) -> None:  # type: ignore[no-untyped-def]
    _, path = committee
    erase_file(path)
    assert not path.exists()
    erase_file(path)  # already gone: no error


def test_identity_files_round_trip_and_shares_open_only_for_their_recipient(tmp_path: Path) -> None:
    alice = Identity.generate("alice")
    write_identity(tmp_path / "alice.json", alice)
    again = load_identity(tmp_path / "alice.json")
    assert again.public == alice.public
    assert "redacted" in repr(again)
    (tmp_path / "alice.json").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_identity(tmp_path / "alice.json")
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    binding = share_binding(os.urandom(32), 1, 2)
    sealed = seal_share(eph, alice.public.encrypt_key, binding, 42, os.urandom(12))
    assert open_share(alice, eph_pub, binding, sealed) == 42
    assert open_share(Identity.generate("bob"), eph_pub, binding, sealed) is None
    assert open_share(alice, eph_pub, binding[:-1] + b"\x03", sealed) is None  # other recipient
