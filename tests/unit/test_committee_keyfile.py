"""committee.keyfile and the committee.deal CLI: files round-trip and bad files are refused."""

from __future__ import annotations

import json
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from committee.bls import CURVE_ORDER, ArkworksBackend
from committee.deal import main as deal_main
from committee.keyfile import (
    KeyFileError,
    load_key_file,
    load_public_file,
    write_key_file,
    write_public_file,
)
from committee.threshold import KeyShare, combine, deal, partial_sign, verify

ARK = ArkworksBackend()


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return deal(4, 3, key_epoch=5, rng=random.Random(11))


@pytest.fixture
def key_path(tmp_path: Path, shares: list[KeyShare]) -> Path:
    path = tmp_path / "member-2.json"
    write_key_file(path, shares[1])
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_key_file_round_trips(key_path: Path, shares: list[KeyShare]) -> None:
    loaded = load_key_file(key_path)
    assert loaded == shares[1]
    assert loaded.public.key_epoch == 5


def test_key_file_has_the_documented_layout(key_path: Path, shares: list[KeyShare]) -> None:
    document = json.loads(key_path.read_text())
    assert list(document) == [
        "version",
        "kind",
        "index",
        "secret",
        "threshold",
        "key_epoch",
        "group_public_key",
        "public_shares",
    ]
    assert document["version"] == 1
    assert document["kind"] == "qiao-dealer-share"
    assert document["index"] == 2
    assert document["secret"] == "0x" + shares[1].secret.to_bytes(32, "big").hex()
    assert list(document["public_shares"]) == ["1", "2", "3", "4"]
    assert len(bytes.fromhex(document["group_public_key"][2:])) == 96


def test_key_file_is_written_with_mode_0600_even_under_a_loose_umask(
    tmp_path: Path, shares: list[KeyShare]
) -> None:
    old = os.umask(0)
    try:
        write_key_file(tmp_path / "k.json", shares[0])
    finally:
        os.umask(old)
    assert mode(tmp_path / "k.json") == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]  # no temporary file left


def test_existing_key_file_is_not_overwritten_unless_asked(key_path: Path, shares: list[KeyShare]) -> None:
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(key_path, shares[0])
    assert load_key_file(key_path) == shares[1]
    write_key_file(key_path, shares[0], overwrite=True)
    assert load_key_file(key_path) == shares[0]
    assert mode(key_path) == 0o600


def test_public_file_round_trips_without_secrets(tmp_path: Path, shares: list[KeyShare]) -> None:
    path = tmp_path / "committee.json"
    write_public_file(path, shares[0].public)
    assert mode(path) == 0o644
    assert load_public_file(path) == shares[0].public
    text = path.read_text()
    assert "secret" not in text
    for share in shares:
        assert share.secret.to_bytes(32, "big").hex() not in text
    assert json.loads(text)["kind"] == "qiao-committee-public"


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644, 0o700 | 0o007])
def test_key_file_readable_by_others_is_refused_with_the_chmod_fix(key_path: Path, loose: int) -> None:
    key_path.chmod(loose)
    with pytest.raises(KeyFileError, match=rf"accessible by group or others.*chmod 600 {key_path}"):
        load_key_file(key_path)


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"nope\.json: file not found"):
        load_key_file(tmp_path / "nope.json")


def test_malformed_json_is_refused(key_path: Path) -> None:
    key_path.write_text('{"version": 1,')
    with pytest.raises(KeyFileError, match="malformed JSON") as err:
        load_key_file(key_path)
    assert err.value.path == key_path
    assert str(key_path) in str(err.value)


def test_non_object_json_is_refused(key_path: Path) -> None:
    key_path.write_text("[1, 2]")
    with pytest.raises(KeyFileError, match="not a JSON object"):
        load_key_file(key_path)


def test_tampered_secret_is_refused(key_path: Path, shares: list[KeyShare]) -> None:
    other = (shares[1].secret + 1).to_bytes(32, "big").hex()
    rewrite(key_path, lambda d: d.update(secret="0x" + other))
    with pytest.raises(KeyFileError, match="does not match the public share of member 2"):
        load_key_file(key_path)


def test_another_members_secret_is_refused(key_path: Path, shares: list[KeyShare]) -> None:
    other = shares[0].secret.to_bytes(32, "big").hex()
    rewrite(key_path, lambda d: d.update(secret="0x" + other))
    with pytest.raises(KeyFileError, match="does not match"):
        load_key_file(key_path)


def _set(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.update({name: value})


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(name)


def _share(index: str, value: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["public_shares"].update({index: value})


_IDENTITY_G2 = "0x" + (b"\xc0" + bytes(95)).hex()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("secret"), "missing field.*secret"),
        (_drop("public_shares"), "missing field.*public_shares"),
        (_set("comment", "hi"), "unexpected field.*comment"),
        (_set("kind", "qiao-committee-public"), "kind is 'qiao-committee-public'"),
        (_set("version", 2), "version is 2; this program reads version 1"),
        (_set("index", 7), "index 7 is not one of the members"),
        (_set("index", "2"), "index '2' is not one of the members"),
        (_set("secret", "0x00"), "secret must be 32 bytes"),
        (_set("secret", "0x" + bytes(32).hex()), "secret is out of range"),
        (_set("secret", "0x" + CURVE_ORDER.to_bytes(32, "big").hex()), "out of range"),
        (_set("secret", "12"), "0x-prefixed hex"),
        (_set("secret", "0xzz"), "not valid hex"),
        (_set("threshold", 5), "invalid committee data: threshold 5"),
        (_set("threshold", "3"), "threshold must be an integer"),
        (_set("key_epoch", None), "key_epoch must be an integer"),
        (_set("group_public_key", "0x" + bytes(96).hex()), "invalid point: group public key"),
        (_set("group_public_key", _IDENTITY_G2), "invalid point: group public key.*identity"),
        (_share("3", _IDENTITY_G2), "invalid point: public share of member 3"),
        (_share("3", "0x1234"), "public share 3 must be 96 bytes"),
        (_share("x", _IDENTITY_G2), "public_shares key 'x' is not a member index"),
        (_share("01", _IDENTITY_G2), "public_shares key '01'"),
        (_set("public_shares", {}), "non-empty object"),
    ],
)
def test_bad_key_file_is_refused_with_a_clear_reason(
    key_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    rewrite(key_path, change)
    with pytest.raises(KeyFileError, match=message) as err:
        load_key_file(key_path)
    assert str(err.value).startswith(f"{key_path}: ")


def test_public_share_swapped_with_another_committees_is_refused(
    key_path: Path, shares: list[KeyShare]
) -> None:
    foreign = deal(4, 3)[0].public.public_shares[3]
    rewrite(key_path, _share("3", "0x" + foreign.hex()))
    with pytest.raises(KeyFileError, match="inconsistent"):
        load_key_file(key_path)


def test_public_file_refuses_a_key_file(key_path: Path) -> None:
    with pytest.raises(KeyFileError, match="unexpected field"):
        load_public_file(key_path)


def test_deal_cli_writes_a_working_committee(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "keys"
    assert deal_main(["--n", "4", "--t", "3", "--out", str(out), "--key-epoch", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "committee.json",
        "member-1.json",
        "member-2.json",
        "member-3.json",
        "member-4.json",
    ]
    public = load_public_file(out / "committee.json")
    members = [load_key_file(out / f"member-{i}.json") for i in (1, 2, 3, 4)]
    assert public.key_epoch == 2
    assert all(m.public == public for m in members)
    assert all(mode(out / f"member-{i}.json") == 0o600 for i in (1, 2, 3, 4))
    message = b"\x07" * 32
    signature = combine(public, {m.index: partial_sign(m, message) for m in members[1:]})
    assert verify(public.group_public_key, message, signature)
    assert "secret" not in capsys.readouterr().out


def test_deal_cli_refuses_to_mix_two_committees_in_one_directory(tmp_path: Path, capsys: Any) -> None:
    assert deal_main(["--n", "2", "--t", "2", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "member-1.json").read_bytes()
    assert deal_main(["--n", "3", "--t", "2", "--out", str(tmp_path)]) == 1
    assert "use --force" in capsys.readouterr().err
    assert (tmp_path / "member-1.json").read_bytes() == before
    assert not (tmp_path / "member-3.json").exists()
    assert deal_main(["--n", "2", "--t", "2", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "member-1.json").read_bytes() != before


def test_deal_cli_refuses_a_threshold_above_n(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        deal_main(["--n", "2", "--t", "3", "--out", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []
