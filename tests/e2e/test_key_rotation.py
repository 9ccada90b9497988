"""A full key rotation between separate member processes on the devnet (n = 4, t = 3), with
transfers in flight both ways from before the DKG to after the switch.

One devnet for the module. The scenario, in order, while a background sender locks on the
consortium chain (C -> E) and burns on Ethereum (E -> C) every fraction of a second:
1. the members run a DKG for key epoch 2 (`Devnet.next_committee`), and a second one whose key
   member 4 is given by mistake (a key it has no share of: it did not help generate the one the
   others will propose);
2. a rolling restart puts the next key in every member's `[committee.next]` (SIGTERM, exited,
   started again, ready; one member at a time): batches keep executing both ways meanwhile;
3. member 1's operator proposes the rotation (`relayer actions propose rotate`: one ROTATE per
   endpoint); member 4's operator's approval is refused (its next key is not the proposed one),
   the operator fixes its configuration (restart); members 2's and 3's operators approve: t = 3;
4. Ethereum's mining is held (anvil, `devnet.mining_held`) from the approvals to the switch, so
   that a batch the committee cut and signed under epoch 1 waits in E's pool while the rotation is
   scheduled; the test then calls `executePending` itself with a higher tip, and that batch
   executes under epoch 1 in the same block, after the key moved to epoch 2: the grace period;
   C's rotation is executed by the relayers after the delay;
5. both endpoints at epoch 2; every member's metrics say so, and that it signs under epoch 2;
   transfers sent from then on execute in batches signed under epoch 2;
6. everything sent is delivered exactly once (TransferExecuted and BatchExecuted per nonce),
   balances and the locked amount equal the wrapped supply, the reconciler's verdict is clean.

Then, on from there, the recovery from a stolen key: the members roll onto [committee] = epoch 2
and [committee.next] = epoch 3; the guardian pauses Ethereum's endpoint; batches toward it are
combined under epoch 2 and wait; the committee rotates that endpoint alone while it is paused,
which ends epoch 2 there at once; every member re-keys the waiting batches to epoch 3; three
operators resume the endpoint and the re-keyed batches execute under epoch 3, each transfer once;
a member killed with SIGKILL right after publishing its partial of the ROTATE, another of the
RESUME, complete both once restarted.

Timeouts are generous (shared 2-core machines); the assertions are on outcomes only.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from committee.bls import g2_to_eip2537
from harness import devnet
from relayer.core.calldata import EXECUTE_BATCH_SELECTOR
from relayer.ops import admin_client
from relayer.ops.reconciler import reconcile
from tests.support.member_cli import cli, ok

pytestmark = pytest.mark.e2e

C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
CHAIN_NAMES = {C: "consortium", E: "ethereum"}
UNIT = devnet.UNIT
ADMIN = devnet.dev_account(devnet.ACCOUNTS["admin"])
ALICE = devnet.dev_account(devnet.ACCOUNTS["alice"])
BOB = devnet.dev_account(devnet.ACCOUNTS["bob"])
GUARDIAN = devnet.dev_account(devnet.ACCOUNTS["guardian"])
STRANGER = devnet.dev_account(5)  # no member's account: calls executePending as anyone may
WAIT = 120.0  # for anything the committee does (generous: shared 2-core machines)
FUND = 1000 * UNIT  # bob's wrapped tokens before the traffic starts: what the burns spend
GWEI = 10**9
# executeBatch(keyEpoch, packed batch, signature), as relayer.core.calldata encodes it
PACKED_BATCH = "(uint256,uint256,uint64,(address,address)[],bytes,(address,address,uint256)[])"
EXECUTE_BATCH_TYPES = ["uint64", PACKED_BATCH, "bytes"]
assert keccak(text=f"executeBatch({','.join(EXECUTE_BATCH_TYPES)})")[:4] == EXECUTE_BATCH_SELECTOR


# ---- the devnet, seen from outside -------------------------------------------------------------


@dataclass
class Chains:
    wc: Web3
    we: Web3
    vault: Contract
    gateway: Contract
    asset: Contract
    wrapped: Contract

    def endpoint(self, chain: int) -> Contract:
        return self.vault if chain == C else self.gateway


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    with devnet.devnet(tmp_path_factory.mktemp("rotation") / "n", block_time=0.5, metrics=True) as running:
        for m in running.nodes:
            running.wait_ready(m)
        yield running


@pytest.fixture(scope="module")
def keys() -> dict[int, devnet.CommitteeKey]:
    """The committee keys the scenarios made, by key epoch (the second scenario rotates on from
    the first one's)."""
    return {}


@pytest.fixture(scope="module")
def chains(net: devnet.Devnet) -> Chains:
    dep = net.deployment
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))

    def on(w3: Web3, c: Contract) -> Contract:
        return w3.eth.contract(address=c.address, abi=c.abi)

    return Chains(wc, we, on(wc, dep.vault), on(we, dep.gateway), on(wc, dep.asset), on(we, dep.wrapped))


def held(net: devnet.Devnet, member: int) -> dict[str, dict[str, Any]]:
    """The actions a member's node knows (`actions.list` on its admin socket): id -> its JSON."""
    out = admin_client.request(net.admin_socket(member), "actions.list", {"limit": 1000}, timeout=30)
    return {a["id"]: a for a in out["actions"]}


def wait_states(net: devnet.Devnet, members: list[int], ids: list[str], state: str) -> None:
    def there() -> bool:
        return all(held(net, m).get(i, {}).get("state") == state for m in members for i in ids)

    devnet.wait_until(there, WAIT, f"actions {ids} {state} on members {members}")


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    reply = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in reply, reply
    return reply["result"]


def pool(w3: Web3) -> list[dict[str, Any]]:
    """The transactions waiting in an anvil chain's pool."""
    content = rpc(w3, "txpool_content")
    return [tx for by_nonce in content["pending"].values() for tx in by_nonce.values()]


def events(contract: Contract, name: str, from_block: int, **filters: Any) -> list[Any]:
    event = getattr(contract.events, name)()
    return list(event.get_logs(from_block=from_block, argument_filters=filters or None))


def position(log: Any) -> tuple[int, int]:
    return int(log["blockNumber"]), int(log["logIndex"])


# ---- transfers in flight -------------------------------------------------------------------------


@dataclass
class Traffic:
    """Locks on C (alice -> bob) and burns on E (bob -> alice), one of each every `every` seconds
    from a thread of its own (its own connections; one sender per account, so nonces never race)
    until `stop`, and one of each at once when the scenario `enter`s a step, so that every step
    starts with transfers in flight both ways. Each is counted under the step it was sent in."""

    chains: Chains
    every: float = 0.6
    phase: str = "before"
    locked: int = 0  # amounts sent
    burned: int = 0
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)  # (phase, "lock"|"burn") -> count
    error: BaseException | None = None
    entered: list[tuple[str, float]] = field(default_factory=list)  # (phase, monotonic) in order
    burns: bool = True  # off while Ethereum's endpoint is paused (a burn there reverts)
    _stop: threading.Event = field(default_factory=threading.Event)
    _mutex: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _last: dict[int, Any] = field(default_factory=dict)  # chain -> the last transaction sent there

    def __post_init__(self) -> None:
        wc = Web3(HTTPProvider(self.chains.wc.provider.endpoint_uri))  # type: ignore[attr-defined]
        we = Web3(HTTPProvider(self.chains.we.provider.endpoint_uri))  # type: ignore[attr-defined]
        self._wc, self._we = wc, we
        self._vault = wc.eth.contract(address=self.chains.vault.address, abi=self.chains.vault.abi)
        self._gateway = we.eth.contract(address=self.chains.gateway.address, abi=self.chains.gateway.abi)

    def _send_both(self) -> None:
        """One lock and one burn (while bob's funds last), counted under the current step."""
        with self._mutex:
            lock = self._vault.functions.lock(self.chains.asset.address, E, BOB.address, UNIT)
            self._last[C] = devnet.send(self._wc, ALICE, lock, wait=False)
            self.locked += UNIT
            self.sent[(self.phase, "lock")] += 1
            if self.burns and self.burned + UNIT <= FUND:
                burn = self._gateway.functions.burn(self.chains.wrapped.address, C, ALICE.address, UNIT)
                self._last[E] = devnet.send(self._we, BOB, burn, wait=False)
                self.burned += UNIT
                self.sent[(self.phase, "burn")] += 1

    def start(self) -> None:
        def run() -> None:
            try:
                while not self._stop.wait(self.every):
                    self._send_both()
            except BaseException as exc:  # raised again by check/stop: a sender that died fails the test
                self.error = exc

        self.entered.append((self.phase, time.monotonic()))
        self._thread = threading.Thread(target=run, name="traffic", daemon=True)
        self._thread.start()

    def enter(self, phase: str) -> None:
        self.check()
        with self._mutex:
            self.phase = phase
            self.entered.append((phase, time.monotonic()))
        self._send_both()

    def stop_burns(self) -> None:
        """No more burns until `burns` is set again; returns once the last one sent is mined."""
        with self._mutex:
            self.burns = False
            last = self._last.get(E)
        if last is not None:
            assert self._we.eth.wait_for_transaction_receipt(last, timeout=60)["status"] == 1

    def stop(self) -> None:
        """Stop sending; return once everything sent is mined (each account's last transaction:
        its nonces are consecutive), so the endpoints' nonces count every transfer sent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        self.check()
        for chain, tx_hash in self._last.items():
            w3 = self._wc if chain == C else self._we
            assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1

    def durations(self) -> str:
        """How long each step took (for the log: the module's share of the CI budget)."""
        ends = [t for _, t in self.entered[1:]] + [time.monotonic()]
        return ", ".join(f"{p} {end - t:.1f}s" for (p, t), end in zip(self.entered, ends, strict=True))

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the traffic's sender failed: {self.error!r}") from self.error


def marks(chains: Chains) -> dict[int, int]:
    """The next transfer nonce each source endpoint gives (C: locks to E, E: burns to C)."""
    return {
        C: int(chains.vault.functions.nextNonce(E).call()),
        E: int(chains.gateway.functions.nextNonce(C).call()),
    }


def wait_delivered(chains: Chains, upto: dict[int, int], what: str) -> None:
    """Until every transfer below `upto[src]` (nonces from 1) is executed on the other chain."""
    done: set[tuple[int, int]] = set()

    def delivered() -> bool:
        for src, dst in ((C, E), (E, C)):
            for n in range(1, upto[src]):
                if (src, n) not in done:
                    if not chains.endpoint(dst).functions.isExecuted(src, n).call():
                        return False
                    done.add((src, n))
        return True

    devnet.wait_until(delivered, WAIT, f"the transfers {what} delivered", interval=0.5)


@dataclass(frozen=True)
class Executed:
    """One BatchExecuted: where, its nonces and the key epoch it was signed under."""

    dst: int
    first: int
    last: int
    key_epoch: int
    at: tuple[int, int]  # (block, log index) on the destination


def batches(net: devnet.Devnet, chains: Chains, dst: int) -> list[Executed]:
    src = C if dst == E else E
    start = net.deployment.ethereum_block if dst == E else net.deployment.consortium_block
    return [
        Executed(dst, int(e.args.firstNonce), int(e.args.lastNonce), int(e.args.keyEpoch), position(e))
        for e in events(chains.endpoint(dst), "BatchExecuted", start, srcChainId=src)
    ]


def assert_delivered_once(net: devnet.Devnet, chains: Chains, final: dict[int, int]) -> None:
    """Every transfer below `final[src]` executed exactly once (its TransferExecuted, and one
    BatchExecuted range holding it), none refused."""
    dep = net.deployment
    for src, dst in ((C, E), (E, C)):
        endpoint = chains.endpoint(dst)
        start = dep.ethereum_block if dst == E else dep.consortium_block
        route = f"{CHAIN_NAMES[src]} -> {CHAIN_NAMES[dst]}"
        executed = Counter(
            int(e.args.nonce) for e in events(endpoint, "TransferExecuted", start, srcChainId=src)
        )
        assert sorted(executed) == list(range(1, final[src])), route
        assert set(executed.values()) == {1}, f"{route}: executed twice: {executed.most_common(3)}"
        covered = Counter(n for b in batches(net, chains, dst) for n in range(b.first, b.last + 1))
        assert sorted(covered) == list(range(1, final[src])), route
        assert set(covered.values()) == {1}, f"{route}: in two batches: {covered.most_common(3)}"
        assert not events(endpoint, "TransferFailed", start), route


@dataclass(frozen=True)
class Balances:
    bob_wrapped: int
    alice_asset: int
    locked: int  # the vault's balance of the asset
    supply: int  # the wrapped token's total supply

    @classmethod
    def read(cls, chains: Chains) -> Balances:
        return cls(
            int(chains.wrapped.functions.balanceOf(BOB.address).call()),
            int(chains.asset.functions.balanceOf(ALICE.address).call()),
            int(chains.asset.functions.balanceOf(chains.vault.address).call()),
            int(chains.wrapped.functions.totalSupply().call()),
        )


def assert_settled(net: devnet.Devnet, chains: Chains, before: Balances, traffic: Traffic) -> None:
    """Balances moved by exactly what the traffic sent, the locked amount equals the wrapped
    supply, the reconciler's verdict is clean, every member is alive and never equivocated."""
    now = Balances.read(chains)
    assert now.bob_wrapped == before.bob_wrapped + traffic.locked - traffic.burned
    assert now.alice_asset == before.alice_asset - traffic.locked + traffic.burned
    assert now.locked == now.supply
    assert now.locked == before.locked + traffic.locked - traffic.burned
    verdict = reconcile(net.deployment, settled=True)
    assert verdict.ok, verdict.violations
    for m in net.nodes:
        assert net.nodes[m].popen.poll() is None, f"member {m} died; see {net.nodes[m].log_path}"
        assert not net.nodes[m].events("equivocation_refused"), m


# ---- the scenario -----------------------------------------------------------------------------------


def test_a_key_rotation_with_transfers_in_flight_loses_nothing_and_executes_nothing_twice(
    net: devnet.Devnet, chains: Chains, keys: dict[int, devnet.CommitteeKey]
) -> None:
    dep = net.deployment
    assert net.committee is not None
    assert net.committee.key_epoch == 1
    for chain in (C, E):
        assert chains.endpoint(chain).functions.currentKeyEpoch().call() == 1

    # ---- before: bob holds what the burns spend, then transfers flow both ways -----------------
    devnet.send(chains.wc, ADMIN, chains.asset.functions.mint(ALICE.address, 10**6 * UNIT))
    devnet.send(chains.wc, ALICE, chains.asset.functions.approve(chains.vault.address, 2**255))
    devnet.send(chains.wc, ALICE, chains.vault.functions.lock(chains.asset.address, E, BOB.address, FUND))
    devnet.wait_until(
        lambda: chains.wrapped.functions.balanceOf(BOB.address).call() == FUND, WAIT, "bob's funds minted"
    )
    start_balances = Balances.read(chains)
    traffic = Traffic(chains)
    traffic.start()
    try:
        devnet.wait_until(lambda: traffic.sent[("before", "burn")] >= 3, 30, "transfers sent both ways")
        wait_delivered(chains, marks(chains), "sent before the DKG")

        # ---- 1. the DKG for key epoch 2; a second key for epoch 2 that member 4 is given by mistake
        traffic.enter("dkg")
        new = net.next_committee()
        assert new.key_epoch == 2
        keys[2] = new
        assert sorted(new.key_files) == [1, 2, 3, 4]
        for path in [*new.key_files.values()]:
            assert path.parent == net.run_dir / "keys" / "next"
            assert path.stat().st_mode & 0o777 == 0o600, path
        assert new.public_file == net.run_dir / "keys" / "next" / "committee.json"
        other = net.next_committee(2, subdir="other")
        assert other.group_public_key != new.group_public_key

        # ---- 2. rolling restart: every member gets [committee.next]; batches keep executing ----
        traffic.enter("rolling restart")
        began = {E: chains.we.eth.block_number, C: chains.wc.eth.block_number}

        def batches_went_on(member: int) -> None:
            """Once a member is back, and before the next goes: a batch executed both ways since
            the restart began (a member restarts in about a second, often within one batch)."""
            devnet.wait_until(
                lambda: all(any(b.at[0] > began[d] for b in batches(net, chains, d)) for d in (E, C)),
                WAIT,
                f"a batch executed both ways during the rolling restart (member {member} restarted)",
            )

        codes = net.roll_next_key(new, [1, 2, 3], between=batches_went_on)
        codes.update(net.roll_next_key(other, [4]))
        ended = {E: chains.we.eth.block_number, C: chains.wc.eth.block_number}
        assert codes == {1: 0, 2: 0, 3: 0, 4: 0}, f"a member did not stop cleanly on SIGTERM: {codes}"
        for dst in (E, C):
            during = [b for b in batches(net, chains, dst) if began[dst] < b.at[0] <= ended[dst]]
            assert during, f"no batch executed on {CHAIN_NAMES[dst]} during the rolling restart"
            assert {b.key_epoch for b in during} == {1}
        traffic.check()

        # ---- 3. member 1 proposes; member 4 (another key as next) refuses; its operator fixes it -
        traffic.enter("proposal")
        proposed = json.loads(ok(cli(net, "actions", "propose", "rotate", "--json", member=1)))
        key_hash = "0x" + keccak(g2_to_eip2537(new.group_public_key)).hex()
        rotations = {a["chain_id"]: a["id"] for a in proposed["actions"]}
        assert sorted(rotations) == [C, E], proposed  # one ROTATE per endpoint
        for a in proposed["actions"]:
            assert (a["kind"], a["state"], a["approved_here"]) == ("rotate", "approved", True), a
            assert a["params"] == key_hash, a
        ids = [rotations[C], rotations[E]]
        wait_states(net, [2, 3, 4], ids, "proposed")
        refused = cli(net, "actions", "approve", rotations[E], "--json", member=4)
        assert refused.returncode != 0, refused.stdout
        error = json.loads(refused.stdout)["error"]
        print(f"\nmember 4 (another key as [committee.next]) refused to approve: {error}")
        assert f"holds no key epoch whose key hashes to {key_hash}" in error, error
        assert held(net, 4)[rotations[E]]["approved_here"] is False
        net.roll_next_key(new, [4])  # its operator puts the key it helped generate
        traffic.check()

        # ---- 4. approvals by members 2 and 3 while E's mining is held ------------------------
        gateway_key_set = None
        with devnet.mining_held(dep.ethereum_url) as mine:
            traffic.enter("rotation")
            for m in (2, 3):
                for action_id in ids:
                    ok(cli(net, "actions", "approve", action_id, "--json", member=m))
            scheduled = rotation_scheduled_on_e(chains, mine)
            assert scheduled.args.newKeyHash == keccak(g2_to_eip2537(new.group_public_key))
            # anyone may execute it after the delay: sent now, with a tip above any relayer's, so it
            # comes first in the block that also carries the batch the committee signed under epoch 1
            execute = send_execute_pending(chains, int(scheduled.args.actionNonce))
            traffic.enter("grace")
            held_batch = wait_for_batch_in_pool(chains)
            due = int(scheduled.args.executableAt)
            while time.time() < due + 1:
                time.sleep(0.2)
            switched = mine()
        receipt = chains.we.eth.get_transaction_receipt(execute)
        assert receipt["status"] == 1, receipt
        assert receipt["blockNumber"] == switched, receipt
        assert chains.gateway.functions.currentKeyEpoch().call() == 2
        [gateway_key_set] = events(chains.gateway, "GroupKeySet", dep.ethereum_block, keyEpoch=2)
        assert gateway_key_set.args.groupKey == g2_to_eip2537(new.group_public_key)
        print(f"executeBatch held in E's pool while the rotation was due: {held_batch}")

        # C: scheduled and executed by the relayers after the delay
        devnet.wait_until(
            lambda: chains.vault.functions.currentKeyEpoch().call() == 2, WAIT, "the vault at key epoch 2"
        )
        for chain in (C, E):
            endpoint = chains.endpoint(chain)
            start = dep.consortium_block if chain == C else dep.ethereum_block
            assert endpoint.functions.groupKey(2).call() == g2_to_eip2537(new.group_public_key)
            rotates = [
                e for e in events(endpoint, "ActionScheduled", start) if e.args.newKeyHash != bytes(32)
            ]
            assert len(rotates) == 1, rotates
            assert len(events(endpoint, "GroupKeySet", start, keyEpoch=2)) == 1
        wait_states(net, [1, 2, 3], ids, "executed")

        # ---- 5. every member says it signs under epoch 2 ------------------------------------
        traffic.enter("switched")

        def member_on_two(m: int) -> bool:
            return (
                all(
                    net.metric(m, "qiao_endpoint_key_epoch", {"chain": CHAIN_NAMES[c]}) == 2
                    and net.metric(m, "qiao_member_signing_epoch", {"chain": CHAIN_NAMES[c]}) == 2
                    for c in (C, E)
                )
                and net.metric(m, "qiao_member_key_epochs_held", {"epoch": "2"}) == 1
            )

        for m in sorted(net.nodes):
            devnet.wait_until(lambda m=m: member_on_two(m), 60, f"member {m}'s metrics at key epoch 2")
        after = marks(chains)  # every transfer from here on is cut under epoch 2
        traffic.enter("after")
        devnet.wait_until(
            lambda: marks(chains)[C] >= after[C] + 5 and marks(chains)[E] >= after[E] + 5,
            60,
            "transfers sent after the switch",
        )
    finally:
        traffic.stop()

    # ---- 6. delivered exactly once; the epochs they were signed under ------------------------
    final = marks(chains)
    wait_delivered(chains, final, "sent in every phase")
    for phase in ("before", "dkg", "rolling restart", "proposal", "rotation", "grace", "switched", "after"):
        assert traffic.sent[(phase, "lock")] >= 1, f"no lock sent during {phase}: {traffic.sent}"
    assert_delivered_once(net, chains, final)
    for dst, src in ((E, C), (C, E)):  # signed under epoch 2: every batch holding a transfer sent
        for b in batches(net, chains, dst):  # after the members said they sign under epoch 2
            if b.last >= after[src]:
                assert b.key_epoch == 2, b
    # the grace period: a batch signed under epoch 1 executed after E's key moved to 2
    late = [b for b in batches(net, chains, E) if b.key_epoch == 1 and b.at > position(gateway_key_set)]
    assert late, "no batch signed under epoch 1 executed on Ethereum after its key moved to epoch 2"
    print(f"batches signed under epoch 1 executed on E after its switch (grace period): {late}")

    assert_settled(net, chains, start_balances, traffic)
    four = held(net, 4)[rotations[E]]
    assert four["approved_here"] is False, four
    assert 4 not in four["signers"], four
    print(f"transfers sent per phase: {dict(traffic.sent)}; steps: {traffic.durations()}")


def rotation_scheduled_on_e(chains: Chains, mine: Any) -> Any:
    """With E's mining held: mine a block whenever something waits in E's pool, until the ROTATE
    the members sent is scheduled there; its ActionScheduled event."""
    start = int(chains.we.eth.block_number)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pool(chains.we):
            mine()
            found = [
                e for e in events(chains.gateway, "ActionScheduled", start) if e.args.newKeyHash != bytes(32)
            ]
            if found:
                return found[0]
        time.sleep(0.2)
    raise TimeoutError("the members' ROTATE never reached Ethereum's pool")


def send_execute_pending(chains: Chains, nonce: int) -> Any:
    """`executePending(nonce)` from an account no member uses, with a tip far above the relayers'
    fee cap: anvil orders a block by tip, so this comes first in the next block."""
    tx = chains.gateway.functions.executePending(nonce).build_transaction(
        {
            "from": STRANGER.address,
            "chainId": E,
            "nonce": chains.we.eth.get_transaction_count(STRANGER.address, "pending"),
            "gas": 500_000,
            "maxFeePerGas": 5000 * GWEI,
            "maxPriorityFeePerGas": 2000 * GWEI,
        }
    )
    return chains.we.eth.send_raw_transaction(STRANGER.sign_transaction(tx).raw_transaction)


def wait_for_batch_in_pool(chains: Chains) -> tuple[str, int, int, int]:
    """Until a relayer's executeBatch signed under key epoch 1, of a batch holding a transfer locked
    after the rotation was scheduled on E, waits in E's (held) pool: the committee cut and signed
    it under epoch 1 while the rotation was due. Its transaction hash, key epoch and nonces."""
    start = int(chains.vault.functions.nextNonce(E).call())
    found: list[tuple[str, int, int, int]] = []

    def waiting() -> bool:
        for tx in pool(chains.we):
            data = bytes.fromhex(str(tx.get("input", "0x"))[2:])
            if data[:4] != EXECUTE_BATCH_SELECTOR:
                continue
            epoch, (src, _dst, first, _pairs, _pair_of, transfers), _sig = abi_decode(
                EXECUTE_BATCH_TYPES, data[4:]
            )
            last = int(first) + len(transfers) - 1
            if int(src) == C and int(epoch) == 1 and last >= start:
                found.append((str(tx["hash"]), int(epoch), int(first), last))
                return True
        return False

    # longer than WAIT: every member's pipeline runs a whole round (cut, sign, combine, send) here,
    # which a machine also running another devnet has been seen to take more than 120 s for
    devnet.wait_until(waiting, 3 * WAIT, "a batch signed under epoch 1 waiting in Ethereum's pool")
    return found[0]


# ---- a rotation while the endpoint is paused ----------------------------------------------------


def stored_batches(net: devnet.Devnet, member: int, dst: int) -> list[tuple[int, int, int, str]]:
    """(first nonce, last nonce, key epoch, state) of every batch toward `dst` in a member's store."""
    path = net.admin_socket(member).parent / "qiao.sqlite3"
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT first_nonce, last_nonce, key_epoch, state FROM batches WHERE dst_chain_id = ?", (dst,)
        ).fetchall()
    return [(int(a), int(b), int(e), str(s)) for a, b, e, s in rows]


def crash_marker(net: devnet.Devnet, point: str, tag: str) -> Path:
    return net.run_dir / f"crashed-{tag}-{point}"


def armed(net: devnet.Devnet, member: int, point: str, tag: str) -> None:
    """Restart `member` so that it kills itself (SIGKILL) the first time it reaches `point`."""
    marker = crash_marker(net, point, tag)
    net.restart(member, {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)})
    net.wait_ready(member)


def killed_and_restarted(net: devnet.Devnet, member: int, point: str, tag: str) -> None:
    """Until `member` killed itself at `point`; then start it again (the marker left behind makes
    the crashpoint inert) and wait until it is ready."""
    marker = crash_marker(net, point, tag)
    devnet.wait_until(
        lambda: marker.exists() and net.nodes[member].popen.poll() is not None,
        WAIT,
        f"member {member} killed at {point}",
    )
    assert marker.read_text() == point
    assert net.nodes[member].popen.returncode == -9, net.nodes[member].popen.returncode
    net.restart(member, {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)})
    net.wait_ready(member)


def test_a_rotation_while_paused_ends_the_old_key_at_once_and_the_batches_it_signed_are_re_keyed(
    net: devnet.Devnet, chains: Chains, keys: dict[int, devnet.CommitteeKey]
) -> None:
    """The recovery from a stolen key: the guardian pauses Ethereum's endpoint; batches toward it
    are cut and combined under epoch 2 and wait; the committee rotates that endpoint alone to
    epoch 3 while it is paused, which ends epoch 2 there at once (no grace period); every member
    re-keys the waiting batches to epoch 3 (same transfers); three operators resume the endpoint
    (a RESUME signed under epoch 3) and the re-keyed batches execute, each transfer once. One
    member is killed with SIGKILL right after publishing its partial of the rotation, another
    right after publishing its partial of the resume: both complete, once."""
    dep = net.deployment
    assert 2 in keys, "the first scenario's rotation to key epoch 2 did not happen"
    for chain in (C, E):
        assert chains.endpoint(chain).functions.currentKeyEpoch().call() == 2
    assert not chains.gateway.functions.paused().call()
    start_balances = Balances.read(chains)
    traffic = Traffic(chains, phase="epoch 2")
    traffic.start()
    try:
        # the DKG for epoch 3; each member's [committee] moves to epoch 2, its [committee.next] to 3
        traffic.enter("dkg")
        k3 = net.next_committee(3, subdir="epoch3")
        keys[3] = k3
        traffic.enter("rolling restart")
        codes = net.roll_keys(keys[2], k3)
        assert codes == {1: 0, 2: 0, 3: 0, 4: 0}, f"a member did not stop cleanly on SIGTERM: {codes}"

        # the guardian pauses E: batches toward it are cut and combined under epoch 2, and wait
        traffic.stop_burns()
        traffic.every = 2.0  # locks keep coming, slower: a backlog of many batches only slows the test
        devnet.send(chains.we, GUARDIAN, chains.gateway.functions.pause())
        paused_from = marks(chains)[C]  # every lock from this nonce on waits for the resume
        traffic.enter("paused")

        def combined_under_two(m: int) -> bool:
            return any(
                last >= paused_from and epoch == 2 and state in ("aggregated", "submitted")
                for _first, last, epoch, state in stored_batches(net, m, E)
            )

        for m in sorted(net.nodes):
            devnet.wait_until(
                lambda m=m: combined_under_two(m), WAIT, f"member {m} to combine a batch under epoch 2"
            )
        waiting = {
            first
            for m in net.nodes
            for first, last, epoch, state in stored_batches(net, m, E)
            if epoch == 2 and state != "executed" and last >= paused_from
        }

        # Ethereum's endpoint alone rotates to epoch 3 while paused
        traffic.enter("rotation while paused")
        proposed = json.loads(
            ok(cli(net, "actions", "propose", "rotate", "--chain", "ethereum", "--json", member=1))
        )
        [rotation] = proposed["actions"]
        assert rotation["chain_id"] == E, rotation
        assert rotation["params"] == "0x" + keccak(g2_to_eip2537(k3.group_public_key)).hex()
        wait_states(net, [2, 3], [rotation["id"]], "proposed")
        # member 2 signs the rotation and is killed with SIGKILL right after publishing its partial
        armed(net, 2, "after_action_publish", "rotate")
        cli(net, "actions", "approve", rotation["id"], "--json", member=2)  # it may die answering
        killed_and_restarted(net, 2, "after_action_publish", "rotate")
        ok(cli(net, "actions", "approve", rotation["id"], "--json", member=3))
        devnet.wait_until(
            lambda: chains.gateway.functions.currentKeyEpoch().call() == 3, WAIT, "the gateway at key epoch 3"
        )
        wait_states(net, list(net.nodes), [rotation["id"]], "executed")
        assert held(net, 2)[rotation["id"]]["action_nonce"] is not None
        [key_set] = events(chains.gateway, "GroupKeySet", dep.ethereum_block, keyEpoch=3)
        assert key_set.args.groupKey == g2_to_eip2537(k3.group_public_key)
        switched_at = int(chains.we.eth.get_block(key_set["blockNumber"])["timestamp"])
        assert chains.gateway.functions.previousKeyValidUntil().call() == switched_at - 1  # no grace
        assert chains.gateway.functions.paused().call()
        assert chains.vault.functions.currentKeyEpoch().call() == 2  # the vault was not rotated

        # every member re-keys the batches waiting under epoch 2 to epoch 3: same transfers
        def re_keyed(m: int) -> bool:
            rows = {first: (epoch, state) for first, _last, epoch, state in stored_batches(net, m, E)}
            return all(rows[f][0] == 3 or rows[f][1] == "executed" for f in waiting if f in rows)

        for m in sorted(net.nodes):
            devnet.wait_until(lambda m=m: re_keyed(m), WAIT, f"member {m} to re-key its epoch 2 batches")
            moved = [e for e in net.nodes[m].events("batch_rekeyed") if e.get("new_epoch") == 3]
            assert moved, f"member {m} logged no batch re-keyed to epoch 3"
            assert {e.get("old_epoch") for e in moved} == {2}, moved
            devnet.wait_until(
                lambda m=m: net.metric(m, "qiao_member_signing_epoch", {"chain": "ethereum"}) == 3,
                60,
                f"member {m} signing under epoch 3 for Ethereum",
            )
            assert net.metric(m, "qiao_member_signing_epoch", {"chain": "consortium"}) == 2
        assert chains.gateway.functions.paused().call()  # the re-keyed batches wait for the resume

        # three operators resume it: a RESUME signed under epoch 3
        traffic.enter("resume")
        proposed = json.loads(
            ok(cli(net, "actions", "propose", "resume", "--chain", "ethereum", "--json", member=1))
        )
        # member 3 signs the resume and is killed with SIGKILL right after publishing its partial
        # (the point its own approval reaches for sure: a member may not combine at all when the
        # others combine and send first)
        armed(net, 3, "after_action_publish", "resume")
        wait_states(net, [2, 3], [proposed["id"]], "proposed")
        ok(cli(net, "actions", "approve", proposed["id"], "--json", member=2))
        cli(net, "actions", "approve", proposed["id"], "--json", member=3)
        killed_and_restarted(net, 3, "after_action_publish", "resume")
        devnet.wait_until(
            lambda: not chains.gateway.functions.paused().call(), WAIT, "the gateway resumed by the committee"
        )
        wait_states(net, list(net.nodes), [proposed["id"]], "executed")
        traffic.burns, traffic.every = True, 0.6
        traffic.enter("resumed")
        for m in sorted(net.nodes):
            devnet.wait_until(
                lambda m=m: (
                    net.metric(m, "qiao_endpoint_key_epoch", {"chain": "ethereum"}) == 3
                    and net.metric(m, "qiao_member_key_epochs_held", {"epoch": "3"}) == 1
                ),
                60,
                f"member {m}'s metrics at key epoch 3 on Ethereum",
            )
        after = marks(chains)
        devnet.wait_until(
            lambda: marks(chains)[C] >= after[C] + 3 and marks(chains)[E] >= after[E] + 3,
            60,
            "transfers sent after the resume",
        )
    finally:
        traffic.stop()

    final = marks(chains)
    wait_delivered(chains, final, "sent around the rotation while paused")
    assert_delivered_once(net, chains, final)
    on_e = batches(net, chains, E)
    after_switch = [b for b in on_e if b.at > position(key_set)]
    assert after_switch, "nothing executed on Ethereum after its rotation"
    assert {b.key_epoch for b in after_switch} == {3}, after_switch  # epoch 2 ended at once
    assert {b.key_epoch for b in on_e if b.last >= paused_from} == {3}
    assert {b.first for b in after_switch} >= waiting, "a batch waiting under epoch 2 executed otherwise"
    assert_settled(net, chains, start_balances, traffic)
    print(f"batches re-keyed from epoch 2 and executed under 3 after the resume: {sorted(waiting)}")
    print(f"transfers sent per phase: {dict(traffic.sent)}; steps: {traffic.durations()}")
