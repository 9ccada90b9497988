"""The order the suite hands its modules to the workers: the longest first (issue 20).

pytest-xdist (`--dist loadscope`) gives each worker a whole module at a time, in the collection's
order, and gives a worker its next module while its current one still has two tests to run. In
the collection's own order (tests/e2e, then tests/integration, then tests/unit, each by name) a
long module (an integration module of a minute) could come after short ones and run on one
worker after the others had finished. Longest first, the end of the run is the short modules,
which even the workers out. (The gain was not measured apart: docs/BENCHMARKS.md, "eighth round".)

A module's length is read from tests/module_seconds.json (seconds a worker spent in it, written by
`python -m benchmarks.suite_cpu durations` from a run's JUnit report); a module not listed there
yet counts as a typical one of its layer. The file only orders: a stale figure costs time, never
a test; a malformed one stops the run at collection, naming how to regenerate it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

SECONDS_FILE = Path(__file__).resolve().parents[1] / "module_seconds.json"
# a module not in the file: a typical module of its layer (tests/<layer>/...)
TYPICAL = {"e2e": 30.0, "integration": 10.0, "unit": 0.5}


class OrderFileError(ValueError):
    """tests/module_seconds.json is not a JSON object of module path -> seconds."""


def load(path: Path = SECONDS_FILE) -> dict[str, float]:
    """The modules' seconds; {} when the file is missing (every module then counts as typical)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise OrderFileError(
            f"{path}: not JSON ({exc}); regenerate it (benchmarks/suite_cpu.py durations)"
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        for k, v in data.items()
    ):
        raise OrderFileError(
            f"{path}: expected an object of module path -> seconds (a number >= 0); "
            "regenerate it (benchmarks/suite_cpu.py durations)"
        )
    return {k: float(v) for k, v in data.items()}


def weight(module: str, seconds: Mapping[str, float]) -> float:
    """`module` ("tests/e2e/test_x.py")'s seconds, or the typical ones of its layer."""
    if module in seconds:
        return seconds[module]
    parts = module.split("/")
    layer = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return TYPICAL.get(layer, TYPICAL["integration"])


def longest_first(modules: Iterable[str], seconds: Mapping[str, float]) -> list[str]:
    """The modules, longest first; equal ones keep their given order."""
    given = list(dict.fromkeys(modules))
    return sorted(given, key=lambda m: -weight(m, seconds))
