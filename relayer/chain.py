"""Reading and writing one chain through its JSON-RPC endpoint (web3.py, async)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError
from web3.types import BlockIdentifier, RPCEndpoint

from relayer import metrics
from relayer.abi import ENDPOINT_ABI
from relayer.aio import within
from relayer.batching import Located
from relayer.config import ChainConfig
from relayer.store import ObservedFailure
from relayer.types import ChainId, Nonce, Route, Transfer

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

TRANSFER_INITIATED_TOPIC = (
    "0x" + keccak(text="TransferInitiated(uint256,uint64,address,address,address,address,uint256)").hex()
)

TRANSFER_FAILED_TOPIC = "0x" + keccak(text="TransferFailed(uint256,uint64,uint8)").hex()
TRANSFER_STATUS_FAILED = 3  # QiaoEndpoint.TransferStatus { None, Delivered, Queued, Failed }
TRANSFER_STATUS_DELIVERED = 1
MAX_FAILURE_REASON = 255

# the views of QiaoEndpoint that identify one (relayer.preflight checks them before a node runs)
IDENTITY_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "VERSION",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "string"}],
    },
    {
        "type": "function",
        "name": "currentKeyEpoch",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint64"}],
    },
    {
        "type": "function",
        "name": "groupKey",
        "stateMutability": "view",
        "inputs": [{"name": "keyEpoch", "type": "uint64"}],
        "outputs": [{"name": "key", "type": "bytes"}],
    },
]
ENDPOINT_VERSION = "QIAO-V1"


@dataclass(frozen=True, slots=True)
class ObservedTransfer:
    located: Located
    block_hash: str
    tx_hash: str
    log_index: int


class MalformedEvent(Exception):
    """A log that claims to be a TransferInitiated but does not hold a valid transfer."""


class QuorumMismatch(Exception):
    """RPC endpoints disagree about the logs of a block range; nothing is stored until they agree."""


class RpcReplyError(Exception):
    """A JSON-RPC reply carrying an error, or no result of the expected shape."""


class RpcUnavailable(Exception):
    """No endpoint of a chain answered."""


@dataclass
class _Endpoint:
    url: str
    w3: AsyncWeb3[Any]
    contract: AsyncContract
    last_head: int = -1
    head_since: float = field(default_factory=time.monotonic)
    failures: int = 0


class ChainClient:
    """One chain, through one or more RPC endpoints.

    Every call has a timeout and falls back to the next endpoint on failure; an endpoint that is
    connected but whose head stops moving (for `stall_after` seconds while another endpoint's head
    is higher) is treated as stalled and skipped. With `quorum > 1` the transfer logs a member signs
    over are read from that many endpoints and must be identical.
    """

    def __init__(self, cfg: ChainConfig, w3: AsyncWeb3[Any] | list[AsyncWeb3[Any]]) -> None:
        self.cfg = cfg
        address = to_checksum_address(cfg.endpoint)
        w3s = w3 if isinstance(w3, list) else [w3]
        urls = list(cfg.endpoints) if len(cfg.endpoints) == len(w3s) else [cfg.rpc] * len(w3s)
        self._endpoints = [
            _Endpoint(url, one, one.eth.contract(address=address, abi=ENDPOINT_ABI))
            for url, one in zip(urls, w3s, strict=True)
        ]
        self._active = 0
        self._topic = TRANSFER_INITIATED_TOPIC

    @classmethod
    @asynccontextmanager
    async def connect(cls, cfg: ChainConfig) -> AsyncIterator[ChainClient]:
        providers = [
            AsyncHTTPProvider(
                url, request_kwargs={"timeout": cfg.rpc_timeout}, exception_retry_configuration=None
            )
            for url in cfg.endpoints
        ]
        try:
            yield cls(cfg, [AsyncWeb3(p) for p in providers])
        finally:
            for provider in providers:
                with contextlib.suppress(Exception):
                    await provider.disconnect()

    # the active endpoint, for the submitter's transaction calls
    @property
    def w3(self) -> AsyncWeb3[Any]:
        return self._endpoints[self._active].w3

    @property
    def endpoint(self) -> AsyncContract:
        return self._endpoints[self._active].contract

    @property
    def active_url(self) -> str:
        return self._endpoints[self._active].url

    @property
    def chain_id(self) -> ChainId:
        return self.cfg.chain_id

    async def call(self, fn: Callable[[_Endpoint], Awaitable[_T]], what: str) -> _T:
        """Run `fn` on the active endpoint, falling back through the others in order."""
        errors: list[str] = []
        n = len(self._endpoints)
        for offset in range(n):
            index = (self._active + offset) % n
            ep = self._endpoints[index]
            try:
                result = await within(self.cfg.rpc_timeout, fn(ep))
            except MalformedEvent:
                raise  # the chain's data, not the endpoint's health: the watcher halts the route
            except (ContractLogicError, ValueError) as exc:
                if isinstance(exc, ContractLogicError) or "execution reverted" in str(exc):
                    raise  # deterministic: every endpoint would say the same
                errors.append(f"{ep.url}: {exc!r}")
            except Exception as exc:
                errors.append(f"{ep.url}: {exc!r}")
            else:
                if index != self._active:
                    log.warning("rpc_fallback", chain=self.cfg.name, to=ep.url, after=errors)
                    self._active = index
                    metrics.RPC_FALLBACKS.labels(self.cfg.name).inc()
                return result
            ep.failures += 1
            metrics.RPC_ERRORS.labels(self.cfg.name).inc()
        raise RpcUnavailable(f"chain {self.cfg.name}: {what} failed on every endpoint: {'; '.join(errors)}")

    async def chain_ids(self) -> list[tuple[str, int | None, str]]:
        """Each endpoint's URL with the chain id it serves, or None and why it did not answer
        (relayer.preflight judges them, for `run` and `config check --online` alike)."""
        out: list[tuple[str, int | None, str]] = []
        for ep in self._endpoints:
            try:
                out.append((ep.url, int(await within(self.cfg.rpc_timeout, ep.w3.eth.chain_id)), ""))
            except Exception as exc:
                log.warning("rpc_unreachable_at_start", chain=self.cfg.name, url=ep.url, error=repr(exc))
                out.append((ep.url, None, type(exc).__name__ + (f": {exc}" if str(exc) else "")))
        return out

    async def code(self) -> bytes:
        """The runtime code at the endpoint address (empty: no contract there)."""

        async def get(ep: _Endpoint) -> bytes:
            return bytes(await ep.w3.eth.get_code(ep.contract.address))

        return await self.call(get, "eth_getCode")

    async def identity_call(self, fn: str, *args: Any) -> Any:
        """A view of IDENTITY_ABI (VERSION, currentKeyEpoch, groupKey) on the endpoint."""

        async def get(ep: _Endpoint) -> Any:
            contract = ep.w3.eth.contract(address=ep.contract.address, abi=IDENTITY_ABI)
            return await contract.functions[fn](*args).call()

        return await self.call(get, fn)

    async def head(self) -> int:
        """The head, after checking the active endpoint is not stalled behind another one."""
        head = await self.call(self._head_of, "eth_blockNumber")
        ep = self._endpoints[self._active]
        if len(self._endpoints) > 1 and time.monotonic() - ep.head_since > self.cfg.stall_after:
            await self._leave_stalled_endpoint(head)
            head = await self.call(self._head_of, "eth_blockNumber")
        return head

    @staticmethod
    async def _head_of(ep: _Endpoint) -> int:
        head = int(await ep.w3.eth.block_number)
        if head != ep.last_head:
            ep.last_head, ep.head_since = head, time.monotonic()
        return head

    async def _leave_stalled_endpoint(self, stalled_head: int) -> None:
        for index, ep in enumerate(self._endpoints):
            if index == self._active:
                continue
            try:
                other = await within(self.cfg.rpc_timeout, self._head_of(ep))
            except Exception:  # noqa: S112 - an unreachable alternative is simply not chosen
                continue
            if other > stalled_head:
                log.warning(
                    "rpc_stalled",
                    chain=self.cfg.name,
                    stalled=self._endpoints[self._active].url,
                    head=stalled_head,
                    to=ep.url,
                    their_head=other,
                )
                metrics.RPC_STALLS.labels(self.cfg.name).inc()
                self._active = index
                return

    async def final_head(self) -> int:
        """The highest block this node treats as final, by the chain's finality rule."""
        if self.cfg.finality == "finalized":

            async def finalized(ep: _Endpoint) -> int:
                block = await ep.w3.eth.get_block("finalized")
                return int(block["number"])

            return await self.call(finalized, "get_block(finalized)")
        return await self.head() - self.cfg.finality_depth

    async def block_hash(self, number: int) -> str:
        async def get(ep: _Endpoint) -> str:
            block = await ep.w3.eth.get_block(number)
            return _hex(block["hash"])

        return await self.call(get, f"get_block({number})")

    async def transfers(self, from_block: int, to_block: int) -> list[ObservedTransfer]:
        """TransferInitiated events of the endpoint in [from_block, to_block], in log order.

        With `quorum > 1`, as many endpoints must return the same events, or QuorumMismatch."""

        return await self._events(from_block, to_block, self._topic, self.decode_transfer)

    async def failures(self, from_block: int, to_block: int) -> list[ObservedFailure]:
        """TransferFailed events of the endpoint (this chain as destination) in [from_block,
        to_block], in log order; read with the same quorum rule as transfers."""
        return await self._events(from_block, to_block, TRANSFER_FAILED_TOPIC, self.decode_failure)

    async def _events(
        self, from_block: int, to_block: int, topic: str, decode: Callable[[Any], _T]
    ) -> list[_T]:
        def params(ep: _Endpoint) -> Any:
            return {
                "address": ep.contract.address,
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
                "topics": [topic],
            }

        async def fetch(ep: _Endpoint) -> list[_T]:
            # the raw answer, decoded here: web3's log formatters (an AttributeDict and HexBytes
            # per field) cost more than the decoding itself on a catch-up of thousands of logs
            reply = await ep.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params(ep)])
            if "error" in reply or not isinstance(reply.get("result"), list):
                raise RpcReplyError(f"eth_getLogs: {reply.get('error', reply)!r}")
            return [decode(e) for e in reply["result"]]

        first = await self.call(fetch, f"eth_getLogs({from_block}..{to_block})")
        if self.cfg.quorum <= 1:
            return first
        agreeing, answers = 1, [self.active_url]
        for index, ep in enumerate(self._endpoints):
            if index == self._active or agreeing >= self.cfg.quorum:
                continue
            try:
                other = await within(self.cfg.rpc_timeout, fetch(ep))
            except Exception as exc:
                log.warning("quorum_read_failed", chain=self.cfg.name, url=ep.url, error=repr(exc))
                continue
            if other != first:
                metrics.QUORUM_MISMATCHES.labels(self.cfg.name).inc()
                raise QuorumMismatch(
                    f"chain {self.cfg.name}: {ep.url} and {self.active_url} disagree on the logs of "
                    f"blocks {from_block}..{to_block}"
                )
            agreeing += 1
            answers.append(ep.url)
        if agreeing < self.cfg.quorum:
            raise QuorumMismatch(
                f"chain {self.cfg.name}: only {agreeing} of the {self.cfg.quorum} endpoints needed "
                f"answered for blocks {from_block}..{to_block} ({answers})"
            )
        return first

    def decode_transfer(self, entry: Any) -> ObservedTransfer:
        """A TransferInitiated(dstChainId, nonce, sender indexed; srcToken, dstToken, recipient,
        amount) of this chain's endpoint, decoded by hand from the raw log (web3's log formatting
        was the member's hot spot when catching up on a backlog: docs/BENCHMARKS.md)."""
        try:
            topics, data = _log_parts(entry, self._topic, 3, 128, "TransferInitiated")
            if any(topics[3][:12]):
                raise ValueError("malformed indexed topics")
            words = [data[i : i + 32] for i in range(0, 128, 32)]
            if any(any(w[:12]) for w in words[:3]):
                raise ValueError("an address word with non-zero padding")
            src_token, dst_token, recipient = (_checksummed(w[12:]) for w in words[:3])
            transfer = Transfer(
                src_chain_id=self.chain_id,
                dst_chain_id=ChainId(int.from_bytes(topics[1], "big")),
                nonce=Nonce(int.from_bytes(topics[2], "big")),
                src_token=src_token,
                dst_token=dst_token,
                sender=_checksummed(topics[3][12:]),
                recipient=recipient,
                amount=int.from_bytes(words[3], "big"),
            )
            return ObservedTransfer(
                located=Located(transfer, _int(entry["blockNumber"])),
                block_hash=_hex(entry["blockHash"]),
                tx_hash=_hex(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "TransferInitiated", exc) from exc

    def decode_failure(self, entry: Any) -> ObservedFailure:
        """A TransferFailed(srcChainId indexed, nonce indexed, reason) of this chain's endpoint."""
        try:
            topics, data = _log_parts(entry, TRANSFER_FAILED_TOPIC, 2, 32, "TransferFailed")
            if any(topics[2][:24]):
                raise ValueError("malformed indexed topics")
            reason = int.from_bytes(data, "big")
            if reason > MAX_FAILURE_REASON:
                raise ValueError(f"reason {reason} is not a uint8")
            nonce = int.from_bytes(topics[2], "big")
            if nonce < 1:
                raise ValueError("nonce 0")
            return ObservedFailure(
                route=Route(ChainId(int.from_bytes(topics[1], "big")), self.chain_id),
                nonce=nonce,
                reason=reason,
                block_number=_int(entry["blockNumber"]),
                block_hash=_hex(entry["blockHash"]),
                tx_hash=_hex(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "TransferFailed", exc) from exc

    async def transfer_status(self, src: ChainId, nonce: int) -> int | None:
        """The endpoint's `transferStatus(src, nonce)` as of this chain's final head (None if the
        final head is before the endpoint's start block)."""
        final_head = await self.final_head()
        if final_head < self.cfg.start_block:
            return None

        async def get(ep: _Endpoint) -> int:
            fn = ep.contract.functions.transferStatus(src, nonce)
            return int(await fn.call(block_identifier=final_head))

        return await self.call(get, "transferStatus")

    async def is_refunded(self, dst: ChainId, nonce: int, *, final: bool = True) -> bool:
        """Whether the endpoint (the transfer's source) refunded (dst, nonce), as of the final
        head by default, else the latest block."""
        block: BlockIdentifier = "latest"
        if final:
            final_head = await self.final_head()
            if final_head < self.cfg.start_block:
                return False
            block = final_head

        async def get(ep: _Endpoint) -> bool:
            return bool(await ep.contract.functions.isRefunded(dst, nonce).call(block_identifier=block))

        return await self.call(get, "isRefunded")

    async def is_batch_executed(self, src: ChainId, first: int, last: int, *, final: bool = True) -> bool:
        """Whether the endpoint consumed every transfer (src, first..last), by default as of the
        final head: an execution that a reorg below finality can still undo is not one yet (it
        would leave the batch marked executed and never executed). `final=False` asks the
        latest block. Every nonce of the range is checked (`unexecutedCount`), not only the
        first: a user may have executed part of a batch by hand with a Merkle proof, and the
        rest still needs the batch."""

        def at(block: BlockIdentifier) -> Callable[[_Endpoint], Awaitable[bool]]:
            async def get(ep: _Endpoint) -> bool:
                fn = ep.contract.functions.unexecutedCount(src, first, last)
                return int(await fn.call(block_identifier=block)) == 0

            return get

        if not await self.call(at("latest"), "unexecutedCount"):
            return False  # not executed on the canonical chain, so not at its final head either
        if not final:
            return True
        final_head = await self.final_head()
        if final_head < self.cfg.start_block:
            return False
        return await self.call(at(final_head), "unexecutedCount")

    async def is_batch_pending(self, src: ChainId, first: int, last: int) -> bool:
        """Whether the node's pending state (its mempool applied on the latest block) has every
        transfer of the range executed: another relayer's transaction for the batch is on its
        way. A node without a pending state answers for the latest block, which is merely
        cautious (the caller has checked that one already)."""

        async def get(ep: _Endpoint) -> bool:
            fn = ep.contract.functions.unexecutedCount(src, first, last)
            return int(await fn.call(block_identifier="pending")) == 0

        return await self.call(get, "unexecutedCount(pending)")

    async def key_epoch(self) -> int:
        async def get(ep: _Endpoint) -> int:
            return int(await ep.contract.functions.currentKeyEpoch().call())

        return await self.call(get, "currentKeyEpoch")


@functools.lru_cache(maxsize=1 << 16)
def _checksummed(raw: bytes) -> str:
    """EIP-55 form of a 20-byte address, once per distinct address (a keccak each)."""
    return to_checksum_address(raw)


def _log_parts(entry: Any, topic: str, indexed: int, size: int, what: str) -> tuple[list[bytes], bytes]:
    """The topics and data of a raw log of event `what`, with their shape checked."""
    topics = [_bytes(t) for t in entry["topics"]]
    if len(topics) != indexed + 1 or "0x" + topics[0].hex() != topic:
        raise ValueError(f"expected the {what} signature and {indexed} indexed topics, got {len(topics)}")
    if any(len(t) != 32 for t in topics):
        raise ValueError("malformed indexed topics")
    data = _bytes(entry["data"])
    if len(data) != size:
        raise ValueError(f"data of {len(data)} bytes, expected {size}")
    return topics, data


def _malformed(chain: str, entry: Any, what: str, exc: Exception) -> MalformedEvent:
    where = f"{entry.get('transactionHash')!r}#{entry.get('logIndex')}" if isinstance(entry, dict) else "?"
    return MalformedEvent(f"chain {chain}: log {where} is not a valid {what}: {exc}")


def _bytes(value: Any) -> bytes:
    """Bytes from a raw JSON-RPC hex string ("0x..") or bytes (HexBytes included); anything else
    (a JSON number or list, which bytes() would turn into something) is refused."""
    if isinstance(value, str):
        if not value.startswith("0x"):
            raise ValueError(f"{value[:20]!r} is not 0x-prefixed hex")
        return bytes.fromhex(value[2:])
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise ValueError(f"{type(value).__name__} where hex data was expected")


def _int(value: Any) -> int:
    """An int from a raw JSON-RPC quantity ("0x1a") or an int."""
    if isinstance(value, str):
        if not value.startswith("0x"):
            raise ValueError(f"{value[:20]!r} is not a 0x-prefixed quantity")
        return int(value, 16)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a quantity")
    return value


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
