"""The computed gas limit of `executeBatch` (relayer.core.txmath.batch_gas_need, what the submitter
sends with instead of an estimate) covers what the real contracts take on every branch that costs
gas, for batch sizes from 1 to 400, and is not far above it.

Each batch is sent with exactly that limit (not more: the 63/64 rule and the contracts' gas guards,
BLS's and the vault's, make the need more than gasUsed) on the gateway of a fresh deployment and must
execute, each transfer down the branch the case sets up: the first mint of the token and mints to
fresh holders (the KYC check, the inbound bucket), recipients not allowed (failed, one event
each), transfers held for their challenge window (two fresh slots and an event each), transfers
queued by the rate limit (a queue slot, the queued leaf and an event each), and a batch of many
token pairs, the unregistered ones failing transfer by transfer.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.threshold import partial_sign
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.config import ChainConfig, RelayerConfig
from relayer.core.calldata import execute_batch_data
from relayer.core.encoding import batch_message
from relayer.core.txmath import batch_gas_need
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from relayer.pipeline.submitter import Submitter
from tests.support.signed_batch import ROUTE, SignedBatch, lock_and_sign

SIZES = (1, 2, 10, 100, 255, 256, 257, 400)
AMOUNT = 10**18
INBOUND = 1
# the bound may be this many times the gas a batch of the common branch uses (a delivery to fresh
# holders), and no more
MOST_OVER = 1.9

TOPICS = {
    "executed": "0x" + Web3.keccak(text="TransferExecuted(uint256,uint64,address,uint256)").hex(),
    "failed": "0x" + Web3.keccak(text="TransferFailed(uint256,uint64,uint8)").hex(),
    "held": "0x" + Web3.keccak(text="TransferHeld(uint256,uint64,bytes32,uint256,uint64)").hex(),
    "queued": "0x" + Web3.keccak(text="TransferQueued(uint256,uint64,bytes32,uint256)").hex(),
}


@pytest.fixture(scope="module")
def signed(module_chains: tuple[str, str]) -> SignedBatch:
    return lock_and_sign(module_chains)


class Sender:
    """Sends signed batches of fresh nonces to the gateway with the computed limit."""

    def __init__(self, signed: SignedBatch) -> None:
        self.signed = signed
        self.we = Web3(HTTPProvider(signed.dep.ethereum_url))
        self.admin = devnet.dev_account(0)
        self.relayer = devnet.dev_account(7)
        self.next_nonce = 2  # 1 is lock_and_sign's
        self.figures: list[tuple[str, int, int, int]] = []  # (case, size, gasUsed, bound)

    def admin_send(self, fn: Any) -> None:
        devnet.send(self.we, self.admin, fn)

    def holders(self, count: int, allowed: bool) -> list[str]:
        out: list[str] = [cs("0x" + secrets.token_hex(20)) for _ in range(count)]
        if allowed:
            for i in range(0, count, 200):
                self.admin_send(self.signed.dep.registry_e.functions.setAllowedBatch(out[i : i + 200], True))  # type: ignore[union-attr]
        return out

    def batch(self, recipients: list[str], pairs: list[tuple[str, str]] | None = None) -> Batch:
        s = self.signed
        pairs = pairs or [(s.transfer.src_token, s.transfer.dst_token)]
        transfers = tuple(
            Transfer(
                ROUTE.src,
                ROUTE.dst,
                Nonce(self.next_nonce + i),
                pairs[i % len(pairs)][0],
                pairs[i % len(pairs)][1],
                s.transfer.sender,
                to,
                AMOUNT,
            )
            for i, to in enumerate(recipients)
        )
        self.next_nonce += len(recipients)
        return Batch(transfers, s.batch.dst_contract, s.batch.key_epoch)

    def execute(self, case: str, batch: Batch) -> dict[str, int]:
        """Send `batch` with exactly its computed limit; it must execute. The events, counted."""
        data = execute_batch_data(batch, partial_sign(self.signed.share, batch_message(batch)))
        pairs = len({(t.src_token, t.dst_token) for t in batch.transfers})
        need = batch_gas_need(len(batch.transfers), pairs, data)
        tx = self.relayer.sign_transaction(
            {
                "type": 2,
                "chainId": self.we.eth.chain_id,
                "nonce": self.we.eth.get_transaction_count(self.relayer.address, "pending"),
                "to": self.signed.dep.gateway.address,
                "value": 0,
                "data": data,
                "gas": need,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx_hash = self.we.eth.send_raw_transaction(tx.raw_transaction)
        receipt = self.we.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        used = int(receipt["gasUsed"])
        assert receipt["status"] == 1, f"{case}, {len(batch.transfers)} transfers: reverted with {need} gas"
        assert used <= need
        self.figures.append((case, len(batch.transfers), used, need))
        events = dict.fromkeys(TOPICS, 0)
        for entry in receipt["logs"]:
            for name, topic in TOPICS.items():
                if "0x" + bytes(entry["topics"][0]).hex() == topic:
                    events[name] += 1
        return events


def test_the_bound_covers_every_branch_of_every_size_and_is_not_far_above_gas_used(
    signed: SignedBatch,
) -> None:
    s = Sender(signed)
    dep = signed.dep
    wrapped = dep.wrapped.address
    s.admin_send(dep.gateway.functions.setRateLimit(wrapped, INBOUND, 2**127, 1))
    # first: the token's first mint (its supply from zero), then mints to fresh holders
    for n in SIZES:
        assert s.execute("mint", s.batch(s.holders(n, allowed=True))) == {
            "executed": n,
            "failed": 0,
            "held": 0,
            "queued": 0,
        }
    for n in SIZES:  # recipients the KYC registry does not allow: each fails
        assert s.execute("not allowed", s.batch(s.holders(n, allowed=False)))["failed"] == n
    # queued: the inbound bucket holds one transfer; the first takes it, the others wait
    s.admin_send(dep.gateway.functions.setRateLimit(wrapped, INBOUND, AMOUNT, 1))
    for n in SIZES:
        events = s.execute("queued", s.batch(s.holders(n, allowed=True)))
        assert events["queued"] >= n - 1
        s.admin_send(dep.gateway.functions.setRateLimit(wrapped, INBOUND, AMOUNT, 1))
    # held: every transfer at the challenge threshold
    s.admin_send(dep.gateway.functions.setChallenge(wrapped, AMOUNT))
    for n in SIZES:
        assert s.execute("held", s.batch(s.holders(n, allowed=True)))["held"] == n
    s.admin_send(dep.gateway.functions.setChallenge(wrapped, 0))
    # many pairs (the registered one and up to 15 others, unregistered: those transfers fail)
    registered = (signed.transfer.src_token, signed.transfer.dst_token)
    others = [(cs("0x" + secrets.token_hex(20)), cs("0x" + secrets.token_hex(20))) for _ in range(15)]
    for n in SIZES:
        pairs = [registered, *others][: max(1, min(16, n))]
        s.execute("pairs", s.batch(s.holders(n, allowed=True), pairs))
    mint = {n: used for case, n, used, _ in s.figures if case == "mint"}
    worst = {n: max(used for _, m, used, _ in s.figures if m == n) for n in SIZES}
    for case, n, used, need in s.figures:
        print(f"{case:12} {n:4} used {used:>10,} bound {need:>10,} ({need / used:.2f}x)")
        if case == "mint":  # the common branch: a fixed part and ~31k per transfer against ~52k
            assert need <= MOST_OVER * mint[n], f"{n}: the bound {need} is far above {mint[n]}"
        if n >= 100:  # the worst branch of a large batch: within a margin
            assert need <= 1.15 * worst[n], f"{case}, {n}: the bound {need} is far above {worst[n]}"


async def test_only_an_endpoint_that_delivers_by_minting_is_sent_with_the_bound(signed: SignedBatch) -> None:
    """The vault calls the asset with DELIVERY_GAS per delivery and checks that much is left before
    each one, so a batch checked down a cheaper branch (a recipient not yet allowed, an empty
    bucket) could revert for gas once the state changed: the submitter estimates batches into the
    vault (Submitter._bound_applies) and sends with the bound only to the gateway."""
    dep = signed.dep
    for name, chain_id, url, endpoint, expected in (
        ("consortium", devnet.CONSORTIUM_CHAIN_ID, dep.consortium_url, dep.vault.address, 300_000),
        ("ethereum", devnet.ETHEREUM_CHAIN_ID, dep.ethereum_url, dep.gateway.address, None),
    ):
        cfg = ChainConfig(name, ChainId(chain_id), url, endpoint, 0, 0, 1.0, 500)
        async with ChainClient.connect(cfg) as chain:
            assert await chain.delivery_gas() == expected, name
            submitter = Submitter(
                chain,
                cast(Any, None),
                devnet.dev_account(7),
                RelayerConfig(True, None, 1.0, 100.0, 1.0, 10.0),
                1,
                1,
            )
            assert await submitter._bound_applies() is (expected is None), name
