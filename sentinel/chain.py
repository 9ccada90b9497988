"""The sentinel's own reads of one chain, through every configured RPC (web3, synchronous: one
process, one loop, nothing to overlap that matters at a sentinel's pace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import HTTPProvider, Web3

from sentinel import abi
from sentinel.checks import NonceState, RpcView
from sentinel.config import ChainConfig

ZERO = bytes(32)


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

    def primary(self) -> tuple[Web3, int]:
        """The first RPC that answers, with its final head (the scan reads its logs; evidence reads all)."""
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

    def log_final_everywhere(self, tx_hash: str, log_index: int) -> list[bool]:
        """Per RPC: the receipt of `tx_hash` (an RPC returns one only for a transaction of its canonical
        chain) holds the log `log_index`, in a block at or below that RPC's final head."""
        out = []
        for w3 in self.w3s:
            try:
                receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                final = self.final_block(w3)
                ok = int(receipt["blockNumber"]) <= final
                ok = ok and any(int(lg["logIndex"]) == log_index for lg in receipt["logs"])
                out.append(bool(ok))
            except Exception:
                out.append(False)
        return out

    def calldata(self, w3: Web3, tx_hash: str) -> tuple[str, bytes]:
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        return str(tx["to"] or ""), bytes(tx["input"])

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
