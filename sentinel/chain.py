"""The sentinel's own reads of one chain, through every configured RPC (web3, synchronous: one
process, one loop, nothing to overlap that matters at a sentinel's pace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from eth_utils.address import to_checksum_address
from web3 import HTTPProvider, Web3

from relayer.core.types import Transfer
from sentinel import abi
from sentinel.checks import NonceState, Record, RpcView, StatusView
from sentinel.config import ChainConfig

ZERO = bytes(32)
log = structlog.get_logger("sentinel")
CLAIM_TOPICS = (abi.TRANSFER_EXECUTED, abi.TRANSFER_QUEUED, abi.TRANSFER_HELD)


class ChainReader:
    def __init__(self, cfg: ChainConfig) -> None:
        self.cfg = cfg
        self.w3s = [Web3(HTTPProvider(url, request_kwargs={"timeout": cfg.rpc_timeout})) for url in cfg.rpcs]

    def endpoint(self, w3: Web3) -> Any:
        return w3.eth.contract(address=to_checksum_address(self.cfg.endpoint), abi=abi.ENDPOINT_ABI)

    def final_block(self, w3: Web3) -> int:
        """This RPC's final head under the chain's rule: the `finalized` tag, or `confirmations`
        blocks below its latest."""
        if self.cfg.finality == "finalized":
            return int(w3.eth.get_block("finalized")["number"])
        return max(0, int(w3.eth.block_number) - self.cfg.confirmations)

    def final_heads(self) -> list[int | None]:
        """Every RPC's final head (None: it did not answer)."""
        out: list[int | None] = []
        for w3 in self.w3s:
            try:
                out.append(self.final_block(w3))
            except Exception:
                out.append(None)
        return out

    def primary(self) -> tuple[Web3, int]:
        """The first RPC that answers, with its final head (actions are sent through it)."""
        last: Exception | None = None
        for w3 in self.w3s:
            try:
                return w3, self.final_block(w3)
            except Exception as exc:
                last = exc
        raise ConnectionError(f"{self.cfg.name}: no RPC answered ({last})")

    def logs(self, w3: Web3, from_block: int, to_block: int) -> list[Any]:
        return list(
            w3.eth.get_logs(
                {
                    "address": to_checksum_address(self.cfg.endpoint),
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "topics": [[Web3.to_hex(t) for t in abi.ALL_TOPICS]],
                }
            )
        )

    def logs_everywhere(self, from_block: int, to_block: int) -> list[Any]:
        """The endpoint's logs in the range from every RPC, one per (transaction, log index): an RPC
        that leaves a log out cannot hide it; one that invents a log only makes a record the other
        RPCs do not confirm (`checks.agree`). Raises if an RPC fails (the range is scanned again)."""
        seen: dict[tuple[str, int], Any] = {}
        for w3 in self.w3s:
            for lg in self.logs(w3, from_block, to_block):
                seen.setdefault((Web3.to_hex(lg["transactionHash"]), int(lg["logIndex"])), lg)
        return sorted(seen.values(), key=lambda lg: (int(lg["blockNumber"]), int(lg["logIndex"])))

    def rebuild(self, w3: Web3, tx_hash: str, log_index: int) -> Transfer | Record | None:
        """What this RPC shows at (`tx_hash`, `log_index`): the record decoded from its own receipt
        (the log must be the endpoint's, in a block at or below its final head) and its own copy of
        the transaction (calldata, or the call tracer's frames); None if it shows no such final log."""
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        if int(receipt["blockNumber"]) > self.final_block(w3) or int(receipt.get("status", 1)) != 1:
            return None
        endpoint = to_checksum_address(self.cfg.endpoint)
        ours = [lg for lg in receipt["logs"] if to_checksum_address(lg["address"]) == endpoint]
        lg = next((lg for lg in ours if int(lg["logIndex"]) == log_index), None)
        if lg is None:
            return None
        topics = [bytes(t) for t in lg["topics"]]
        claims: dict[int, Transfer] = {}
        if len(topics) > 1 and topics[0] in CLAIM_TOPICS:
            claims = self.claims(w3, tx_hash, abi.word_int(topics[1]))
        return abi.decode_log(lg, self.cfg.chain_id, ours, claims)

    def claims(self, w3: Web3, tx_hash: str, src_chain_id: int) -> dict[int, Transfer]:
        """The transfers of the route a transaction asks the endpoint to execute or release: from its
        calldata when sent to the endpoint, else from the call tracer (`debug_traceTransaction`,
        where the node offers it: anvil, geth, erigon, reth); {} when neither shows any."""
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        endpoint = to_checksum_address(self.cfg.endpoint)
        if tx["to"] and to_checksum_address(tx["to"]) == endpoint:
            return abi.claimed_transfers(bytes(tx["input"]), src_chain_id, self.cfg.chain_id)
        try:
            reply = w3.provider.make_request(
                "debug_traceTransaction",  # type: ignore[arg-type]
                [tx_hash, {"tracer": "callTracer"}],
            )
        except Exception:
            return {}
        return abi.claims_from_trace(reply.get("result"), endpoint, src_chain_id, self.cfg.chain_id)

    def rebuild_everywhere(self, tx_hash: str, log_index: int) -> list[Transfer | Record | None]:
        out: list[Transfer | Record | None] = []
        for w3 in self.w3s:
            try:
                out.append(self.rebuild(w3, tx_hash, log_index))
            except Exception:
                out.append(None)
        return out

    def initiated_everywhere(self, dst_chain_id: int, nonce: int) -> list[Transfer]:
        """The `TransferInitiated` of (`dst_chain_id`, `nonce`) as each RPC's logs give it (up to its
        final head): candidates only, `checks.pick_source` keeps one with the agreed leaf."""
        out: list[Transfer] = []
        for w3 in self.w3s:
            try:
                found = w3.eth.get_logs(
                    {
                        "address": to_checksum_address(self.cfg.endpoint),
                        "fromBlock": self.cfg.start_block,
                        "toBlock": self.final_block(w3),
                        "topics": [
                            Web3.to_hex(abi.TRANSFER_INITIATED),
                            Web3.to_hex(dst_chain_id.to_bytes(32, "big")),
                            Web3.to_hex(nonce.to_bytes(32, "big")),
                        ],
                    }
                )
                out.extend(abi.initiated(lg, self.cfg.chain_id) for lg in found)
            except Exception as exc:  # a candidate less: the others (or the store's) may have it
                log.warning("sentinel_rpc_failed", chain=self.cfg.name, error=f"{type(exc).__name__}: {exc}")
        return out

    def status_views(self, src_chain_id: int, nonce: int) -> list[StatusView]:
        """Every RPC's `transferStatus(src, nonce)` at its final and latest head."""
        views = []
        for w3, url in zip(self.w3s, self.cfg.rpcs, strict=True):
            try:
                final = self.final_block(w3)
                fn = self.endpoint(w3).functions.transferStatus(src_chain_id, nonce)
                views.append(
                    StatusView(
                        url,
                        final,
                        int(fn.call(block_identifier=final)),
                        int(fn.call(block_identifier="latest")),
                    )
                )
            except Exception as exc:
                views.append(StatusView(url, error=f"{type(exc).__name__}: {exc}"))
        return views

    def cursed_everywhere(self, remote: int) -> list[bool | None]:
        """Every RPC's `isCursed(remote)` at its latest head (None: it did not answer)."""
        out: list[bool | None] = []
        for w3 in self.w3s:
            try:
                out.append(bool(self.endpoint(w3).functions.isCursed(remote).call()))
            except Exception:
                out.append(None)
        return out

    def nonce_views(self, dst_chain_id: int, nonces: Sequence[int]) -> list[RpcView]:
        """Every RPC's state of `nonces` on the route toward `dst_chain_id` at its final and latest head."""
        views = []
        for w3, url in zip(self.w3s, self.cfg.rpcs, strict=True):
            try:
                final = self.final_block(w3)
                latest = int(w3.eth.block_number)
                views.append(
                    RpcView(
                        url,
                        final,
                        self._states(w3, dst_chain_id, nonces, final),
                        self._states(w3, dst_chain_id, nonces, latest),
                    )
                )
            except Exception as exc:
                views.append(RpcView(url, error=f"{type(exc).__name__}: {exc}"))
        return views

    def _states(self, w3: Web3, dst: int, nonces: Sequence[int], block: int) -> tuple[NonceState, ...]:
        ep = self.endpoint(w3)
        next_nonce = int(ep.functions.nextNonce(dst).call(block_identifier=block))
        out = []
        for n in nonces:
            leaf = (
                bytes(ep.functions.initiatedLeaf(dst, n).call(block_identifier=block))
                if n < next_nonce
                else ZERO
            )
            out.append(NonceState(n < next_nonce, leaf))
        return tuple(out)

    def balances(self, token: str, holder: str | None) -> list[int | None]:
        """Per RPC at its final head: `token.balanceOf(holder)`, or its `totalSupply()` (holder None)."""
        out: list[int | None] = []
        for w3 in self.w3s:
            try:
                c = w3.eth.contract(address=to_checksum_address(token), abi=abi.ERC20_ABI)
                block = self.final_block(w3)
                fn = c.functions.totalSupply() if holder is None else c.functions.balanceOf(holder)
                out.append(int(fn.call(block_identifier=block)))
            except Exception:
                out.append(None)
        return out
