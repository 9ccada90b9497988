"""Reading and writing one chain through its JSON-RPC endpoint (web3.py, async)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract

from relayer.abi import ENDPOINT_ABI
from relayer.batching import Located
from relayer.config import ChainConfig
from relayer.types import ChainId, Nonce, Transfer

log = structlog.get_logger(__name__)

TRANSFER_INITIATED_TOPIC = (
    "0x" + keccak(text="TransferInitiated(uint256,uint64,address,address,address,address,uint256)").hex()
)


@dataclass(frozen=True, slots=True)
class ObservedTransfer:
    located: Located
    block_hash: str
    tx_hash: str
    log_index: int


class MalformedEvent(Exception):
    """A log that claims to be a TransferInitiated but does not hold a valid transfer."""


class ChainClient:
    """One chain: its head, its transfer events, its endpoint contract."""

    def __init__(self, cfg: ChainConfig, w3: AsyncWeb3[Any]) -> None:
        self.cfg = cfg
        self.w3 = w3
        self.endpoint: AsyncContract = w3.eth.contract(
            address=to_checksum_address(cfg.endpoint), abi=ENDPOINT_ABI
        )
        self._topic = TRANSFER_INITIATED_TOPIC

    @classmethod
    @asynccontextmanager
    async def connect(cls, cfg: ChainConfig, rpc_timeout: float = 10.0) -> AsyncIterator[ChainClient]:
        provider = AsyncHTTPProvider(cfg.rpc, request_kwargs={"timeout": rpc_timeout})
        w3 = AsyncWeb3(provider)
        try:
            yield cls(cfg, w3)
        finally:
            await provider.disconnect()

    @property
    def chain_id(self) -> ChainId:
        return self.cfg.chain_id

    async def check_chain_id(self) -> None:
        actual = await self.w3.eth.chain_id
        if actual != self.cfg.chain_id:
            raise RuntimeError(
                f"chains.{self.cfg.name}: {self.cfg.rpc} serves chain id {actual}, configured "
                f"{self.cfg.chain_id}; fix the rpc or the chain_id"
            )

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    async def final_head(self) -> int:
        """The highest block this node treats as final (head minus the finality depth)."""
        return await self.head() - self.cfg.finality_depth

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """TransferInitiated events of the endpoint in [from_block, to_block], in log order."""
        logs = await self.w3.eth.get_logs(
            {
                "address": self.endpoint.address,
                "fromBlock": from_block,
                "toBlock": to_block,
                "topics": [self._topic],
            }
        )
        out: list[ObservedTransfer] = []
        for entry in logs:
            out.append(self.decode_transfer(entry))
        return out

    def decode_transfer(self, entry: Any) -> ObservedTransfer:
        try:
            ev = self.endpoint.events.TransferInitiated().process_log(entry)
            args = ev["args"]
            transfer = Transfer(
                src_chain_id=self.chain_id,
                dst_chain_id=ChainId(int(args["dstChainId"])),
                nonce=Nonce(int(args["nonce"])),
                src_token=to_checksum_address(args["srcToken"]),
                dst_token=to_checksum_address(args["dstToken"]),
                sender=to_checksum_address(args["sender"]),
                recipient=to_checksum_address(args["recipient"]),
                amount=int(args["amount"]),
            )
        except Exception as exc:
            raise MalformedEvent(
                f"chain {self.cfg.name}: log {entry.get('transactionHash', b'')!r}#"
                f"{entry.get('logIndex')} is not a valid TransferInitiated: {exc}"
            ) from exc
        return ObservedTransfer(
            located=Located(transfer, int(entry["blockNumber"])),
            block_hash=_hex(entry["blockHash"]),
            tx_hash=_hex(entry["transactionHash"]),
            log_index=int(entry["logIndex"]),
        )

    async def is_executed(self, src: ChainId, nonce: int) -> bool:
        return bool(await self.endpoint.functions.isExecuted(src, nonce).call())

    async def key_epoch(self) -> int:
        return int(await self.endpoint.functions.currentKeyEpoch().call())


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
