"""Long-term member identities for the DKG: an Ed25519 key that signs every DKG message and an
X25519 key that shares are encrypted to.

An identity file (mode 0600) holds both private keys; the roster (public) lists every member's
name and public keys::

    identity: {"version": 1, "kind": "qiao-identity", "name": "node-1",
               "sign_secret": "0x<32 bytes>", "encrypt_secret": "0x<32 bytes>"}
    roster:   {"version": 1, "kind": "qiao-roster",
               "members": [{"name": "node-1", "sign": "0x<32>", "encrypt": "0x<32>"}, ...]}

Share encryption (`seal_share` / `open_share`): the dealer's per-deal ephemeral X25519 key and the
recipient's static X25519 key give a shared secret; HKDF-SHA256 with the session, dealer and
recipient in its info derives a ChaCha20-Poly1305 key; the same binding is the AEAD's associated
data. A share is 32 bytes big-endian; the sealed form is nonce (12) || ciphertext+tag (48).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from committee.keyfile import KeyFileError, _write_atomically

__all__ = [
    "SEALED_LEN",
    "Identity",
    "PublicIdentity",
    "load_identity",
    "load_roster",
    "open_share",
    "seal_share",
    "write_identity",
    "write_roster",
]

SEALED_LEN: Final = 12 + 32 + 16
_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SHARE_INFO: Final = b"QIAO-V1-DKG-SHARE"
_FIX: Final = "create identities with `python -m committee.cli identity new`"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"member name {name!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    return name


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    """A member's name and public keys (Ed25519 for signatures, X25519 for encryption)."""

    name: str
    sign_key: bytes
    encrypt_key: bytes

    def __post_init__(self) -> None:
        check_name(self.name)
        for what, key in (("sign_key", self.sign_key), ("encrypt_key", self.encrypt_key)):
            if not isinstance(key, bytes) or len(key) != 32:
                raise ValueError(f"{self.name}: {what} must be 32 bytes")
        Ed25519PublicKey.from_public_bytes(self.sign_key)
        X25519PublicKey.from_public_bytes(self.encrypt_key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.sign_key).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "sign": "0x" + self.sign_key.hex(),
            "encrypt": "0x" + self.encrypt_key.hex(),
        }


class Identity:
    """A member's private identity keys. `repr` never shows them."""

    __slots__ = ("_encrypt", "_sign", "public")

    def __init__(self, name: str, sign_secret: bytes, encrypt_secret: bytes) -> None:
        self._sign = Ed25519PrivateKey.from_private_bytes(sign_secret)
        self._encrypt = X25519PrivateKey.from_private_bytes(encrypt_secret)
        self.public = PublicIdentity(
            name=check_name(name),
            sign_key=self._sign.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            encrypt_key=self._encrypt.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        )

    @classmethod
    def generate(cls, name: str) -> Identity:
        return cls(name, os.urandom(32), os.urandom(32))

    @property
    def name(self) -> str:
        return self.public.name

    def sign(self, data: bytes) -> bytes:
        return self._sign.sign(data)

    def exchange(self, peer: bytes) -> bytes:
        return self._encrypt.exchange(X25519PublicKey.from_public_bytes(peer))

    def secrets(self) -> tuple[bytes, bytes]:
        raw = (Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return self._sign.private_bytes(*raw), self._encrypt.private_bytes(*raw)

    def __repr__(self) -> str:
        return f"Identity(name={self.name!r}, secrets=<redacted>)"


# --- share encryption ------------------------------------------------------------------------


def _share_key(shared: bytes, binding: bytes) -> ChaCha20Poly1305:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SHARE_INFO + binding).derive(shared)
    return ChaCha20Poly1305(key)


def share_binding(session_id: bytes, dealer: int, recipient: int) -> bytes:
    return session_id + dealer.to_bytes(4, "big") + recipient.to_bytes(4, "big")


def seal_share(
    ephemeral: X25519PrivateKey, recipient_key: bytes, binding: bytes, share: int, nonce: bytes
) -> bytes:
    """Encrypt a 32-byte share to `recipient_key` (X25519) under the ephemeral key."""
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_key))
    return nonce + _share_key(shared, binding).encrypt(nonce, share.to_bytes(32, "big"), binding)


def open_share(identity: Identity, ephemeral_public: bytes, binding: bytes, sealed: bytes) -> int | None:
    """Decrypt a sealed share; None if it does not decrypt (wrong key, tampered, wrong binding)."""
    if len(sealed) != SEALED_LEN:
        return None
    try:
        shared = identity.exchange(ephemeral_public)
        plain = _share_key(shared, binding).decrypt(sealed[:12], sealed[12:], binding)
    except (InvalidTag, ValueError):
        return None
    return int.from_bytes(plain, "big")


# --- files -----------------------------------------------------------------------------------


def write_identity(path: str | os.PathLike[str], identity: Identity, *, overwrite: bool = False) -> None:
    sign, encrypt = identity.secrets()
    document = {
        "version": 1,
        "kind": "qiao-identity",
        "name": identity.name,
        "sign_secret": "0x" + sign.hex(),
        "encrypt_secret": "0x" + encrypt.hex(),
    }
    _write_atomically(
        Path(path), (json.dumps(document, indent=2) + "\n").encode(), 0o600, overwrite=overwrite
    )


def load_identity(path: str | os.PathLike[str]) -> Identity:
    path = Path(path)
    document = _read(path, "qiao-identity", {"version", "kind", "name", "sign_secret", "encrypt_secret"})
    if path.stat().st_mode & 0o077:
        raise KeyFileError(path, "identity file is accessible by group or others", f"run `chmod 600 {path}`")
    try:
        return Identity(document["name"], _hex32(document["sign_secret"]), _hex32(document["encrypt_secret"]))
    except ValueError as exc:
        raise KeyFileError(path, f"invalid identity: {exc}", _FIX) from None


def write_roster(
    path: str | os.PathLike[str], members: Sequence[PublicIdentity], *, overwrite: bool = False
) -> None:
    document = {"version": 1, "kind": "qiao-roster", "members": [m.to_json() for m in members]}
    _write_atomically(
        Path(path), (json.dumps(document, indent=2) + "\n").encode(), 0o644, overwrite=overwrite
    )


def load_roster(path: str | os.PathLike[str]) -> dict[str, PublicIdentity]:
    """The roster's identities by name, in file order."""
    path = Path(path)
    document = _read(path, "qiao-roster", {"version", "kind", "members"})
    try:
        return roster_from_json(document["members"])
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFileError(
            path, f"invalid roster: {exc}", "list each member as {name, sign, encrypt}"
        ) from None


def roster_from_json(entries: Any) -> dict[str, PublicIdentity]:
    if not isinstance(entries, list) or not entries:
        raise ValueError("members must be a non-empty list")
    out: dict[str, PublicIdentity] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or set(entry) != {"name", "sign", "encrypt"}:
            raise ValueError(f"member entry {entry!r} must have exactly name, sign, encrypt")
        identity = PublicIdentity(entry["name"], _hex32(entry["sign"]), _hex32(entry["encrypt"]))
        if identity.name in out:
            raise ValueError(f"member {identity.name!r} is listed twice")
        out[identity.name] = identity
    return out


def _read(path: Path, kind: str, fields: set[str]) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(path, "file not found", _FIX) from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(path, f"cannot be read ({exc})", _FIX) from None
    if not isinstance(document, dict) or set(document) != fields:
        raise KeyFileError(path, f"fields must be exactly {sorted(fields)}", _FIX)
    if document["kind"] != kind or document["version"] != 1:
        raise KeyFileError(path, f"not a version 1 {kind} file", _FIX)
    return document


def _hex32(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ValueError("keys must be 0x-prefixed 32-byte hex strings")
    return bytes.fromhex(value[2:])
