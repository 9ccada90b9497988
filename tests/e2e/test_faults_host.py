"""Host faults on one member of a running bridge: a corrupted store, a skewed clock, a full disk.

One devnet (n = 4, t = 3) serves the three tests in turn; each damages one member, checks that it
fails safe and says so, repairs it, and ends with every lock so far minted exactly once, the
supply equal to the vault's balance and the reconciler's verdict. (A deleted store is
tests/e2e/test_burst_and_rebuild.py.)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.core.txmath import turn
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e
UNIT = 10**18
STORE = "qiao.sqlite3"
REMEDY = f"restore {STORE} from a backup, or delete {STORE}, {STORE}-wal and {STORE}-shm"


class Bridge:
    """The devnet and the contracts the tests drive, with the locks made so far."""

    def __init__(self, net: devnet.Devnet) -> None:
        self.net = net
        dep = net.deployment
        self.wc, self.we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        self.vault = self.wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        self.asset = self.wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        self.gateway = self.we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        self.wrapped = self.we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        self.alice, self.bob = devnet.dev_account(8), devnet.dev_account(9)
        devnet.send(
            self.wc, devnet.dev_account(0), self.asset.functions.mint(self.alice.address, 1000 * UNIT)
        )
        devnet.send(self.wc, self.alice, self.asset.functions.approve(self.vault.address, 1000 * UNIT))
        self.locked = 0  # units locked so far
        self.locks = 0

    def lock(self, *amounts: int) -> None:
        last: Any = None
        for amount in amounts:
            call = self.vault.functions.lock(
                self.asset.address, devnet.ETHEREUM_CHAIN_ID, self.bob.address, amount * UNIT
            )
            last = devnet.send(self.wc, self.alice, call, wait=False)
        self.wc.eth.wait_for_transaction_receipt(last, timeout=60)
        self.locked += sum(amounts) * UNIT
        self.locks += len(amounts)

    def minted(self) -> bool:
        return int(self.wrapped.functions.balanceOf(self.bob.address).call()) == self.locked

    def wait_minted(self, what: str, timeout: float = 90) -> None:
        devnet.wait_until(self.minted, timeout, what)

    def sent(self, member: int) -> int:
        """Transactions member's relayer account has sent on Ethereum."""
        return int(self.we.eth.get_transaction_count(devnet.dev_account(member).address))

    def settled_exactly_once(self) -> None:
        """Every lock minted once (TransferExecuted nonces), supply == vault, reconciler ok."""
        self.wait_minted(f"all {self.locks} locks minted")
        executed = self.gateway.events.TransferExecuted().get_logs(from_block=0)
        assert sorted(int(e["args"]["nonce"]) for e in executed) == list(range(1, self.locks + 1))
        assert int(self.wrapped.functions.totalSupply().call()) == int(
            self.asset.functions.balanceOf(self.vault.address).call()
        )
        verdict = reconcile(self.net.deployment, settled=True)
        assert verdict.ok, verdict.violations


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with devnet.devnet(tmp_path_factory.mktemp("host") / "net", block_time=0.5, metrics=True) as net:
        yield Bridge(net)


def data_dir(net: devnet.Devnet, member: int) -> Path:
    return net.run_dir / f"node-{member}" / "data"


def store_rows(net: devnet.Devnet, member: int, sql: str) -> list[tuple[Any, ...]]:
    uri = (data_dir(net, member) / STORE).resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return db.execute(sql).fetchall()


def executed_in_store(net: devnet.Devnet, member: int) -> int:
    return int(store_rows(net, member, "SELECT COUNT(*) FROM transfers WHERE state='executed'")[0][0])


def log_mark(net: devnet.Devnet, member: int) -> int:
    return (net.run_dir / "logs" / f"member-{member}.log").stat().st_size


def log_since(net: devnet.Devnet, member: int, mark: int) -> str:
    with (net.run_dir / "logs" / f"member-{member}.log").open("rb") as fh:
        fh.seek(mark)
        return fh.read().decode(errors="replace")


def events_since(net: devnet.Devnet, member: int, mark: int) -> list[dict[str, Any]]:
    out = []
    for line in log_since(net, member, mark).splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return [e for e in out if isinstance(e, dict)]


def readyz(net: devnet.Devnet, member: int) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{net.metrics_ports[member]}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def exited(proc: devnet.Process) -> bool:
    return proc.popen.poll() is not None


def ready(net: devnet.Devnet, member: int) -> bool:
    return readyz(net, member)[0] == 200


# ---- a corrupted store -----------------------------------------------------------------------


def garbage_over_header(store: Path) -> None:
    with store.open("r+b") as fh:
        fh.write(os.urandom(100))


def garbage_over_pages(store: Path) -> None:
    with store.open("r+b") as fh:
        for page in range(1, store.stat().st_size // 4096, 2):
            fh.seek(page * 4096)
            fh.write(os.urandom(4096))


def truncated(store: Path) -> None:
    os.truncate(store, store.stat().st_size // 3)


def garbage_over_wal(store: Path) -> None:
    Path(f"{store}-wal").write_bytes(os.urandom(64 * 1024))


def test_a_corrupted_store_is_refused_with_the_remedy_and_rebuilds_once_deleted_without_executing_twice(
    bridge: Bridge,
) -> None:
    net, victim = bridge.net, 4
    bridge.lock(1, 2)
    bridge.wait_minted("the first locks minted")
    devnet.wait_until(lambda: executed_in_store(net, victim) == 2, 30, "member 4's store up to date")
    net.nodes[victim].stop()  # SIGTERM: a clean stop checkpoints the log into the file
    store = data_dir(net, victim) / STORE
    clean = store.read_bytes()

    # the member's own files get garbage over the header; three copies of the same clean file get
    # the other damages, each under a copy of member 4's configuration naming it (all at once)
    mark = log_mark(net, victim)
    garbage_over_header(store)
    runs = {"garbage_over_header": (store, net.restart(victim), net.run_dir / "logs" / "member-4.log", mark)}
    for damage in (garbage_over_pages, truncated, garbage_over_wal):
        home = net.run_dir / f"node-4-{damage.__name__}"
        (home / "data").mkdir(parents=True)
        copy = home / "data" / STORE
        copy.write_bytes(clean)
        damage(copy)
        config = home / "node.toml"
        own = f'data_dir = "{data_dir(net, victim)}"'
        assert own in net.configs[victim].read_text()
        config.write_text(net.configs[victim].read_text().replace(own, f'data_dir = "{copy.parent}"'))
        argv = [sys.executable, "-m", "relayer.cli", "run", "--config", str(config)]
        proc = net.procs.start(f"member-4-{damage.__name__}", argv, net.run_dir / "logs")
        runs[damage.__name__] = (copy, proc, proc.log_path, 0)
    bridge.lock(3)  # the bridge goes on with members 1 to 3 meanwhile
    for name, (path, proc, log, offset) in runs.items():
        devnet.wait_until(functools.partial(exited, proc), 90, f"member 4 to refuse ({name})")
        with log.open("rb") as fh:
            fh.seek(offset)
            out = fh.read().decode(errors="replace")
        assert proc.popen.returncode == 2, f"{name}: {out}"
        assert f"error: {path}: " in out, out
        assert REMEDY in out, out
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert [e["path"] for e in events if e.get("event") == "store_unusable"] == [str(path)], out
        for never in ("node_started", "mqtt_connected", "batch_signed", "batch_submitted"):
            assert never not in out, f"{name}: {never} from a damaged store"
    bridge.lock(4, 5)
    bridge.wait_minted("locks made while member 4 is down minted by the others")

    for f in data_dir(net, victim).glob(f"{STORE}*"):  # the documented remedy: delete to rebuild
        f.unlink()
    sent_before = bridge.sent(victim)
    mark = log_mark(net, victim)
    net.restart(victim)
    devnet.wait_until(
        lambda: executed_in_store(net, victim) == bridge.locks, 90, "member 4's rebuilt store to catch up"
    )
    assert net.nodes[victim].popen.poll() is None
    assert "store_unusable" not in log_since(net, victim, mark)
    assert bridge.sent(victim) == sent_before  # rebuilt from the chains: nothing sent again
    bridge.settled_exactly_once()


# ---- a skewed clock --------------------------------------------------------------------------


def faketime(offset: str) -> dict[str, str]:
    """The environment that runs a process with its wall clock `offset` away (libfaketime, Debian
    package faketime). The monotonic clock is left alone, as on a real host whose clock is wrong."""
    found = sorted(glob("/usr/lib/*/faketime/libfaketime.so.1")) + sorted(
        glob("/usr/lib/faketime/libfaketime.so.1")
    )
    assert found, "libfaketime not found: scripts/bootstrap.sh installs the Debian package faketime"
    # FORCE_MONOTONIC_FIX=0: with it libfaketime makes every thread hand-off (aiosqlite) ~3 ms slow
    return {
        "LD_PRELOAD": found[0],
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
    }


def clock_offset(env: dict[str, str]) -> int:
    """Seconds by which a process started with `env` sees the wall clock ahead of this one."""
    faked = subprocess.run(
        ["date", "+%s"], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return int(faked.stdout) - int(time.time())


def test_members_two_hours_ahead_and_behind_stay_online_sign_and_take_their_turn_to_submit(
    bridge: Bridge,
) -> None:
    net = bridge.net
    skewed = {1: "+2h", 2: "-2h"}
    for member, offset in skewed.items():
        assert abs(clock_offset(faketime(offset)) - (7200 if offset[0] == "+" else -7200)) < 60, member
    marks = {m: log_mark(net, m) for m in skewed}
    for member, offset in skewed.items():
        net.restart(member, faketime(offset))
    for member in skewed:
        devnet.wait_until(
            functools.partial(ready, net, member), 60, f"member {member} ready with a skewed clock"
        )
    for member, offset in skewed.items():  # the member's own clock is off, not only `date`'s
        stamped = [e for e in events_since(net, member, marks[member]) if "timestamp" in e]
        assert stamped, f"member {member} logged nothing since its restart"
        ahead = datetime.fromisoformat(stamped[-1]["timestamp"]).timestamp() - time.time()
        assert abs(ahead - (7200 if offset[0] == "+" else -7200)) < 60, (member, ahead)
    devnet.wait_until(
        lambda: net.metric(3, "qiao_committee_members_online") == 4.0, 30, "member 3 sees all four online"
    )
    for member in skewed:
        assert readyz(net, member)[1]["members_online"] == [1, 2, 3, 4]
    sent_before = {m: bridge.sent(m) for m in range(1, 5)}
    first = bridge.locks + 1
    # one lock per batch, until each skewed member has been first in turn (relayer.core.txmath.turn)
    firsts: set[int] = set()
    while not set(skewed) <= firsts:
        bridge.lock(bridge.locks % 4 + 1)
        bridge.wait_minted(f"lock {bridge.locks} minted with members 1 and 2 skewed")
        firsts.add(turn(devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID, bridge.locks, 4) + 1)
        assert bridge.locks - first < 40, "the turns never reached members 1 and 2"
    batches = store_rows(net, 3, f"SELECT first_nonce FROM batches WHERE first_nonce >= {first}")
    assert len(batches) == bridge.locks - first + 1, batches
    for member in skewed:
        signed = store_rows(  # one row per batch (route and first nonce), whatever key epochs signed it
            net,
            member,
            "SELECT span_first FROM signed_items WHERE kind='batch' "
            f"AND span_first >= {first} GROUP BY sequence, span_first",
        )
        assert sorted(signed) == sorted(batches), f"member {member} did not sign every batch"
        assert bridge.sent(member) > sent_before[member], f"member {member} never took its turn"
        assert bridge.sent(member) - sent_before[member] <= len(batches), f"member {member} resubmits"
        for event in events_since(net, member, marks[member]):
            assert event.get("event") not in ("batch_resubmitted", "mqtt_disconnected"), event
    bridge.settled_exactly_once()


# ---- a full disk -----------------------------------------------------------------------------


def fill(directory: Path) -> Path:
    """Fill the filesystem of `directory` to the last byte; returns the filler file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as fh:
        for size in (1 << 16, 1 << 12, 1):
            while _write(fh.fileno(), size):
                pass
    return filler


def _write(fd: int, size: int) -> bool:
    """True if `size` bytes were written, False on ENOSPC."""
    try:
        return os.write(fd, b"\0" * size) == size
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False


def test_a_member_whose_disk_fills_stops_signing_says_so_and_resumes_once_space_is_back(
    bridge: Bridge,
) -> None:
    net, victim = bridge.net, 3
    data = data_dir(net, victim)
    aside = data.with_name("data.before-tmpfs")
    net.nodes[victim].stop()
    shutil.copytree(data, aside, ignore=shutil.ignore_patterns("admin.sock"))
    shutil.rmtree(data)
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(data)], check=True)
    try:
        for f in aside.iterdir():
            shutil.copy2(f, data / f.name)
        net.restart(victim)
        devnet.wait_until(lambda: ready(net, victim), 60, "member 3 ready on its small filesystem")
        assert net.metric(victim, "qiao_store_writable") == 1.0

        sent_before = bridge.sent(victim)
        mark = log_mark(net, victim)
        filler = fill(data)
        first = bridge.locks + 1
        bridge.lock(6, 7)
        bridge.wait_minted("locks minted by the three others while member 3's disk is full")
        devnet.wait_until(
            lambda: net.metric(victim, "qiao_store_writable") == 0.0,
            30,
            "member 3 to report its store unwritable",
        )
        code, body = readyz(net, victim)
        assert code == 503, body
        assert body["checks"]["store"] is False, body
        full = [e for e in events_since(net, victim, mark) if e.get("event") == "store_not_writable"]
        assert full, log_since(net, victim, mark)
        assert full[0]["reason"] == "disk full"
        assert net.nodes[victim].popen.poll() is None  # fails closed, still running
        assert store_rows(net, victim, f"SELECT nonce FROM transfers WHERE nonce >= {first}") == []
        assert "batch_signed" not in log_since(net, victim, mark)  # nothing published it did not record
        assert bridge.sent(victim) == sent_before

        filler.unlink()  # space is back
        devnet.wait_until(
            lambda: executed_in_store(net, victim) == bridge.locks,
            60,
            "member 3 to catch up once space is back",
        )
        devnet.wait_until(lambda: ready(net, victim), 30, "member 3 ready again")
        assert net.metric(victim, "qiao_store_writable") == 1.0
        assert "store_writable_again" in log_since(net, victim, mark)
        signed_sql = "SELECT * FROM signed_items WHERE kind='batch'"
        signed_before = len(store_rows(net, victim, signed_sql))
        bridge.lock(8)
        devnet.wait_until(
            lambda: len(store_rows(net, victim, signed_sql)) > signed_before,
            60,
            "member 3 signing new batches again",
        )
        bridge.settled_exactly_once()
    finally:
        net.nodes[victim].stop()
        subprocess.run(["umount", "-l", str(data)], check=False)
