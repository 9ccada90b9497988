"""Member key files and the committee's public file (JSON).

A member key file (mode 0600) holds one dealer share::

    {"version": 1, "kind": "qiao-dealer-share", "index": 1, "secret": "0x<32 bytes>",
     "threshold": 3, "key_epoch": 1, "group_public_key": "0x<96 bytes>",
     "public_shares": {"1": "0x<96 bytes>", ...}}

The public file (mode 0644) has the same fields without "index" and "secret", with kind
"qiao-committee-public". Loading checks everything: exact fields, kind and version, every point,
the secret's range, and that the secret matches the member's published public share. Every
refusal is a `KeyFileError` that names the file and says how to fix it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as _secrets
import stat
from pathlib import Path
from typing import Any, Final

from committee.bls import CURVE_ORDER, G2_LEN, InvalidPoint
from committee.threshold import CommitteePublic, KeyEpoch, KeyShare, MemberIndex

__all__ = [
    "KEY_FILE_KIND",
    "KEY_FILE_VERSION",
    "PUBLIC_FILE_KIND",
    "KeyFileError",
    "load_key_file",
    "load_public_file",
    "write_key_file",
    "write_public_file",
]

KEY_FILE_VERSION: Final = 1
KEY_FILE_KIND: Final = "qiao-dealer-share"
PUBLIC_FILE_KIND: Final = "qiao-committee-public"

_PUBLIC_FIELDS: Final = frozenset(
    {"version", "kind", "threshold", "key_epoch", "group_public_key", "public_shares"}
)
_KEY_FIELDS: Final = _PUBLIC_FIELDS | {"index", "secret"}
_SECRET_LEN: Final = 32
_REDEAL: Final = "deal a new one with `python -m committee.deal`"


class KeyFileError(ValueError):
    """A key or public file cannot be used; the message names the file and the fix."""

    def __init__(self, path: str | os.PathLike[str], problem: str, fix: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}; {fix}")


# --- writing ---------------------------------------------------------------------------------


def _public_fields(public: CommitteePublic, kind: str) -> dict[str, Any]:
    return {
        "version": KEY_FILE_VERSION,
        "kind": kind,
        "threshold": public.threshold,
        "key_epoch": public.key_epoch,
        "group_public_key": "0x" + public.group_public_key.hex(),
        "public_shares": {str(i): "0x" + public.public_shares[i].hex() for i in public.members},
    }


def write_key_file(path: str | os.PathLike[str], share: KeyShare, *, overwrite: bool = False) -> None:
    """Write `share` to `path` atomically with mode 0600.

    The file is created new (O_CREAT | O_EXCL, mode 0600) beside `path`, written, synced and
    then linked into place. An existing `path` is refused unless `overwrite` is set.
    """
    fields = _public_fields(share.public, KEY_FILE_KIND)
    document = {
        "version": fields.pop("version"),
        "kind": fields.pop("kind"),
        "index": share.index,
        "secret": "0x" + share.secret.to_bytes(_SECRET_LEN, "big").hex(),
        **fields,
    }
    _write_atomically(Path(path), _encode(document), 0o600, overwrite=overwrite)


def write_public_file(
    path: str | os.PathLike[str], public: CommitteePublic, *, overwrite: bool = False
) -> None:
    """Write the committee's public data (no secrets) to `path` atomically with mode 0644."""
    document = _public_fields(public, PUBLIC_FILE_KIND)
    _write_atomically(Path(path), _encode(document), 0o644, overwrite=overwrite)


def _encode(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def _write_atomically(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    temporary = path.with_name(f".{path.name}.{_secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise KeyFileError(path, "already exists", "remove it first or pass overwrite=True") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- loading ---------------------------------------------------------------------------------


def load_key_file(path: str | os.PathLike[str]) -> KeyShare:
    """Read and fully check a member key file; raises `KeyFileError`."""
    path = Path(path)
    document = _read_json(path, private=True)
    _check_fields(path, document, _KEY_FIELDS, KEY_FILE_KIND)
    public = _public_from(path, document)
    index = document["index"]
    if not _is_int(index) or index not in public.members:
        raise KeyFileError(
            path,
            f"index {index!r} is not one of the members {list(public.members)}",
            "set index to this member's number",
        )
    secret = _hex(path, document, "secret", _SECRET_LEN)
    value = int.from_bytes(secret, "big")
    if not 1 <= value < CURVE_ORDER:
        raise KeyFileError(path, "secret is out of range (must be 1 <= secret < r)", _REDEAL)
    try:
        return KeyShare(index=MemberIndex(index), secret=value, public=public)
    except ValueError:
        raise KeyFileError(
            path,
            f"the secret does not match the public share of member {index}"
            " (tampered, or from another committee)",
            f"restore this member's original key file or {_REDEAL}",
        ) from None


def load_public_file(path: str | os.PathLike[str]) -> CommitteePublic:
    """Read and fully check the committee's public file; raises `KeyFileError`."""
    path = Path(path)
    document = _read_json(path, private=False)
    _check_fields(path, document, _PUBLIC_FIELDS, PUBLIC_FILE_KIND)
    return _public_from(path, document)


def _read_json(path: Path, *, private: bool) -> dict[str, Any]:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(path, "file not found", f"check the path, or {_REDEAL}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(path, "not a regular file", "point to the JSON file itself")
    if private and info.st_mode & 0o077:
        raise KeyFileError(
            path,
            f"key file is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"run `chmod 600 {path}`",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(path, f"cannot be read ({exc})", "check the file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(
            path, f"malformed JSON ({exc})", f"restore the file from its backup or {_REDEAL}"
        ) from None
    if not isinstance(document, dict):
        raise KeyFileError(path, "top level is not a JSON object", _REDEAL)
    return document


def _check_fields(path: Path, document: dict[str, Any], expected: frozenset[str], kind: str) -> None:
    missing = sorted(expected - document.keys())
    extra = sorted(document.keys() - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing field(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected field(s) {', '.join(extra)}")
        raise KeyFileError(path, "; ".join(parts), f"fields must be exactly {sorted(expected)}")
    if document["kind"] != kind:
        raise KeyFileError(path, f"kind is {document['kind']!r}, expected {kind!r}", "use the right file")
    if document["version"] != KEY_FILE_VERSION or not _is_int(document["version"]):
        raise KeyFileError(
            path,
            f"version is {document['version']!r}; this program reads version {KEY_FILE_VERSION}",
            "upgrade the program or re-deal the keys",
        )


def _public_from(path: Path, document: dict[str, Any]) -> CommitteePublic:
    threshold, key_epoch = document["threshold"], document["key_epoch"]
    for name, value in (("threshold", threshold), ("key_epoch", key_epoch)):
        if not _is_int(value):
            raise KeyFileError(path, f"{name} must be an integer, got {value!r}", _REDEAL)
    group_key = _hex(path, document, "group_public_key", G2_LEN)
    raw_shares = document["public_shares"]
    if not isinstance(raw_shares, dict) or not raw_shares:
        raise KeyFileError(path, "public_shares must be a non-empty object", _REDEAL)
    shares: dict[MemberIndex, bytes] = {}
    for key, value in raw_shares.items():
        if not (isinstance(key, str) and key.isdigit() and key == str(int(key)) and int(key) >= 1):
            raise KeyFileError(path, f"public_shares key {key!r} is not a member index", _REDEAL)
        shares[MemberIndex(int(key))] = _hex(path, {key: value}, key, G2_LEN, "public share ")
    try:
        return CommitteePublic(
            threshold=threshold,
            members=tuple(sorted(shares)),
            public_shares=shares,
            group_public_key=group_key,
            key_epoch=KeyEpoch(key_epoch),
        )
    except InvalidPoint as exc:
        raise KeyFileError(path, f"invalid point: {exc}", _REDEAL) from None
    except ValueError as exc:
        raise KeyFileError(path, f"invalid committee data: {exc}", _REDEAL) from None


def _hex(path: Path, document: dict[str, Any], name: str, length: int, label: str = "") -> bytes:
    value = document[name]
    what = f"{label}{name}"
    if not isinstance(value, str) or not value.startswith("0x"):
        raise KeyFileError(path, f"{what} must be a 0x-prefixed hex string", _REDEAL)
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise KeyFileError(path, f"{what} is not valid hex", _REDEAL) from None
    if len(raw) != length:
        raise KeyFileError(path, f"{what} must be {length} bytes, got {len(raw)}", _REDEAL)
    return raw


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
