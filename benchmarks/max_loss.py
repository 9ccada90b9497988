"""The maximum loss: how much a colluding committee takes before a sentinel's curse lands.

    bash scripts/bench.sh max-loss [--repeat 3] [--only baseline refill ...] [--out benchmarks/results]
    python -m benchmarks.max_loss ...

Each run starts two anvil chains, deploys the bridge with a committee key dealt to n = 4 (t = 3)
shares, sets the gateway's inbound bucket for the wrapped token (capacity, refill per second) and
the challenge threshold (both endpoints; a transfer at or above it is held for the challenge window,
30 s here, and vetoed by the sentinel), registers and starts a real `qiao-sentinel run` process
(its own poll interval; finality depth `confirmations`), and waits for its first round. No member
process runs: the attackers are the committee (t shares pooled, harness.sentinels.Colluders).

The attack, as fast as it can: on every new Ethereum block it reads how much the inbound bucket
holds (`availableCapacity`) and submits one forged batch consortium -> ethereum that takes all of
it, in transfers one wei below the threshold (never held) and one for the rest, at most
`per_batch` (100) transfers a batch (a few hundred fill a block's gas). It goes on until the route
is cursed (a batch reverts RouteIsCursed, or `isCursed`). Measured: the Ethereum block of the
first forged execution and of the RouteCursed event, the seconds between their timestamps, and the
value minted to the attacker (what left the bridge: queued or held forged transfers never deliver
once the route is cursed).

The bound each run is compared with (docs/BENCHMARKS.md, "Maximum loss"):

    loss <= min(L0 + r * T, B * k * (threshold - 1)),  T = t_curse - t_first,  B = blocks in T

L0 the bucket's level at the first forged execution (<= capacity), r the refill per second, k the
transfers a batch holds. Nothing here asserts a limit; the e2e test (tests/e2e/test_sentinels.py)
asserts the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from committee.threshold import deal
from harness import devnet
from harness import sentinels as sh
from relayer.provisioning.deploy import INBOUND

UNIT = devnet.UNIT
C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
PERIOD = 30  # the challenge window (s): held transfers are vetoed inside it


@dataclass(frozen=True)
class Params:
    block_time: float = 1.0  # both chains (s)
    capacity: int = 1000  # the inbound bucket (token units)
    refill: int = 1  # units per second
    threshold: int = 100  # challenge threshold (units); each forged transfer is one wei below it
    poll: float = 1.0  # the sentinel's poll interval (s)
    confirmations: int = 2  # the sentinel's finality depth (blocks) on both chains
    per_batch: int = 100  # forged transfers per batch at most


BASELINE = Params()
SWEEPS: dict[str, list[Params]] = {
    "baseline": [BASELINE],
    "refill": [replace(BASELINE, refill=r) for r in (10, 50)],
    "capacity": [replace(BASELINE, capacity=c) for c in (200, 5000)],
    "threshold": [replace(BASELINE, threshold=th, capacity=5000, refill=50) for th in (2, 10)],
    "poll": [replace(BASELINE, poll=p, refill=10) for p in (0.5, 4.0, 8.0, 16.0)],
    "block_time": [replace(BASELINE, block_time=b, refill=10) for b in (0.5, 2.0)],
    "confirmations": [replace(BASELINE, confirmations=c, refill=10) for c in (0, 6)],
}


def say(msg: str) -> None:
    print(f"[max-loss {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def forged_amounts(available: int, piece: int, per_batch: int) -> list[int]:
    """Transfers of at most `piece` (one wei below the threshold) that take all of `available`, at
    most `per_batch` of them."""
    full, rest = divmod(available, piece)
    amounts = [piece] * min(full, per_batch)
    if rest and full < per_batch:
        amounts.append(rest)
    return amounts


def sentinel_timeline(log: Path) -> dict[str, Any]:
    """From the sentinel's log: how many records it judged unbacked before its first curse went
    out, and the seconds (log resolution: 1 s) from the first such finding to that curse."""
    findings, first, sent = 0, None, None
    for line in log.read_text(errors="replace").splitlines():
        stamp = line[:19]
        if "sentinel_mismatch" in line and sent is None:
            findings += 1
            first = first or stamp
        elif "sentinel_action_sent" in line and "action=curse" in line and sent is None:
            sent = stamp
    seconds = None
    if first and sent:
        fmt = "%Y-%m-%d %H:%M:%S"
        seconds = time.mktime(time.strptime(sent, fmt)) - time.mktime(time.strptime(first, fmt))
    return {"findings_before_curse": findings, "finding_to_curse_seconds": seconds}


def one_run(p: Params, work: Path, timeout: float = 180.0) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    procs = devnet.Processes()
    try:
        c_url = devnet.start_anvil(procs, "anvil-consortium", C, logs, p.block_time)
        e_url = devnet.start_anvil(procs, "anvil-ethereum", E, logs, p.block_time)
        shares = deal(4, 3)
        dep = devnet.deploy_bridge(c_url, e_url, shares[0].public.group_public_key)
        with devnet.mined_at_once(c_url, e_url):
            sh.set_challenge(dep, p.threshold * UNIT, PERIOD)
            sh.set_inbound_limit(dep, p.capacity * UNIT, p.refill * UNIT)
            sh.register_sentinel(dep, devnet.dev_account(sh.SENTINEL_ACCOUNT).address)
        port = devnet.free_port()
        cfg = sh.write_sentinel_config(
            work / "sentinel", dep, poll_interval=p.poll, confirmations=p.confirmations, metrics_port=port
        )
        sentinel = procs.start("sentinel", sh.sentinel_argv(cfg), logs)

        def rounds_done() -> bool:
            try:
                return sh.scrape(port, "qiao_sentinel_last_check_timestamp_seconds") > 0
            except OSError:
                return False

        devnet.wait_until(rounds_done, 60, "the sentinel's first round")
        colluders = sh.Colluders.from_shares(dep, shares[:3])
        _, gateway = sh.endpoints(dep)
        we = gateway.w3
        wc = Web3(HTTPProvider(c_url))
        mallory = devnet.dev_account(sh.MALLORY_ACCOUNT).address
        nonce = int(dep.vault.functions.nextNonce(E).call())
        piece = p.threshold * UNIT - 1
        first_block: int | None = None
        level0 = 0
        batches = submitted = 0
        last_head = -1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = int(we.eth.block_number)
            if head == last_head:
                time.sleep(min(0.05, p.block_time / 10))
                continue
            last_head = head
            if gateway.functions.isCursed(C).call():
                break
            available = int(gateway.functions.availableCapacity(dep.wrapped.address, INBOUND).call())
            amounts = forged_amounts(available, piece, p.per_batch)
            if not amounts:
                continue
            count = len(amounts)
            batch = colluders.forge(nonce, amounts)
            try:
                receipt = colluders.submit(batch)
            except (ContractCustomError, ContractLogicError, RuntimeError) as exc:
                say(f"forged batch refused: {type(exc).__name__}: {str(exc)[:80]}")
                if gateway.functions.isCursed(C).call():
                    break
                continue
            if first_block is None:
                first_block = int(receipt["blockNumber"])
                level0 = available
            nonce += count
            batches += 1
            submitted += sum(amounts)
        else:
            raise TimeoutError(f"no curse within {timeout:.0f}s; see {logs}")
        assert first_block is not None, "no forged batch executed"
        cursed = [
            ev
            for ev in gateway.events.RouteCursed().get_logs(from_block=first_block)
            if ev["args"]["remoteChainId"] == C
        ]
        curse_block = int(cursed[0]["blockNumber"])
        t_first = int(we.eth.get_block(first_block)["timestamp"])
        t_curse = int(we.eth.get_block(curse_block)["timestamp"])
        lost = int(dep.wrapped.functions.balanceOf(mallory).call())
        # the bound of the module docstring
        seconds = t_curse - t_first
        blocks = curse_block - first_block
        bound_bucket = level0 + p.refill * UNIT * seconds
        bound_threshold = (blocks + 1) * p.per_batch * piece
        sentinel.stop()
        timeline = sentinel_timeline(sentinel.log_path)
        return {
            "params": asdict(p),
            "first_block": first_block,
            "curse_block": curse_block,
            "blocks": blocks,
            "seconds": seconds,
            "lost_units": lost / UNIT,
            "level_at_first_units": level0 / UNIT,
            "bound_units": min(bound_bucket, bound_threshold) / UNIT,
            "batches": batches,
            "submitted_units": submitted / UNIT,
            "consortium_head": int(wc.eth.block_number),
            **timeline,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        procs.stop_all()


def summary(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [float(r[key]) for r in runs]
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.max_loss", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of the baseline (the headline), default 3")
    ap.add_argument("--repeat-sweeps", type=int, default=1, help="runs of each other point, default 1")
    ap.add_argument("--only", nargs="+", choices=list(SWEEPS), default=list(SWEEPS), help="which sweeps")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where max_loss.json goes")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (logs)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qiao-max-loss-"))
    report: dict[str, Any] = {
        "benchmark": "max_loss",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "challenge_period": PERIOD,
        "runs": {},
    }
    out = args.out / "max_loss.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for sweep in args.only:
            runs = []
            repeat = args.repeat if sweep == "baseline" else args.repeat_sweeps
            for i, p in enumerate(SWEEPS[sweep] * repeat):
                say(f"{sweep} {i + 1}: {p}")
                r = one_run(p, work / f"{sweep}-{i}")
                say(
                    f"  lost {r['lost_units']:.0f} units (bound {r['bound_units']:.0f}) in "
                    f"{r['blocks']} blocks, {r['seconds']} s; load {r['load_average']}"
                )
                runs.append(r)
                report["runs"][sweep] = runs
                out.write_text(json.dumps(report, indent=1) + "\n")
            if sweep == "baseline":
                report["headline"] = {k: summary(runs, k) for k in ("lost_units", "blocks", "seconds")}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.write_text(json.dumps(report, indent=1) + "\n")
    say(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
