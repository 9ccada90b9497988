"""A sentinel on real anvil chains with the bridge deployed: it scans an honest lock -> batch -> mint and
finds nothing; it finds a batch the committee signed for a transfer that never happened (the test
holds the committee's share) with the evidence of every RPC, and its curse lands on both endpoints
(lock and executeBatch of the route then revert RouteIsCursed); a large forged transfer held for its
challenge window is vetoed inside it; and a lying source RPC does not make it curse an honest route.

The two RPCs of each chain are two loopback proxies (tests/support/rpc_proxy.py) in front of the
same anvil: honest ones pass every reply through, the liar rewrites the source's logs and calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address as cs
from hexbytes import HexBytes
from prometheus_client import REGISTRY
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError

from committee.threshold import partial_sign
from harness import devnet
from relayer.core.calldata import execute_batch_call, execute_batch_data, refund_call
from relayer.core.encoding import batch_message, refund_message
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from sentinel import abi
from sentinel.config import SentinelConfig, parse
from sentinel.runner import Sentinel
from sentinel.store import Store
from tests.support.rpc_proxy import RpcProxy
from tests.support.signed_batch import LOCK_CONFIRMATIONS, ROUTE, SignedBatch, lock_and_sign, rpc
from tests.support.snapshots import Snapshots

pytestmark = pytest.mark.integration

FORGED_AMOUNT = 10**6
ROUTE_LABEL = f"{ROUTE.src}->{ROUTE.dst}"


def sentinel_config(
    tmp_path: Path, signed: SignedBatch, rpcs: dict[str, list[str]], act: bool = False
) -> SentinelConfig:
    dep = signed.dep
    chain = {"finality": "depth", "confirmations": 2, "max_block_range": 500}
    raw: dict[str, Any] = {
        "sentinel": {"name": "test", "store": "sentinel.sqlite3", "keystore_file": "k.json",
                     "password_file": "p", "act": act, "poll_interval": 0.2, "supply_confirmations": 2},
        "metrics": {"port": 0},
        "chains": {
            "consortium": {**chain, "chain_id": ROUTE.src, "rpcs": rpcs["consortium"], "endpoint": cs(dep.vault.address),
                           "start_block": dep.consortium_block},
            "ethereum": {**chain, "chain_id": ROUTE.dst, "rpcs": rpcs["ethereum"], "endpoint": cs(dep.gateway.address),
                         "start_block": dep.ethereum_block},
        },
        "pairs": [{"home_chain": "consortium", "home_token": cs(dep.asset.address), "wrapped_chain": "ethereum",
                   "wrapped_token": cs(dep.wrapped.address)}],
    }  # fmt: skip
    return parse(raw, "test", tmp_path)


@pytest.fixture(scope="module")
def executed(module_chains: tuple[str, str]) -> tuple[SignedBatch, Snapshots]:
    """The bridge deployed, alice's lock of 777 to bob, the batch signed and executed on Ethereum:
    once for the module."""
    s = lock_and_sign(module_chains)
    we = Web3(HTTPProvider(s.dep.ethereum_url))
    devnet.send(we, devnet.dev_account(1), execute_batch_call(s.dep.gateway, s.batch, s.signature))
    # the execution final by the sentinel's rule (2 confirmations) before the snapshot, as the lock
    # is (lock_and_sign): the chains mine each transaction at once, and a test's first rounds must
    # find the module's set-up judged, whatever the test then adds
    for _ in range(LOCK_CONFIRMATIONS):
        rpc(we, "evm_mine")
    return s, Snapshots(*module_chains)


@pytest.fixture
def signed(executed: tuple[SignedBatch, Snapshots]) -> SignedBatch:
    """The module's set-up, the chains reverted to it before each test."""
    s, snapshots = executed
    snapshots.fresh()
    return s


@pytest.fixture
def honest_rpcs(signed: SignedBatch) -> Iterator[dict[str, list[str]]]:
    proxies = [RpcProxy(url) for url in (signed.dep.consortium_url,) * 2 + (signed.dep.ethereum_url,) * 2]
    yield {"consortium": [p.url for p in proxies[:2]], "ethereum": [p.url for p in proxies[2:]]}
    for p in proxies:
        p.close()


def rounds_until(sentinel: Sentinel, done: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Runs the sentinel's rounds (the chains mine every 0.5 s) until `done`, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sentinel.round()
        if done():
            return
        time.sleep(0.2)
    pytest.fail(f"after {timeout}s: {what}; findings {sentinel.store.findings()}")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def forge(signed: SignedBatch) -> Transfer:
    """The colluding committee's batch: nonce 2 on the route, never locked, 10^6 wrapped to mallory,
    signed with the committee's (1-of-1) key and executed on Ethereum."""
    mallory = devnet.dev_account(7)
    forged = Transfer(
        ChainId(ROUTE.src), ChainId(ROUTE.dst), Nonce(2), cs(signed.dep.asset.address),
        cs(signed.dep.wrapped.address), mallory.address, mallory.address, FORGED_AMOUNT,
    )  # fmt: skip
    batch = Batch((forged,), cs(signed.dep.gateway.address), 1)
    signature = partial_sign(signed.share, batch_message(batch))
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    devnet.send(we, devnet.dev_account(1), execute_batch_call(signed.dep.gateway, batch, signature))
    assert signed.dep.wrapped.functions.balanceOf(mallory.address).call() == FORGED_AMOUNT
    return forged


def test_an_honest_flow_is_checked_and_nothing_is_found(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    cfg = sentinel_config(tmp_path, signed, honest_rpcs)
    checked = metric("qiao_sentinel_transfers_checked_total", route=ROUTE_LABEL)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, None)
    # the batch's BatchExecuted and bob's TransferExecuted, both matched against alice's final lock
    rounds_until(sentinel, lambda: store.count("ok") == 2 and not store.pending(), "both records checked")
    for _ in range(3):  # and a few more rounds of supply checks at later heads
        sentinel.round()
    assert store.findings() == []
    assert store.actions() == []
    assert store.count("mismatch") == 0
    assert metric("qiao_sentinel_transfers_checked_total", route=ROUTE_LABEL) == checked + 1
    assert metric("qiao_sentinel_last_check_timestamp_seconds") > 0


def test_a_forged_batch_is_found_with_the_evidence_of_every_rpc(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    forged = forge(signed)
    cfg = sentinel_config(tmp_path, signed, honest_rpcs)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, None)
    before = metric("qiao_sentinel_mismatches_total", route=ROUTE_LABEL, kind="unbacked")
    rounds_until(sentinel, lambda: store.count("mismatch") == 2, "the forged batch and transfer found")
    findings = [f for f in store.findings() if f["kind"] == "unbacked"]
    assert len(findings) == 2, store.findings()
    for f in findings:
        assert f["route"] == ROUTE_LABEL
        assert f["verdict"] == "unbacked"
        assert "every one of 2 source RPCs" in f["reason"], f
    assert any(f"nonce {forged.nonce}" in f["detail"] or "[2]" in f["detail"] for f in findings)
    assert metric("qiao_sentinel_mismatches_total", route=ROUTE_LABEL, kind="unbacked") == before + 2
    # the honest transfer (nonce 1) is still fine
    assert store.count("ok") == 2
    # the curse is wanted on both ends of the route (sent when act = true and the key is registered)
    wanted = {(chain, action, target) for chain, action, target, _ in store.actions()}
    assert wanted == {(ROUTE.dst, "curse", str(ROUTE.src)), (ROUTE.src, "curse", str(ROUTE.dst))}
    # and the wrapped supply now exceeds what the vault holds: found after two consecutive checks
    rounds_until(
        sentinel, lambda: any(f["kind"] == "supply" for f in store.findings()), "the supply excess found"
    )


def test_a_lying_source_rpc_does_not_curse_an_honest_route(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The sentinel's first consortium RPC (the one it scans logs through) hides every log and
    answers every call with zero: the store misses alice's lock, so bob's mint looks unbacked. The
    other RPC shows the lock: the RPCs disagree, so the sentinel raises the mismatch metric with
    kind evidence_insufficient and curses nothing."""

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            return []
        if method == "eth_call":
            return "0x" + "00" * 32
        return result

    with RpcProxy(signed.dep.consortium_url, rewrite=lie) as liar:
        rpcs = {"consortium": [liar.url, honest_rpcs["consortium"][0]], "ethereum": honest_rpcs["ethereum"]}
        cfg = sentinel_config(tmp_path, signed, rpcs)
        store = Store(cfg.store)
        sentinel = Sentinel(cfg, store, None)
        before = metric("qiao_sentinel_mismatches_total", route=ROUTE_LABEL, kind="evidence_insufficient")
        rounds_until(
            sentinel,
            lambda: (
                metric("qiao_sentinel_mismatches_total", route=ROUTE_LABEL, kind="evidence_insufficient")
                >= before + 2
            ),
            "the suspicion reported as insufficient evidence",
        )
        for _ in range(4):
            sentinel.round()
        assert store.findings() == []
        assert store.actions() == []
        assert store.count("mismatch") == 0
        assert len(store.pending()) == 2  # kept, and checked again every round
    logged = capsys.readouterr().out
    assert "sentinel_evidence_insufficient" in logged
    assert "the source RPCs disagree" in logged
    assert "sentinel_mismatch" not in logged


def test_the_sentinel_signs_locally_and_sends_with_eip1559_fees(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """`Sentinel.transact`, the path every curse and veto takes: its own key signs a type-2
    transaction, sent through its RPC; a reverting call raises instead of counting as sent."""
    key = devnet.dev_account(6)
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    sentinel = Sentinel(cfg, Store(cfg.store), key)
    w3 = Web3(HTTPProvider(honest_rpcs["consortium"][0]))
    spender = devnet.dev_account(5).address
    asset = w3.eth.contract(address=signed.dep.asset.address, abi=signed.dep.asset.abi)
    tx_hash = sentinel.transact(w3, ROUTE.src, asset.functions.approve(spender, 12345))
    tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    assert tx["type"] == 2
    assert tx["from"] == key.address
    assert tx["maxPriorityFeePerGas"] == Web3.to_wei(cfg.priority_fee_gwei, "gwei")
    assert asset.functions.allowance(key.address, spender).call() == 12345
    with pytest.raises(ContractCustomError):  # ERC20InsufficientBalance, at the estimate
        sentinel.transact(w3, ROUTE.src, asset.functions.transfer(spender, 10**30))  # key holds no asset


# ---- the curse and the veto on the endpoints ------------------------------------------------------

OWNER_ABI: list[dict[str, Any]] = [
    abi._fn("setSentinel", ["address", "bool"], [], view=False),
    abi._fn("setChallenge", ["address", "uint256"], [], view=False),
    abi._fn("setChallengePeriod", ["uint64"], [], view=False),
    *abi.ENDPOINT_ABI,
]
SENTINEL_KEY = 6
ROUTE_IS_CURSED = Web3.keccak(text="RouteIsCursed(uint256)")[:4].hex()


def sentinel_view(w3: Web3, address: str) -> Any:
    return w3.eth.contract(address=cs(address), abi=OWNER_ABI)


def register(signed: SignedBatch) -> tuple[Any, Any]:
    """The owner registers the sentinel's key on both endpoints."""
    admin, key = devnet.dev_account(0), devnet.dev_account(SENTINEL_KEY)
    wc, we = Web3(HTTPProvider(signed.dep.consortium_url)), Web3(HTTPProvider(signed.dep.ethereum_url))
    vault, gateway = (
        sentinel_view(wc, signed.dep.vault.address),
        sentinel_view(we, signed.dep.gateway.address),
    )
    devnet.send(wc, admin, vault.functions.setSentinel(key.address, True))
    devnet.send(we, admin, gateway.functions.setSentinel(key.address, True))
    return vault, gateway


def forged_batch(signed: SignedBatch, nonce: int, amount: int) -> Batch:
    mallory = devnet.dev_account(7)
    forged = Transfer(
        ChainId(ROUTE.src), ChainId(ROUTE.dst), Nonce(nonce), cs(signed.dep.asset.address),
        cs(signed.dep.wrapped.address), mallory.address, mallory.address, amount,
    )  # fmt: skip
    return Batch((forged,), cs(signed.dep.gateway.address), 1)


def execute(signed: SignedBatch, batch: Batch) -> Any:
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    signature = partial_sign(signed.share, batch_message(batch))
    return devnet.send(we, devnet.dev_account(1), execute_batch_call(signed.dep.gateway, batch, signature))


def reverts_route_is_cursed(call: Callable[[], Any]) -> None:
    with pytest.raises(ContractCustomError) as info:
        call()
    assert ROUTE_IS_CURSED in str(info.value)


def test_the_sentinel_curses_a_forged_route_and_every_entry_point_stops(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    vault, gateway = register(signed)
    assert not gateway.functions.isCursed(ROUTE.src).call()
    forged = forged_batch(signed, 2, 10**6)
    execute(signed, forged)
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
    sent = {
        chain: metric("qiao_sentinel_curses_sent_total", chain=chain) for chain in ("consortium", "ethereum")
    }
    rounds_until(
        sentinel,
        lambda: len(store.actions()) == 2 and all(tx.startswith("0x") for *_, tx in store.actions()),
        "both curses sent",
    )
    for chain, before in sent.items():
        assert metric("qiao_sentinel_curses_sent_total", chain=chain) == before + 1
    assert gateway.functions.isCursed(ROUTE.src).call()
    assert vault.functions.isCursed(ROUTE.dst).call()
    # found again while every RPC shows the route cursed: nothing more to send, the sent curses kept
    landed = store.actions()
    sentinel.want_curse(ROUTE.src, ROUTE.dst)
    assert store.actions() == landed
    # every entry point of the route stops: a new lock toward Ethereum, a batch from the consortium chain
    wc = Web3(HTTPProvider(signed.dep.consortium_url))
    alice = devnet.dev_account(8)
    lock = signed.dep.vault.functions.lock(signed.dep.asset.address, ROUTE.dst, alice.address, 5)
    reverts_route_is_cursed(lambda: lock.estimate_gas({"from": alice.address, "chainId": wc.eth.chain_id}))
    another = forged_batch(signed, 3, 1)
    signature = partial_sign(signed.share, batch_message(another))
    call = execute_batch_call(signed.dep.gateway, another, signature)
    reverts_route_is_cursed(lambda: call.estimate_gas({"from": devnet.dev_account(1).address}))


def test_a_large_forged_transfer_is_held_and_vetoed_inside_its_window(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    _, gateway = register(signed)
    admin = devnet.dev_account(0)
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    devnet.send(we, admin, gateway.functions.setChallengePeriod(3600))
    devnet.send(we, admin, gateway.functions.setChallenge(signed.dep.wrapped.address, 10**5))
    forged = forged_batch(signed, 2, 10**6)
    execute(signed, forged)
    assert gateway.functions.heldUntil(ROUTE.src, 2).call() > 0
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
    rounds_until(
        sentinel,
        lambda: any(a == "veto" and tx.startswith("0x") for _, a, _, tx in store.actions()),
        "the veto sent",
    )
    assert gateway.functions.transferStatus(ROUTE.src, 2).call() == 3  # failed (Vetoed): never delivered
    mallory = devnet.dev_account(7)
    assert signed.dep.wrapped.functions.balanceOf(mallory.address).call() == 0


def test_the_curse_goes_out_on_the_first_unbacked_record_not_after_judging_the_whole_backlog(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A colluding committee that forges many small transfers at once must not buy time: every
    record the sentinel judges costs reads on every RPC (the maximum-loss benchmark measured about
    0.1 to 0.2 s a record), and the curse used to be sent only at the end of the round, after the
    whole backlog was judged. It is sent as soon as one record is unbacked on every RPC's evidence."""
    vault, gateway = register(signed)
    mallory = devnet.dev_account(7)
    forged = tuple(
        Transfer(
            ChainId(ROUTE.src), ChainId(ROUTE.dst), Nonce(n), cs(signed.dep.asset.address),
            cs(signed.dep.wrapped.address), mallory.address, mallory.address, 1,
        )
        for n in range(2, 32)
    )  # fmt: skip
    execute(signed, Batch(forged, cs(signed.dep.gateway.address), 1))
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
    capsys.readouterr()
    rounds_until(sentinel, lambda: gateway.functions.isCursed(ROUTE.src).call(), "the route cursed")
    assert vault.functions.isCursed(ROUTE.dst).call()
    logged = capsys.readouterr().out.splitlines()
    sent = next(i for i, line in enumerate(logged) if "sentinel_action_sent" in line)
    judged_before = [line for line in logged[:sent] if "sentinel_mismatch" in line]
    assert len(judged_before) == 1, f"{len(judged_before)} records judged before the curse went out"
    # and the rest of the backlog is judged all the same: every forged record is a finding
    rounds_until(sentinel, lambda: store.count("mismatch") >= len(forged), "every forged record judged")


# ---- what the sentinel guarantees against a lying RPC and a colluding committee -------------------
# (the independent review of issue 17: S5, S3, S1, R3; the pure rules in tests/unit/test_sentinel_guarantees.py)


def hold_large_transfers(signed: SignedBatch) -> Any:
    """The sentinel registered on both endpoints; Ethereum holds transfers of 10^5 wrapped or more for an hour."""
    _, gateway = register(signed)
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    admin = devnet.dev_account(0)
    devnet.send(we, admin, gateway.functions.setChallengePeriod(3600))
    devnet.send(we, admin, gateway.functions.setChallenge(signed.dep.wrapped.address, 10**5))
    return gateway


def honest_large_lock(signed: SignedBatch, amount: int) -> Transfer:
    """Alice really locks `amount` (nonce 2) and the committee's batch of it executes on Ethereum."""
    wc = Web3(HTTPProvider(signed.dep.consortium_url))
    alice, bob = devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(
        wc, alice, signed.dep.vault.functions.lock(signed.dep.asset.address, ROUTE.dst, bob.address, amount)
    )
    t = Transfer(
        ChainId(ROUTE.src), ChainId(ROUTE.dst), Nonce(2), cs(signed.dep.asset.address),
        cs(signed.dep.wrapped.address), alice.address, bob.address, amount,
    )  # fmt: skip
    execute(signed, Batch((t,), cs(signed.dep.gateway.address), 1))
    return t


def insufficient() -> float:
    return metric("qiao_sentinel_mismatches_total", route=ROUTE_LABEL, kind="evidence_insufficient")


def test_a_lying_destination_rpc_neither_curses_nor_vetoes_an_honest_held_transfer(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """S5. An honest large transfer is held on Ethereum. The sentinel's first Ethereum RPC rewrites
    its `TransferHeld` (another leaf) in its logs and in the transaction's receipt, and passes the
    real calldata on: the other RPC shows the real log, so there is no agreed record, and with its
    key registered and `act = true` the sentinel sends no curse and no veto: it reports the
    suspicion as evidence_insufficient."""
    gateway = hold_large_transfers(signed)
    t = honest_large_lock(signed, 10**6)
    assert gateway.functions.heldUntil(ROUTE.src, 2).call() > 0
    held = "0x" + abi.TRANSFER_HELD.hex()

    def rewrite_held(lg: dict[str, Any]) -> dict[str, Any]:
        if lg["topics"][0] == held:
            data = lg["data"][2:]
            lg = {**lg, "data": "0x" + data[:64] + "66" * 32 + data[128:]}
        return lg

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            return [rewrite_held(lg) for lg in result]
        if method == "eth_getTransactionReceipt" and result:
            return {**result, "logs": [rewrite_held(lg) for lg in result["logs"]]}
        return result

    with RpcProxy(signed.dep.ethereum_url, rewrite=lie) as liar:
        rpcs = {"consortium": honest_rpcs["consortium"], "ethereum": [liar.url, honest_rpcs["ethereum"][0]]}
        cfg = sentinel_config(tmp_path, signed, rpcs, act=True)
        store = Store(cfg.store)
        sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
        before = insufficient()
        rounds_until(
            sentinel,
            lambda: insufficient() > before and store.count("ok") == 3,  # both batches, bob's delivery
            "the honest records settled, the rewritten one reported as insufficient evidence",
        )
        for _ in range(3):
            sentinel.round()
        assert store.findings() == []
        assert store.actions() == []
        assert len(store.pending()) == 1  # the held transfer's record: kept, judged again every round
    assert not gateway.functions.isCursed(ROUTE.src).call()
    assert gateway.functions.transferStatus(ROUTE.src, t.nonce).call() == 2  # still held (Queued)


def test_a_lying_primary_source_rpc_does_not_hide_a_forgery(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """S3. The colluding committee's forged batch (nonce 2) executes on Ethereum; the sentinel's
    first consortium RPC adds a matching `TransferInitiated` to its logs, so the store holds a
    source transfer for the forgery. A pass needs every RPC as much as a curse: every RPC's
    `nextNonce` / `initiatedLeaf` show no such transfer, so the forgery is found and cursed."""
    forged = forge(signed)
    vault = cs(signed.dep.vault.address)
    fake = {
        "address": vault.lower(),
        "topics": [
            "0x" + abi.TRANSFER_INITIATED.hex(),
            "0x" + ROUTE.dst.to_bytes(32, "big").hex(),
            "0x" + forged.nonce.to_bytes(32, "big").hex(),
            "0x" + bytes(12).hex() + forged.sender[2:].lower(),
        ],
        "data": "0x" + encode(["address", "address", "address", "uint256"],
                              [forged.src_token, forged.dst_token, forged.recipient, forged.amount]).hex(),
        "blockNumber": hex(signed.lock_block), "blockHash": "0x" + "77" * 32, "transactionHash": "0x" + "78" * 32,
        "transactionIndex": "0x0", "logIndex": "0x7", "removed": False,
    }  # fmt: skip

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs" and int(params[0]["fromBlock"], 16) <= signed.lock_block <= int(
            params[0]["toBlock"], 16
        ):
            return [*result, fake]
        return result

    with RpcProxy(signed.dep.consortium_url, rewrite=lie) as liar:
        rpcs = {"consortium": [liar.url, honest_rpcs["consortium"][0]], "ethereum": honest_rpcs["ethereum"]}
        cfg = sentinel_config(tmp_path, signed, rpcs)
        store = Store(cfg.store)
        sentinel = Sentinel(cfg, store, None)
        rounds_until(sentinel, lambda: store.count("mismatch") == 2, "the forged batch and transfer found")
        assert store.source(ROUTE.src, ROUTE.dst, forged.nonce) == forged  # the lie is in the store
        assert store.count("ok") == 2  # alice's honest transfer only
        assert {f["kind"] for f in store.findings() if f["record_id"] is not None} == {"unbacked"}
        # The forged mint also lifts the wrapped supply above the locks, found once two consecutive
        # pair checks show it (whether that came before the batch's finding is a matter of timing).
        rounds_until(
            sentinel, lambda: any(f["kind"] == "supply" for f in store.findings()), "the excess found"
        )
        [excess] = [f for f in store.findings() if f["record_id"] is None]
        assert excess["kind"] == "supply"
        assert f"by {forged.amount} " in excess["reason"]
        wanted = {(chain, action, target) for chain, action, target, _ in store.actions()}
        assert wanted == {(ROUTE.dst, "curse", str(ROUTE.src)), (ROUTE.src, "curse", str(ROUTE.dst))}


def test_a_refund_of_a_delivered_transfer_is_cursed(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """R3. The colluding committee signs a REFUND on the consortium chain of alice's transfer that
    was delivered on Ethereum (bob keeps the wrapped tokens, alice gets the asset back). Every
    Ethereum RPC shows the transfer Delivered, not Failed: the sentinel curses the route."""
    vault = signed.dep.vault
    signature = partial_sign(signed.share, refund_message(signed.transfer, cs(vault.address), 1))
    wc = Web3(HTTPProvider(signed.dep.consortium_url))
    devnet.send(wc, devnet.dev_account(1), refund_call(vault, 1, signed.transfer, signature))
    cfg = sentinel_config(tmp_path, signed, honest_rpcs)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, None)
    rounds_until(sentinel, lambda: store.count("mismatch") == 1, "the refund found")
    [finding] = [f for f in store.findings() if f["kind"] == "refund"]  # (and the supply excess it makes)
    assert "status DELIVERED" in finding["reason"]
    assert "nonce 1: refunded 777" in finding["detail"]
    assert store.count("ok") == 2  # the batch and its delivery
    wanted = {(chain, action, target) for chain, action, target, _ in store.actions()}
    assert wanted == {(ROUTE.dst, "curse", str(ROUTE.src)), (ROUTE.src, "curse", str(ROUTE.dst))}


def forwarder(w3: Web3, target: str) -> str:
    """A contract that passes its calldata on to `target` (a multicall or proxy stand-in), deployed."""
    runtime = (
        bytes.fromhex("365f5f37" "5f5f365f5f73") + bytes.fromhex(target[2:])
        + bytes.fromhex("5af1" "602657" "5f5ffd" "5b00")
    )  # fmt: skip
    init = bytes.fromhex("60") + bytes([len(runtime)]) + bytes.fromhex("8060095f395ff3") + runtime
    admin = devnet.dev_account(0)
    tx = admin.sign_transaction(
        {
            "data": init,
            "gas": 200_000,
            "gasPrice": w3.eth.gas_price * 2,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(admin.address),
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    assert receipt["status"] == 1
    assert w3.eth.get_code(receipt["contractAddress"]) == runtime
    return str(receipt["contractAddress"])


def test_a_forged_held_transfer_sent_through_a_contract_is_vetoed(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """S1. The colluding committee sends its forged large batch through a forwarding contract: the
    transaction's calldata is not the endpoint's, so the sentinel rebuilds the held transfer from
    the call tracer's frames (`debug_traceTransaction`, which anvil offers) and vetoes it."""
    gateway = hold_large_transfers(signed)
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    proxy = forwarder(we, cs(signed.dep.gateway.address))
    batch = forged_batch(signed, 2, 10**6)
    data = execute_batch_data(batch, partial_sign(signed.share, batch_message(batch)))
    sender = devnet.dev_account(1)
    tx = sender.sign_transaction(
        {
            "to": proxy,
            "data": data,
            "gas": 3_000_000,
            "gasPrice": we.eth.gas_price * 2,
            "chainId": we.eth.chain_id,
            "nonce": we.eth.get_transaction_count(sender.address),
        }
    )
    assert we.eth.wait_for_transaction_receipt(we.eth.send_raw_transaction(tx.raw_transaction))["status"] == 1
    assert gateway.functions.heldUntil(ROUTE.src, 2).call() > 0
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
    rounds_until(
        sentinel,
        lambda: any(a == "veto" and tx.startswith("0x") for _, a, _, tx in store.actions()),
        "the veto sent",
    )
    assert gateway.functions.transferStatus(ROUTE.src, 2).call() == 3  # failed (Vetoed): never delivered
    assert signed.dep.wrapped.functions.balanceOf(devnet.dev_account(7).address).call() == 0


def test_a_forged_held_transfer_past_its_window_is_vetoed_while_its_route_is_cursed(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """R1 (sentinel side). The window (1 s) is over before the sentinel sees the forged held
    transfer final: it curses the route, and the endpoint takes its veto while the route is cursed,
    so lifting the curse later can never hand the forgery to the first caller of releaseQueued."""
    gateway = hold_large_transfers(signed)
    we = Web3(HTTPProvider(signed.dep.ethereum_url))
    devnet.send(we, devnet.dev_account(0), gateway.functions.setChallengePeriod(1))
    execute(signed, forged_batch(signed, 2, 10**6))
    release_after = gateway.functions.heldUntil(ROUTE.src, 2).call()
    assert release_after > 0
    # the window over before the sentinel's first round: two confirmations of 0.5 s blocks can
    # otherwise make the transfer final inside it (anvil's clock counts whole seconds)
    devnet.wait_until(
        lambda: we.eth.get_block("latest")["timestamp"] >= release_after, 30, "the challenge window over"
    )
    cfg = sentinel_config(tmp_path, signed, honest_rpcs, act=True)
    store = Store(cfg.store)
    sentinel = Sentinel(cfg, store, devnet.dev_account(SENTINEL_KEY))
    rounds_until(
        sentinel,
        lambda: any(a == "veto" and tx.startswith("0x") for _, a, _, tx in store.actions()),
        "the veto sent",
    )
    vetoes = [tx for _, a, _, tx in store.actions() if a == "veto" and tx.startswith("0x")]
    receipt = we.eth.wait_for_transaction_receipt(HexBytes(vetoes[0]))
    assert receipt["status"] == 1
    assert we.eth.get_block(receipt["blockNumber"])["timestamp"] >= release_after  # after the window
    # taken while the route was cursed (the endpoint refuses a veto past the window otherwise)
    assert gateway.functions.isCursed(ROUTE.src).call(block_identifier=receipt["blockNumber"])
    assert gateway.functions.isCursed(ROUTE.src).call()
    assert gateway.functions.transferStatus(ROUTE.src, 2).call() == 3  # failed (Vetoed): never delivered
    assert signed.dep.wrapped.functions.balanceOf(devnet.dev_account(7).address).call() == 0


def test_an_rpc_that_freezes_its_head_shows_as_lag(
    tmp_path: Path, signed: SignedBatch, honest_rpcs: dict[str, list[str]]
) -> None:
    """S3 (the scan). The first consortium RPC reports block 3 as its head forever: the sentinel
    scans no further than every RPC holds final, and its lag is measured against the highest final
    head any RPC reports, so the frozen scan shows (QiaoSentinelLagging) instead of a lag of 0."""

    def frozen(method: str, params: list[Any], result: Any) -> Any:
        return hex(3) if method == "eth_blockNumber" else result

    with RpcProxy(signed.dep.consortium_url, rewrite=frozen) as liar:
        rpcs = {"consortium": [liar.url, honest_rpcs["consortium"][0]], "ethereum": honest_rpcs["ethereum"]}
        cfg = sentinel_config(tmp_path, signed, rpcs)
        store = Store(cfg.store)
        sentinel = Sentinel(cfg, store, None)
        wc = Web3(HTTPProvider(signed.dep.consortium_url))
        for _ in range(2):
            sentinel.round()
        before = wc.eth.block_number
        sentinel.round()
        after = wc.eth.block_number
        assert store.cursor(ROUTE.src) is None  # the frozen final head (1) is below the start block
        lag = metric("qiao_sentinel_lag_blocks", chain="consortium")
        start = signed.dep.consortium_block  # lag: the honest RPC's final head (2 confirmations) - start + 1
        assert before - 2 - start + 1 <= lag <= after - 2 - start + 1
        assert store.count("ok") == 0  # alice's lock is not scanned: bob's mint is not passed either
