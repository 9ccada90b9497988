"""Operator commands for key generation and resharing: `python -m committee.cli ...`.

    identity new   --name NAME --out FILE          a member's identity keys (+ FILE.pub.json)
    roster         --out FILE PUB.json...          the roster of public identities
    dkg new        --roster R --out SESSION        describe a fresh DKG (random nonce)
    reshare new    --roster R --committee C --dealers 1=a,2=b,... --out SESSION
    dkg start      --session S --identity I --state-dir D --mqtt-port P --network N
    reshare start  (the same as dkg start, with --old-keystore)
    dkg status     --state-dir D                   progress of a running or finished session
    dkg show       --state-dir D                   the result: group key, qualified set, faults

Every participant runs `dkg start` (or `reshare start`) with the same session file. On success
the state directory holds `keystore.json` (EIP-2335, mode 0600), `committee.json` (the public
file the daemon loads) and `result.json`; a resharing erases the old keystore afterwards.
Exit status: 0 done, 1 failed (the reason is printed), 2 usage or file errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from committee.dkg import DkgMachine, DkgResult, SessionConfig, Timeouts, default_threshold
from committee.dkg_runner import DkgFailed, run_machine
from committee.identity import (
    Identity,
    PublicIdentity,
    load_identity,
    load_roster,
    write_identity,
    write_roster,
)
from committee.keyfile import KeyFileError, load_public_file, write_public_file
from committee.keystore import erase_file, load_keystore_share, read_password, write_keystore

__all__ = ["main"]


def _names(value: str | None, roster: dict[str, PublicIdentity]) -> tuple[str, ...]:
    return tuple(roster) if not value else tuple(v.strip() for v in value.split(",") if v.strip())


def cmd_identity_new(args: argparse.Namespace) -> int:
    identity = Identity.generate(args.name)
    out = Path(args.out)
    write_identity(out, identity)
    pub = out.with_name(out.name.removesuffix(".json") + ".pub.json")
    pub.write_text(json.dumps(identity.public.to_json(), indent=2) + "\n")
    print(json.dumps(identity.public.to_json()))
    return 0


def cmd_roster(args: argparse.Namespace) -> int:
    members = []
    for p in args.public:
        entry = json.loads(Path(p).read_text())
        members.append(
            PublicIdentity(
                entry["name"], bytes.fromhex(entry["sign"][2:]), bytes.fromhex(entry["encrypt"][2:])
            )
        )
    write_roster(args.out, members, overwrite=True)
    return 0


def _write_session(path: str, config: SessionConfig) -> None:
    Path(path).write_text(json.dumps(config.to_json(), indent=2) + "\n")
    print(f"session {config.session_id.hex()} written to {path}")


def cmd_dkg_new(args: argparse.Namespace) -> int:
    roster = load_roster(args.roster)
    members = _names(args.members, roster)
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=args.threshold or default_threshold(len(members)),
        key_epoch=args.key_epoch,
        identities=roster,
        receivers=members,
        dealers={i + 1: name for i, name in enumerate(members)},
    )
    _write_session(args.out, config)
    return 0


def cmd_reshare_new(args: argparse.Namespace) -> int:
    roster = load_roster(args.roster)
    old = load_public_file(args.committee)
    members = _names(args.members, roster)
    dealers = {}
    for item in args.dealers.split(","):
        index, _, name = item.partition("=")
        dealers[int(index)] = name.strip()
    config = SessionConfig(
        kind="reshare",
        nonce=os.urandom(16),
        threshold=args.threshold or default_threshold(len(members)),
        key_epoch=old.key_epoch,
        identities=roster,
        receivers=members,
        dealers=dealers,
        old_public=old,
    )
    _write_session(args.out, config)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    config = SessionConfig.from_json(json.loads(Path(args.session).read_text()))
    identity = load_identity(args.identity)
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    password = read_password(Path(args.password_file) if args.password_file else None)
    old_share = None
    dealer_index = next((i for i, n in config.dealers.items() if n == identity.name), None)
    if config.kind == "reshare" and dealer_index is not None:
        if not args.old_keystore:
            print("this member deals in the resharing: pass --old-keystore", file=sys.stderr)
            return 2
        assert config.old_public is not None
        old_share = load_keystore_share(args.old_keystore, password, config.old_public, dealer_index)
    timeouts = Timeouts(
        deal=args.timeout_deal, complaint=args.timeout, justification=args.timeout, confirm=args.timeout
    )
    machine = DkgMachine(config, identity, timeouts=timeouts, old_share=old_share)
    del old_share  # the machine keeps it only until it has dealt
    print(f"session {config.session_id.hex()}: {identity.name} starting ({config.kind})", flush=True)
    try:
        result = asyncio.run(
            run_machine(
                machine,
                host=args.mqtt_host,
                port=args.mqtt_port,
                network=args.network,
                status_path=state / "status.json",
                username=args.mqtt_username,
                password=_read_secret(args.mqtt_password_file),
                tls_ca_file=Path(args.mqtt_tls_ca_file) if args.mqtt_tls_ca_file else None,
            )
        )
    except DkgFailed as exc:
        print(str(exc), file=sys.stderr)
        (state / "failure.json").write_text(json.dumps(machine.status(), indent=2) + "\n")
        return 1
    store_result(state, result, password, old_keystore=None if args.keep_old else args.old_keystore)
    print(json.dumps(result.summary(), indent=2))
    return 0


def store_result(
    state: Path,
    result: DkgResult,
    password: str,
    *,
    old_keystore: str | os.PathLike[str] | None = None,
    work_factor: int | None = None,
) -> None:
    """Write a finished session's keystore (if this member has a share), public file and
    summary into `state`; then erase `old_keystore` (a resharing's previous share)."""
    if result.share is not None:
        write_keystore(
            state / "keystore.json", result.share, password, overwrite=True, work_factor=work_factor
        )
    write_public_file(state / "committee.json", result.public, overwrite=True)
    (state / "result.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    if old_keystore is not None and Path(old_keystore).resolve() != (state / "keystore.json").resolve():
        erase_file(old_keystore)


def _read_secret(path: str | None) -> str | None:
    if path is None:
        return None
    if Path(path).stat().st_mode & 0o077:
        raise ValueError(f"{path}: readable by group or others; run chmod 600 {path}")
    return Path(path).read_text().strip()


def cmd_status(args: argparse.Namespace) -> int:
    path = Path(args.state_dir) / "status.json"
    if not path.exists():
        print(f"{path}: no session has started in this directory", file=sys.stderr)
        return 2
    print(path.read_text(), end="")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    for name in ("result.json", "failure.json"):
        if (state / name).exists():
            print((state / name).read_text(), end="")
            return 0 if name == "result.json" else 1
    print(f"{state}: no finished session (see `dkg status`)", file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m committee.cli", description=__doc__.split("\n")[0])
    groups = parser.add_subparsers(dest="group", required=True)

    identity = groups.add_parser("identity").add_subparsers(dest="cmd", required=True)
    new_identity = identity.add_parser("new", help="create a member's identity keys")
    new_identity.add_argument("--name", required=True)
    new_identity.add_argument("--out", required=True)
    new_identity.set_defaults(func=cmd_identity_new)

    roster = groups.add_parser("roster", help="build the roster from public identity files")
    roster.add_argument("--out", required=True)
    roster.add_argument("public", nargs="+")
    roster.set_defaults(func=cmd_roster)

    for group in ("dkg", "reshare"):
        sub = groups.add_parser(group).add_subparsers(dest="cmd", required=True)
        new = sub.add_parser("new", help=f"describe a {group} session")
        new.add_argument("--roster", required=True)
        new.add_argument("--members", help="names of the new committee, in index order (default: the roster)")
        new.add_argument("--threshold", type=int, help="default 2f+1")
        new.add_argument("--out", required=True)
        if group == "dkg":
            new.add_argument("--key-epoch", type=int, default=1)
            new.set_defaults(func=cmd_dkg_new)
        else:
            new.add_argument("--committee", required=True, help="the current committee's public file")
            new.add_argument("--dealers", required=True, help="current members that deal: 1=name,2=name,...")
            new.set_defaults(func=cmd_reshare_new)
        start = sub.add_parser("start", help="take part in a session until it ends")
        start.add_argument("--session", required=True)
        start.add_argument("--identity", required=True)
        start.add_argument("--state-dir", required=True)
        start.add_argument("--mqtt-host", default="127.0.0.1")
        start.add_argument("--mqtt-port", type=int, default=1883)
        start.add_argument("--network", required=True)
        start.add_argument("--mqtt-username")
        start.add_argument("--mqtt-password-file", help="the broker password (a file, mode 0600)")
        start.add_argument("--mqtt-tls-ca-file", help="TLS: the CA that signed the broker")
        start.add_argument("--password-file", help="keystore password (default: systemd credential)")
        start.add_argument("--old-keystore", help="resharing: this member's current keystore")
        start.add_argument("--keep-old", action="store_true", help="resharing: do not erase the old keystore")
        start.add_argument("--timeout-deal", type=float, default=30.0)
        start.add_argument("--timeout", type=float, default=15.0, help="complaint, justification, confirm")
        start.set_defaults(func=cmd_start)
        status = sub.add_parser("status", help="progress of a session")
        status.add_argument("--state-dir", required=True)
        status.set_defaults(func=cmd_status)
        show = sub.add_parser("show", help="the result of a finished session")
        show.add_argument("--state-dir", required=True)
        show.set_defaults(func=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (KeyFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
