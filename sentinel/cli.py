"""`qiao-sentinel`: run a sentinel, check its configuration and files, make its key."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server

from sentinel.config import ConfigError, SentinelConfig, load
from sentinel.keys import KeystoreError, load_account, write_keystore

EXIT_CONFIG = 2


def check_files(cfg: SentinelConfig) -> list[str]:
    """What `check` verifies beyond the TOML: the key decrypts, the store's directory is writable."""
    errors = []
    try:
        account = load_account(cfg.keystore_file, cfg.password_path())
        print(f"key: {account.address} (register it on both endpoints with setSentinel)")
    except (KeystoreError, ConfigError) as exc:
        errors.append(str(exc))
    directory = cfg.store.parent
    if directory.exists() and not directory.is_dir():
        errors.append(f"sentinel.store = {cfg.store}: {directory} is not a directory; point it into one")
    elif directory.exists():
        probe = directory / ".qiao-sentinel-probe"
        try:
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            errors.append(
                f"sentinel.store = {cfg.store}: directory not writable ({exc.strerror}); fix its owner"
            )
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qiao-sentinel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "scan, check and curse until SIGTERM"),
        ("check", "validate the config and files"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, required=True)
    keygen = sub.add_parser("keygen", help="create a new key in an encrypted keystore")
    keygen.add_argument("--keystore", type=Path, required=True)
    keygen.add_argument("--password-file", type=Path, required=True)
    keygen.add_argument("--force", action="store_true", help="replace an existing keystore (its key is lost)")
    args = parser.parse_args(argv)

    if args.command == "keygen":
        try:
            print(write_keystore(args.keystore, args.password_file, force=args.force))
        except KeystoreError as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
        return 0
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        errors = check_files(cfg)
        for e in errors:
            print(e, file=sys.stderr)
        if errors:
            return EXIT_CONFIG
        print(f"{args.config}: ok ({len(cfg.chains)} chains, {len(cfg.pairs)} pairs, act={cfg.act})")
        return 0
    return _run(cfg)


def _run(cfg: SentinelConfig) -> int:
    from sentinel.runner import Sentinel, run  # web3 is imported only to run
    from sentinel.store import Store

    try:
        account = load_account(cfg.keystore_file, cfg.password_path()) if cfg.act else None
    except (KeystoreError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if cfg.metrics_port:
        start_http_server(cfg.metrics_port, cfg.metrics_host)
    store = Store(cfg.store)
    try:
        run(Sentinel(cfg, store, account), stop)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
