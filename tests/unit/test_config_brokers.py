"""`[mqtt]` with several brokers (`[[mqtt.brokers]]`): each with its own address, TLS and
credential; the single-broker form keeps working; a bad entry is a clear error naming its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayer.config import BrokerConfig, ConfigError, load_config
from tests.unit.test_config import GOOD

SINGLE = """[mqtt]
network = "devnet"
host = "broker.example"
port = 8883
username = "member-1"
password_file = "secrets/mqtt.password"
tls_ca_file = "ca.crt"
"""

THREE = """[mqtt]
network = "devnet"
min_brokers = 2

[[mqtt.brokers]]
name = "bank-a"
host = "mqtt.bank-a.example"
port = 8883
username = "member-1"
password_file = "secrets/bank-a.password"
tls_ca_file = "bank-a-ca.crt"

[[mqtt.brokers]]
name = "bank-b"
host = "mqtt.bank-b.example"
port = 8884
username = "m1"
password_file = "/run/secrets/bank-b.password"

[[mqtt.brokers]]
host = "10.0.0.7"
"""


def load(tmp_path: Path, mqtt: str, environ: dict[str, str] | None = None) -> object:
    path = tmp_path / "node.toml"
    path.write_text(GOOD.replace('[mqtt]\nnetwork = "devnet"\n', mqtt))
    return load_config(path, environ=environ or {})


def errors(tmp_path: Path, mqtt: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, mqtt)
    return str(info.value)


def test_the_single_broker_form_is_one_broker_named_by_its_address(tmp_path: Path) -> None:
    cfg = load(tmp_path, SINGLE)
    mqtt = cfg.mqtt  # type: ignore[attr-defined]
    assert mqtt.brokers == ()
    assert mqtt.min_brokers == 1
    assert mqtt.endpoints == (
        BrokerConfig(
            "broker.example:8883",
            "broker.example",
            8883,
            "member-1",
            tmp_path / "secrets/mqtt.password",
            tmp_path / "ca.crt",
        ),
    )
    assert (mqtt.host, mqtt.port, mqtt.username) == ("broker.example", 8883, "member-1")


def test_the_single_broker_form_still_takes_its_defaults_and_environment(tmp_path: Path) -> None:
    cfg = load(tmp_path, '[mqtt]\nnetwork = "devnet"\n', {"QIAO_MQTT__PORT": "1999"})
    (only,) = cfg.mqtt.endpoints  # type: ignore[attr-defined]
    assert (only.name, only.host, only.port, only.username, only.tls_ca_file) == (
        "127.0.0.1:1999",
        "127.0.0.1",
        1999,
        None,
        None,
    )


def test_several_brokers_each_with_its_own_address_tls_and_credential(tmp_path: Path) -> None:
    mqtt = load(tmp_path, THREE).mqtt  # type: ignore[attr-defined]
    a, b, c = mqtt.endpoints
    assert mqtt.brokers == (a, b, c)
    assert a == BrokerConfig(
        "bank-a",
        "mqtt.bank-a.example",
        8883,
        "member-1",
        tmp_path / "secrets/bank-a.password",
        tmp_path / "bank-a-ca.crt",
    )
    assert b == BrokerConfig(
        "bank-b", "mqtt.bank-b.example", 8884, "m1", Path("/run/secrets/bank-b.password")
    )
    assert c == BrokerConfig("10.0.0.7:1883", "10.0.0.7", 1883)  # no name: its address; no TLS
    assert mqtt.min_brokers == 2
    assert (mqtt.host, mqtt.port) == ("mqtt.bank-a.example", 8883)  # the first broker's


def test_min_brokers_defaults_to_every_broker_listed(tmp_path: Path) -> None:
    mqtt = load(tmp_path, THREE.replace("min_brokers = 2\n", "")).mqtt  # type: ignore[attr-defined]
    assert mqtt.min_brokers == 3


def test_one_broker_in_the_list_form_keeps_its_name(tmp_path: Path) -> None:
    one = '[mqtt]\nnetwork = "devnet"\n[[mqtt.brokers]]\nname = "solo"\nhost = "h"\nport = 1\n'
    mqtt = load(tmp_path, one).mqtt  # type: ignore[attr-defined]
    assert [b.name for b in mqtt.endpoints] == ["solo"]
    assert mqtt.min_brokers == 1


@pytest.mark.parametrize(
    ("mqtt", "expected"),
    [
        (
            THREE.replace("min_brokers = 2", 'min_brokers = 2\nhost = "x"'),
            "mqtt.host: set in [mqtt] beside [[mqtt.brokers]]",
        ),
        (THREE.replace("min_brokers = 2", "min_brokers = 4"), "mqtt.min_brokers: 4 must be between 1 and"),
        (THREE.replace("min_brokers = 2", "min_brokers = 0"), "mqtt.min_brokers: 0 must be between 1 and"),
        (SINGLE + "min_brokers = 2\n", "mqtt.min_brokers: 2 must be between 1 and the number of brokers"),
        (THREE.replace('name = "bank-b"', 'name = "bank-a"'), "mqtt.brokers[1].name: 'bank-a' is also"),
        (THREE.replace('name = "bank-b"', 'name = "bank b"'), "mqtt.brokers[1].name: 'bank b' must be"),
        (
            THREE.replace(
                'host = "mqtt.bank-b.example"\nport = 8884', 'host = "mqtt.bank-a.example"\nport = 8883'
            ),
            "mqtt.brokers[1]: mqtt.bank-a.example:8883 is also 'bank-a''s address",
        ),
        (THREE.replace('host = "mqtt.bank-b.example"\n', ""), "mqtt.brokers[1].host: missing"),
        (THREE.replace("port = 8884", "port = 70000"), "mqtt.brokers[1].port: 70000 is not a TCP port"),
        (THREE.replace("port = 8884", 'port = "8884"'), "mqtt.brokers[1].port: expected int, got str"),
        (THREE.replace('username = "m1"', 'usrname = "m1"'), "mqtt.brokers[1].usrname = 'm1': unknown key"),
        (THREE.replace('host = "10.0.0.7"', 'host = "bad host"'), "mqtt.brokers[2].host: 'bad host' is not"),
        ('[mqtt]\nnetwork = "devnet"\nbrokers = []\n', "mqtt.brokers: expected [[mqtt.brokers]] tables"),
        ('[mqtt]\nnetwork = "devnet"\nbrokers = ["a"]\n', "mqtt.brokers: expected [[mqtt.brokers]] tables"),
        (SINGLE.replace("port = 8883", "port = 0"), "mqtt.port: 0 is not a TCP port"),
    ],
)
def test_a_bad_broker_entry_is_a_clear_error(tmp_path: Path, mqtt: str, expected: str) -> None:
    text = errors(tmp_path, mqtt)
    assert expected in text, text
    assert text.startswith(str(tmp_path / "node.toml") + ": ")


def test_the_unknown_key_hint_names_the_brokers_keys(tmp_path: Path) -> None:
    text = errors(tmp_path, THREE.replace('username = "m1"', 'usrname = "m1"'))
    assert "did you mean mqtt.brokers[1].username?" in text


def test_every_bad_entry_is_reported_at_once(tmp_path: Path) -> None:
    bad = THREE.replace('name = "bank-b"', 'name = "bank-a"').replace("port = 8883", "port = -1")
    text = errors(tmp_path, bad)
    assert "mqtt.brokers[0].port: -1 is not a TCP port" in text
    assert "mqtt.brokers[1].name" not in text  # bank-a was refused first: the second name is free
    assert "mqtt.brokers[1].port" not in text


def test_a_missing_entry_key_names_no_environment_variable(tmp_path: Path) -> None:
    text = errors(tmp_path, THREE.replace('host = "10.0.0.7"', 'name = "c"'))
    assert text.endswith("mqtt.brokers[2].host: missing; set it"), text


@pytest.mark.parametrize(
    ("fragment", "names"),
    [
        ("independent.toml", ("bank-a", "bank-b", "bank-c")),
        ("bridged.toml", ("bank-a", "bank-b")),
        ("nats-cluster.toml", ("nats-1", "nats-2", "nats-3")),
    ],
)
def test_the_deployments_member_configurations_load(
    tmp_path: Path, fragment: str, names: tuple[str, ...]
) -> None:
    """deploy/mqtt/: a member's [mqtt] for each of the three broker deployments (docs/OPERATIONS.md)."""
    text = (Path(__file__).resolve().parents[2] / "deploy" / "mqtt" / fragment).read_text()
    mqtt = load(tmp_path, text).mqtt  # type: ignore[attr-defined]
    assert tuple(b.name for b in mqtt.endpoints) == names
    assert mqtt.min_brokers == 2
    assert all(b.tls_ca_file is not None and b.username == "member-1" for b in mqtt.endpoints)
