"""Submits aggregated batches to one destination chain and records the outcome.

Relayers are staggered: for each batch the members take turns by rank
`(member_index - first_nonce) mod n`, each waiting `rank * stagger_seconds` after the batch was
aggregated, and every relayer checks the contract's executed bitmap before it sends, so normally one
transaction lands and the others stand by. A deterministic revert is recorded, never retried.
"""

from __future__ import annotations

import asyncio
import time
from enum import Enum
from typing import Any, cast

import structlog
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3.exceptions import ContractLogicError, TimeExhausted
from web3.types import TxParams, Wei

from committee.bls import g1_to_eip2537
from relayer import metrics
from relayer.chain import ChainClient
from relayer.config import RelayerConfig
from relayer.store import BatchState, Store, StoredBatch

log = structlog.get_logger(__name__)

GWEI = 10**9


class SubmitOutcome(Enum):
    EXECUTED = "executed"  # our transaction executed the batch
    ALREADY_EXECUTED = "already_executed"  # another relayer did
    NOT_READY = "not_ready"  # not this relayer's turn yet
    RETRY = "retry"  # transient trouble; try again later
    DROP = "drop"  # the destination refuses the batch deterministically


class Submitter:
    def __init__(
        self,
        chain: ChainClient,
        store: Store,
        account: LocalAccount,
        cfg: RelayerConfig,
        member_index: int,
        committee_size: int,
    ) -> None:
        self.chain = chain
        self.store = store
        self.account = account
        self.cfg = cfg
        self.member_index = member_index
        self.committee_size = committee_size
        self._lock = asyncio.Lock()

    def rank(self, first_nonce: int) -> int:
        return (self.member_index - first_nonce) % self.committee_size

    async def step(self) -> None:
        """Handle every aggregated or submitted batch for this chain once."""
        async with self._lock:
            for stored in await self.store.batches(
                [BatchState.AGGREGATED, BatchState.SUBMITTED], dst=self.chain.chain_id, limit=50
            ):
                outcome = SubmitOutcome.RETRY
                try:
                    outcome = await self.submit(stored)
                except Exception as exc:
                    metrics.RPC_ERRORS.labels(self.chain.cfg.name).inc()
                    log.warning("submit_error", batch=str(stored.batch.id), error=repr(exc))
                finally:
                    metrics.SUBMISSIONS.labels(str(self.chain.chain_id), outcome.value).inc()

    async def submit(self, stored: StoredBatch) -> SubmitOutcome:
        bid = stored.batch.id
        if await self.chain.is_executed(bid.route.src, bid.first_nonce):
            await self.store.set_batch_state(bid, BatchState.EXECUTED, "executed on-chain")
            metrics.TRANSFER_LATENCY.observe(max(0.0, time.time() - stored.created_at))
            return SubmitOutcome.ALREADY_EXECUTED
        if stored.state == BatchState.SUBMITTED:
            if time.time() - stored.updated_at < self.cfg.receipt_timeout:
                return SubmitOutcome.NOT_READY
            log.warning("submission_not_landed", batch=str(bid), tx=stored.tx_hash)
        elif time.time() - stored.updated_at < self.rank(bid.first_nonce) * self.cfg.stagger_seconds:
            return SubmitOutcome.NOT_READY
        assert stored.signature is not None
        fn = self.chain.endpoint.functions.executeBatch(
            stored.batch.key_epoch,
            [t.as_abi_tuple() for t in stored.batch.transfers],
            g1_to_eip2537(stored.signature),
        )
        w3 = self.chain.w3
        try:
            gas = await fn.estimate_gas({"from": self.account.address})
        except ContractLogicError as exc:
            if await self.chain.is_executed(bid.route.src, bid.first_nonce):
                await self.store.set_batch_state(bid, BatchState.EXECUTED, "executed on-chain")
                return SubmitOutcome.ALREADY_EXECUTED
            await self.store.set_batch_state(bid, BatchState.FAILED, f"reverts: {exc}")
            log.error("batch_reverts", batch=str(bid), error=str(exc))
            return SubmitOutcome.DROP
        latest = await w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        priority = int(self.cfg.priority_fee_gwei * GWEI)
        cap = int(self.cfg.max_fee_gwei * GWEI)
        max_fee = min(2 * base_fee + priority, cap)
        if max_fee < base_fee:
            log.warning("fee_cap_below_base_fee", batch=str(bid), base_fee=base_fee, cap=cap)
            return SubmitOutcome.RETRY
        nonce = await w3.eth.get_transaction_count(self.account.address, "pending")
        params: TxParams = {
            "from": self.account.address,
            "nonce": nonce,
            "gas": int(gas * 1.2) + 10_000,
            "maxFeePerGas": Wei(max_fee),
            "maxPriorityFeePerGas": Wei(min(priority, max_fee)),
            "chainId": self.chain.chain_id,
        }
        tx = await fn.build_transaction(params)
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        tx_hash = "0x" + bytes(await w3.eth.send_raw_transaction(signed.raw_transaction)).hex()
        await self.store.set_batch_state(bid, BatchState.SUBMITTED, f"tx {tx_hash}", tx_hash=tx_hash)
        log.info("batch_submitted", batch=str(bid), tx=tx_hash, nonce=nonce)
        try:
            receipt = await w3.eth.wait_for_transaction_receipt(
                HexStr(tx_hash), timeout=self.cfg.receipt_timeout, poll_latency=0.2
            )
        except TimeExhausted:
            return SubmitOutcome.RETRY
        metrics.GAS_USED.labels(str(self.chain.chain_id)).inc(receipt["gasUsed"])
        metrics.FEE_PAID_WEI.labels(str(self.chain.chain_id)).inc(
            receipt["gasUsed"] * receipt["effectiveGasPrice"]
        )
        if receipt["status"] == 1:
            await self.store.set_batch_state(bid, BatchState.EXECUTED, f"executed by tx {tx_hash}")
            metrics.TRANSFER_LATENCY.observe(max(0.0, time.time() - stored.created_at))
            log.info("batch_executed", batch=str(bid), tx=tx_hash, gas=receipt["gasUsed"])
            return SubmitOutcome.EXECUTED
        if await self.chain.is_executed(bid.route.src, bid.first_nonce):
            await self.store.set_batch_state(bid, BatchState.EXECUTED, "executed by another relayer")
            return SubmitOutcome.ALREADY_EXECUTED
        log.warning("batch_tx_reverted", batch=str(bid), tx=tx_hash)
        await self.store.set_batch_state(bid, BatchState.AGGREGATED, f"tx {tx_hash} reverted")
        return SubmitOutcome.RETRY

    async def report_balance(self) -> None:
        balance = await self.chain.w3.eth.get_balance(self.account.address)
        metrics.ACCOUNT_BALANCE_WEI.labels(self.chain.cfg.name).set(balance)
