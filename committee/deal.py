"""Trusted-dealer key generation for a devnet committee (temporary, until the DKG).

    python -m committee.deal --n 4 --t 3 --out DIR [--key-epoch 1] [--force]

writes DIR/member-1.json .. DIR/member-n.json (mode 0600, one secret share each) and
DIR/committee.json (mode 0644, the public data every member and the deployer need).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from committee.keyfile import KeyFileError, write_key_file, write_public_file
from committee.threshold import deal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m committee.deal",
        description="Deal threshold BLS key shares to a committee (trusted dealer; devnet only).",
    )
    parser.add_argument("--n", type=int, required=True, help="number of members")
    parser.add_argument("--t", type=int, required=True, help="threshold (signers needed)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the files")
    parser.add_argument("--key-epoch", type=int, default=1, help="key epoch (default 1)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        shares = deal(args.n, args.t, key_epoch=args.key_epoch)
    except ValueError as exc:
        parser.error(str(exc))
    out: Path = args.out
    targets = [out / f"member-{s.index}.json" for s in shares] + [out / "committee.json"]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        # Refuse before writing anything, so a directory never mixes two committees.
        print(f"error: already exist: {', '.join(existing)}; use --force to replace them", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    try:
        for share in shares:
            write_key_file(out / f"member-{share.index}.json", share, overwrite=args.force)
        write_public_file(out / "committee.json", shares[0].public, overwrite=args.force)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    public = shares[0].public
    print(
        f"dealt {public.threshold}-of-{public.size} committee, key epoch {public.key_epoch},"
        f" to {out}: member-1.json..member-{public.size}.json, committee.json"
    )
    print(f"group public key: 0x{public.group_public_key.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
