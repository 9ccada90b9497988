"""The acceptance walkthrough: README.md's "Running a node" and every shell code block of
docs/OPERATIONS.md, run literally against a running devnet, command by command.

The commands are read from the docs when the test runs, so a command added, changed or removed
there is what is tested. Each `relayer` command runs with `--config` pointed at a devnet member's
configuration (the docs name `node.toml`, `/etc/qiao/...`), once as written without its optional
`[...]` parts and once with each of them, and must exit as documented: 0, and valid JSON on stdout
under `--json`. `relayer run` runs as a daemon for a stopped member until it answers, then stops on
SIGTERM with status 0. `docker exec <container> relayer ...` runs its `relayer` command directly.
Then every verb of OPERATIONS.md's "Operator CLI" table runs the same way, its placeholders (SRC,
DST, NONCE, TX, ...) replaced by values from the devnet, in table form and with --json.

Skipped, each by an explicit rule with its reason (ALLOWED): commands that need systemd as PID 1,
a Docker daemon, or root on a production host (writing /etc, /opt, /var, /srv, creating users).
A command that fits neither the runner nor a rule fails the test: teach the runner, or add a rule
with its reason.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import devnet, sentinels
from tests.support import member_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHELL_FENCE = re.compile(r"^```(?:sh|bash|shell|console)\s*\n(.*?)^```", re.S | re.M)
SYSTEM_PATHS = ("/etc/", "/opt/", "/var/", "/srv/", "/usr/")
# first word -> why the walkthrough does not run it on a test machine
ALLOWED = {
    "systemctl": "needs systemd as PID 1 and root (tests/integration/test_systemd_units.py verifies the unit)",
    "journalctl": "reads the systemd journal of a unit this machine does not run",
    "useradd": "creates a system user: root on a production host",
    "docker": "needs a Docker daemon and the built image (the Dockerfile is linted by hadolint in the tests)",
}
# the devnet demo's own commands and the shell around them ("Trying it on the devnet"): they start
# and read the demo itself, which tests/e2e/test_demo_operable.py runs (demo.sh --keep-running
# --run-dir, its metrics URL, `relayer devnet lock|burn`, config check against it)
DEMO_REASON = "starts or reads the devnet demo itself: run by tests/e2e/test_demo_operable.py"
DEMO_WORDS = re.compile(r"^(?:bash$|curl$|[A-Z_]+=\$\(|[a-z_]+\(\)$)")
SYSTEM_PATH_REASON = "writes system paths (/etc, /opt, /var, /srv, /usr): root on a production host"
MEMBER = 1  # the member the commands talk to
DAEMON_MEMBER = 4  # stopped, then run by the documented `relayer run` command


@dataclass(frozen=True)
class Doc:
    source: str  # file and section, for messages
    line: str  # the command as written


def shell_blocks(text: str) -> list[str]:
    return [m.group(1) for m in SHELL_FENCE.finditer(text)]


def commands(block: str) -> list[str]:
    """One command per line (continuations joined), `&&` chains split, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out: list[str] = []
    for raw in joined.splitlines():
        line = raw.split(" # ", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        out += [part.strip() for part in line.split("&&") if part.strip()]
    return out


def documented() -> list[Doc]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Running a node\n", 1)[1].split("\n## ", 1)[0]
    docs = [Doc("README.md, Running a node", c) for b in shell_blocks(section) for c in commands(b)]
    ops = (ROOT / "docs" / "OPERATIONS.md").read_text()
    docs += [Doc("docs/OPERATIONS.md", c) for b in shell_blocks(ops) for c in commands(b)]
    return docs


def skip_reason(words: list[str]) -> str | None:
    """Why a command is not run here (None: run it)."""
    name = Path(words[0]).name
    if name == "docker" and words[1:2] == ["exec"] and "relayer" in words:
        return None  # its `relayer ...` part is run directly
    if name in ALLOWED:
        return ALLOWED[name]
    if DEMO_WORDS.match(words[0]) and (words[0] != "bash" or words[1:2] == ["scripts/demo.sh"]):
        return DEMO_REASON
    if name != "relayer" and any(w.startswith(SYSTEM_PATHS) for w in words):
        return SYSTEM_PATH_REASON
    return None


def variants(words: list[str]) -> list[list[str]]:
    """The command without its optional `[...]` parts, then with each one."""
    text = " ".join(words)
    optional = re.findall(r"\[([^\]]+)\]", text)
    base = re.sub(r"\s*\[[^\]]+\]", "", text).split()
    out = [base]
    for extra in optional:
        out.append(base + extra.split())
    return out


def with_config(words: list[str], config: Path, deployment: Path | None = None) -> list[str]:
    """`relayer ...` as this test runs it: the documented --config replaced by the member's, and
    the documented --deployment (the demo's deployment.json) by this devnet's."""
    start = next(i for i, w in enumerate(words) if Path(w).name == "relayer")
    argv = words[start + 1 :]
    if "--config" in argv:
        argv[argv.index("--config") + 1] = str(config)
    if "--deployment" in argv and deployment is not None:
        argv[argv.index("--deployment") + 1] = str(deployment)
    return [sys.executable, "-m", "relayer.cli", *argv]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    run_dir = tmp_path_factory.mktemp("walk")
    with devnet.devnet(run_dir / "n", block_time=0.5, metrics=True) as running:
        # five locks: README's `transfers show ... 7001 7002 5` names the fifth
        devnet.round_trip(running, locks=5, burns=2, timeout=150, say=lambda s: None)
        yield running


def run_cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if argv[:3] == [sys.executable, "-m", "relayer.cli"]:  # forked under the tests (member_cli)
        return member_cli.relayer(*argv[3:])
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def livez(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_daemon(net: devnet.Devnet, argv: list[str]) -> None:
    """`relayer run`: the daemon for a member whose own process was stopped; it must start,
    answer on its admin socket and /livez, and exit 0 on SIGTERM."""
    net.nodes[DAEMON_MEMBER].stop()
    config = net.configs[DAEMON_MEMBER]
    log = (net.run_dir / "logs" / "walkthrough-run.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        ping = [sys.executable, "-m", "relayer.cli", "status", "--config", str(config), "--json"]
        devnet.wait_until(lambda: run_cli(ping).returncode == 0, 90, "the documented daemon to answer")
        devnet.wait_until(lambda: livez(net.metrics_ports[DAEMON_MEMBER]), 30, "its /livez")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (net.run_dir / "logs" / "walkthrough-run.log").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        net.restart(DAEMON_MEMBER)


def test_the_docs_name_the_commands_this_walkthrough_expects() -> None:
    """The parse itself: the README's node commands and OPERATIONS.md's blocks are found."""
    lines = [d.line for d in documented()]
    assert any(re.search(r"\brelayer run\b", x) for x in lines), lines
    assert any(re.search(r"\brelayer transfers show\b", x) for x in lines), lines
    assert any(x.startswith("systemctl") for x in lines), lines


def test_every_documented_operator_command_runs_and_exits_as_documented(net: devnet.Devnet) -> None:
    ran: list[str] = []
    skipped: list[tuple[str, str]] = []
    unknown: list[Doc] = []
    config = net.configs[MEMBER]
    deployment = devnet.write_devnet_file(net)  # what `relayer devnet lock|burn --deployment` reads
    for doc in documented():
        words = shlex.split(doc.line)
        reason = skip_reason(words)
        if reason is not None:
            skipped.append((doc.line, reason))
            continue
        if not any(Path(w).name == "relayer" for w in words):
            unknown.append(doc)
            continue
        for variant in variants(words):
            argv = with_config(variant, config, deployment)
            verb = argv[3:4]
            if verb == ["run"]:
                argv[argv.index("--config") + 1] = str(net.configs[DAEMON_MEMBER])
                run_daemon(net, argv)
                ran.append(" ".join(variant))
                continue
            out = run_cli(argv)
            assert out.returncode == 0, (
                f"{doc.source}: `{' '.join(variant)}` exited {out.returncode}\n{out.stdout}\n{out.stderr}"
            )
            if "--json" in variant:
                json.loads(out.stdout)
            else:
                assert out.stdout.strip(), f"{doc.source}: `{' '.join(variant)}` printed nothing"
            ran.append(" ".join(variant))
    assert not unknown, (
        "commands in the docs this walkthrough neither runs nor skips by a rule: "
        f"{[(d.source, d.line) for d in unknown]}; teach the runner or add a rule to ALLOWED with its reason"
    )
    assert len(ran) >= 5, ran
    print("\nran:\n  " + "\n  ".join(ran))
    print("skipped (rule: reason):\n  " + "\n  ".join(f"{c}  -- {r}" for c, r in skipped))


VERB_ROW = re.compile(r"^\| `([a-z][^`]*)` \|", re.M)


def verb_table() -> list[str]:
    ops = (ROOT / "docs" / "OPERATIONS.md").read_text()
    section = ops.split("\n## Operator CLI\n", 1)[1].split("\n## ", 1)[0]
    return VERB_ROW.findall(section)


def placeholders(net: devnet.Devnet, tmp: Path) -> dict[str, list[str]]:
    """Each placeholder of the verb table -> the values it takes, in order of appearance."""
    shown = json.loads(
        run_cli(
            [
                sys.executable,
                "-m",
                "relayer.cli",
                "transfers",
                "show",
                "--config",
                str(net.configs[MEMBER]),
                "--json",
                str(devnet.CONSORTIUM_CHAIN_ID),
                str(devnet.ETHEREUM_CHAIN_ID),
                "1",
            ]
        ).stdout
    )
    key = tmp / "guardian.key"
    key.write_text("0x" + bytes(devnet.dev_account(10).key).hex())
    key.chmod(0o600)
    c, e = str(devnet.CONSORTIUM_CHAIN_ID), str(devnet.ETHEREUM_CHAIN_ID)
    # `actions propose uncurse --chain NAME --remote REMOTE` needs a cursed route: a sentinel (a
    # test key the owner registers) curses Ethereum's route from the consortium chain. Proposed on
    # member 1 only, the UNCURSE is never signed, so the route stays cursed: this test runs last.
    dep = net.deployment
    sentinel = devnet.dev_account(sentinels.SENTINEL_ACCOUNT)
    sentinels.register_sentinel(dep, sentinel.address)
    _, gateway = sentinels.endpoints(dep)
    devnet.send(gateway.w3, sentinel, gateway.functions.curse(devnet.CONSORTIUM_CHAIN_ID))
    assert gateway.functions.isCursed(devnet.CONSORTIUM_CHAIN_ID).call()
    return {
        "SRC": [c],
        "DST": [e],
        "NONCE": ["1"],
        "FIRST_NONCE": [str(shown["batch_first_nonce"])],
        "TX": [shown["source_tx"]],
        "ID": [c, e],  # --src ID --dst ID
        "S": ["executed"],
        "N": ["3"],
        "F": [str(key)],
        # `actions propose KIND --chain NAME`: a pause of Ethereum's endpoint proposed on member 1 only
        # is never signed (t = 3 operators must approve), so the devnet keeps running
        "KIND": ["pause"],
        "NAME": ["ethereum"],
        "REMOTE": ["consortium"],
        "SECONDS": ["3600"],
    }


def proposed(net: devnet.Devnet) -> str:
    """A fresh action for member 1's operator to approve, reject or show: a pause proposed on
    member 2 (proposing is that member's approval), once member 1 has it (its id)."""

    def cli(member: int, *words: str) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            "-m",
            "relayer.cli",
            "actions",
            words[0],
            "--config",
            str(net.configs[member]),
        ]
        return run_cli([*argv, "--json", *words[1:]])

    out = cli(2, "propose", "pause", "--chain", "ethereum")
    assert out.returncode == 0, (
        f"`relayer actions propose pause` exited {out.returncode}\n{out.stdout}\n{out.stderr}"
    )
    action_id = str(json.loads(out.stdout)["id"])
    deadline = time.monotonic() + 60
    while cli(MEMBER, "show", action_id).returncode != 0:
        assert time.monotonic() < deadline, f"member {MEMBER} never learnt proposal {action_id}"
        time.sleep(0.5)
    return action_id


def substitute(words: list[str], values: dict[str, list[str]]) -> list[str]:
    out, used = [], {k: 0 for k in values}
    for w in words:
        if re.fullmatch(r"[A-Z][A-Z_]*", w):
            assert w in values, f"placeholder {w} of the verb table has no value in this walkthrough"
            choices = values[w]
            out.append(choices[min(used[w], len(choices) - 1)])
            used[w] += 1
        else:
            out.append(w)
    return out


def test_every_verb_of_the_operator_table_runs_with_and_without_json(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    """Runs last: `pause --on-chain` pauses the endpoints for good (an on-chain resume needs the
    committee's signature), so every variant with --on-chain runs after all others."""
    rows = verb_table()
    assert {"status", "reconcile", "keys show"} <= set(rows), rows
    values = placeholders(net, tmp_path)
    # an action's ID is a fresh proposal for each run (approving or rejecting one twice is refused)
    runs = [
        v if v[0] == "actions" and "ID" in v else substitute(v, values)
        for row in rows
        for v in variants(row.split())
    ]
    runs.sort(key=lambda v: "--on-chain" in v)
    uncurse_proposed = False
    for planned in runs:
        for form in ([], ["--json"]):
            words = planned
            if words[0] == "actions" and "ID" in words:
                words = [proposed(net) if w == "ID" else w for w in words]
            split = 2 if words[0] in {"transfers", "batches", "keys", "config", "actions"} else 1
            argv = [
                sys.executable,
                "-m",
                "relayer.cli",
                *words[:split],
                "--config",
                str(net.configs[MEMBER]),
                *form,
                *words[split:],
            ]
            out = run_cli(argv)
            shown = " ".join([*words, *form])
            if words[:3] == ["actions", "propose", "uncurse"] and uncurse_proposed:
                # one UNCURSE per curse: every later proposal of it is refused, naming the open one
                assert out.returncode != 0, f"`relayer {shown}` proposed a second uncurse of one curse"
                assert "of this curse is" in out.stdout + out.stderr, out.stdout + out.stderr
                continue
            assert out.returncode == 0, (
                f"`relayer {shown}` exited {out.returncode}\n{out.stdout}\n{out.stderr}"
            )
            uncurse_proposed = uncurse_proposed or words[:3] == ["actions", "propose", "uncurse"]
            if form:
                json.loads(out.stdout)
            else:
                assert out.stdout.strip(), f"`relayer {shown}` printed nothing"
        print(f"ran: relayer {' '.join(planned)} (and --json)")
