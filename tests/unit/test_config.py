"""Configuration: every error reported at once, with its path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayer.config import ConfigError, load_config, read_secret_file

GOOD = """
[node]
member_index = 1
data_dir = "data"

[committee]
public_file = "keys/committee.json"
key_file = "keys/member-1.json"
window_blocks = 3
max_batch = 50

[mqtt]
network = "devnet"

[relayer]
enabled = true
account_key_file = "relayer.key"

[chains.consortium]
chain_id = 7001
rpc = "http://127.0.0.1:8545"
endpoint = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
finality_depth = 0

[chains.ethereum]
chain_id = 7002
rpc = "http://127.0.0.1:8546"
endpoint = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
finality_depth = 2

[[routes]]
src = "consortium"
dst = "ethereum"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ={})
    assert cfg.member_index == 1
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.committee.rule.window_blocks == 3
    assert cfg.chains["consortium"].endpoint == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert [str(r) for r in cfg.routes] == ["7001->7002"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {"QIAO_CHAINS__ETHEREUM__RPC": "http://10.0.0.1:9", "QIAO_NODE__MEMBER_INDEX": "3"}
    cfg = load_config(write(tmp_path, GOOD), environ=env)
    assert cfg.chains["ethereum"].rpc == "http://10.0.0.1:9"
    assert cfg.member_index == 3


def test_every_error_is_listed_with_its_path_and_fix(tmp_path: Path) -> None:
    bad = (
        GOOD.replace('rpc = "http://127.0.0.1:8545"', 'rpc = "ftp://x"')
        .replace("member_index = 1", "member_index = 0")
        .replace('dst = "ethereum"', 'dst = "moon"')
        .replace('network = "devnet"', 'network = "a/b"')
        .replace("max_batch = 50", "max_batch = 0")
        .replace('endpoint = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"', 'endpoint = "nope"')
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad), environ={})
    text = str(info.value)
    for expected in [
        "chains.consortium.rpc: 'ftp://x' must be an http(s) URL",
        "node.member_index: 0 must be >= 1",
        "routes[0].dst: unknown chain 'moon'",
        "mqtt.network: 'a/b'",
        "max_batch 0 must be in 1..400",
        "chains.ethereum.endpoint: 'nope' is not an address",
    ]:
        assert expected in text
    assert len(info.value.errors) == 6


def test_a_missing_key_names_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="chains.consortium.rpc: missing; set it or QIAO_CHAINS__CONSORTIUM__RPC"
    ):
        load_config(write(tmp_path, GOOD.replace('rpc = "http://127.0.0.1:8545"\n', "")), environ={})


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[node\nmember_index ="), environ={})


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_wrong_types_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chains.ethereum.finality_depth: expected int, got str"):
        load_config(write(tmp_path, GOOD.replace("finality_depth = 2", 'finality_depth = "2"')), environ={})


def test_relaying_without_an_account_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="relayer.account_key_file: missing while relayer.enabled"):
        load_config(write(tmp_path, GOOD.replace('account_key_file = "relayer.key"\n', "")), environ={})


def test_secret_files_readable_by_others_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("0xabc\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secret_file(secret, "relayer.account_key_file")
    secret.chmod(0o600)
    assert read_secret_file(secret, "relayer.account_key_file") == "0xabc"


def test_the_shipped_example_profile_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "config" / "devnet.example.toml", environ={})
    assert {c.chain_id for c in cfg.chains.values()} == {7001, 7002}
    assert len(cfg.routes) == 2


def test_actions_name_the_source_registry_and_its_followers(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ={})
    assert cfg.actions.registry_from is None  # absent: nothing is carried
    good = (
        GOOD + '\n[actions]\nregistry_from = "consortium"\nregistry_to = ["ethereum"]\nproposal_ttl = 600\n'
    )
    cfg = load_config(write(tmp_path, good), environ={})
    assert (cfg.actions.registry_from, cfg.actions.registry_to, cfg.actions.proposal_ttl) == (
        "consortium",
        ("ethereum",),
        600.0,
    )


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ('registry_from = "consortium"', "set both registry_from and registry_to, or neither"),
        ('registry_from = "consortium"\nregistry_to = ["moon"]', "unknown chain 'moon'"),
        ('registry_from = "consortium"\nregistry_to = ["consortium"]', "cannot follow its own registry"),
        ('registry_from = "consortium"\nregistry_to = "ethereum"', "expected a list of chain names"),
        ("proposal_ttl = 0", "must be between 0 and 604800 seconds"),
        ("proposal_tll = 60", "did you mean actions.proposal_ttl?"),
    ],
)
def test_bad_actions_are_reported(tmp_path: Path, table: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD + "\n[actions]\n" + table + "\n"), environ={})
    assert why in str(err.value)


THIRD_CHAIN = """
[chains.l2]
chain_id = 7003
rpc = "http://127.0.0.1:8547"
endpoint = "0x0165878a594ca255338adfa4d48449f69242eb8f"
finality = "finalized"

[[routes]]
src = "ethereum"
dst = "consortium"

[[routes]]
src = "consortium"
dst = "l2"

[[routes]]
src = "l2"
dst = "consortium"

[actions]
registry_from = "consortium"
registry_to = ["ethereum", "l2"]
"""


def test_a_third_chain_and_its_routes_are_configuration_only(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD + THIRD_CHAIN), environ={})
    assert [str(r) for r in cfg.routes] == ["7001->7002", "7002->7001", "7001->7003", "7003->7001"]
    assert cfg.chains["l2"].finality == "finalized"
    assert cfg.chain_by_id(7003).name == "l2"
    assert cfg.actions.registry_to == ("ethereum", "l2")


def test_a_route_to_a_chain_not_configured_names_the_table_to_add(tmp_path: Path) -> None:
    text = GOOD + '\n[[routes]]\nsrc = "consortium"\ndst = "l2"\n'
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    assert "routes[1].dst: unknown chain 'l2'; define [chains.l2]" in str(err.value)


def test_a_chain_polls_only_unless_it_names_a_ws_endpoint(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), environ={})
    assert cfg.chains["consortium"].ws is None
    pushed = GOOD.replace(
        'rpc = "http://127.0.0.1:8546"\n',
        'rpc = "http://127.0.0.1:8546"\nws = "wss://node.example:8546/ws"\n',
    )
    cfg = load_config(write(tmp_path, pushed), environ={})
    assert cfg.chains["ethereum"].ws == "wss://node.example:8546/ws"
    assert cfg.chains["consortium"].ws is None  # per chain
    env = {"QIAO_CHAINS__CONSORTIUM__WS": "ws://127.0.0.1:8545"}
    assert load_config(write(tmp_path, GOOD), environ=env).chains["consortium"].ws == "ws://127.0.0.1:8545"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"http://127.0.0.1:8545"', "must be a ws:// or wss:// URL, not http"),
        ('"127.0.0.1:8545"', "must be a ws:// or wss:// URL"),
        ('"ws://:8545"', "has no host"),
        ('"ws://127.0.0.1:port"', "is not a URL"),
        ('"ws://127.0.0.1:0"', "has port 0"),
        ('["ws://127.0.0.1:8545"]', "expected str, got list"),
    ],
)
def test_a_bad_ws_url_is_refused_with_the_fix(tmp_path: Path, value: str, problem: str) -> None:
    bad = GOOD.replace('rpc = "http://127.0.0.1:8545"\n', f'rpc = "http://127.0.0.1:8545"\nws = {value}\n')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad), environ={})
    assert len(info.value.errors) == 1, info.value.errors
    line = info.value.errors[0]
    assert line.startswith("chains.consortium.ws: "), line
    assert problem in line
    if "expected" not in problem:
        assert "or remove ws to poll only" in line  # what to do about it


def test_the_shipped_profiles_push_heads_where_the_node_offers_it() -> None:
    root = Path(__file__).resolve().parents[2]
    example = load_config(root / "config" / "devnet.example.toml", environ={})
    for chain in example.chains.values():  # anvil serves WebSocket on its HTTP port
        assert chain.ws == "ws" + chain.rpc.removeprefix("http")


def test_the_issuer_registry_and_the_nav_age_are_read_and_checked(tmp_path: Path) -> None:
    base = GOOD + '\n[actions]\nregistry_from = "consortium"\nregistry_to = ["ethereum"]\n'

    def parse(text: str):  # type: ignore[no-untyped-def]
        return load_config(write(tmp_path, text), environ={})

    cfg = parse(base + 'issuer_registry = "0x' + "12" * 20 + '"\nnav_max_age = 3600\n')
    assert (cfg.actions.issuer_registry, cfg.actions.nav_max_age) == ("0x" + "12" * 20, 3600.0)
    assert parse(base).actions.issuer_registry is None
    for bad, why in (
        ('issuer_registry = "0x12"', "is not a non-zero 0x address"),
        ('issuer_registry = "0x' + "00" * 20 + '"', "is not a non-zero 0x address"),
        ("nav_max_age = 0", "must be a positive number of seconds"),
    ):
        with pytest.raises(ConfigError, match=why):
            parse(base + bad + "\n")
