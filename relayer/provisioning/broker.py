"""The committee broker's files: ACL, hashed passwords, per-member password files, a throwaway CA.

`deploy/mosquitto/mosquitto.conf` is the production configuration; `render_config` gives the same
file with its directory and port replaced, which is what the devnet runs. `write_committee_files`
writes `acl` (member i publishes its partials, refund partials, action partials, proposals and
heartbeat only under its own id, and reads everyone's), `passwd` (hashed by `mosquitto_passwd`) and
one password file per member (mode 0600) for `mqtt.password_file`.

    python -m relayer.provisioning.broker --network testnet --members 4 \
        --out /etc/mosquitto/qiao [--self-signed]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
BRIDGE_CONF = ROOT / "deploy" / "mosquitto" / "bridge.conf"
BRIDGE_USER = "bridge"  # the user one bridged broker logs in to the other as
PRODUCTION_DIR = "/etc/mosquitto/qiao/"
CERT_BACKDATE = datetime.timedelta(days=1)
CERT_LIFETIME = datetime.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    directory: Path
    conf: Path
    ca: Path
    passwords: dict[str, Path]  # user -> file holding the plain password (mode 0600)


def username(member: int) -> str:
    return f"member-{member}"


def acl_text(network: str, members: list[int], admins: tuple[str, ...] = ()) -> str:
    root = f"qiao/v1/{network}"
    lines = ["# Member i may publish only under its own id; every member reads the committee's topics.", ""]
    for m in members:
        lines += [
            f"user {username(m)}",
            f"topic read {root}/partial/+",
            f"topic read {root}/refund/+",
            f"topic read {root}/action/+",
            f"topic read {root}/proposal/+",
            f"topic read {root}/heartbeat/+",
            f"topic read {root}/sent/+",
            f"topic write {root}/partial/{m}",
            f"topic write {root}/refund/{m}",
            f"topic write {root}/action/{m}",
            f"topic write {root}/proposal/{m}",
            f"topic write {root}/heartbeat/{m}",
            f"topic write {root}/sent/{m}",
            "",
        ]
    for admin in admins:  # devnet only: a test user that may write anywhere under the network
        lines += [f"user {admin}", f"topic readwrite {root}/#", ""]
    return "\n".join(lines)


def _write_secret(path: Path, text: str) -> None:
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def write_committee_files(
    directory: Path, network: str, members: list[int], admins: tuple[str, ...] = ()
) -> dict[str, Path]:
    """acl, passwd (hashed) and `<user>.password` files; returns the password files by user."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "acl").write_text(acl_text(network, members, admins))
    users = [username(m) for m in members] + list(admins)
    plain = {u: secrets.token_urlsafe(24) for u in users}
    passwd = directory / "passwd"
    _write_secret(passwd, "".join(f"{u}:{p}\n" for u, p in plain.items()))
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-U", str(passwd)], check=True, capture_output=True)
    files = {}
    for user, password in plain.items():
        path = directory / f"{user}.password"
        _write_secret(path, password + "\n")
        files[user] = path
    return files


def write_self_signed(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Path:
    """A throwaway CA and a broker certificate it signs (EC P-256); returns the CA.

    Both are valid from a day before now (as public CAs backdate) to 7 days after: a member whose
    clock is behind the broker's by less than a day still connects (TLS refuses a certificate "not
    yet valid" by the verifier's own clock, tests/e2e/test_faults_host.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - CERT_BACKDATE, now + CERT_LIFETIME
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qiao-ca")])
    ca_crt = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(h)) if h.replace(".", "").isdigit() else x509.DNSName(h)
        for h in hosts
    ]
    crt = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qiao-broker")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    for path, private in ((directory / "ca.key", ca_key), (directory / "broker.key", key)):
        _write_secret(
            path,
            private.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
        )
    (directory / "broker.crt").write_bytes(crt.public_bytes(pem))
    (directory / "ca.crt").write_bytes(ca_crt.public_bytes(pem))
    return directory / "ca.crt"


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def render_config(
    directory: Path,
    port: int,
    host: str = "127.0.0.1",
    tooling_port: int | None = None,
    tooling_host: str = "127.0.0.1",
) -> str:
    """The production configuration with its file directory and listener replaced.

    `tooling_port` (devnet only) adds a second, plaintext listener on `tooling_host` with anonymous
    access for the devnet's own tools (the key generation run, tests that play a stranger on the
    broker); the members use the production listener.
    """
    text = PRODUCTION_CONF.read_text().replace(PRODUCTION_DIR, str(directory) + "/")
    text = text.replace("listener 8883\n", f"listener {port} {host}\n")
    if tooling_port is not None:
        text = text.replace("per_listener_settings false\n", "per_listener_settings true\n")
        text += f"\n# devnet tooling listener (not in production)\nlistener {tooling_port} {tooling_host}\n"
        text += "allow_anonymous true\n"
    if os.geteuid() == 0:  # mosquitto started as root drops to its own user, which cannot read these
        text += "user root\n"
    return text


def render_bridge(network: str, host: str, port: int, ca: Path, password_file: Path) -> str:
    """deploy/mosquitto/bridge.conf for the broker that connects to the one at `host`:`port`
    (verified with `ca`, logging in as BRIDGE_USER with the password in `password_file`)."""
    text = BRIDGE_CONF.read_text()
    replacements = {
        "address mqtt.bank-a.example:8883\n": f"address {host}:{port}\n",
        "bridge_cafile /etc/mosquitto/qiao/bank-a-ca.crt\n": f"bridge_cafile {ca}\n",
        "remote_password BRIDGE_PASSWORD\n": f"remote_password {password_file.read_text().strip()}\n",
        "topic qiao/v1/testnet/# both 1\n": f"topic qiao/v1/{network}/# both 1\n",
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{BRIDGE_CONF} no longer has {old!r}: update render_bridge")
        text = text.replace(old, new)
    return "\n" + text


def prepare(
    directory: Path,
    network: str,
    members: list[int],
    port: int,
    admins: tuple[str, ...] = (),
    tooling_port: int | None = None,
    *,
    host: str = "127.0.0.1",
    tooling_host: str = "127.0.0.1",
) -> BrokerFiles:
    """Everything a devnet broker needs: CA, certificate, passwd, acl and the configuration; the
    members' listener on `host`, the tooling one (if any) on `tooling_host`."""
    ca = write_self_signed(directory)
    passwords = write_committee_files(directory, network, members, admins)
    conf = directory / "mosquitto.conf"
    conf.write_text(
        render_config(directory, port, host, tooling_port=tooling_port, tooling_host=tooling_host)
    )
    return BrokerFiles(directory, conf, ca, passwords)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="relayer.provisioning.broker", description=__doc__.split("\n")[0] if __doc__ else ""
    )
    p.add_argument("--network", required=True, help="topic namespace, e.g. testnet")
    p.add_argument("--members", type=int, required=True, help="committee size n")
    p.add_argument("--out", type=Path, required=True, help="directory for acl, passwd, *.password")
    p.add_argument("--self-signed", action="store_true", help="also write a throwaway CA and certificate")
    args = p.parse_args(argv)
    files = write_committee_files(args.out, args.network, list(range(1, args.members + 1)))
    if args.self_signed:
        write_self_signed(args.out)
    for user, path in files.items():
        print(f"{user}: password in {path} (give it to that member only, as mqtt.password_file)")
    print(f"acl and passwd in {args.out}; mosquitto.conf in {PRODUCTION_CONF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
