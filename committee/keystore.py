"""A member's share encrypted at rest: the EIP-2335 keystore format (version 4).

Decryption key = scrypt or PBKDF2-HMAC-SHA256 of the processed password (NFKD, C0/C1/DEL control
codes removed, UTF-8); checksum = SHA-256(DK[16:32] || ciphertext); cipher = AES-128-CTR with
DK[0:16]. The secret is the 32-byte big-endian share. `pubkey` holds the member's public share
(96-byte compressed G2: our public keys live in G2), `path` is "" (no key tree), and
`description` names the member and key epoch.

`load_keystore_share` is what the daemon uses: it refuses a keystore readable by group or others,
a wrong password (checksum mismatch) and a share that does not match the published public share.
The password comes from a file or from the systemd credential `qiao-keystore-password`
(`$CREDENTIALS_DIRECTORY`, see `LoadCredential=` in systemd.exec(5)).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import unicodedata
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from committee.bls import CURVE_ORDER
from committee.keyfile import KeyFileError, _write_atomically
from committee.threshold import CommitteePublic, KeyShare, MemberIndex

__all__ = [
    "CREDENTIAL_NAME",
    "KeystoreError",
    "decrypt_keystore",
    "encrypt_keystore",
    "erase_file",
    "load_keystore_share",
    "process_password",
    "read_password",
    "write_keystore",
]

CREDENTIAL_NAME: Final = "qiao-keystore-password"
PBKDF2_ITERATIONS: Final = 262144
SCRYPT_N: Final = 262144


class KeystoreError(KeyFileError):
    """A keystore or its password cannot be used; names the file and the fix."""


def process_password(password: str) -> bytes:
    """EIP-2335: NFKD, then drop C0 (0x00-0x1F), DEL (0x7F) and C1 (0x80-0x9F), then UTF-8."""
    normalized = unicodedata.normalize("NFKD", password)
    kept = "".join(c for c in normalized if not (ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F))
    return kept.encode("utf-8")


def _derive(kdf: Mapping[str, Any], password: bytes) -> bytes:
    function, params = kdf["function"], kdf["params"]
    salt = bytes.fromhex(params["salt"])
    dklen = params["dklen"]
    if dklen != 32:
        raise ValueError("kdf dklen must be 32")
    if function == "scrypt":
        n, r, p = params["n"], params["r"], params["p"]
        return Scrypt(salt=salt, length=dklen, n=n, r=r, p=p).derive(password)
    if function == "pbkdf2":
        if params["prf"] != "hmac-sha256":
            raise ValueError(f"unsupported pbkdf2 prf {params['prf']!r}")
        return PBKDF2HMAC(algorithm=hashes.SHA256(), length=dklen, salt=salt, iterations=params["c"]).derive(
            password
        )
    raise ValueError(f"unsupported kdf {function!r}")


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    context = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return context.update(data) + context.finalize()


def encrypt_keystore(
    secret: int,
    password: str,
    pubkey: bytes,
    *,
    kdf: str = "pbkdf2",
    description: str = "",
    work_factor: int | None = None,
) -> dict[str, Any]:
    """An EIP-2335 keystore dict for `secret` (1 <= secret < r).

    `work_factor` overrides the PBKDF2 iteration count or the scrypt n (tests and the devnet
    use small ones; the defaults are the EIP's, 2^18).
    """
    if not 0 < secret < CURVE_ORDER:
        raise ValueError("secret out of range")
    salt = os.urandom(32)
    if kdf == "scrypt":
        params: dict[str, Any] = {
            "dklen": 32,
            "n": work_factor or SCRYPT_N,
            "p": 1,
            "r": 8,
            "salt": salt.hex(),
        }
    elif kdf == "pbkdf2":
        params = {
            "dklen": 32,
            "c": work_factor or PBKDF2_ITERATIONS,
            "prf": "hmac-sha256",
            "salt": salt.hex(),
        }
    else:
        raise ValueError(f"kdf must be 'scrypt' or 'pbkdf2', got {kdf!r}")
    kdf_module = {"function": kdf, "params": params, "message": ""}
    key = _derive(kdf_module, process_password(password))
    iv = os.urandom(16)
    cipher_message = _aes_ctr(key[:16], iv, secret.to_bytes(32, "big"))
    checksum = hashlib.sha256(key[16:32] + cipher_message).digest()
    return {
        "crypto": {
            "kdf": kdf_module,
            "checksum": {"function": "sha256", "params": {}, "message": checksum.hex()},
            "cipher": {
                "function": "aes-128-ctr",
                "params": {"iv": iv.hex()},
                "message": cipher_message.hex(),
            },
        },
        "description": description,
        "pubkey": pubkey.hex(),
        "path": "",
        "uuid": str(uuid.uuid4()),
        "version": 4,
    }


def decrypt_keystore(document: Mapping[str, Any], password: str) -> bytes:
    """The secret bytes; raises ValueError("wrong password") on a checksum mismatch, and
    ValueError/KeyError/TypeError on a malformed keystore."""
    if document.get("version") != 4:
        raise ValueError("not an EIP-2335 version 4 keystore")
    crypto = document["crypto"]
    checksum, cipher = crypto["checksum"], crypto["cipher"]
    if checksum["function"] != "sha256" or cipher["function"] != "aes-128-ctr":
        raise ValueError("unsupported checksum or cipher function")
    key = _derive(crypto["kdf"], process_password(password))
    cipher_message = bytes.fromhex(cipher["message"])
    expected = bytes.fromhex(checksum["message"])
    if not hmac.compare_digest(hashlib.sha256(key[16:32] + cipher_message).digest(), expected):
        raise ValueError("wrong password")
    iv = bytes.fromhex(cipher["params"]["iv"])
    if len(iv) != 16:
        raise ValueError("aes-128-ctr iv must be 16 bytes")
    return _aes_ctr(key[:16], iv, cipher_message)


def write_keystore(
    path: str | os.PathLike[str],
    share: KeyShare,
    password: str,
    *,
    kdf: str = "pbkdf2",
    work_factor: int | None = None,
    overwrite: bool = False,
) -> None:
    """Write `share` encrypted under `password` to `path` (mode 0600, atomic)."""
    document = encrypt_keystore(
        share.secret,
        password,
        share.public_share,
        kdf=kdf,
        work_factor=work_factor,
        description=f"qiao committee member {share.index}, key epoch {share.public.key_epoch}",
    )
    _write_atomically(
        Path(path), (json.dumps(document, indent=2) + "\n").encode(), 0o600, overwrite=overwrite
    )


def load_keystore_share(
    path: str | os.PathLike[str], password: str, public: CommitteePublic, index: int
) -> KeyShare:
    """Decrypt member `index`'s share and check it against the published public share."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeystoreError(path, "keystore not found", "check committee.keystore_file") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeystoreError(path, "not a regular file", "point to the keystore JSON file")
    if info.st_mode & 0o077:
        raise KeystoreError(
            path,
            f"keystore is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"run `chmod 600 {path}`",
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError("top level is not an object")
        secret_bytes = decrypt_keystore(document, password)
    except ValueError as exc:
        if str(exc) == "wrong password":
            raise KeystoreError(
                path, "wrong password (checksum mismatch)", "check committee.password_file or the credential"
            ) from None
        raise KeystoreError(path, f"malformed keystore ({exc})", "restore it from backup") from None
    except (KeyError, TypeError, OSError) as exc:
        raise KeystoreError(path, f"malformed keystore ({exc!r})", "restore it from backup") from None
    if MemberIndex(index) not in public.public_shares:
        raise KeystoreError(path, f"member {index} is not in the committee", "check node.member_index")
    expected = public.public_shares[MemberIndex(index)]
    secret = int.from_bytes(secret_bytes, "big")
    try:
        if document.get("pubkey") != expected.hex():
            raise ValueError("pubkey differs")
        return KeyShare(index=MemberIndex(index), secret=secret, public=public)
    except ValueError:
        raise KeystoreError(
            path,
            f"the share does not match member {index}'s published public share",
            "use this member's keystore from the current key generation and the matching committee file",
        ) from None


def read_password(password_file: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """The keystore password from `password_file`, else from the systemd credential
    `qiao-keystore-password` under $CREDENTIALS_DIRECTORY. Trailing newlines are dropped."""
    environ = os.environ if environ is None else environ
    if password_file is None:
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise KeystoreError(
                "committee.password_file",
                "no password file and no systemd credential",
                f"set committee.password_file or LoadCredential={CREDENTIAL_NAME}:<file>",
            )
        password_file = Path(directory) / CREDENTIAL_NAME
    try:
        info = password_file.stat()
    except OSError as exc:
        raise KeystoreError(
            password_file, f"cannot read the password ({exc.strerror})", "check the path"
        ) from None
    if info.st_mode & 0o077:
        raise KeystoreError(
            password_file, "password file is readable by group or others", f"chmod 600 {password_file}"
        )
    return password_file.read_text(encoding="utf-8").rstrip("\r\n")


def erase_file(path: str | os.PathLike[str]) -> None:
    """Overwrite a secret file with zeros, sync, then unlink it (best effort on copy-on-write
    or journaling file systems; the keystore is encrypted anyway)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
