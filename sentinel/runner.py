"""The sentinel's loop: scan both chains up to their final heads, check every destination record
against its source, gather evidence from every RPC for a suspicion, curse and veto on evidence.

A curse or veto is first written to the store as wanted (tx_hash ''), then sent; one that did not
land (the RPC failed, the endpoint refused it) is sent again next round.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from relayer.core.types import Route, Transfer
from sentinel import abi, metrics
from sentinel.chain import ChainReader
from sentinel.checks import (
    BatchExecuted,
    Executed,
    Kind,
    Queued,
    Record,
    SupplyRead,
    Verdict,
    check_record,
    judge,
    supply_verdict,
)
from sentinel.config import PairConfig, SentinelConfig
from sentinel.store import Store, Stored, transfer_from, transfer_json

log = structlog.get_logger("sentinel")
SUPPLY_HISTORY = 16


class Sentinel:
    def __init__(self, cfg: SentinelConfig, store: Store, account: LocalAccount | None) -> None:
        self.cfg = cfg
        self.store = store
        self.account = account
        self.readers = {c.chain_id: ChainReader(c) for c in cfg.chains.values()}
        self.supply: dict[PairConfig, collections.deque[list[SupplyRead]]] = collections.defaultdict(
            lambda: collections.deque(maxlen=SUPPLY_HISTORY)
        )
        self.supply_reported: set[PairConfig] = set()

    # ---- one round ------------------------------------------------------------------------------

    def round(self) -> None:
        for reader in self.readers.values():
            self.scan(reader)
        for stored in self.store.pending():
            self.check(stored)
        for pair in self.cfg.pairs:
            self.check_supply(pair)
        self.send_wanted()
        metrics.LAST_CHECK.set(time.time())

    def scan(self, reader: ChainReader) -> None:
        cfg = reader.cfg
        w3, final = reader.primary()
        cursor = self.store.cursor(cfg.chain_id)
        start = cfg.start_block if cursor is None else cursor + 1
        metrics.LAG_BLOCKS.labels(cfg.name).set(max(0, final - start + 1))
        calldata: dict[str, dict[int, Transfer]] = {}
        while start <= final:
            end = min(final, start + cfg.max_block_range - 1)
            transfers: list[tuple[Transfer, int]] = []
            records: list[tuple[str, int, int, Record]] = []
            for lg in reader.logs(w3, start, end):
                decoded = self._decode(reader, w3, lg, calldata)
                if isinstance(decoded, Transfer):
                    transfers.append((decoded, int(lg["blockNumber"])))
                elif decoded is not None:
                    records.append(
                        (
                            Web3.to_hex(lg["transactionHash"]),
                            int(lg["logIndex"]),
                            int(lg["blockNumber"]),
                            decoded,
                        )
                    )
            self.store.record_scan(cfg.chain_id, end, transfers, records)
            start = end + 1
            metrics.LAG_BLOCKS.labels(cfg.name).set(max(0, final - end))

    def _decode(
        self, reader: ChainReader, w3: Web3, lg: Any, calldata: dict[str, dict[int, Transfer]]
    ) -> Transfer | Record | None:
        topics = [bytes(t) for t in lg["topics"]]
        data = bytes(lg["data"])
        here = reader.cfg.chain_id
        if topics[0] == abi.TRANSFER_INITIATED:
            return abi.initiated(lg, here)
        if topics[0] == abi.TRANSFER_FAILED:
            return None  # nothing delivered; the refund pays only the source's own leaf
        src = abi.word_int(topics[1])

        def claimed(nonce: int) -> Transfer | None:
            tx = Web3.to_hex(lg["transactionHash"])
            if tx not in calldata:
                to, data_in = reader.calldata(w3, tx)
                ok = to and to_checksum_address(to) == to_checksum_address(reader.cfg.endpoint)
                calldata[tx] = abi.claimed_transfers(data_in, src, here) if ok else {}
            return calldata[tx].get(nonce)

        if topics[0] == abi.BATCH_EXECUTED:
            first, last, root, epoch = (abi.word_int(data[0:32]), abi.word_int(data[32:64]), data[64:96],
                                        abi.word_int(data[96:128]))  # fmt: skip
            return BatchExecuted(src, here, first, last, root, epoch)
        if topics[0] == abi.TRANSFER_EXECUTED:
            nonce = abi.word_int(topics[2])
            return Executed(
                src, here, nonce, abi.word_address(data[0:32]), abi.word_int(data[32:64]), claimed(nonce)
            )
        if topics[0] == abi.TRANSFER_QUEUED:
            nonce = abi.word_int(topics[2])
            return Queued(src, here, nonce, data[0:32], abi.word_int(data[32:64]), claimed=claimed(nonce))
        if topics[0] == abi.TRANSFER_HELD:
            # SENTINEL.md: TransferHeld(uint256 indexed srcChainId, uint64 nonce, bytes32 leaf,
            # uint256 amount, uint64 releaseAfter); a nonce indexed as well is read from the topics
            words = [data[i : i + 32] for i in range(0, len(data), 32)]
            if len(topics) > 2:
                words.insert(0, topics[2])
            nonce, leaf, amount, release = (
                abi.word_int(words[0]),
                words[1],
                abi.word_int(words[2]),
                abi.word_int(words[3]),
            )
            return Queued(
                src, here, nonce, leaf, amount, held=True, release_after=release, claimed=claimed(nonce)
            )
        return None

    # ---- checks ---------------------------------------------------------------------------------

    def check(self, stored: Stored) -> None:
        r = stored.record
        route = str(Route(r.src_chain_id, r.dst_chain_id))  # type: ignore[arg-type]
        nonces = list(r.nonces) if isinstance(r, BatchExecuted) else [r.nonce]
        src_reader = self.readers.get(r.src_chain_id)
        if src_reader is None:
            self.store.settle(stored.id, "mismatch")
            metrics.MISMATCHES.labels(route, Kind.UNBACKED).inc()
            log.error("sentinel_unknown_source_chain", route=route, tx=stored.tx_hash)
            return
        local = [self.store.source(r.src_chain_id, r.dst_chain_id, n) for n in nonces]
        finding = check_record(r, local)
        if finding is None:
            self.store.settle(stored.id, "ok")
            metrics.TRANSFERS_CHECKED.labels(route).inc(
                len(nonces) if not isinstance(r, BatchExecuted) else 0
            )
            return
        dst_reader = self.readers[r.dst_chain_id]
        evidence = judge(
            r,
            local,
            src_reader.nonce_views(r.dst_chain_id, nonces),
            len(src_reader.cfg.rpcs),
            dst_reader.log_final_everywhere(stored.tx_hash, stored.log_index),
            self.store.cursor(r.src_chain_id),
        )
        if evidence.verdict in (Verdict.BACKED, Verdict.PENDING):
            log.info(
                "sentinel_waiting_for_source", route=route, detail=finding.detail, reason=evidence.reason
            )
            return
        if evidence.verdict is Verdict.INSUFFICIENT:
            metrics.MISMATCHES.labels(route, Kind.INSUFFICIENT).inc()
            log.warning(
                "sentinel_evidence_insufficient",
                route=route,
                suspicion=finding.detail,
                reason=evidence.reason,
            )
            return
        metrics.MISMATCHES.labels(route, finding.kind).inc()
        self.store.add_finding(
            stored.id, route, finding.kind, finding.detail, evidence.verdict, evidence.reason
        )
        self.store.settle(stored.id, "mismatch")
        log.error("sentinel_mismatch", route=route, kind=finding.kind, detail=finding.detail,
                  evidence=evidence.reason,
                  tx=stored.tx_hash)  # fmt: skip
        new = self.want_curse(r.src_chain_id, r.dst_chain_id)
        if isinstance(r, Queued) and r.held and r.claimed is not None:
            target = {**transfer_json(r.claimed), "release_after": r.release_after}
            new = self.want(r.dst_chain_id, "veto", json.dumps(target, sort_keys=True)) or new
        if new:
            # At once, not at the end of the round: every record judged costs reads on every RPC,
            # so a committee forging many transfers at once would otherwise buy time (and mint)
            # while the sentinel judges its whole backlog (docs/BENCHMARKS.md, "Maximum loss").
            self.send_wanted()

    def check_supply(self, pair: PairConfig) -> None:
        home = self.cfg.chains[pair.home_chain]
        wrapped = self.cfg.chains[pair.wrapped_chain]
        supplies = self.readers[wrapped.chain_id].balances(pair.wrapped_token, None)
        locked = self.readers[home.chain_id].balances(pair.home_token, home.endpoint)
        reads = [SupplyRead(lk, sp) for lk in locked for sp in supplies]
        history = self.supply[pair]
        history.append(reads)
        evidence = supply_verdict(list(history), self.cfg.supply_confirmations)
        route = f"{home.chain_id}->{wrapped.chain_id}"
        if evidence.verdict is Verdict.UNBACKED:
            metrics.MISMATCHES.labels(route, Kind.SUPPLY).inc()
            if pair not in self.supply_reported:  # once per process: the metric counts every check
                self.supply_reported.add(pair)
                detail = f"{pair.wrapped_chain}:{pair.wrapped_token} over {pair.home_chain}:{pair.home_token}"
                self.store.add_finding(None, route, Kind.SUPPLY, detail, evidence.verdict, evidence.reason)
                log.error("sentinel_supply_excess", pair=detail, evidence=evidence.reason)
            self.want_curse(home.chain_id, wrapped.chain_id)
        elif evidence.verdict is Verdict.INSUFFICIENT and "excess" in evidence.reason:
            metrics.MISMATCHES.labels(route, Kind.SUPPLY_INSUFFICIENT).inc()
            log.warning("sentinel_evidence_insufficient", pair=str(pair), reason=evidence.reason)

    # ---- actions --------------------------------------------------------------------------------

    def want_curse(self, src: int, dst: int) -> bool:
        """Curse the route on both ends: `curse(src)` on the destination, `curse(dst)` on the
        source (the destination's first: that is where the forged transfers land). True if
        either was not wanted before."""
        on_destination = self.want(dst, "curse", str(src))
        return self.want(src, "curse", str(dst)) or on_destination

    def want(self, chain_id: int, action: str, target: str) -> bool:
        """Records the action as wanted (sent by `send_wanted`); False if it was wanted already."""
        if self.store.action_sent(chain_id, action, target):
            return False
        self.store.record_action(chain_id, action, target, "")
        return True

    def send_wanted(self) -> None:
        for chain_id, action, target, tx_hash in self.store.actions():
            if tx_hash or not self.cfg.act or self.account is None:
                continue
            reader = self.readers[chain_id]
            try:
                sent = self._send_action(reader, action, target)
            except Exception as exc:
                log.error("sentinel_action_failed", chain=reader.cfg.name, action=action, target=target[:80],
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                continue
            self.store.record_action(chain_id, action, target, sent)
            counter = metrics.CURSES_SENT if action == "curse" else metrics.VETOES_SENT
            if sent.startswith("0x"):  # not "already-cursed" or "window-closed"
                counter.labels(reader.cfg.name).inc()
            log.warning(
                "sentinel_action_sent", chain=reader.cfg.name, action=action, target=target[:80], tx=sent
            )

    def _send_action(self, reader: ChainReader, action: str, target: str) -> str:
        w3, _ = reader.primary()
        ep = reader.endpoint(w3)
        if action == "curse":
            if self._already_cursed(ep, int(target)):
                return "already-cursed"  # by other sentinels' votes: nothing to add
            fn = ep.functions.curse(int(target))
        else:
            d = json.loads(target)
            t = transfer_from(d)
            now = int(w3.eth.get_block("latest")["timestamp"])
            # After the window the endpoint takes a veto only while the route is cursed (the curse
            # is sent first, so it normally is): a held forgery left alone would be released the
            # moment an UNCURSE lifts the curse.
            if now >= int(d["release_after"]) and not self._already_cursed(ep, t.src_chain_id):
                log.error(
                    "sentinel_veto_window_closed", nonce=t.nonce, release_after=d["release_after"], now=now
                )
                return "window-closed"
            fn = ep.functions.veto(t.as_abi_tuple())
        return self.transact(w3, reader.cfg.chain_id, fn)

    @staticmethod
    def _already_cursed(endpoint: Any, remote: int) -> bool:
        try:
            return bool(endpoint.functions.isCursed(remote).call())
        except Exception:  # an endpoint without curses: the curse itself will say so
            return False

    def transact(self, w3: Web3, chain_id: int, fn: Any) -> str:
        """Sign locally and send with EIP-1559 fees; wait for the receipt; raise unless it succeeded."""
        assert self.account is not None
        tip = Web3.to_wei(self.cfg.priority_fee_gwei, "gwei")
        cap = Web3.to_wei(self.cfg.max_fee_gwei, "gwei")
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tx = fn.build_transaction(
            {
                "from": self.account.address,
                "chainId": chain_id,
                "nonce": w3.eth.get_transaction_count(self.account.address, "pending"),
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": min(cap, 2 * base + tip),
            }
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {Web3.to_hex(tx_hash)} reverted")
        return Web3.to_hex(tx_hash)


def run(sentinel: Sentinel, stop: threading.Event) -> None:
    """Rounds every `poll_interval` seconds until `stop` is set (SIGTERM); a failed round is logged
    and retried: the sentinel never exits on an RPC error."""
    metrics.UP.set(1)
    try:
        while not stop.is_set():
            try:
                sentinel.round()
            except Exception as exc:
                log.error("sentinel_round_failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(sentinel.cfg.poll_interval)
    finally:
        metrics.UP.set(0)
