"""A NATS cluster as the committee's broker (through its MQTT listener): users, node configurations.

`deploy/nats/nats-server.conf` is the production configuration of one node; `render_node` gives the
same file for node i of a cluster on this host (its directory, name, ports and routes replaced),
which is what the devnet and the tests run. `write_users` writes `users.conf`: one user per member
(member i publishes only under its own id and reads the committee's topics, as the mosquitto ACL in
relayer/provisioning/broker.py) and one password file per member (mode 0600).

    python -m relayer.provisioning.nats_cluster --network testnet --members 4 --out /etc/nats/qiao

NATS subjects are MQTT topics with `/` as `.`: `qiao/v1/testnet/partial/1` is
`qiao.v1.testnet.partial.1`, and MQTT's `+` is NATS's `*`.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from relayer.provisioning.broker import _write_secret, username, write_self_signed

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = ROOT / "deploy" / "nats" / "nats-server.conf"
PRODUCTION_DIR = "/etc/nats/qiao/"
KINDS = ("partial", "refund", "action", "proposal", "heartbeat")
# where the NATS server delivers QoS 1 messages to an MQTT subscriber: every member needs it
MQTT_DELIVERY = "$MQTT.sub.>"


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int  # NATS clients (local tools only)
    cluster: int  # routes between the nodes
    mqtt: int  # the members


def users_text(network: str, members: list[int], passwords: dict[str, str]) -> str:
    """users.conf: member i may publish only under its own id, and read the committee's topics."""
    root = f"qiao.v1.{network}"
    entries = []
    for m in members:
        user = username(m)
        permissions = {
            "publish": [f"{root}.{kind}.{m}" for kind in KINDS],
            "subscribe": [MQTT_DELIVERY] + [f"{root}.{kind}.*" for kind in KINDS],
        }
        entries.append(
            f"    {{user: {json.dumps(user)}, password: {json.dumps(passwords[user])}, "
            f"permissions: {json.dumps(permissions)}}}"
        )
    return (
        "# Written by relayer.provisioning.nats_cluster: member i may publish only under its own id;\n"
        "# every member reads the committee's topics. The same file on every node. Passwords in\n"
        "# clear (nats-server warns so): keep the file 0600, readable by the nats user only.\n"
        "authorization {\n  users = [\n" + "\n".join(entries) + "\n  ]\n}\n"
    )


def write_users(directory: Path, network: str, members: list[int]) -> dict[str, Path]:
    """users.conf and `<user>.password` files; returns the password files by user."""
    directory.mkdir(parents=True, exist_ok=True)
    plain = {username(m): secrets.token_urlsafe(24) for m in members}
    _write_secret(directory / "users.conf", users_text(network, members, plain))
    files = {}
    for user, password in plain.items():
        path = directory / f"{user}.password"
        _write_secret(path, password + "\n")
        files[user] = path
    return files


def render_node(directory: Path, index: int, ports: dict[int, NodePorts], host: str = "127.0.0.1") -> str:
    """Node `index`'s configuration: the production file with its directory, name, listeners,
    JetStream store and routes (every node of `ports`) replaced."""
    own = ports[index]
    text = PRODUCTION_CONF.read_text()
    replacements = {
        "server_name: qiao-nats-1\n": f"server_name: qiao-nats-{index}\n",
        "listen: 127.0.0.1:4222": f"listen: {host}:{own.client}",
        "store_dir: /var/lib/nats/qiao\n": f"store_dir: {directory / f'node-{index}'}\n",
        "listen: 0.0.0.0:6222\n": f"listen: {host}:{own.cluster}\n",
        "listen: 0.0.0.0:8883\n": f"listen: {host}:{own.mqtt}\n",
        PRODUCTION_DIR: str(directory) + "/",
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{PRODUCTION_CONF} no longer has {old!r}: update render_node")
        text = text.replace(old, new)
    routes = "".join(f"    nats-route://{host}:{p.cluster}\n" for p in ports.values())
    text, count = re.subn(r"  routes: \[\n(?:    nats-route://\S+\n)+  \]", f"  routes: [\n{routes}  ]", text)
    if count != 1:
        raise ValueError(f"{PRODUCTION_CONF}: the cluster's routes block was not found")
    return text


@dataclass(frozen=True, slots=True)
class ClusterFiles:
    directory: Path
    confs: dict[int, Path]  # node index -> its configuration
    ca: Path
    passwords: dict[str, Path]  # user -> file holding the plain password (mode 0600)


def prepare(directory: Path, network: str, members: list[int], ports: dict[int, NodePorts]) -> ClusterFiles:
    """Everything a local cluster needs: CA and certificate (one for every node: all on 127.0.0.1),
    users.conf and one configuration per node."""
    ca = write_self_signed(directory)
    passwords = write_users(directory, network, members)
    confs = {}
    for index in ports:
        conf = directory / f"node-{index}.conf"
        conf.write_text(render_node(directory, index, ports))
        confs[index] = conf
    return ClusterFiles(directory, confs, ca, passwords)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="relayer.provisioning.nats_cluster", description=__doc__.split("\n")[0] if __doc__ else ""
    )
    p.add_argument("--network", required=True, help="topic namespace, e.g. testnet")
    p.add_argument("--members", type=int, required=True, help="committee size n")
    p.add_argument("--out", type=Path, required=True, help="directory for users.conf and *.password")
    args = p.parse_args(argv)
    files = write_users(args.out, args.network, list(range(1, args.members + 1)))
    for user, path in files.items():
        print(f"{user}: password in {path} (give it to that member only, as password_file)")
    print(f"users.conf in {args.out} (copy it to every node); node configuration: {PRODUCTION_CONF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
