"""`relayer devnet lock|burn --amount`: whole tokens to base units, bad amounts refused with the fix."""

from __future__ import annotations

import pytest

from relayer.cli import build_parser
from relayer.provisioning.transfer import UNIT, _units


@pytest.mark.parametrize(
    ("amount", "units"),
    [("5", 5 * UNIT), ("0.25", UNIT // 4), ("1e-18", 1), ("100", 100 * UNIT)],
)
def test_amounts_in_whole_tokens(amount: str, units: int) -> None:
    assert _units(amount) == units


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "--amount 'abc' is not a number; give whole tokens, e.g. --amount 5"),
        ("0", "--amount 0: must be > 0 with at most 18 decimals"),
        ("-1", "--amount -1: must be > 0"),
        ("1e-19", "at most 18 decimals"),
    ],
)
def test_bad_amounts_are_refused(amount: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _units(amount)


def test_lock_and_burn_are_relayer_verbs() -> None:
    parser = build_parser()
    for verb in ("lock", "burn"):
        args = parser.parse_args(["devnet", verb, "--deployment", "d.json", "--amount", "5", "--wait", "0"])
        assert args.direction == verb
        assert args.wait == 0.0
