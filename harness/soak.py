"""The chaos soak (issue 7): a bounded randomized session on the devnet, judged by the reconciler.

    bash scripts/soak.sh [--duration 600] [--seed N] [--rate 5] [--report soak.json]
    python -m harness.soak --help

It starts the devnet (n = 4, t = 3, finality depth 3), offers a steady load of transfers both
ways (locks on the consortium chain from several senders to several recipients; burns on Ethereum
of what was minted, back to several recipients), and meanwhile injects faults on a schedule drawn
from the seed: SIGKILL of a random member then its restart (at least t members stay up most of
the time, sometimes briefly fewer), restarts of the broker (stopped, then started again on the
same ports with the same configuration), and reorgs below finality on either chain (`anvil_reorg`
of 1 .. finality_depth - 1 blocks). When the duration is over it stops injecting, restarts what
is down, waits (bounded) until every transfer that exists on-chain was executed and no member's
store has a batch in flight, then runs the reconciler with `settled=True` and writes a JSON report.

Anvil drops the transactions of the blocks a reorg replaces (the soak sends some of its own again
inside the replacement blocks), so the soak counts what exists on-chain (the endpoints' events)
rather than what it sent: an orphaned lock that was not sent again is not a transfer. Exit status
0 only with zero violations, the pipeline drained and no member that exited on its own; 1
otherwise; 2 when the soak itself could not run.

Longer than the layout's ~500 lines: the plan, the load, the fault injectors and the verdict of
one soak run, read together when a soak fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from eth_utils.crypto import keccak
from web3.contract import Contract

from harness import devnet
from relayer.adapters.store import Store
from relayer.ops.reconciler import reconcile

C_ID, E_ID = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
LOCKS, BURNS = f"{C_ID}->{E_ID}", f"{E_ID}->{C_ID}"
CHAINS = ("consortium", "ethereum")
# warnings a failed soak prints besides every critical and error line of a member's log
ALARM_EVENTS = frozenset({"rpc_quarantined", "logs_refused"})
LOCK_SENDERS = (5, 6, 8)  # dev accounts that lock on C (the relayers are 1..n, the admin 0)
HOLDERS = (5, 6, 7, 9, 11)  # recipients of the mints on E, who burn back toward C
UNLOCK_RECIPIENTS = (5, 6, 7, 8, 11)
LOCK_GAS, BURN_GAS = 250_000, 250_000
MAX_AMOUNT = 10**9  # wei of the asset per transfer: far below any rate limit
DELIVERED_STATES = ("executed", "released")  # a transfer (or batch) the destination delivered
TERMINAL_STATES = frozenset({"executed", "failed"})  # a batch in a member's store: nothing more to do
TRANSFER_INITIATED = (
    "0x" + keccak(text="TransferInitiated(uint256,uint64,address,address,address,address,uint256)").hex()
)
TRANSFER_EXECUTED = "0x" + keccak(text="TransferExecuted(uint256,uint64,address,uint256)").hex()


def say(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class RpcError(RuntimeError):
    pass


class Rpc:
    """Plain JSON-RPC (one session per thread): batches, and per-call errors kept apart."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self.session.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=self.timeout,
        ).json()
        if "error" in reply:
            raise RpcError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """The raw replies, in the order of the calls (each has "result" or "error")."""
        if not calls:
            return []
        body: list[Any] = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)
        ]
        replies: list[dict[str, Any]] = self.session.post(self.url, json=body, timeout=self.timeout).json()
        return sorted(replies, key=lambda r: int(r["id"]))

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def count_logs(self, address: str, topic0: str, from_block: int) -> int:
        logs = self.call(
            "eth_getLogs",
            [{"address": address, "topics": [topic0], "fromBlock": hex(from_block), "toBlock": "latest"}],
        )
        return len(logs)


# ---- configuration and the fault schedule ---------------------------------------------------


@dataclass
class SoakConfig:
    duration: float = 600.0
    seed: int = 0
    rate: float = 5.0  # transfers per second offered, both directions together
    kill_every: float = 45.0  # mean seconds between member kills (0: none)
    quorum_loss_every: float = 200.0  # mean seconds between kills that leave fewer than t up (0: none)
    broker_every: float = 90.0  # mean seconds between broker restarts (0: none)
    reorg_every: float = 30.0  # mean seconds between reorgs, either chain (0: none)
    min_each: int = 0  # at least this many of each fault kind (kill, broker, reorg on each chain)
    below_threshold_chance: float = 0.5  # a kill that leaves fewer than t members running
    warmup: float = 10.0  # seconds of load before the first fault
    drain_timeout: float = 600.0
    finality_depth: int = 3
    window_blocks: int = 4  # the batch window: fewer, larger batches keep up on a shared machine
    block_time: float = 1.0
    n: int = 4
    t: int = 3


@dataclass(order=True)
class Planned:
    at: float
    kind: str  # kill | quorum_loss | broker | reorg
    chain: str = ""  # reorg: consortium | ethereum
    depth: int = 0  # reorg: blocks replaced


def plan(cfg: SoakConfig, rng: random.Random) -> list[Planned]:
    """The faults of a run, from the seed alone: Poisson arrivals per kind after the warm-up, and
    with `min_each` the missing ones of each kind spread evenly over the run."""
    events: list[Planned] = []
    means = {
        "kill": cfg.kill_every,
        "quorum_loss": cfg.quorum_loss_every,
        "broker": cfg.broker_every,
        "reorg": cfg.reorg_every,
    }
    for kind, mean in means.items():
        if mean <= 0:
            continue
        at = cfg.warmup
        while True:
            at += rng.expovariate(1.0 / mean)
            if at >= cfg.duration:
                break
            events.append(Planned(round(at, 2), kind))
    max_depth = max(1, cfg.finality_depth - 1)
    for e in events:
        if e.kind == "reorg":
            e.chain, e.depth = rng.choice(CHAINS), rng.randint(1, max_depth)
    needed: list[Planned] = []
    kinds = (
        ("kill", ""),
        ("reorg", "consortium"),
        ("quorum_loss", ""),
        ("broker", ""),
        ("reorg", "ethereum"),
    )
    for kind, chain in kinds:
        have = sum(1 for e in events if e.kind == kind and e.chain == chain)
        for _ in range(cfg.min_each - have):
            depth = rng.randint(1, max_depth) if kind == "reorg" else 0
            needed.append(Planned(0.0, kind, chain, depth))
    # the forced ones evenly over the run, leaving room after the last for its recovery
    span = max(1.0, cfg.duration - cfg.warmup - 15.0)
    for i, e in enumerate(needed):
        e.at = round(cfg.warmup + span * (i + 1) / (len(needed) + 1), 2)
    return sorted(events + needed)


# ---- the load -------------------------------------------------------------------------------


@dataclass
class SentTx:
    route: str
    tx_hash: str
    sender: str
    amount: int
    at: float


@dataclass
class ChainSide:
    """One chain as the load sees it: our senders' nonces, behind a lock that a reorg takes."""

    name: str
    url: str
    senders: list[str]
    rpc: Rpc = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    nonces: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rpc = Rpc(self.url)

    def resync(self, rpc: Rpc | None = None) -> None:
        """Our senders' next nonces from the chain (after a reorg, or a refused transaction)."""
        r = rpc or self.rpc
        replies = r.batch([("eth_getTransactionCount", [a, "latest"]) for a in self.senders])
        for a, reply in zip(self.senders, replies, strict=True):
            self.nonces[a] = int(reply["result"], 16)


class Load:
    """Locks on C and burns on E at a steady rate, without waiting for receipts."""

    def __init__(self, net: devnet.Devnet, rate: float, rng: random.Random) -> None:
        dep = net.deployment
        self.net = net
        self.rate = rate
        self.rng = rng
        self.addr = {
            i: devnet.dev_account(i).address for i in set(LOCK_SENDERS + HOLDERS + UNLOCK_RECIPIENTS)
        }
        self.c = ChainSide("consortium", dep.consortium_url, [self.addr[i] for i in LOCK_SENDERS])
        self.e = ChainSide("ethereum", dep.ethereum_url, [self.addr[i] for i in HOLDERS])
        self.vault: Contract = dep.vault
        self.gateway: Contract = dep.gateway
        self.asset: Contract = dep.asset
        self.wrapped: Contract = dep.wrapped
        self.sent: list[SentTx] = []
        self.send_errors: Counter[str] = Counter()
        self.inflight: dict[str, list[tuple[str, int]]] = defaultdict(list)  # holder -> burns not yet mined
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-load", daemon=True)
        self.error: str | None = None

    def fund(self) -> None:
        """Asset for every lock sender, and the vault's allowance."""
        wc = self.vault.w3
        admin = devnet.dev_account(0)
        for i in LOCK_SENDERS:
            account = devnet.dev_account(i)
            devnet.send(wc, admin, self.asset.functions.mint(account.address, 10**30))
            devnet.send(wc, account, self.asset.functions.approve(self.vault.address, 2**255))
        self.c.resync()
        self.e.resync()

    # -- sending

    def _lock_tx(self, side: ChainSide) -> tuple[dict[str, str], str, int]:
        sender = self.rng.choice(side.senders)
        recipient = self.addr[self.rng.choice(HOLDERS)]
        amount = self.rng.randint(1, MAX_AMOUNT)
        data = self.vault.encode_abi("lock", args=[self.asset.address, E_ID, recipient, amount])
        return self._tx(side, sender, self.vault.address, data, LOCK_GAS), sender, amount

    def _tx(self, side: ChainSide, sender: str, to: str, data: str, gas: int) -> dict[str, str]:
        nonce = side.nonces[sender]
        side.nonces[sender] = nonce + 1
        return {"from": sender, "to": to, "data": data, "gas": hex(gas), "nonce": hex(nonce)}

    def _send(self, side: ChainSide, route: str, items: list[tuple[dict[str, str], str, int]]) -> list[str]:
        replies = side.rpc.batch([("eth_sendTransaction", [tx]) for tx, _, _ in items])
        hashes, now = [], time.time()
        refused = False
        for (_, sender, amount), reply in zip(items, replies, strict=True):
            if "error" in reply:
                self.send_errors[str(reply["error"].get("message", reply["error"]))[:80]] += 1
                refused = True
                hashes.append("")
                continue
            tx_hash = str(reply["result"])
            self.sent.append(SentTx(route, tx_hash, sender, amount, now))
            hashes.append(tx_hash)
        if refused:
            side.resync()
        return hashes

    def _burn_budget(self) -> dict[str, int]:
        """What each holder may still burn: its balance less its burns not yet mined."""
        rpc = self.e.rpc
        pending = [(h, tx, a) for h, txs in self.inflight.items() for tx, a in txs]
        receipts = rpc.batch([("eth_getTransactionReceipt", [tx]) for _, tx, _ in pending])
        for (holder, tx, amount), reply in zip(pending, receipts, strict=True):
            if reply.get("result") is not None:
                self.inflight[holder].remove((tx, amount))
        holders = self.e.senders
        calls = [
            (
                "eth_call",
                [
                    {"to": self.wrapped.address, "data": self.wrapped.encode_abi("balanceOf", args=[h])},
                    "latest",
                ],
            )
            for h in holders
        ]
        budget = {}
        for h, reply in zip(holders, rpc.batch(calls), strict=True):
            balance = int(reply["result"], 16)
            budget[h] = balance - sum(a for _, a in self.inflight[h])
        return budget

    def _burns(self, count: int) -> int:
        if count <= 0:
            return 0
        with self.e.lock:
            budget = self._burn_budget()
            items = []
            for _ in range(count):
                able = [h for h, b in budget.items() if b >= 2]
                if not able:
                    break
                holder = self.rng.choice(able)
                amount = self.rng.randint(1, min(budget[holder] // 2, MAX_AMOUNT))
                budget[holder] -= amount
                recipient = self.addr[self.rng.choice(UNLOCK_RECIPIENTS)]
                data = self.gateway.encode_abi("burn", args=[self.wrapped.address, C_ID, recipient, amount])
                items.append((self._tx(self.e, holder, self.gateway.address, data, BURN_GAS), holder, amount))
            hashes = self._send(self.e, BURNS, items)
            for (_, holder, amount), tx_hash in zip(items, hashes, strict=True):
                if tx_hash:
                    self.inflight[holder].append((tx_hash, amount))
            return len(items)

    def _locks(self, count: int) -> int:
        if count <= 0:
            return 0
        with self.c.lock:
            items = [self._lock_tx(self.c) for _ in range(count)]
            self._send(self.c, LOCKS, items)
            return count

    def _run(self) -> None:
        per_way = self.rate / 2.0
        tick = 0.25
        started = time.monotonic()
        locks = burns = 0
        while not self.stop.is_set():
            try:
                due = per_way * (time.monotonic() - started + tick)
                locks += self._locks(int(due) - locks)
                # burns wait for mints; a backlog of them is sent at most a few ticks' worth at once
                owed = int(due) - burns
                burns += self._burns(min(owed, max(2, int(4 * per_way * tick))))
                if owed > 4 * per_way * 10:  # no more than 10 s of burns owed: the rest are forgone
                    burns = int(due) - int(4 * per_way * 10)
            except Exception as exc:  # a chain busy with a reorg, a timeout: go on, counted
                self.send_errors[f"load: {exc!r}"[:80]] += 1
            self.stop.wait(tick)

    def after_reorg(self, side: ChainSide, rpc: Rpc) -> int:
        """Our transactions still in the pool behind a nonce gap are removed (they would wait
        forever); the senders' nonces restart from the chain. Returns how many were removed."""
        removed = 0
        status = rpc.batch([("txpool_content", [])])[0].get("result") or {}
        for group in ("pending", "queued"):
            for sender, txs in (status.get(group) or {}).items():
                if any(sender.lower() == s.lower() for s in side.senders):
                    removed += len(txs)
        for sender in side.senders:
            rpc.call("anvil_removePoolTransactions", [sender])
        side.resync(rpc)
        if side is self.e:
            self.inflight.clear()
        return removed


# ---- the faults -----------------------------------------------------------------------------


@dataclass
class FaultStats:
    kills: int = 0
    restarts: int = 0
    kills_skipped: int = 0
    broker_restarts: int = 0
    broker_down_seconds: float = 0.0
    reorgs: dict[str, dict[str, int]] = field(default_factory=lambda: {c: {} for c in CHAINS})
    reorg_user_txs_orphaned: int = 0
    reorg_user_txs_reincluded: int = 0
    reorg_relayer_txs_orphaned: int = 0
    reorg_pool_txs_removed: int = 0
    reorgs_too_deep: int = 0  # replaced a block below the depth asked for (see Injector._reorg)
    below_threshold_episodes: int = 0
    below_threshold_seconds: float = 0.0
    unexpected_exits: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["reorgs_total"] = sum(sum(d.values()) for d in self.reorgs.values())
        out["broker_down_seconds"] = round(self.broker_down_seconds, 1)
        out["below_threshold_seconds"] = round(self.below_threshold_seconds, 1)
        return out


class Injector:
    """Runs the planned faults in time order on its own thread (the load goes on meanwhile)."""

    def __init__(
        self, net: devnet.Devnet, load: Load, cfg: SoakConfig, planned: list[Planned], rng: random.Random
    ):
        self.net, self.load, self.cfg, self.rng = net, load, cfg, rng
        self.stats = FaultStats()
        self.t0 = time.monotonic()
        self.queue: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        for p in planned:
            self._push(p.at, p.kind, p)
        self.down: set[int] = set()  # members we killed and have not restarted yet
        self.members_lock = threading.Lock()
        self.broker_down_since: float | None = None
        self._below_since: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)
        self.rpcs = {"consortium": Rpc(load.c.url, 60), "ethereum": Rpc(load.e.url, 60)}

    def _push(self, at: float, kind: str, arg: Any) -> None:
        self._seq += 1
        heapq.heappush(self.queue, (at, self._seq, kind, arg))

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _record(self, kind: str, **detail: Any) -> None:
        entry = {"t": round(self.now(), 2), "kind": kind, **detail}
        self.stats.log.append(entry)
        say(f"fault t={entry['t']:.0f}s {kind} {detail}")

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.queue:
                self.stop.wait(0.5)
                continue
            at, _, kind, arg = self.queue[0]
            wait = at - self.now()
            if wait > 0:
                self.stop.wait(min(wait, 0.5))
                continue
            heapq.heappop(self.queue)
            self._do(kind, arg)

    def _do(self, kind: str, arg: Any) -> None:
        try:
            if kind == "kill":
                self._kill()
            elif kind == "quorum_loss":
                self._quorum_loss()
            elif kind == "restart":
                self._restart(int(arg))
            elif kind == "broker":
                self._broker_stop()
            elif kind == "broker_start":
                self._broker_start()
            elif kind == "reorg":
                self._reorg(arg)
        except Exception as exc:
            self.stats.errors.append(f"t={self.now():.0f}s {kind}: {exc!r}")
            say(f"fault {kind} failed: {exc!r}")

    def finish(self) -> None:
        """Stop injecting; restart every member still down and the broker if it is down; set
        both chains' interval mining on."""
        self.stop.set()
        self.thread.join(120)
        pending = sorted(self.queue)
        self.queue.clear()
        for _, _, kind, arg in pending:
            if kind in ("restart", "broker_start"):
                self._do(kind, arg)
        for member in sorted(self.down):
            self._do("restart", member)
        if self.broker_down_since is not None:
            self._do("broker_start", None)
        for chain, rpc in self.rpcs.items():  # mining on, whatever a reorg's restore did
            try:
                self._mine_on(rpc)
            except Exception as exc:
                self.stats.errors.append(f"interval mining on {chain} not restored: {exc!r}")

    # -- members

    def running(self) -> list[int]:
        return sorted(i for i in self.net.nodes if i not in self.down)

    def _kill(self) -> None:
        running = self.running()
        t = self.cfg.t
        below = len(running) - 1 < t
        if (
            not running
            or len(running) - 1 < t - 1
            or (below and self.rng.random() >= self.cfg.below_threshold_chance)
        ):
            self.stats.kills_skipped += 1
            self._record("kill_skipped", running=running)
            return
        member = self.rng.choice(running)
        self._kill_member(member, round(self.rng.uniform(2, 6) if below else self.rng.uniform(2, 20), 1))

    def _quorum_loss(self) -> None:
        """Members killed until fewer than t run (nothing can be signed), each back within seconds."""
        running = self.running()
        if len(running) < self.cfg.t:
            self._record("quorum_loss_skipped", running=running)
            return
        for member in self.rng.sample(running, len(running) - (self.cfg.t - 1)):
            self._kill_member(member, round(self.rng.uniform(3, 8), 1))

    def _kill_member(self, member: int, downtime: float) -> None:
        with self.members_lock:  # marked down before the signal, so no one takes it for a crash
            self.down.add(member)
            proc = self.net.nodes[member]
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait(10)
        self.stats.kills += 1
        running = len(self.running())
        if running < self.cfg.t and self._below_since is None:
            self._below_since = self.now()
            self.stats.below_threshold_episodes += 1
        self._record("kill", member=member, downtime=downtime, running=running)
        self._push(self.now() + downtime, "restart", member)

    def _restart(self, member: int) -> None:
        with self.members_lock:
            if member not in self.down:
                return
            self.net.restart(member)
            self.down.discard(member)
        self.stats.restarts += 1
        if self._below_since is not None and len(self.running()) >= self.cfg.t:
            self.stats.below_threshold_seconds += self.now() - self._below_since
            self._below_since = None
        self._record("restart", member=member, running=len(self.running()))

    def check_members(self) -> None:
        """A member that exited without being killed is a finding: recorded, then restarted."""
        with self.members_lock:
            for member in self.running():
                code = self.net.nodes[member].popen.poll()
                if code is not None:
                    self.stats.unexpected_exits.append(
                        {"t": round(self.now(), 1), "member": member, "returncode": code}
                    )
                    say(f"member {member} exited on its own with {code}; restarting it")
                    self.net.restart(member)

    # -- broker

    def _broker_stop(self) -> None:
        if self.broker_down_since is not None:
            return
        downtime = round(self.rng.uniform(1, 8), 1)
        self.net.stop_broker()
        self.broker_down_since = self.now()
        self.stats.broker_restarts += 1
        self._record("broker_stop", downtime=downtime)
        self._push(self.now() + downtime, "broker_start", None)

    def _broker_start(self) -> None:
        if self.broker_down_since is None:
            return
        self.net.start_broker()
        self.stats.broker_down_seconds += self.now() - self.broker_down_since
        self.broker_down_since = None
        self._record("broker_start")

    # -- reorgs

    def _mine_on(self, rpc: Rpc) -> None:
        """The chain mines every block time (anvil takes whole seconds), retried: a chain a
        reorg's `devnet.mining_held` failed to set mining again would stall the soak until its
        drain timeout."""
        for attempt in range(3):
            try:
                rpc.call("evm_setIntervalMining", [max(1, round(self.cfg.block_time))])
                return
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(1)

    def _reorg(self, p: Planned) -> None:
        """One reorg of exactly `p.depth` blocks, the chain's own mining held meanwhile
        (`devnet.mining_held`, from a moment the head stands still; `finish` sets mining on again
        on both chains whatever happened here).

        anvil 1.7's rollback does not take the lock its block production takes (foundry-rs/foundry
        PR 16711, open): a block its interval miner produces during `anvil_reorg` can land on
        either side of the rollback, and the reorg's depth is then no longer the one asked for.
        With mining held and the head still, the blocks the reorg may replace are known; they are
        compared before and after, and a reorg that replaced a block below the `p.depth` asked
        for (the soak's own fault, outside the bridge's model) is recorded as `reorg_too_deep`."""
        side = self.load.c if p.chain == "consortium" else self.load.e
        rpc = self.rpcs[p.chain]
        relayers = {devnet.relayer_account(i).address.lower() for i in range(1, self.cfg.n + 1)}
        ours = {s.lower() for s in side.senders}
        with side.lock, devnet.mining_held(side.url, max(1, round(self.cfg.block_time))):
            head = rpc.head()
            # the reorg's blocks and the final ones under them, which must not change
            first = max(1, head - p.depth - self.cfg.finality_depth)
            numbers = range(first, head + 1)
            blocks = rpc.batch([("eth_getBlockByNumber", [hex(b), True]) for b in numbers])
            txs = [tx for reply in blocks if reply.get("result") for tx in reply["result"]["transactions"]]
            top = [
                tx
                for reply in blocks
                if reply.get("result") and int(reply["result"]["number"], 16) > head - p.depth
                for tx in reply["result"]["transactions"]
            ]
            # re-include at most one of each sender's orphaned transactions (anvil gives it its nonce)
            again: list[list[Any]] = []
            chosen: set[str] = set()
            for tx in top:
                sender = str(tx["from"]).lower()
                if sender in ours and sender not in chosen and self.rng.random() < 0.5:
                    chosen.add(sender)
                    request = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
                    again.append([request, self.rng.randrange(p.depth)])
            rpc.call("anvil_reorg", [p.depth, again])
            after = rpc.batch([("eth_getBlockByNumber", [hex(b), False]) for b in numbers])
            receipts = rpc.batch([("eth_getTransactionReceipt", [tx["hash"]]) for tx in txs])
            orphaned = [tx for tx, r in zip(txs, receipts, strict=True) if r.get("result") is None]
            user = sum(1 for tx in orphaned if str(tx["from"]).lower() in ours)
            relayer = sum(1 for tx in orphaned if str(tx["from"]).lower() in relayers)
            removed = self.load.after_reorg(side, rpc)
        replaced = reorg_replaced(blocks, after)
        if replaced and min(replaced) <= head - p.depth:
            self.stats.reorgs_too_deep += 1
            self._record("reorg_too_deep", chain=p.chain, depth=p.depth, head=head, replaced=replaced)
        counts = self.stats.reorgs[p.chain]
        counts[str(p.depth)] = counts.get(str(p.depth), 0) + 1
        self.stats.reorg_user_txs_orphaned += user
        self.stats.reorg_user_txs_reincluded += len(again)
        self.stats.reorg_relayer_txs_orphaned += relayer
        self.stats.reorg_pool_txs_removed += removed
        self._record(
            "reorg",
            chain=p.chain,
            depth=p.depth,
            head=head,
            user_txs_orphaned=user,
            reincluded=len(again),
            relayer_txs_orphaned=relayer,
            pool_txs_removed=removed,
            replaced=replaced,
        )


def reorg_replaced(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[int]:
    """The numbers of the blocks whose hash a reorg changed, from the replies of
    eth_getBlockByNumber for the same numbers before and after it."""
    old = {int(r["result"]["number"], 16): r["result"]["hash"] for r in before if r.get("result")}
    new = {int(r["result"]["number"], 16): r["result"]["hash"] for r in after if r.get("result")}
    return sorted(n for n, h in old.items() if new.get(n) != h)


# ---- judging --------------------------------------------------------------------------------


@dataclass
class OnChain:
    initiated: dict[str, int]
    executed: dict[str, int]
    pool: dict[str, int]

    @property
    def delivered(self) -> bool:
        return all(self.executed[r] >= self.initiated[r] for r in (LOCKS, BURNS))


def on_chain(net: devnet.Devnet, rpcs: dict[str, Rpc]) -> OnChain:
    dep = net.deployment
    c, e = rpcs["consortium"], rpcs["ethereum"]
    initiated = {
        LOCKS: c.count_logs(dep.vault.address, TRANSFER_INITIATED, dep.consortium_block),
        BURNS: e.count_logs(dep.gateway.address, TRANSFER_INITIATED, dep.ethereum_block),
    }
    executed = {
        LOCKS: e.count_logs(dep.gateway.address, TRANSFER_EXECUTED, dep.ethereum_block),
        BURNS: c.count_logs(dep.vault.address, TRANSFER_EXECUTED, dep.consortium_block),
    }
    pool = {}
    for name, rpc in rpcs.items():
        status = rpc.call("txpool_status")
        pool[name] = int(status["pending"], 16) + int(status["queued"], 16)
    return OnChain(initiated, executed, pool)


def store_states(net: devnet.Devnet, member: int) -> dict[str, dict[str, int]]:
    """Transfers and batches per state in a member's store (read-only; the member keeps running)."""
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    if not path.exists():
        return {"transfers": {}, "batches": {}}

    async def read() -> dict[str, dict[str, int]]:
        async with Store.open_readonly(path) as store:
            return await store.state_counts()

    return asyncio.run(read())


def tx_outcomes(rpcs: dict[str, Rpc], sent: list[SentTx]) -> dict[str, dict[str, int]]:
    """Per route: our transactions mined (status 1), reverted, or gone (orphaned by a reorg and
    not re-included, or removed from the pool behind a nonce gap)."""
    out: dict[str, dict[str, int]] = {
        r: {"sent": 0, "mined": 0, "reverted": 0, "dropped": 0} for r in (LOCKS, BURNS)
    }
    for route, chain in ((LOCKS, "consortium"), (BURNS, "ethereum")):
        hashes = [s.tx_hash for s in sent if s.route == route]
        out[route]["sent"] = len(hashes)
        for start in range(0, len(hashes), 500):
            replies = rpcs[chain].batch(
                [("eth_getTransactionReceipt", [h]) for h in hashes[start : start + 500]]
            )
            for reply in replies:
                receipt = reply.get("result")
                if receipt is None:
                    out[route]["dropped"] += 1
                elif int(receipt["status"], 16) == 1:
                    out[route]["mined"] += 1
                else:
                    out[route]["reverted"] += 1
    return out


# ---- the run --------------------------------------------------------------------------------


def progress(elapsed: float, load: Load, oc: OnChain) -> dict[str, Any]:
    return {
        "t": round(elapsed),
        "sent": {r: sum(1 for s in load.sent if s.route == r) for r in (LOCKS, BURNS)},
        "initiated": oc.initiated,
        "executed": oc.executed,
    }


def member_alarms(logs: Path, members: Sequence[int], keep: int = 6) -> dict[str, list[str]]:
    """Each member's last `keep` alarms from its log: what it logged at critical or error level
    (a deep reorg, a halted route or watcher, a refused batch) or as an endpoint it stopped
    trusting, one line each, so that a failed soak says what its members saw."""
    out: dict[str, list[str]] = {}
    for member in members:
        path = logs / f"member-{member}.log"
        if not path.exists():
            continue
        found: list[str] = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("event") == "library_log":
                continue
            if entry.get("level") in ("critical", "error") or entry.get("event") in ALARM_EVENTS:
                rest = {k: v for k, v in entry.items() if k not in ("event", "level", "timestamp")}
                found.append(f"{entry.get('timestamp', '?')} {entry.get('event')} {json.dumps(rest)[:300]}")
        if found:
            out[str(member)] = found[-keep:]
    return out


def wait_members_ready(net: devnet.Devnet, timeout: float) -> None:
    logs = net.run_dir / "logs"

    def ready(member: int) -> bool:
        code = net.nodes[member].popen.poll()
        if code is not None:
            raise RuntimeError(f"member {member} exited with {code} before it was ready; see its log")
        path = logs / f"member-{member}.log"
        return path.exists() and '"node_ready"' in path.read_text(errors="replace")

    deadline = time.monotonic() + timeout
    while not all(ready(m) for m in net.nodes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"members not ready after {timeout:.0f} s")
        time.sleep(0.5)


def soak(cfg: SoakConfig, run_dir: Path, report_path: Path) -> dict[str, Any]:
    rng = random.Random(cfg.seed)
    planned = plan(cfg, rng)
    report: dict[str, Any] = {
        "seed": cfg.seed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(cfg),
        "run_dir": str(run_dir),
        "planned_faults": len(planned),
        "ok": False,
    }

    def save() -> None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2) + "\n")

    say(f"seed {cfg.seed}; {cfg.duration:.0f} s at {cfg.rate:g} transfers/s; {len(planned)} faults planned")
    say(f"run directory {run_dir}; report {report_path}")
    with devnet.devnet(
        run_dir,
        n=cfg.n,
        t=cfg.t,
        block_time=cfg.block_time,
        node_options={"finality_depth": cfg.finality_depth, "window_blocks": cfg.window_blocks},
    ) as net:
        wait_members_ready(net, 300)
        load = Load(net, cfg.rate, random.Random(cfg.seed + 1))
        load.fund()
        rpcs = {"consortium": Rpc(load.c.url, 120), "ethereum": Rpc(load.e.url, 120)}
        injector = Injector(net, load, cfg, planned, random.Random(cfg.seed + 2))
        say(
            f"members ready; load and faults start (n = {cfg.n}, t = {cfg.t}, "
            f"finality depth {cfg.finality_depth})"
        )
        t_start = time.monotonic()
        load.thread.start()
        injector.thread.start()
        last_progress = 0.0
        timeline: list[dict[str, Any]] = []
        report["timeline"] = timeline
        try:
            while (elapsed := time.monotonic() - t_start) < cfg.duration:
                time.sleep(1.0)
                injector.check_members()
                if elapsed - last_progress >= 30:
                    last_progress = elapsed
                    with contextlib.suppress(Exception):
                        oc = on_chain(net, rpcs)
                        timeline.append(progress(elapsed, load, oc))
                        say(
                            f"t={elapsed:.0f}s sent {sum(1 for s in load.sent if s.route == LOCKS)} locks "
                            f"{sum(1 for s in load.sent if s.route == BURNS)} burns; on-chain locks "
                            f"{oc.initiated[LOCKS]} minted {oc.executed[LOCKS]}, burns {oc.initiated[BURNS]} "
                            f"unlocked {oc.executed[BURNS]}; members up {injector.running()}"
                        )
        finally:
            load.stop.set()
            load.thread.join(60)
            injector.finish()
        soak_seconds = time.monotonic() - t_start
        say(f"load and faults stopped after {soak_seconds:.0f} s; every member and the broker up; draining")

        # -- drain: every transfer on-chain executed, pools empty, every member's store agreeing
        drain_start = time.monotonic()
        drained, streak = False, 0
        oc = on_chain(net, rpcs)
        stores: dict[int, dict[str, dict[str, int]]] = {}
        while time.monotonic() - drain_start < cfg.drain_timeout:
            injector.check_members()
            with contextlib.suppress(Exception):
                oc = on_chain(net, rpcs)
                total = oc.initiated[LOCKS] + oc.initiated[BURNS]
                stores = {m: store_states(net, m) for m in sorted(net.nodes)}
                # every member stored every transfer and has no batch left in flight
                agree = all(
                    sum(s["transfers"].values()) == total and not set(s["batches"]) - TERMINAL_STATES
                    for s in stores.values()
                )
                streak = streak + 1 if oc.delivered and agree and not any(oc.pool.values()) else 0
                if streak >= 2:
                    drained = True
                    break
            if (elapsed := time.monotonic() - t_start) - last_progress >= 30:
                last_progress = elapsed
                timeline.append(progress(elapsed, load, oc))
                say(f"draining: {timeline[-1]}")
            time.sleep(3)
        drain_seconds = time.monotonic() - drain_start
        if drained:
            say(f"drained in {drain_seconds:.0f} s; waiting a few blocks for any second execution")
            time.sleep((cfg.finality_depth + 3) * cfg.block_time + 4)
        else:
            say(f"NOT drained after {drain_seconds:.0f} s: {oc}; stores {stores}")
        verdict = reconcile(net.deployment, settled=True)
        oc = on_chain(net, rpcs)
        outcomes = tx_outcomes(rpcs, load.sent)
        members_alive = {m: net.nodes[m].popen.poll() is None for m in sorted(net.nodes)}
        for route in (LOCKS, BURNS):
            outcomes[route]["initiated_on_chain"] = oc.initiated[route]
            outcomes[route]["executed"] = oc.executed[route]
        faults = injector.stats.summary()
        report.update(
            {
                "soak_seconds": round(soak_seconds, 1),
                "transfers": {
                    "consortium->ethereum": outcomes[LOCKS],
                    "ethereum->consortium": outcomes[BURNS],
                },
                "executed": oc.executed[LOCKS] + oc.executed[BURNS],
                "refunded": verdict.counts.get("refunded", 0),
                "send_errors": dict(load.send_errors),
                "faults": faults,
                "drain": {
                    "drained": drained,
                    "seconds": round(drain_seconds, 1),
                    "timeout": cfg.drain_timeout,
                },
                "member_stores": {str(m): s for m, s in stores.items()},
                # what a member's store records otherwise than executed (or released from the
                # destination's hold or queue, then delivered), though the chain executed it
                "store_mismatches": {
                    f"{m}/{table}": {k: v for k, v in counts.items() if k not in DELIVERED_STATES}
                    for m, s in stores.items()
                    for table, counts in s.items()
                    if set(counts) - set(DELIVERED_STATES)
                },
                "members_alive": {str(m): a for m, a in members_alive.items()},
                "member_alarms": member_alarms(net.run_dir / "logs", sorted(net.nodes)),
                "verdict": verdict.to_json(),
            }
        )
        report["ok"] = bool(
            verdict.ok and drained and all(members_alive.values()) and not faults["unexpected_exits"]
        )
        save()
    return report


def print_summary(report: dict[str, Any]) -> None:
    f = report.get("faults", {})
    print(f"soak: seed {report['seed']}, {report.get('soak_seconds', 0):.0f} s of load and faults")
    for route, row in report.get("transfers", {}).items():
        print(
            f"  {route}: sent {row['sent']}, mined {row['mined']}, reverted {row['reverted']}, dropped "
            f"{row['dropped']}; on-chain {row['initiated_on_chain']}, executed {row['executed']}"
        )
    print(
        f"  faults: {f.get('kills', 0)} kills ({f.get('restarts', 0)} restarts, "
        f"{f.get('below_threshold_episodes', 0)} times below t), "
        f"{f.get('broker_restarts', 0)} broker restarts, "
        f"{f.get('reorgs_total', 0)} reorgs {f.get('reorgs')}"
    )
    drain = report.get("drain", {})
    print(f"  drained: {drain.get('drained')} in {drain.get('seconds')} s; refunded {report.get('refunded')}")
    verdict = report.get("verdict", {})
    print(f"  reconciler: {'OK' if verdict.get('ok') else 'VIOLATIONS'} {verdict.get('counts')}")
    violations = verdict.get("violations", [])
    for v in violations[:8]:
        print(f"    {v['invariant']}: {v['detail']}")
    if len(violations) > 8:
        print(f"    ... and {len(violations) - 8} more (the report has them all)")
    if f.get("reorgs_too_deep"):
        print(
            f"  the soak's own fault: {f['reorgs_too_deep']} reorg(s) replaced blocks below the asked depth"
        )
    if not report.get("ok"):
        for member, lines in report.get("member_alarms", {}).items():
            print(f"  member {member} alarms (last {len(lines)}):")
            for line in lines:
                print(f"    {line}")
    if report.get("store_mismatches"):
        print(f"  warning: member stores that disagree with the chain: {report['store_mismatches']}")
    if f.get("unexpected_exits"):
        print(f"  members that exited on their own: {f['unexpected_exits']}")
    print(f"soak: {'PASS' if report.get('ok') else 'FAIL'}")


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    d = SoakConfig()
    p = argparse.ArgumentParser(prog="harness.soak", description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument(
        "--duration", type=float, default=d.duration, help="seconds of load and faults (default 600)"
    )
    p.add_argument("--seed", type=int, help="the fault schedule's seed (default: random, printed)")
    p.add_argument("--rate", type=float, default=d.rate, help="transfers per second, both ways (default 5)")
    p.add_argument(
        "--kill-every", type=float, default=d.kill_every, help="mean s between member kills (0: none)"
    )
    p.add_argument(
        "--quorum-loss-every",
        type=float,
        default=d.quorum_loss_every,
        help="mean s between kills of members until fewer than t run, for a few seconds (0: none)",
    )
    p.add_argument(
        "--broker-every", type=float, default=d.broker_every, help="mean s between broker restarts"
    )
    p.add_argument("--reorg-every", type=float, default=d.reorg_every, help="mean s between reorgs")
    p.add_argument(
        "--min-each-fault",
        type=int,
        default=d.min_each,
        help="at least N kills, quorum losses, broker restarts, reorgs per chain",
    )
    p.add_argument("--drain-timeout", type=float, default=d.drain_timeout, help="seconds (default 600)")
    p.add_argument("--finality-depth", type=int, default=d.finality_depth, help="both chains (default 3)")
    p.add_argument("--window-blocks", type=int, default=d.window_blocks, help="batch window (default 4)")
    p.add_argument("--run-dir", type=Path, help="keys, configs, stores, logs (default: a new temp dir)")
    p.add_argument("--report", type=Path, help="the JSON report (default: <run-dir>/soak-report.json)")
    args = p.parse_args(argv)
    if args.finality_depth < 2:
        p.error("--finality-depth must be at least 2: a reorg below finality needs room")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    cfg = SoakConfig(
        duration=args.duration,
        seed=seed,
        rate=args.rate,
        kill_every=args.kill_every,
        quorum_loss_every=args.quorum_loss_every,
        broker_every=args.broker_every,
        reorg_every=args.reorg_every,
        min_each=args.min_each_fault,
        drain_timeout=args.drain_timeout,
        finality_depth=args.finality_depth,
        window_blocks=args.window_blocks,
    )
    # SIGTERM (and SIGINT, which a background job ignores) stop everything the devnet started
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="qiao-soak-"))
    report_path = args.report or run_dir / "soak-report.json"
    try:
        report = soak(cfg, run_dir, report_path)
    except (TimeoutError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"soak: could not run (seed {seed}): {exc!r}; logs in {run_dir / 'logs'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"soak: interrupted ({exc}); seed {seed}", file=sys.stderr)
        return 2
    print_summary(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
