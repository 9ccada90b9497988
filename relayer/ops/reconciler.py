"""The reconciler: reads both chains and proves the bridge's invariants (DESIGN.md section 7).

- S1 each transfer is executed at most once, refunded at most once, never both;
- S2 nothing is executed without a canonical source event with the same recipient and amount;
- S3 wrapped supply on Ethereum <= the amount locked in the vault (equal when nothing is in flight);
  with more than one wrapped chain (a third chain: `Deployment.spokes`) the vault's balance backs
  all of them, so S3 is also judged per pair: each chain's wrapped supply <= what the consortium
  chain's events say is locked for it (locked toward it, less refunded, less unlocked from it),
  besides the sum of the wrapped supplies <= the vault's balance;
- A1 (once settled) every registered pair's wrapped token has the asset status (active, suspended,
  defaulted, matured) the issuer recorded for its asset on the consortium chain (IssuerRegistry),
  and its gateway has consumed the asset's last decision there (`issuerSequence(token)` equals
  `sequenceOf(asset)`: none dropped or skipped); while decisions are in flight a difference is
  reported as pending (`pending_status`), not as a violation;
- L1 (once faults stopped, `settled=True`) every source transfer is executed or refunded; one
  still pending says why: failed and not refunded, queued by the rate limit, held for its
  challenge window until T (the relayers release it after T), or neither.

`check` is pure (tested with tables of cases); `gather` reads the events and balances of a
deployment. `python -m relayer.ops.reconciler --deployment deployment.json [--settled] [--json]` prints
the verdict and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3.contract import Contract

from relayer.provisioning.deploy import Deployment, load_deployment

Key = tuple[int, int, int]  # (source chain id, destination chain id, nonce)


@dataclass(frozen=True, slots=True)
class Initiated:
    key: Key
    recipient: str
    amount: int


@dataclass(frozen=True, slots=True)
class Executed:
    key: Key
    recipient: str
    amount: int


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str


@dataclass(frozen=True, slots=True)
class PairSupply:
    """One token pair of a vault with several wrapped chains: the wrapped chain's supply and what
    the home chain's events say is locked for it (locked toward it, less refunded, less unlocked
    from it)."""

    home: int  # the vault's chain id
    wrapped_chain: int
    wrapped: int
    locked: int

    @property
    def name(self) -> str:
        return f"{self.home}<->{self.wrapped_chain}"


@dataclass(frozen=True, slots=True)
class AssetPair:
    """One registered pair as A1 reads it: the wrapped chain, its token, the asset status and the
    number of the asset's last decision on the consortium chain and there."""

    chain: int
    token: str
    c_status: int
    e_status: int
    c_sequence: int
    e_sequence: int

    def difference(self) -> str | None:
        problems = []
        if self.c_status != self.e_status:
            problems.append(f"asset status {self.c_status} on the consortium chain, {self.e_status} here")
        if self.c_sequence != self.e_sequence:
            problems.append(
                f"the issuer's last decision is #{self.c_sequence} on the consortium chain, "
                f"#{self.e_sequence} the last consumed here"
            )
        return f"token {self.token} of {self.chain}: " + "; ".join(problems) if problems else None


@dataclass
class Verdict:
    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    wrapped_supply: int = 0  # every wrapped chain's, summed
    locked: int = 0  # the vault's balance
    pairs: list[PairSupply] = field(default_factory=list)  # judged per pair (several wrapped chains)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [asdict(v) for v in self.violations],
            "counts": self.counts,
            "wrapped_supply": str(self.wrapped_supply),
            "locked": str(self.locked),
            "pairs": [
                {"pair": p.name, "wrapped": str(p.wrapped), "locked": str(p.locked)} for p in self.pairs
            ],
        }


def check(
    initiated: Iterable[Initiated],
    executed: Iterable[Executed],
    refunded: Iterable[Key],
    failed: Iterable[Key],
    queued: Iterable[Key],
    wrapped_supply: int,
    locked: int,
    *,
    settled: bool,
    held: Iterable[tuple[Key, int]] = (),
    home: int | None = None,
    wrapped_by_chain: Mapping[int, int] | None = None,
    asset_status: Iterable[tuple[int, int, int]] = (),
    asset_pairs: Iterable[AssetPair] = (),
) -> Verdict:
    """Judge the invariants on what the chains report (pure). `held`: (transfer, releaseAfter) of
    each `TransferHeld` (a transfer held for its challenge window; released later, it is executed
    or queued, vetoed, it is failed). `wrapped_by_chain` (wrapped chain id -> its wrapped supply)
    with more than one chain: the vault on `home` backs them all, and S3 is judged per pair too.
    `asset_status`: (wrapped chain id, status on C, status on that chain) for A1; `asset_pairs`:
    every registered pair's status and last decision's number on both sides, for A1."""
    sources = {i.key: i for i in initiated}
    executions = list(executed)
    refunds = list(refunded)
    failures, queue = set(failed), set(queued)
    holds = dict(held)
    verdict = Verdict(wrapped_supply=wrapped_supply, locked=locked)
    add = verdict.violations.append

    for key, n in Counter(e.key for e in executions).items():
        if n > 1:
            add(Violation("S1", f"transfer {_name(key)} executed {n} times"))
    for key, n in Counter(refunds).items():
        if n > 1:
            add(Violation("S1", f"transfer {_name(key)} refunded {n} times"))
    for key in {e.key for e in executions} & set(refunds):
        add(Violation("S1", f"transfer {_name(key)} both executed and refunded"))
    for key in sorted(set(refunds) - failures):
        add(Violation("S1", f"transfer {_name(key)} refunded without a failure on its destination"))

    for e in executions:
        source = sources.get(e.key)
        if source is None:
            add(Violation("S2", f"transfer {_name(e.key)} executed without a canonical source event"))
        elif (source.recipient, source.amount) != (e.recipient, e.amount):
            add(
                Violation(
                    "S2",
                    f"transfer {_name(e.key)} executed as {e.recipient}/{e.amount}, the "
                    f"source event says {source.recipient}/{source.amount}",
                )
            )
    for key in refunds:
        if key not in sources:
            add(Violation("S2", f"transfer {_name(key)} refunded without a source event"))

    verdict.violations.extend(supply_violations(wrapped_supply, locked, settled=settled))
    if home is not None and wrapped_by_chain is not None and len(wrapped_by_chain) > 1:
        verdict.pairs = pair_supplies(home, wrapped_by_chain, sources.values(), executions, refunds)
        for pair in verdict.pairs:
            for v in supply_violations(pair.wrapped, pair.locked, settled=settled):
                add(Violation(v.invariant, f"pair {pair.name}: {v.detail}"))
    statuses = list(asset_status)
    differ = [(chain, on_c, on_e) for chain, on_c, on_e in statuses if on_c != on_e]
    pair_differences = [why for p in asset_pairs if (why := p.difference()) is not None]
    if settled:
        for chain, on_c, on_e in differ:
            add(
                Violation(
                    "A1", f"asset status {on_c} on the consortium chain, {on_e} on the token of {chain}"
                )
            )
        for why in pair_differences:
            add(Violation("A1", why))
    done = {e.key for e in executions} | set(refunds)
    pending = sorted(k for k in sources if k not in done)
    if settled:
        for key in pending:
            if key in failures:
                why = "failed and not refunded"
            elif key in queue:
                why = "queued by the rate limit"
            elif key in holds:
                until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(holds[key]))
                why = f"held for its challenge window until {until} (heldUntil {holds[key]})"
            else:
                why = "neither executed nor refunded"
            add(Violation("L1", f"transfer {_name(key)} {why}"))
    verdict.counts = {
        "initiated": len(sources),
        "executed": len(executions),
        "refunded": len(refunds),
        "failed": len(failures),
        "queued": len(queue),
        "held": len(holds),
        "pending": len(pending),
        "pending_status": len(differ) + len(pair_differences),
    }
    return verdict


def supply_violations(wrapped_supply: int, locked: int, *, settled: bool) -> list[Violation]:
    """S3, the one supply check (used by `check` and by the running node's `reconcile` and
    supply gauges): the wrapped supply never exceeds the amount locked, and equals it once
    `settled` (nothing in flight)."""
    found = []
    if wrapped_supply > locked:
        found.append(Violation("S3", f"wrapped supply {wrapped_supply} exceeds the locked balance {locked}"))
    if settled and wrapped_supply != locked:
        found.append(Violation("S3", f"settled, yet wrapped supply {wrapped_supply} != locked {locked}"))
    return found


def pair_supplies(
    home: int,
    wrapped_by_chain: Mapping[int, int],
    initiated: Iterable[Initiated],
    executed: Iterable[Executed],
    refunded: Iterable[Key],
) -> list[PairSupply]:
    """Per wrapped chain X: its supply, and the amount the vault on `home` holds for it by the
    events: locked toward X, less the locks refunded on `home`, less what was unlocked on `home`
    from X (pure). A burn on X refunded on X mints back there and never reached the vault."""
    sources = {i.key: i for i in initiated}
    locked = dict.fromkeys(wrapped_by_chain, 0)
    for key, source in sources.items():
        if key[0] == home and key[1] in locked:
            locked[key[1]] += source.amount
    for key in refunded:
        if key[0] == home and key[1] in locked and key in sources:
            locked[key[1]] -= sources[key].amount
    for e in executed:
        if e.key[1] == home and e.key[0] in locked:
            locked[e.key[0]] -= e.amount
    return [PairSupply(home, chain, wrapped_by_chain[chain], locked[chain]) for chain in sorted(locked)]


def _name(key: Key) -> str:
    return f"{key[0]}->{key[1]}#{key[2]}"


# ---- reading the chains ------------------------------------------------------------------------


def _events(contract: Contract, name: str, from_block: int) -> list[Any]:
    return list(getattr(contract.events, name)().get_logs(from_block=from_block))


def gather(dep: Deployment) -> dict[str, Any]:
    """Every bridge event of every endpoint (the vault, Ethereum's gateway and each spoke's) since
    deployment, and the supply figures: of each wrapped chain and of the vault."""
    endpoints = [(dep.vault, dep.consortium_block), (dep.gateway, dep.ethereum_block)]
    endpoints += [(spoke.gateway, spoke.block) for spoke in dep.spokes.values()]
    chain_ids = [int(contract.w3.eth.chain_id) for contract, _ in endpoints]
    initiated: list[Initiated] = []
    executed: list[Executed] = []
    refunded: list[Key] = []
    failed: list[Key] = []
    queued: list[Key] = []
    held: list[tuple[Key, int]] = []
    for (contract, start), here in zip(endpoints, chain_ids, strict=True):
        for ev in _events(contract, "TransferInitiated", start):
            a = ev["args"]
            initiated.append(
                Initiated((here, int(a["dstChainId"]), int(a["nonce"])), a["recipient"], int(a["amount"]))
            )
        for ev in _events(contract, "TransferExecuted", start):
            a = ev["args"]
            executed.append(
                Executed((int(a["srcChainId"]), here, int(a["nonce"])), a["recipient"], int(a["amount"]))
            )
        for ev in _events(contract, "TransferRefunded", start):
            a = ev["args"]
            refunded.append((here, int(a["dstChainId"]), int(a["nonce"])))
        for ev in _events(contract, "TransferFailed", start):
            failed.append((int(ev["args"]["srcChainId"]), here, int(ev["args"]["nonce"])))
        for ev in _events(contract, "TransferQueued", start):
            queued.append((int(ev["args"]["srcChainId"]), here, int(ev["args"]["nonce"])))
        for ev in _events(contract, "TransferHeld", start):
            a = ev["args"]
            held.append(((int(a["srcChainId"]), here, int(a["nonce"])), int(a["releaseAfter"])))
    wrapped_by_chain = {
        int(gateway.w3.eth.chain_id): int(token.functions.totalSupply().call())
        for gateway, token in dep.wrapped_chains().values()
    }
    return {
        "asset_pairs": _asset_pairs(dep, chain_ids[0]),
        "initiated": initiated,
        "executed": executed,
        "refunded": refunded,
        "failed": failed,
        "queued": queued,
        "held": held,
        "wrapped_supply": sum(wrapped_by_chain.values()),
        "locked": int(dep.asset.functions.balanceOf(dep.vault.address).call()),
        "home": chain_ids[0],
        "wrapped_by_chain": wrapped_by_chain,
    }


def _asset_pairs(dep: Deployment, home: int) -> list[AssetPair]:
    """A1's reads: every pair each wrapped chain's gateway registered with the consortium chain
    (the deployment's own, and every `TokenRegistered` since), its token's asset status and its
    gateway's `issuerSequence`, against the issuer registry's `assetStatus` and `sequenceOf`."""
    if dep.issuer is None:
        return []
    out = []
    starts = {"ethereum": dep.ethereum_block} | {name: s.block for name, s in dep.spokes.items()}
    for name, (gateway, wrapped) in dep.wrapped_chains().items():
        chain = int(gateway.w3.eth.chain_id)
        pairs = {wrapped.address: dep.asset.address}
        for ev in _events(gateway, "TokenRegistered", starts[name]):
            if int(ev["args"]["remoteChainId"]) == home:
                pairs[ev["args"]["localToken"]] = ev["args"]["remoteToken"]
        for token, asset in sorted(pairs.items()):
            contract = gateway.w3.eth.contract(address=token, abi=wrapped.abi)
            out.append(
                AssetPair(
                    chain,
                    token,
                    int(dep.issuer.functions.assetStatus(asset).call()),
                    int(contract.functions.assetStatus().call()),
                    int(dep.issuer.functions.sequenceOf(asset).call()),
                    int(gateway.functions.issuerSequence(token).call()),
                )
            )
    return out


def reconcile(dep: Deployment, *, settled: bool) -> Verdict:
    return check(**gather(dep), settled=settled)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="relayer.ops.reconciler", description="check the bridge's invariants on-chain"
    )
    p.add_argument(
        "--deployment", type=Path, required=True, help="deployment file (relayer.provisioning.deploy --out)"
    )
    p.add_argument(
        "--settled",
        action="store_true",
        help="faults have stopped and queues drained: also require L1 and equal supply",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        dep = load_deployment(args.deployment)
        verdict = reconcile(dep, settled=args.settled)
    except (OSError, KeyError, ValueError) as exc:
        print(f"reconciler: cannot read {args.deployment}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(f"reconcile: {'OK' if verdict.ok else 'VIOLATIONS'}  {verdict.counts}")
        print(f"wrapped supply {verdict.wrapped_supply}  locked {verdict.locked}")
        for pair in verdict.pairs:
            print(f"  pair {pair.name}: wrapped {pair.wrapped}  locked for it {pair.locked}")
        for v in verdict.violations:
            print(f"  {v.invariant}: {v.detail}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
