"""`config check` catches what `run` catches: one validation (relayer.ops.preflight after
relayer.config), a table of bad configurations, each judged by the first line of its error."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from committee.keyfile import write_key_file, write_public_file
from committee.threshold import KeyShare, deal
from relayer import daemon
from relayer.config import ConfigError, load_config
from relayer.ops import preflight

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil account 1


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return deal(4, 3, key_epoch=1, rng=random.Random(7))


def node_dir(tmp_path: Path, shares: list[KeyShare]) -> Path:
    """A member-1 configuration with every file it names, as the devnet writes them."""
    keys = tmp_path / "keys"
    keys.mkdir()
    write_public_file(keys / "committee.json", shares[0].public)
    write_key_file(keys / "member-1.json", shares[0])
    key = tmp_path / "relayer.key"
    key.write_text(ACCOUNT_KEY + "\n")
    key.chmod(0o600)
    text = (ROOT / "config" / "devnet.example.toml").read_text()
    text = (
        text.replace("../.devnet/keys/", "keys/")
        .replace("../.devnet/node-1/relayer.key", "relayer.key")
        .replace("../.devnet/node-1/data", "data")
    )
    (tmp_path / "node.toml").write_text(text)
    return tmp_path / "node.toml"


def check(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relayer.cli", "config", "check", "--config", str(config), *flags],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def first_error(config: Path) -> str:
    """The first line of the error that the shared validation gives for `config` (what both
    `config check` and `run` print), without the file name in front."""
    with pytest.raises(ConfigError) as info:
        preflight.load_material(load_config(config, environ={}))
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{config}: ")
    return first.removeprefix(f"{config}: ")


def edit(old: str, new: str) -> Callable[[Path], None]:
    def change(config: Path) -> None:
        text = config.read_text()
        assert old in text, old
        config.write_text(text.replace(old, new, 1))

    return change


def key_file_is_a_directory(config: Path) -> None:
    edit('key_file = "keys/member-1.json"', f'key_file = "{config.parent}"')(config)


def key_file_is_garbage(config: Path) -> None:
    path = config.parent / "keys" / "member-1.json"
    path.write_text("4f2a9c not json at all, garbage\n" * 10)
    path.chmod(0o600)


def key_file_of_member_2(config: Path, shares: list[KeyShare]) -> None:
    write_key_file(config.parent / "keys" / "member-2.json", shares[1])
    edit('key_file = "keys/member-1.json"', 'key_file = "keys/member-2.json"')(config)


def account_key_is_garbage(config: Path) -> None:
    (config.parent / "relayer.key").write_text("hello\n")


def account_key_readable_by_others(config: Path) -> None:
    (config.parent / "relayer.key").chmod(0o644)


def key_file_from_another_committee(config: Path) -> None:
    other = deal(4, 3, key_epoch=1, rng=random.Random(99))
    path = config.parent / "keys" / "member-1.json"
    path.unlink()
    write_key_file(path, other[0])


GATEWAY = "0x0165878A594ca255338adfa4d48449f69242Eb8F"
BAD_CHECKSUM = "0x0165878a594ca255338adfa4d48449f69242Eb8F"  # one letter's case changed

# (what is wrong, how to make it so, the start of the first error line, something it must say)
CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "misspelled window_blocks",
        edit("window_blocks = 2", "window_blcks = 2"),
        "committee.window_blcks = 2: unknown key",
        "did you mean committee.window_blocks?",
    ),
    (
        "misspelled max_fee_gwei",
        edit("max_fee_gwei = 500.0", "max_fee_gewi = 500.0"),
        "relayer.max_fee_gewi = 500.0: unknown key",
        "did you mean relayer.max_fee_gwei?",
    ),
    (
        "misspelled table",
        edit("[committee]", "[comittee]"),
        "[comittee]: unknown key",
        "did you mean committee?",
    ),
    (
        "a key nothing resembles",
        edit("[metrics]", "[metrics]\ncolour = 'blue'"),
        "metrics.colour = 'blue': unknown key",
        "remove it; known here: host, port",
    ),
    (
        "endpoint with a bad EIP-55 checksum",
        edit(GATEWAY, BAD_CHECKSUM),
        f"chains.ethereum.endpoint: '{BAD_CHECKSUM}' fails its EIP-55 checksum",
        "copy the address again from the deployment file",
    ),
    (
        "member_index not the key file's",
        edit("member_index = 1 ", "member_index = 3 "),
        "node.member_index = 3, but committee.key_file = ",
        "holds the share of member 1; set member_index = 1 or point key_file at member 3's key file",
    ),
    (
        "member_index outside the committee",
        edit("member_index = 1 ", "member_index = 5 "),
        "node.member_index = 5, but committee.key_file = ",
        "set member_index = 1",
    ),
    (
        "a directory as the key file",
        key_file_is_a_directory,
        "committee.key_file = ",
        "is a directory; point committee.key_file at the file itself",
    ),
    (
        "a key file full of garbage",
        key_file_is_garbage,
        "committee.key_file = ",
        "malformed JSON",
    ),
    (
        "a key file of another committee",
        key_file_from_another_committee,
        "committee.key_file = ",
        "its group key differs from committee.public_file",
    ),
    (
        "an account key that is not a key",
        account_key_is_garbage,
        "relayer.account_key_file = ",
        "does not hold a private key; write the submitting account's key as 0x + 64 hex digits",
    ),
    (
        "an account key readable by others",
        account_key_readable_by_others,
        "relayer.account_key_file = ",
        "is readable by group or others (mode 644); run: chmod 600",
    ),
    (
        "a missing committee file",
        edit('public_file = "keys/committee.json"', 'public_file = "keys/nope.json"'),
        "committee.public_file = ",
        "No such file or directory; create it or point committee.public_file (QIAO_COMMITTEE__PUBLIC_FILE)",
    ),
]


@pytest.mark.parametrize(("what", "make_bad", "starts", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_configuration_is_refused_with_key_value_and_fix_on_the_first_line(
    tmp_path: Path,
    shares: list[KeyShare],
    what: str,
    make_bad: Callable[[Path], None],
    starts: str,
    says: str,
) -> None:
    config = node_dir(tmp_path, shares)
    make_bad(config)
    first = first_error(config)
    assert first.startswith(starts), (what, first)
    assert says in first, (what, first)


def test_the_good_configuration_passes_the_same_checks(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = node_dir(tmp_path, shares)
    material = preflight.load_material(load_config(config, environ={}))
    assert material.share == shares[0]
    assert material.account is not None
    assert material.account.address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_a_key_file_of_another_member_is_refused(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = node_dir(tmp_path, shares)
    key_file_of_member_2(config, shares)
    assert first_error(config).endswith(
        "holds the share of member 2; set member_index = 2 or point key_file at member 1's key file"
    )


def test_no_chmod_advice_for_a_directory(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = node_dir(tmp_path, shares)
    key_file_is_a_directory(config)
    (config.parent).chmod(0o755)
    out = check(config)
    assert out.returncode == 2
    assert "run: chmod" not in out.stderr  # (the test directory itself is named ...chmod...)
    assert "is a directory" in out.stderr.splitlines()[0]


def test_config_check_prints_the_first_error_on_its_first_line(
    tmp_path: Path, shares: list[KeyShare]
) -> None:
    config = node_dir(tmp_path, shares)
    edit("max_fee_gwei = 500.0", "max_fee_gewi = 500.0")(config)
    out = check(config)
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == (
        f"{config}: relayer.max_fee_gewi = 500.0: unknown key; did you mean relayer.max_fee_gwei?"
    )
    as_json = check(config, "--json")
    assert json.loads(as_json.stdout)["errors"] == [
        "relayer.max_fee_gewi = 500.0: unknown key; did you mean relayer.max_fee_gwei?"
    ]


def test_config_check_passes_a_good_configuration(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = node_dir(tmp_path, shares)
    out = check(config)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{config}: OK (2 chains, 2 routes, member 1;")


def test_run_refuses_what_config_check_refuses(tmp_path: Path, shares: list[KeyShare]) -> None:
    """`run` goes through the same function before it opens the store or a chain: same first line."""
    config = node_dir(tmp_path, shares)
    edit("member_index = 1 ", "member_index = 3 ")(config)
    expected = first_error(config)
    cfg = load_config(config, environ={})
    import asyncio

    with pytest.raises(ConfigError) as info:
        asyncio.run(daemon.run(cfg))
    assert str(info.value).splitlines()[0] == f"{config}: {expected}"
    assert not (config.parent / "data").exists()  # refused before the store was created


def test_a_lowercase_address_has_no_checksum_and_is_accepted(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = node_dir(tmp_path, shares)
    edit(GATEWAY, GATEWAY.lower())(config)
    cfg = load_config(config, environ={})
    assert cfg.chains["ethereum"].endpoint == GATEWAY


def with_next(config: Path, shares: list[KeyShare], *, share_index: int = 0, key_file: bool = True) -> None:
    """Add `[committee.next]`: the committee of `shares` and this member's share of it."""
    keys = config.parent / "keys" / "next"
    keys.mkdir(exist_ok=True)
    write_public_file(keys / "committee.json", shares[0].public)
    write_key_file(keys / "member-1.json", shares[share_index])
    table = '\n[committee.next]\npublic_file = "keys/next/committee.json"\n'
    if key_file:
        table += 'key_file = "keys/next/member-1.json"\n'
    config.write_text(config.read_text() + table)


def test_the_next_key_of_a_rotation_is_loaded_beside_the_current_one(
    tmp_path: Path, shares: list[KeyShare]
) -> None:
    config = node_dir(tmp_path, shares)
    following = deal(4, 3, key_epoch=2, rng=random.Random(8))
    with_next(config, following)
    material = preflight.load_material(load_config(config, environ={}))
    assert material.keyring.epochs == (1, 2)
    assert material.keyring.share(2) == following[0]
    assert material.share == shares[0]  # the configuration's current key stays the first


@pytest.mark.parametrize(
    ("what", "epoch", "share_index", "key_file", "says"),
    [
        (
            "the same epoch again",
            1,
            0,
            True,
            "is not after committee.public_file's 1; the next key is epoch 2",
        ),
        ("an epoch skipped", 3, 0, True, "are not consecutive"),
        ("the share of another member", 2, 1, True, "holds the share of member 2"),
        ("no share of the next key", 2, 0, False, "a member holds a share of both keys or of neither"),
    ],
)
def test_a_next_key_that_cannot_follow_is_refused_with_its_fix(
    tmp_path: Path, shares: list[KeyShare], what: str, epoch: int, share_index: int, key_file: bool, says: str
) -> None:
    config = node_dir(tmp_path, shares)
    with_next(
        config, deal(4, 3, key_epoch=epoch, rng=random.Random(8)), share_index=share_index, key_file=key_file
    )
    with pytest.raises(ConfigError) as exc:
        preflight.load_material(load_config(config, environ={}))
    assert any(says in e for e in exc.value.errors), (what, exc.value.errors)


BROKERS = """[mqtt]
network = "devnet"

[[mqtt.brokers]]
name = "bank-a"
host = "127.0.0.1"
port = 1883
username = "member-1"
password_file = "a.password"

[[mqtt.brokers]]
name = "bank-b"
host = "127.0.0.1"
port = 1884
username = "member-1"
password_file = "b.password"
tls_ca_file = "b-ca.crt"
"""


def with_brokers(config: Path) -> Path:
    text = config.read_text()
    start = text.index("[mqtt]")
    end = text.index("[relayer]")
    config.write_text(text[:start] + BROKERS + "\n" + text[end:])
    for name, secret in (("a.password", "pa"), ("b.password", "pb")):
        (config.parent / name).write_text(secret + "\n")
        (config.parent / name).chmod(0o600)
    (config.parent / "b-ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return config


def test_each_brokers_password_is_read_from_its_own_file(tmp_path: Path, shares: list[KeyShare]) -> None:
    config = with_brokers(node_dir(tmp_path, shares))
    material = preflight.load_material(load_config(config, environ={}))
    assert material.mqtt_passwords == {"bank-a": "pa", "bank-b": "pb"}


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda d: (d / "b.password").chmod(0o644), "mqtt.brokers[1].password_file"),
        (lambda d: (d / "a.password").unlink(), "mqtt.brokers[0].password_file = "),
        (lambda d: (d / "b-ca.crt").unlink(), "mqtt.brokers[1].tls_ca_file = "),
    ],
)
def test_a_brokers_bad_file_is_refused_under_its_own_path(
    tmp_path: Path, shares: list[KeyShare], spoil: Callable[[Path], None], expected: str
) -> None:
    config = with_brokers(node_dir(tmp_path, shares))
    spoil(tmp_path)
    assert first_error(config).startswith(expected)
