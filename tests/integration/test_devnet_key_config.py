"""The devnet harness's key rotation edits of a member's configuration (harness.devnet
`set_next_key`, `set_current_key`), read back by the daemon's own loader on real files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import devnet
from relayer.config import load_config

pytestmark = pytest.mark.integration


def member_config(tmp_path: Path) -> Path:
    contract = SimpleNamespace(address="0x" + "11" * 20)
    dep: Any = SimpleNamespace(
        consortium_url="http://127.0.0.1:1",
        ethereum_url="http://127.0.0.1:2",
        vault=contract,
        gateway=SimpleNamespace(address="0x" + "22" * 20),
        consortium_block=1,
        ethereum_block=1,
        spokes={},  # no third chain
        issuer=None,  # no issuer registry
    )
    keys = tmp_path / "keys"
    return devnet.write_node_config(
        tmp_path, 2, dep, 1883, keys / "committee.json", keys / "member-2.json", network="devnet"
    )


def test_the_next_key_is_added_replaced_and_removed_and_the_rest_of_the_configuration_stays(
    tmp_path: Path,
) -> None:
    config = member_config(tmp_path)
    before = load_config(config)
    assert before.committee.next is None
    nxt, other = tmp_path / "keys" / "next", tmp_path / "keys" / "other"

    devnet.set_next_key(config, nxt / "committee.json", nxt / "member-2.json")
    devnet.set_next_key(config, other / "committee.json", other / "member-2.json")  # replaces it
    loaded = load_config(config)
    assert loaded.committee.next is not None
    assert loaded.committee.next.public_file == other / "committee.json"
    assert loaded.committee.next.key_file == other / "member-2.json"
    assert config.read_text().splitlines().count("[committee.next]") == 1
    assert loaded.committee.public_file == before.committee.public_file
    assert loaded.committee.key_file == before.committee.key_file
    assert loaded.committee.rule == before.committee.rule
    assert loaded.routes == before.routes
    assert loaded.chains == before.chains

    devnet.set_next_key(config, None)
    assert load_config(config).committee.next is None
    assert "committee.next" not in config.read_text()
    with pytest.raises(ValueError, match="needs this member's share"):
        devnet.set_next_key(config, nxt / "committee.json")


def test_after_a_rotation_the_current_key_moves_on_and_a_keystore_share_names_its_password(
    tmp_path: Path,
) -> None:
    config = member_config(tmp_path)
    nxt, third = tmp_path / "keys" / "next", tmp_path / "keys" / "epoch3"
    devnet.set_next_key(config, nxt / "committee.json", nxt / "member-2.json")

    devnet.set_current_key(config, nxt / "committee.json", nxt / "member-2.json")
    devnet.set_next_key(config, third / "committee.json", third / "member-2.keystore.json")
    loaded = load_config(config)
    assert loaded.committee.public_file == nxt / "committee.json"
    assert loaded.committee.key_file == nxt / "member-2.json"
    assert loaded.committee.next is not None
    assert loaded.committee.next.public_file == third / "committee.json"
    assert loaded.committee.next.key_file is None
    assert loaded.committee.next.keystore_file == third / "member-2.keystore.json"
    assert loaded.committee.next.password_file == third / "member-2.password"

    # a keystore as the current share: the key file line goes, the keystore's two lines come
    devnet.set_current_key(config, third / "committee.json", third / "member-2.keystore.json")
    loaded = load_config(config)
    assert loaded.committee.key_file is None
    assert loaded.committee.keystore_file == third / "member-2.keystore.json"
    assert loaded.committee.password_file == third / "member-2.password"
    assert loaded.committee.next is not None  # untouched
