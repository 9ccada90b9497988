"""Reading and writing one chain through its JSON-RPC endpoint (web3.py, async).

Longer than the layout's ~500 lines: `ChainClient` keeps the endpoint failover, the quorum of
endpoints, the quarantine and the per-log checks (core.logcheck) together because each read goes
through all of them; the endpoint selection could become its own module (noted for the next
layout step).
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import aiohttp
import structlog
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_typing import URI, ABIFunction, ChecksumAddress
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3._utils.error_formatters_utils import raise_contract_logic_error_on_revert
from web3._utils.http import DEFAULT_HTTP_TIMEOUT
from web3._utils.http_session_manager import HTTPSessionManager
from web3.contract import AsyncContract
from web3.exceptions import ContractLogicError
from web3.types import BlockIdentifier, RPCEndpoint, RPCResponse

from relayer import metrics
from relayer.adapters.abi import (
    ENDPOINT_ABI,
    GATEWAY_ABI,
    ISSUER_MODULE_ABI,
    ISSUER_REGISTRY_ABI,
    REGISTRY_ABI,
    TOKEN_ASSET_ABI,
    UNEXECUTED_COUNTS_CODE,
)
from relayer.adapters.aio import within
from relayer.config import ChainConfig
from relayer.core.batching import Located
from relayer.core.keyring import EndpointKey
from relayer.core.logcheck import LogFault, LogPlace, Refusal, blocks_to_check, judge_logs
from relayer.core.onchain import (
    AssetState,
    CurseView,
    EndpointState,
    IssuerEvent,
    IssuerScheduledView,
    IssuerScheduleStatus,
    PendingActionView,
    RegistryEvent,
    RegistryStatus,
)
from relayer.core.releases import ReleaseFacts
from relayer.core.reverts import revert_data
from relayer.core.states import ObservedFailure, ObservedWait, WaitReason
from relayer.core.types import ChainId, Nonce, Route, Transfer

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

TRANSFER_INITIATED_TOPIC = (
    "0x" + keccak(text="TransferInitiated(uint256,uint64,address,address,address,address,uint256)").hex()
)

TRANSFER_FAILED_TOPIC = "0x" + keccak(text="TransferFailed(uint256,uint64,uint8)").hex()
# a transfer its destination executed and keeps: held for its challenge window, or queued by the
# rate limit (relayer.core.releases)
TRANSFER_HELD_TOPIC = "0x" + keccak(text="TransferHeld(uint256,uint64,bytes32,uint256,uint64)").hex()
TRANSFER_QUEUED_TOPIC = "0x" + keccak(text="TransferQueued(uint256,uint64,bytes32,uint256)").hex()
TRANSFER_STATUS_FAILED = 3  # QiaoEndpoint.TransferStatus { None, Delivered, Queued, Failed }
TRANSFER_STATUS_DELIVERED = 1
TRANSFER_STATUS_QUEUED = 2
INBOUND = 1  # QiaoEndpoint.Direction { Outbound, Inbound }
# QiaoEndpoint.FailureReason { None, RecipientNotAllowed, TokenFrozen, DeliveryRefused,
# UnregisteredTokenPair, ExceedsCapacity, Vetoed }: a TransferFailed with a reason past the last one is
# malformed (a contract this relayer does not know; update both together, and
# relayer.core.refunds.FailureReason).
MAX_FAILURE_REASON = 6
BLOCK_HASH_BATCH = 100  # eth_getBlockByNumber calls per JSON-RPC batch (providers cap batch sizes)
# ranges one call of the UnexecutedCounts reader answers (its input is creation code, which
# EIP-3860 bounds: 501 ranges at most); more go as several calls in one JSON-RPC batch
RANGES_PER_READ = 100
# how long an endpoint whose node did not run the reader is asked one call per range before the
# reader is tried again (a node upgraded, a reply garbled once)
READER_RETRY_SECONDS = 600.0
# an endpoint that served an inconsistent view (a refused reply, a dissent from the quorum, a final
# block that changed) is not asked again for this long; with none left the watcher halts at once
QUARANTINE_SECONDS = 900.0


class _PooledSession(HTTPSessionManager):
    """web3's HTTP session manager posting every request through one session of the node's own,
    with no lookup (web3's takes a threading lock through the event loop's thread pool per call)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        super().__init__()
        self._session = session

    async def async_make_post_request(
        self, endpoint_uri: URI, data: bytes | dict[str, Any], **kwargs: Any
    ) -> bytes:
        timeout = kwargs.pop("timeout", DEFAULT_HTTP_TIMEOUT)
        if not isinstance(timeout, aiohttp.ClientTimeout):
            timeout = aiohttp.ClientTimeout(total=float(timeout))
        async with self._session.post(endpoint_uri, data=data, timeout=timeout, **kwargs) as response:
            response.raise_for_status()
            return await response.read()


UNEXECUTED_COUNT = keccak(text="unexecutedCount(uint256,uint64,uint64)")[:4]
KEEPALIVE_SECONDS = 15.0  # an idle pooled RPC connection is closed after this (servers time out later)
FINAL_HASHES_KEPT = 4096  # hashes of final blocks remembered, to notice one that changes
# the KYC registry's events the committee carries (RegistryEvent.kind by topic)
ISSUER_ACTION_TOPIC = (
    "0x" + keccak(text="IssuerAction(address,uint64,uint8,address,address,uint256,uint64,address)").hex()
)
ISSUER_APPLIED_TOPIC = "0x" + keccak(text="IssuerActionApplied(address,uint64,uint8)").hex()
TOKEN_REGISTERED_TOPIC = "0x" + keccak(text="TokenRegistered(uint256,address,address)").hex()
REGISTRY_TOPICS = {
    "0x" + keccak(text="FrozenSet(address,bool,address)").hex(): ("freeze", "FrozenSet"),
    "0x" + keccak(text="AllowedSet(address,bool,address)").hex(): ("allow", "AllowedSet"),
}
# the views of QiaoEndpoint that identify one (relayer.ops.preflight checks them before a node runs)
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
class SendReads:
    """What a send reads from the node in one JSON-RPC batch (`ChainClient.send_reads`): the
    transaction's own `eth_call` at the pending state with the gas limit it would be sent with (its
    error reply, None if it ran to the end: whether the batch is executed in the pending state
    follows from it, `relayer.core.reverts.executed_per_check`), the latest block's base fee and
    gas limit, and the account's pending nonce if asked."""

    call_error: dict[str, Any] | None
    base_fee: int
    block_gas_limit: int
    pending_nonce: int | None


@dataclass(frozen=True, slots=True)
class ObservedTransfer:
    located: Located
    block_hash: str
    tx_hash: str
    log_index: int


class MalformedEvent(Exception):
    """A log that claims to be a TransferInitiated but does not hold a valid transfer."""


class Untrusted(Exception):
    """Every endpoint of a chain is quarantined for serving an inconsistent view: the watcher
    halts the chain's routes at once (an operator must look)."""


class LogsRefused(Untrusted):
    """Every endpoint asked answered and its eth_getLogs reply held a log a member may not use
    (`relayer.core.logcheck`): nothing of the replies is stored, each endpoint is quarantined, and no
    trustworthy endpoint is left."""

    def __init__(self, chain: str, url: str, refusal: Refusal) -> None:
        super().__init__(f"chain {chain}: {url} served {refusal.describe()}")
        self.refusal = refusal


class FinalBlockChanged(Exception):
    """An endpoint gave another hash for a block this client read before as final: a reorg
    deeper than finality, or an endpoint (a load balancer) serving two views. The endpoint is
    quarantined; `trusted_left` says whether another endpoint may still be read."""

    def __init__(self, message: str, *, trusted_left: bool) -> None:
        super().__init__(message)
        self.trusted_left = trusted_left


class QuorumMismatch(Exception):
    """RPC endpoints disagree about the logs of a block range; nothing is stored until they agree."""


class RpcReplyError(Exception):
    """A JSON-RPC reply carrying an error, or no result of the expected shape."""


class RpcUnavailable(Exception):
    """No endpoint of a chain answered."""


class NotFinal(Exception):
    """A read asked for at the final head, which is still before the endpoint's start block."""


@dataclass
class _Endpoint:
    url: str
    w3: AsyncWeb3[Any]
    contract: AsyncContract
    last_head: int = -1
    head_since: float = field(default_factory=time.monotonic)
    failures: int = 0
    quarantined_until: float = -1.0
    # until when the UnexecutedCounts reader is set aside (its node answered the reader's call
    # with no counts and one call per range with them: `ChainClient._all_executed_at`)
    reader_aside_until: float = -1.0

    def trusted(self, now: float) -> bool:
        return now >= self.quarantined_until


class ChainClient:
    """One chain, through one or more RPC endpoints.

    Every call has a timeout and falls back to the next endpoint on failure; an endpoint that is
    connected but whose head stops moving (for `stall_after` seconds while another endpoint's head
    is higher) is treated as stalled and skipped. Every log read is checked against the block the
    endpoint has at its number (`relayer.core.logcheck`), and the logs used are those `quorum`
    endpoints agree on. An endpoint caught serving an inconsistent view (a refused reply, a
    dissent from the quorum, another hash for a block read as final) is quarantined for
    QUARANTINE_SECONDS; with none left, `Untrusted` (the watcher halts the chain's routes).
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
        metrics.zero_chain_counters(cfg.name)
        metrics.zero_pending_actions(cfg.name)
        self._active = 0
        self._topic = TRANSFER_INITIATED_TOPIC
        self._final_hashes: OrderedDict[int, str] = OrderedDict()
        self._registry: ChecksumAddress | None = None

    @classmethod
    @asynccontextmanager
    async def connect(cls, cfg: ChainConfig) -> AsyncIterator[ChainClient]:
        # web3's own session closes the connection after every request (force_close): a new TCP
        # connection per call was a fifth of an idle member's CPU. One pooled, kept-alive session
        # per RPC instead; a connection the server closed is replaced on the next call (an error
        # on the call in flight, like any RPC error). It is posted to directly (`_PooledSession`):
        # web3 looks its cached session up under a lock taken through a thread pool, a thread hop
        # on every call (a tenth of a busy member's CPU under a backlog).
        sessions = [
            aiohttp.ClientSession(
                raise_for_status=True,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            )
            for _ in cfg.endpoints
        ]
        try:  # the sessions are closed whatever fails from here on (a provider refusing its URL too)
            providers = []
            for url, session in zip(cfg.endpoints, sessions, strict=True):
                provider = AsyncHTTPProvider(
                    url,
                    request_kwargs={"timeout": cfg.rpc_timeout},
                    exception_retry_configuration=None,
                    # web3's validation asks eth_chainId before every eth_call, estimate and
                    # broadcast (eight of a send's fifteen requests); an endpoint's chain id does not
                    # change (checked at start, `config check --online`), so it is asked once
                    cache_allowed_requests=True,
                    cacheable_requests={RPCEndpoint("eth_chainId")},
                )
                provider._request_session_manager = _PooledSession(session)
                providers.append(provider)
            yield cls(cfg, [AsyncWeb3(p) for p in providers])
        finally:
            for session in sessions:
                with contextlib.suppress(Exception):
                    await session.close()

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

    async def call(self, fn: Callable[[_Endpoint], Awaitable[_T]], what: str, *, trusted: bool = False) -> _T:
        """Run `fn` on the active endpoint, falling back through the others in order. `trusted`:
        only endpoints not quarantined (the reads a member signs from: block hashes, logs); other
        calls (heads, the submitter's transactions, status reads) may still use a quarantined
        endpoint, so a chain whose log reads halted can still receive batches."""
        errors: list[str] = []
        n = len(self._endpoints)
        order = self._trusted_order() if trusted else [(self._active + k) % n for k in range(n)]
        for index in order:
            ep = self._endpoints[index]
            try:
                result = await within(self.cfg.rpc_timeout, fn(ep))
            except (MalformedEvent, FinalBlockChanged):
                raise  # the chain's data, or evidence (the endpoint is quarantined): the watcher decides
            except (ContractLogicError, ValueError) as exc:
                if isinstance(exc, ContractLogicError) or "execution reverted" in str(exc):
                    raise  # deterministic: every endpoint would say the same
                errors.append(f"{ep.url}: {exc!r}")
            except Exception as exc:
                errors.append(f"{ep.url}: {exc!r}")
            else:
                self._use(index, errors)
                return result
            ep.failures += 1
            metrics.RPC_ERRORS.labels(self.cfg.name).inc()
        raise RpcUnavailable(f"chain {self.cfg.name}: {what} failed on every endpoint: {'; '.join(errors)}")

    def _trusted_order(self) -> list[int]:
        """The trusted endpoints, the active one first; `Untrusted` if every one is quarantined."""
        n, now = len(self._endpoints), time.monotonic()
        order = [(self._active + k) % n for k in range(n)]
        trusted = [i for i in order if self._endpoints[i].trusted(now)]
        if not trusted:
            raise Untrusted(
                f"chain {self.cfg.name}: every RPC endpoint is quarantined for serving an inconsistent "
                "view (see the rpc_quarantined events); the routes from this chain halt"
            )
        return trusted

    def _use(self, index: int, errors: list[str]) -> None:
        if index != self._active:
            log.warning("rpc_fallback", chain=self.cfg.name, to=self._endpoints[index].url, after=errors)
            self._active = index
            metrics.RPC_FALLBACKS.labels(self.cfg.name).inc()

    def quarantine(self, ep: _Endpoint, reason: str, detail: str) -> bool:
        """Set `ep` aside for QUARANTINE_SECONDS (logged and counted); True if a trusted endpoint
        is left. An inconsistency is evidence against the endpoint, not a reason to ask it again."""
        now = time.monotonic()
        ep.quarantined_until = now + QUARANTINE_SECONDS
        left = [i for i, other in enumerate(self._endpoints) if other.trusted(now)]
        metrics.RPC_QUARANTINES.labels(self.cfg.name, reason).inc()
        log.error(
            "rpc_quarantined",
            chain=self.cfg.name,
            url=ep.url,
            reason=reason,
            seconds=QUARANTINE_SECONDS,
            trusted_left=len(left),
            detail=detail,
        )
        if left and not self._endpoints[self._active].trusted(now):
            self._active = left[0]
        return bool(left)

    def quarantine_active(self, reason: str, detail: str) -> bool:
        """`quarantine` the active endpoint (the one that just answered)."""
        return self.quarantine(self._endpoints[self._active], reason, detail)

    async def chain_ids(self) -> list[tuple[str, int | None, str]]:
        """Each endpoint's URL with the chain id it serves, or None and why it did not answer
        (relayer.ops.preflight judges them, for `run` and `config check --online` alike)."""
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

    async def _head_of(self, ep: _Endpoint) -> int:
        # the raw reply, checked here: web3's formatters cost more than the call on the hot path
        # (the watcher reads the head once a block)
        reply = await ep.w3.provider.make_request(RPCEndpoint("eth_blockNumber"), [])
        if not isinstance(reply, dict) or "error" in reply:
            raise RpcReplyError(f"eth_blockNumber: {reply!r:.200}")
        result = reply.get("result")
        if not isinstance(result, str) or _QUANTITY.fullmatch(result) is None:
            raise RpcReplyError(f"eth_blockNumber: {str(result)[:80]!r} is not a 0x-hex quantity")
        head = int(result, 16)
        if head != ep.last_head:
            ep.last_head, ep.head_since = head, time.monotonic()
        return head

    async def _leave_stalled_endpoint(self, stalled_head: int) -> None:
        for index, ep in enumerate(self._endpoints):
            if index == self._active or not ep.trusted(time.monotonic()):
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

    async def final_head(self, head: int | None = None) -> int:
        """The highest block this node treats as final, by the chain's finality rule; under a
        depth rule, counted from `head` when the caller has just read it (one read, not two)."""
        if self.cfg.finality == "finalized":

            async def finalized(ep: _Endpoint) -> int:
                block = await ep.w3.eth.get_block("finalized")
                return int(block["number"])

            return await self.call(finalized, "get_block(finalized)")
        return (await self.head() if head is None else head) - self.cfg.finality_depth

    async def block_hash(self, number: int) -> str:
        """The hash of block `number`, which the caller treats as final: remembered, and an
        endpoint that later gives another hash for it is quarantined (`FinalBlockChanged`)."""

        async def get(ep: _Endpoint) -> str:
            got = (await self._block_hashes(ep, (number,)))[number]
            self._check_final(ep, number, got)
            return got

        got = await self.call(get, f"get_block({number})", trusted=True)
        self._remember_final(number, got)
        return got

    async def recheck_final(self, blocks: dict[int, str]) -> None:
        """Read the hashes of final `blocks` again (one batch): an endpoint that now gives another
        hash for one of them is quarantined (`FinalBlockChanged`)."""
        for number, block_hash in blocks.items():
            self._remember_final(number, block_hash)

        async def check(ep: _Endpoint) -> None:
            for number, got in (await self._block_hashes(ep, tuple(sorted(blocks)))).items():
                self._check_final(ep, number, got)

        if blocks:
            await self.call(check, f"eth_getBlockByNumber({sorted(blocks)})", trusted=True)

    def _known_final(self, number: int) -> str | None:
        return self._final_hashes.get(number)

    def _check_final(self, ep: _Endpoint, number: int, got: str) -> None:
        known = self._known_final(number)
        if known is not None and known.lower() != got.lower():
            detail = f"block {number} was {known} when read as final, {ep.url} now says {got}"
            left = self.quarantine(ep, "final_block_changed", detail)
            raise FinalBlockChanged(f"chain {self.cfg.name}: {detail}", trusted_left=left)

    def _remember_final(self, number: int, block_hash: str) -> None:
        self._final_hashes[number] = block_hash
        self._final_hashes.move_to_end(number)
        while len(self._final_hashes) > FINAL_HASHES_KEPT:
            self._final_hashes.popitem(last=False)

    async def transfers(
        self, from_block: int, to_block: int, *, end_hash: str | None = None
    ) -> list[ObservedTransfer]:
        """TransferInitiated events in [from_block, to_block], in log order, read under the
        chain's quorum (`_events`). `end_hash`: the hash of `to_block` the caller read, which the
        endpoint's own block at `to_block` must equal."""

        return await self._events(from_block, to_block, self._topic, self.decode_transfer, end_hash)

    async def failures(
        self, from_block: int, to_block: int, *, end_hash: str | None = None
    ) -> list[ObservedFailure]:
        """TransferFailed events of the endpoint (this chain as destination) in [from_block,
        to_block], in log order; read with the same rules as transfers."""
        return await self._events(from_block, to_block, TRANSFER_FAILED_TOPIC, self.decode_failure, end_hash)

    async def outcomes(
        self, from_block: int, to_block: int, *, end_hash: str | None = None
    ) -> list[ObservedFailure | ObservedWait]:
        """What the endpoint (this chain as destination) did with transfers it executed without
        delivering them in [from_block, to_block], in log order: TransferFailed, TransferHeld and
        TransferQueued, in one read with the same rules as transfers."""
        topics = [TRANSFER_FAILED_TOPIC, TRANSFER_HELD_TOPIC, TRANSFER_QUEUED_TOPIC]
        return await self._events(from_block, to_block, topics, self.decode_outcome, end_hash)

    async def _events(
        self,
        from_block: int,
        to_block: int,
        topic: str | list[str],
        decode: Callable[[Any], _T],
        end_hash: str | None,
        address: str | None = None,
    ) -> list[_T]:
        """The events of one topic (or of any of a list of topics) of the endpoint (or of the
        contract at `address`) in [from_block, to_block], from the answer `quorum` trusted
        endpoints agree on. Each endpoint's reply is checked before anything is decoded
        (`relayer.core.logcheck`): the endpoint's own logs, inside the range, not removed, well-formed
        hashes, and from the block the endpoint has at that number, read in one JSON-RPC batch
        that also holds `to_block`, whose hash must equal `end_hash` (only when there are logs).
        A refused reply, or one that dissents from the quorum, quarantines its endpoint; a log
        that does not decode is a refusal of its endpoint unless the quorum serves it
        (`MalformedEvent`). `LogsRefused` only when every trusted endpoint answered and refused;
        a block an endpoint does not have yet is an RPC error (retried), not a lie."""
        quorum = max(1, self.cfg.quorum)
        answers: list[tuple[int, tuple[Any, ...], list[_T] | MalformedEvent, dict[int, str]]] = []
        refused: LogsRefused | None = None
        errors: list[str] = []
        winner: tuple[Any, ...] | None = None
        for index in self._trusted_order():
            ep = self._endpoints[index]
            try:
                read = await self._read_logs(ep, from_block, to_block, topic, decode, end_hash, address)
                key, decoded, hashes = read
            except LogsRefused as exc:
                refused = exc
                self.quarantine(ep, exc.refusal.fault.value, str(exc))
                continue
            except Exception as exc:
                errors.append(f"{ep.url}: {exc!r}")
                ep.failures += 1
                metrics.RPC_ERRORS.labels(self.cfg.name).inc()
                continue
            answers.append((index, key, decoded, hashes))
            good = [a for a in answers if a[1] == key and not isinstance(a[2], MalformedEvent)]
            if len(good) >= quorum:
                winner = key
                break
        if winner is None:
            malformed = [a[2] for a in answers if isinstance(a[2], MalformedEvent)]
            same = len({a[1] for a in answers}) == 1
            if malformed and same and not errors and len(malformed) == len(answers) >= quorum:
                raise malformed[0]  # every endpoint that answered serves it: the chain's data
            if len({a[1] for a in answers}) > 1:
                metrics.QUORUM_MISMATCHES.labels(self.cfg.name).inc()
                raise QuorumMismatch(
                    f"chain {self.cfg.name}: endpoints disagree on the logs of blocks "
                    f"{from_block}..{to_block} and no {quorum} of them agree "
                    f"({[self._endpoints[a[0]].url for a in answers]}); failed: {errors}"
                )
            if answers:
                raise QuorumMismatch(
                    f"chain {self.cfg.name}: only {len(answers)} endpoint(s) answered for blocks "
                    f"{from_block}..{to_block}, {quorum} well-formed agreeing answers are needed; "
                    f"failed: {errors}"
                )
            if refused is not None and not errors:
                raise refused  # every trusted endpoint answered and refused: none is left
            raise RpcUnavailable(
                f"chain {self.cfg.name}: eth_getLogs({from_block}..{to_block}) failed on every "
                f"trusted endpoint: {'; '.join(errors)}"
            )
        chosen: list[_T] | None = None
        for index, key, decoded, hashes in answers:
            ep = self._endpoints[index]
            if key == winner and not isinstance(decoded, MalformedEvent):
                if chosen is None:
                    chosen = decoded
                    self._use(index, errors)
                    for number, block_hash in hashes.items():
                        self._remember_final(number, block_hash)
                continue
            if isinstance(decoded, MalformedEvent):
                metrics.LOGS_REFUSED.labels(self.cfg.name, LogFault.MALFORMED.value).inc()
                self.quarantine(ep, LogFault.MALFORMED.value, str(decoded))
            else:
                metrics.QUORUM_MISMATCHES.labels(self.cfg.name).inc()
                self.quarantine(
                    ep,
                    "quorum_dissent",
                    f"its logs of blocks {from_block}..{to_block} differ from the quorum's",
                )
        assert chosen is not None  # the winner is a well-formed answer
        return chosen

    async def _read_logs(
        self,
        ep: _Endpoint,
        from_block: int,
        to_block: int,
        topic: str | list[str],
        decode: Callable[[Any], _T],
        end_hash: str | None,
        address: str | None = None,
    ) -> tuple[tuple[Any, ...], list[_T] | MalformedEvent, dict[int, str]]:
        """One endpoint's checked reply: the key quorum answers are compared by, and the events
        (or the MalformedEvent a log raised). `LogsRefused` if the reply may not be used."""
        params = {
            "address": address or ep.contract.address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": [topic],
        }
        # the raw answer, decoded here: web3's log formatters (an AttributeDict and HexBytes per
        # field) cost more than the decoding itself on a catch-up of thousands of logs
        reply = await within(
            self.cfg.rpc_timeout, ep.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        )
        if "error" in reply or not isinstance(reply.get("result"), list):
            raise RpcReplyError(f"eth_getLogs: {reply.get('error', reply)!r}")
        entries = reply["result"]
        places = [LogPlace.of(e if isinstance(e, dict) else {}) for e in entries]
        self._refuse(ep, places, from_block, to_block, None, address)  # shapes: no RPC needed
        hashes: dict[int, str] = {}
        if places:  # the common case, no log in the range, costs no more calls
            numbers = blocks_to_check(places)
            if end_hash is not None and to_block not in numbers:
                numbers = (*numbers, to_block)
            hashes = await self._block_hashes(ep, numbers)
            self._refuse(ep, places, from_block, to_block, hashes, address)
            for number, got in hashes.items():  # a final block read before must not have changed
                known = self._known_final(number)
                if known is not None and known.lower() != got.lower():
                    at = LogPlace(self.cfg.endpoint, number, got, "-", "-", False)
                    self._reject(ep, Refusal(LogFault.NOT_CANONICAL, at, known))
            if end_hash is not None and hashes[to_block].lower() != end_hash.lower():
                end = LogPlace(self.cfg.endpoint, to_block, hashes[to_block], "-", "-", False)
                self._reject(ep, Refusal(LogFault.END_MISMATCH, end, end_hash))
        key = tuple(_log_key(e) for e in entries)
        try:
            return key, [decode(e) for e in entries], hashes
        except MalformedEvent as exc:
            return key, exc, hashes

    def _refuse(
        self,
        ep: _Endpoint,
        places: list[LogPlace],
        first: int,
        last: int,
        canonical: dict[int, str] | None,
        address: str | None = None,
    ) -> None:
        emitter = address or self.cfg.endpoint
        refusal = judge_logs(places, endpoint=emitter, first=first, last=last, canonical=canonical)
        if refusal is not None:
            self._reject(ep, refusal)

    def _reject(self, ep: _Endpoint, refusal: Refusal) -> None:
        metrics.LOGS_REFUSED.labels(self.cfg.name, refusal.fault.value).inc()
        log.warning(
            "logs_refused",
            chain=self.cfg.name,
            url=ep.url,
            reason=refusal.fault.value,
            block=refusal.place.block_number,
            block_hash=refusal.place.block_hash,
            canonical_hash=refusal.canonical_hash,
            detail=refusal.describe(),
        )
        raise LogsRefused(self.cfg.name, ep.url, refusal)

    async def _block_hashes(self, ep: _Endpoint, numbers: tuple[int, ...]) -> dict[int, str]:
        """The hash of each block `numbers` names, as `ep` has it (JSON-RPC batches of
        BLOCK_HASH_BATCH, each with its own timeout; one plain call for one block). A block the
        endpoint does not have (yet) is an RpcReplyError, retried: not evidence of a lie."""
        out: dict[int, str] = {}
        for i in range(0, len(numbers), BLOCK_HASH_BATCH):
            chunk = numbers[i : i + BLOCK_HASH_BATCH]
            calls = [(RPCEndpoint("eth_getBlockByNumber"), [hex(n), False]) for n in chunk]
            replies: Any
            if len(calls) == 1:
                replies = [await within(self.cfg.rpc_timeout, ep.w3.provider.make_request(*calls[0]))]
            else:
                replies = await within(self.cfg.rpc_timeout, ep.w3.provider.make_batch_request(calls))
            if not isinstance(replies, list):
                raise RpcReplyError(f"eth_getBlockByNumber batch: {replies!r}")
            for reply in replies:
                if not isinstance(reply, dict) or "error" in reply:
                    raise RpcReplyError(f"eth_getBlockByNumber: {reply!r}")
                block = reply.get("result")
                if not isinstance(block, dict):
                    continue  # unknown to this endpoint: found missing below
                try:
                    number = _int(block["number"])
                except (KeyError, ValueError):
                    continue
                if number in chunk:
                    out[number] = _block_hash_of(block, number)
        missing = [n for n in numbers if n not in out]
        if missing:
            raise RpcReplyError(f"{ep.url} does not have block(s) {missing} yet: the range is read again")
        return out

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
                raise ValueError(f"reason {reason} is not a known FailureReason (0..{MAX_FAILURE_REASON})")
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

    def decode_outcome(self, entry: Any) -> ObservedFailure | ObservedWait:
        """A TransferFailed, TransferHeld or TransferQueued of this chain's endpoint, by its topic."""
        topics = entry.get("topics") if isinstance(entry, dict) else None
        first = _hex(topics[0]).lower() if isinstance(topics, list) and topics else ""
        if first == TRANSFER_HELD_TOPIC:
            return self.decode_wait(entry, WaitReason.HELD)
        if first == TRANSFER_QUEUED_TOPIC:
            return self.decode_wait(entry, WaitReason.QUEUED)
        return self.decode_failure(entry)

    def decode_wait(self, entry: Any, reason: WaitReason) -> ObservedWait:
        """A TransferHeld(srcChainId indexed; nonce, leaf, amount, releaseAfter) or
        TransferQueued(srcChainId indexed, nonce indexed; leaf, amount) of this chain's endpoint."""
        name = "TransferHeld" if reason is WaitReason.HELD else "TransferQueued"
        try:
            if reason is WaitReason.HELD:
                topics, data = _log_parts(entry, TRANSFER_HELD_TOPIC, 1, 128, name)
                words = [data[i : i + 32] for i in range(0, 128, 32)]
                nonce_word, leaf, amount_word, after_word = words
            else:
                topics, data = _log_parts(entry, TRANSFER_QUEUED_TOPIC, 2, 64, name)
                nonce_word, leaf, amount_word = topics[2], data[:32], data[32:]
                after_word = bytes(32)
            if any(nonce_word[:24]) or any(after_word[:24]):
                raise ValueError("a uint64 word with non-zero padding")
            nonce = int.from_bytes(nonce_word, "big")
            if nonce < 1:
                raise ValueError("nonce 0")
            amount = int.from_bytes(amount_word, "big")
            if amount < 1:
                raise ValueError("amount 0")
            return ObservedWait(
                route=Route(ChainId(int.from_bytes(topics[1], "big")), self.chain_id),
                nonce=nonce,
                reason=reason,
                leaf=bytes(leaf),
                amount=amount,
                release_after=int.from_bytes(after_word, "big"),
                block_number=_int(entry["blockNumber"]),
                block_hash=_hex(entry["blockHash"]),
                tx_hash=_hex(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, name, exc) from exc

    async def release_facts(self, t: Transfer, leaf: bytes) -> ReleaseFacts:
        """What the endpoint reports of kept transfer `t` (`leaf` its leaf) at the latest block, for
        `relayer.core.releases.decide_release`: its status, release time, the pause,
        the route's curse, its token's queue head and inbound bucket, and the block's timestamp
        (the latest block's number, then one JSON-RPC batch at it, and a second one for the queue
        of a transfer queued by the rate limit)."""

        async def get(ep: _Endpoint) -> ReleaseFacts:
            # every read at one block: the latest block's number, fixed once
            number = await self._head_of(ep)
            src, nonce, token = t.src_chain_id, t.nonce, t.dst_token
            reads = [
                ("transferStatus", (src, nonce)),
                ("heldUntil", (src, nonce)),
                ("paused", ()),
                ("isCursed", (src,)),
            ]
            (status, held, paused, cursed), now = await self._views(ep, number, reads, "release facts")
            head: bytes | None = None
            available = capacity = 0
            if status == TRANSFER_STATUS_QUEUED and not held:
                queue = [
                    ("queueHead", (token,)),
                    ("availableCapacity", (token, INBOUND)),
                    ("rateLimit", (token, INBOUND)),
                ]
                ((head_leaf, _), available, bucket), _ = await self._views(ep, number, queue, "release facts")
                head, capacity = bytes(head_leaf), int(bucket[0])
            return ReleaseFacts(
                int(status),
                int(held),
                bool(paused),
                bool(cursed),
                leaf,
                t.amount,
                head,
                int(available),
                capacity,
                now,
            )

        facts: ReleaseFacts = await self.call(get, "release facts")
        return facts

    async def kept_at(self, src: ChainId, nonce: int, block: int | str) -> tuple[int, int]:
        """The endpoint's `transferStatus(src, nonce)` and `heldUntil(src, nonce)` at `block`
        ("pending": with the node's mempool applied, where another relayer's release shows)."""
        at = cast(BlockIdentifier, block)

        async def get(ep: _Endpoint) -> tuple[int, int]:
            f = ep.contract.functions
            status = int(await f.transferStatus(src, nonce).call(block_identifier=at))
            return status, int(await f.heldUntil(src, nonce).call(block_identifier=at))

        kept: tuple[int, int] = await self.call(get, f"transferStatus({block})")
        return kept

    async def transfer_status(self, src: ChainId, nonce: int) -> int | None:
        """The endpoint's `transferStatus(src, nonce)` as of this chain's final head (None if the
        final head is before the endpoint's start block)."""
        final_head = await self.final_head()
        if final_head < self.cfg.start_block:
            return None

        async def get(ep: _Endpoint) -> int:
            (status,), _ = await self._views(
                ep, final_head, [("transferStatus", (src, nonce))], "transferStatus"
            )
            return int(status)

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

    async def delivery_gas(self) -> int | None:
        """The endpoint's `DELIVERY_GAS()`: the gas each delivery's call into the asset gets on a
        vault (which also checks, before each delivery, that this much is left); None on an
        endpoint that has no such constant (the gateway delivers by minting its own token).
        Raises on an RPC failure (the caller does not know then)."""

        async def get(ep: _Endpoint) -> int | None:
            call: Any = {"to": ep.contract.address, "data": "0x" + keccak(text="DELIVERY_GAS()")[:4].hex()}
            try:
                raw = bytes(await ep.w3.eth.call(call))
            except ContractLogicError:
                return None
            return int.from_bytes(raw, "big") if len(raw) == 32 else None

        return await self.call(get, "DELIVERY_GAS")

    async def is_batch_executed(self, src: ChainId, first: int, last: int, *, final: bool = True) -> bool:
        """Whether the endpoint consumed every transfer (src, first..last), by default as of the
        final head: an execution that a reorg below finality can still undo is not one yet (it
        would leave the batch marked executed and never executed). `final=False` asks the
        latest block. Every nonce of the range is checked (`unexecutedCount`), not only the
        first: a user may have executed part of a batch by hand with a Merkle proof, and the
        rest still needs the batch."""

        # a raw eth_call: the relayers ask this for every batch under a backlog, and web3's
        # contract call (ABI lookup, formatters, middlewares) cost more than the request itself
        data = unexecuted_count_data(src, first, last)

        def at(block: BlockIdentifier) -> Callable[[_Endpoint], Awaitable[bool]]:
            tag = hex(block) if isinstance(block, int) else str(block)

            async def get(ep: _Endpoint) -> bool:
                call = {"to": ep.contract.address, "data": data}
                reply = await ep.w3.provider.make_request(RPCEndpoint("eth_call"), [call, tag])
                return _uint_reply(reply, "unexecutedCount") == 0

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
        way, or it executed already. A node without a pending state answers for the latest
        block (the submitter then reads the final bitmap before it holds back). A node whose
        pending state lags the latest block may say "not executed" of an executed batch: the
        send's estimate then reverts and the final bitmap records it (`_executed_elsewhere`)."""

        async def get(ep: _Endpoint) -> bool:
            fn = ep.contract.functions.unexecutedCount(src, first, last)
            return int(await fn.call(block_identifier="pending")) == 0

        return await self.call(get, "unexecutedCount(pending)")

    async def batches_pending(self, ranges: list[tuple[ChainId, int, int]]) -> list[bool]:
        """`is_batch_pending` of many batches (src, first, last), in one call at the pending tag
        (`_all_executed_at`): a node like anvil builds its pending block afresh for each such
        call, running every transaction in its pool, so one call for a step's batches is one
        build, not one per batch."""
        return await self._all_executed_at(ranges, "pending", "unexecutedCount(pending) read")

    async def batches_mined(self, ranges: list[tuple[ChainId, int, int]]) -> list[bool]:
        """`is_batch_executed(final=False)` of many batches: executed in the latest block (mined,
        perhaps not final), in one call as `batches_pending`."""
        return await self._all_executed_at(ranges, "latest", "unexecutedCount(latest) read")

    async def _all_executed_at(
        self, ranges: list[tuple[ChainId, int, int]], tag: str, what: str
    ) -> list[bool]:
        """Per range (src, first, last): `unexecutedCount` is 0 at block `tag`. All of them in one
        `eth_call` (RANGES_PER_READ ranges a call; more in one JSON-RPC batch of such calls): the
        UnexecutedCounts reader's creation code run without a `to` address, whose constructor asks
        the endpoint for each range and returns the counts (contracts/src/reader). Its reply is
        checked to hold exactly one count per range asked (`_counts_reply`). When an endpoint's
        node does not answer such a call with the counts (not every node runs creation code by
        `eth_call`), the same ranges are asked one `unexecutedCount` call each, in one JSON-RPC
        batch; if that answers, the reader is set aside for that endpoint for
        READER_RETRY_SECONDS (`counts_reader_unsupported`, logged) and the ranges are asked that
        way meanwhile; if that fails too, the fault is the node's (a tag it refuses, a request it
        rate-limits), the error is raised and the reader is not set aside. A revert with data (a
        range the endpoint refuses) is the endpoint's answer, raised as it is."""

        async def get(ep: _Endpoint) -> list[bool]:
            if time.monotonic() < ep.reader_aside_until:
                return await self._counts_one_by_one(ep, ranges, tag, what)
            try:
                return await self._counts_by_reader(ep, ranges, tag, what)
            except _ReaderUnsupported as exc:
                answered = await self._counts_one_by_one(ep, ranges, tag, what)  # raises: the node's fault
                ep.reader_aside_until = time.monotonic() + READER_RETRY_SECONDS
                log.warning(
                    "counts_reader_unsupported",
                    chain=self.cfg.name,
                    endpoint=ep.url,
                    reply=str(exc),
                    retry_in_s=READER_RETRY_SECONDS,
                )
                return answered

        if not ranges:
            return []
        return await self.call(get, what)

    async def _counts_by_reader(
        self, ep: _Endpoint, ranges: list[tuple[ChainId, int, int]], tag: str, what: str
    ) -> list[bool]:
        chunks = [ranges[i : i + RANGES_PER_READ] for i in range(0, len(ranges), RANGES_PER_READ)]
        calls = [
            (
                RPCEndpoint("eth_call"),
                [{"data": "0x" + unexecuted_counts_call(ep.contract.address, chunk).hex()}, tag],
            )
            for chunk in chunks
        ]
        replies: Any = await ep.w3.provider.make_batch_request(calls)
        out: list[bool] = []
        for reply, chunk in zip(_batch_replies(replies, len(calls), what), chunks, strict=True):
            out += [count == 0 for count in _counts_reply(reply, len(chunk), what)]
        return out

    async def _counts_one_by_one(
        self, ep: _Endpoint, ranges: list[tuple[ChainId, int, int]], tag: str, what: str
    ) -> list[bool]:
        calls = [
            (
                RPCEndpoint("eth_call"),
                [
                    {"to": ep.contract.address, "data": unexecuted_count_data(src, first, last)},
                    tag,
                ],
            )
            for src, first, last in ranges
        ]
        replies: Any = await ep.w3.provider.make_batch_request(calls)
        return [_word_reply(reply, what) == 0 for reply in _batch_replies(replies, len(calls), what)]

    async def send_reads(self, sender: str, data: bytes, gas: int, *, nonce: bool) -> SendReads:
        """In one JSON-RPC batch (one round trip): `data` sent by `sender` to the endpoint with
        `gas`, run by `eth_call` at the pending state (the check that it would not revert, and
        that `gas` suffices: one execution, where an estimate may take several; its outcome also
        says whether the batch is executed in the pending state), the latest block (base fee, gas
        limit) and `sender`'s pending nonce if `nonce`. One call at the pending tag: a node like
        anvil builds its pending block afresh for each, running every transaction in its pool."""

        async def get(ep: _Endpoint) -> SendReads:
            to = ep.contract.address
            calls: list[tuple[RPCEndpoint, Any]] = [
                (
                    RPCEndpoint("eth_call"),
                    [{"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(gas)}, "pending"],
                ),
                (RPCEndpoint("eth_getBlockByNumber"), ["latest", False]),
            ]
            if nonce:
                calls.append((RPCEndpoint("eth_getTransactionCount"), [sender, "pending"]))
            replies: Any = await ep.w3.provider.make_batch_request(calls)
            return _send_replies(replies, nonce=nonce)

        return await self.call(get, "send reads batch")

    async def batches_executed(self, ranges: list[tuple[ChainId, int, int]]) -> list[bool]:
        """`is_batch_executed` (as of the final head) of many batches (src, first, last): the
        final head once, then the bitmaps at it in one call (`_all_executed_at`; the
        executed sweep's reads, one round trip instead of two eth_calls per batch)."""
        if not ranges:
            return []
        final_head = await self.final_head()
        if final_head < self.cfg.start_block:
            return [False] * len(ranges)
        return await self._all_executed_at(ranges, hex(final_head), "unexecutedCount(final) batch")

    async def key_epoch(self) -> int:
        async def get(ep: _Endpoint) -> int:
            return int(await ep.contract.functions.currentKeyEpoch().call())

        return await self.call(get, "currentKeyEpoch")

    # ---- committee actions and the KYC registry (the values are relayer.core.onchain's) -------

    async def _read_block(self, final: bool) -> int:
        """The block a group of reads is pinned to: the final head, or the head."""
        if not final:
            return await self.head()
        block = await self.final_head()
        if block < self.cfg.start_block:
            raise NotFinal(
                f"chain {self.cfg.name}: the final head {block} is before the endpoint's start block "
                f"{self.cfg.start_block}; read again once it is final"
            )
        return block

    async def _views(
        self, ep: _Endpoint, block: int, calls: list[tuple[str, tuple[Any, ...]]], what: str
    ) -> tuple[list[Any], int]:
        """The endpoint's view functions `calls` (name, arguments) at `block`, and that block's
        timestamp: raw `eth_call`s and the block's header in one JSON-RPC batch (one round trip),
        decoded as web3's contract calls return them (`_view_reply`). The reads a member makes
        every step (an endpoint's pause and key epoch, a kept transfer's release): web3's
        contract call spends a few milliseconds of CPU in its formatters and validators per read;
        here each costs its ABI decoding. The header is checked first: an endpoint that answers
        for another block is the endpoint's fault (the next endpoint is asked), whatever its calls
        say, a revert included."""
        tag = hex(block)
        to = ep.contract.address
        requests: list[tuple[RPCEndpoint, Any]] = [
            (RPCEndpoint("eth_call"), [{"to": to, "data": ENDPOINT_VIEWS[name].data(args)}, tag])
            for name, args in calls
        ]
        requests.append((RPCEndpoint("eth_getBlockByNumber"), [tag, False]))
        replies = _batch_replies(await ep.w3.provider.make_batch_request(requests), len(requests), what)
        header = replies[-1].get("result")
        try:
            if "error" in replies[-1] or not isinstance(header, dict) or _int(header.get("number")) != block:
                raise ValueError(f"not block {block}")
            timestamp = _int(header.get("timestamp"))
        except ValueError as exc:
            raise RpcReplyError(
                f"{what}: eth_getBlockByNumber({block}): {exc}: {replies[-1]!r:.200}"
            ) from None
        values = [
            _view_reply(ENDPOINT_VIEWS[name], reply, f"{what}: {name}")
            for (name, _), reply in zip(calls, replies, strict=False)
        ]
        return values, timestamp

    async def endpoint_key(self) -> EndpointKey:
        """The endpoint's `currentKeyEpoch()` and `previousKeyValidUntil()` at the final head, with
        its timestamp (what it accepts: relayer.core.keyring), from an endpoint not quarantined:
        what a member signs under follows it, so a head that is reorged away or an RPC caught
        lying must not move it."""
        number = await self._read_block(True)

        async def get(ep: _Endpoint) -> EndpointKey:
            reads: list[tuple[str, tuple[Any, ...]]] = [
                ("currentKeyEpoch", ()),
                ("previousKeyValidUntil", ()),
            ]
            (epoch, until), timestamp = await self._views(ep, number, reads, "key epoch")
            return EndpointKey(int(epoch), int(until), timestamp)

        key: EndpointKey = await self.call(get, "key epoch", trusted=True)
        return key

    async def endpoint_state(self, *, final: bool = False) -> EndpointState:
        """The endpoint's `paused()`, `actionNonce()`, `currentKeyEpoch()` and `pauseCount()` at
        one block (the final head if `final`, else the head)."""
        block = await self._read_block(final)

        async def get(ep: _Endpoint) -> tuple[bool, int, int, int]:
            reads: list[tuple[str, tuple[Any, ...]]] = [
                ("paused", ()),
                ("actionNonce", ()),
                ("currentKeyEpoch", ()),
                ("pauseCount", ()),
            ]
            (paused, nonce, epoch, pause_count), _ = await self._views(ep, block, reads, "endpoint state")
            return bool(paused), int(nonce), int(epoch), int(pause_count)

        return EndpointState(*await self.call(get, "endpoint state"))

    async def pending_action(self, nonce: int, *, final: bool = False) -> PendingActionView:
        """`pendingAction(nonce)`: the RESUME or ROTATE scheduled under action nonce `nonce`."""
        block = await self._read_block(final)

        async def get(ep: _Endpoint) -> Any:
            return await ep.contract.functions.pendingAction(nonce).call(block_identifier=block)

        typehash, epoch, executable_at, pause_count, status, key_data = await self.call(get, "pendingAction")
        return PendingActionView(
            bytes(typehash), int(epoch), int(executable_at), int(status), str(key_data), int(pause_count)
        )

    async def key_data_hash(self, key_data: str, *, final: bool = False) -> bytes | None:
        """keccak256 of the key a ROTATE's data contract holds (`pendingAction(n).keyData`: its code
        is 0x00 then the 256-byte key), what the ROTATE signed as its params; None if no key is
        there (the zero address, or code of another length)."""
        if int(key_data, 16) == 0:
            return None
        block = await self._read_block(final)
        who = to_checksum_address(key_data)

        async def get(ep: _Endpoint) -> bytes:
            return bytes(await ep.w3.eth.get_code(who, block_identifier=block))

        code: bytes = await self.call(get, "eth_getCode(keyData)")
        if len(code) != 257 or code[0] != 0:
            return None
        return keccak(code[1:])

    async def route_curse(self, remote_chain_id: int, *, final: bool = False) -> CurseView:
        """The sentinels' curse of the endpoint's route with `remote_chain_id`: `isCursed(remote)`
        and `curseCount(remote)` at one block (the final head if `final`, else the head)."""
        block = await self._read_block(final)

        async def get(ep: _Endpoint) -> tuple[bool, int]:
            reads = [("isCursed", (remote_chain_id,)), ("curseCount", (remote_chain_id,))]
            (cursed, count), _ = await self._views(ep, block, reads, "route curse")
            return bool(cursed), int(count)

        return CurseView(*await self.call(get, "route curse"))

    async def uncurse_route(self, nonce: int, *, final: bool = False) -> int:
        """`uncurseRoute(nonce)`: the remote chain id of the route the UNCURSE scheduled under
        action nonce `nonce` lifts (0: no UNCURSE was scheduled under it)."""
        block = await self._read_block(final)

        async def get(ep: _Endpoint) -> int:
            return int(await ep.contract.functions.uncurseRoute(nonce).call(block_identifier=block))

        remote: int = await self.call(get, "uncurseRoute")
        return remote

    async def registry_address(self) -> str:
        """The endpoint's KYC registry (`registry()`, an immutable: read once)."""
        if self._registry is None:

            async def get(ep: _Endpoint) -> str:
                return str(await ep.contract.functions.registry().call())

            address = to_checksum_address(await self.call(get, "registry"))
            if int(address, 16) == 0:
                raise RpcReplyError(f"chain {self.cfg.name}: the endpoint's registry() is the zero address")
            self._registry = address
        return self._registry

    async def registry_events(
        self, first_block: int, last_block: int, *, end_hash: str | None = None
    ) -> list[RegistryEvent]:
        """The FrozenSet and AllowedSet events of the endpoint's registry in [first_block,
        last_block], in log order, read and checked as transfers are (`_events`, quorum)."""
        registry = await self.registry_address()
        decode, topics = self.decode_registry_event, list(REGISTRY_TOPICS)
        return await self._events(first_block, last_block, topics, decode, end_hash, registry)

    def decode_registry_event(self, entry: Any) -> RegistryEvent:
        """A FrozenSet or AllowedSet(account indexed, bool flag, by indexed), strictly: the topic
        count, the address padding, a flag of exactly 0 or 1, a non-zero account."""
        try:
            listed = entry["topics"] if isinstance(entry["topics"], list) else []
            first = "0x" + _bytes(listed[0]).hex() if listed else ""
            kind, name = REGISTRY_TOPICS.get(first, ("", ""))
            if not kind:
                raise ValueError("its first topic is neither FrozenSet nor AllowedSet")
            topics, data = _log_parts(entry, first, 2, 32, name)
            if any(topics[1][:12]) or any(topics[2][:12]):
                raise ValueError("an indexed address with non-zero padding")
            flag = int.from_bytes(data, "big")
            if flag > 1:
                raise ValueError(f"flag {flag} is not a bool (0 or 1)")
            if not any(topics[1]):
                raise ValueError("the zero account (a registry refuses it)")
            return RegistryEvent(
                kind=kind,
                account=_checksummed(topics[1][12:]),
                flag=flag == 1,
                block_number=_int(entry["blockNumber"]),
                block_hash=_hex(entry["blockHash"]),
                tx_hash=_hex(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
                by=_checksummed(topics[2][12:]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "FrozenSet or AllowedSet", exc) from exc

    async def registry_status(self, account: str, *, final: bool = True) -> RegistryStatus:
        """`account`'s flags in the endpoint's registry (`statusOf` and `freezesOf`) at one block:
        the final head by default, else the head."""
        try:
            who = to_checksum_address(account)
        except ValueError:
            raise ValueError(f"registry_status: {account!r} is not a 20-byte 0x address") from None
        registry = await self.registry_address()
        block = await self._read_block(final)

        async def get(ep: _Endpoint) -> tuple[Any, Any]:
            f = ep.w3.eth.contract(address=to_checksum_address(registry), abi=REGISTRY_ABI).functions
            status = await f.statusOf(who).call(block_identifier=block)
            return status, await f.freezesOf(who).call(block_identifier=block)

        (allowed, frozen), (compliance, bridge) = await self.call(get, "registry status")
        return RegistryStatus(bool(allowed), bool(frozen), bool(compliance), bool(bridge))

    # ---- the issuer's decisions, the asset's status and NAV (issue 19) ---------------------------

    async def issuer_events(
        self, registry: str, first_block: int, last_block: int, *, end_hash: str | None = None
    ) -> list[IssuerEvent]:
        """The IssuerAction events of the issuer registry at `registry` in [first_block,
        last_block], in log order, read and checked as transfers are (`_events`, quorum)."""
        address = to_checksum_address(registry)
        return await self._events(
            first_block, last_block, ISSUER_ACTION_TOPIC, self.decode_issuer_event, end_hash, address
        )

    def decode_issuer_event(self, entry: Any) -> IssuerEvent:
        """An IssuerAction(asset indexed, sequence indexed, op, account, to, amount, asOf, by
        indexed), strictly: topic count, padding, an op of one byte, uint64 sequence and asOf."""
        try:
            topics, data = _log_parts(entry, ISSUER_ACTION_TOPIC, 3, 160, "IssuerAction")
            words = [data[i : i + 32] for i in range(0, 160, 32)]
            if any(topics[1][:12]) or any(topics[3][:12]) or any(words[1][:12]) or any(words[2][:12]):
                raise ValueError("an address with non-zero padding")
            if any(topics[2][:24]) or any(words[4][:24]) or any(words[0][:31]):
                raise ValueError("a number wider than its type")
            return IssuerEvent(
                asset=_checksummed(topics[1][12:]),
                sequence=int.from_bytes(topics[2], "big"),
                op=words[0][31],
                account=_checksummed(words[1][12:]),
                to=_checksummed(words[2][12:]),
                amount=int.from_bytes(words[3], "big"),
                as_of=int.from_bytes(words[4], "big"),
                by=_checksummed(topics[3][12:]),
                block_number=_int(entry["blockNumber"]),
                block_hash=_hex(entry["blockHash"]),
                tx_hash=_hex(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "IssuerAction", exc) from exc

    async def token_registrations(self, first_block: int, last_block: int) -> list[tuple[int, str, str]]:
        """The endpoint's `TokenRegistered(remoteChainId, localToken, remoteToken)` events in
        [first_block, last_block], read and checked as transfers are (`_events`, quorum): (remote
        chain id, local token, remote token) in log order. Pairs never change once registered."""
        return await self._events(
            first_block, last_block, TOKEN_REGISTERED_TOPIC, self.decode_registration, None
        )

    def decode_registration(self, entry: Any) -> tuple[int, str, str]:
        """A TokenRegistered(remoteChainId indexed, localToken indexed, remoteToken indexed)."""
        try:
            topics, _ = _log_parts(entry, TOKEN_REGISTERED_TOPIC, 3, 0, "TokenRegistered")
            if any(topics[2][:12]) or any(topics[3][:12]):
                raise ValueError("an address with non-zero padding")
            return (
                int.from_bytes(topics[1], "big"),
                _checksummed(topics[2][12:]),
                _checksummed(topics[3][12:]),
            )
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "TokenRegistered", exc) from exc

    async def issuer_action_applied(self, token: str, sequence: int) -> bool:
        """Whether the gateway emitted `IssuerActionApplied(token, sequence)` up to the final head
        (read and checked as transfers are), reading back from the final head in
        `max_block_range` steps down to `start_block`: a decision just applied is found at once;
        one whose turn passed without it (skipped) costs one full read, once."""
        who = to_checksum_address(token)
        last = await self.final_head()
        while last >= self.cfg.start_block:
            first = max(self.cfg.start_block, last - self.cfg.max_block_range + 1)
            decode = self.decode_issuer_applied
            for t, s in await self._events(first, last, ISSUER_APPLIED_TOPIC, decode, None):
                if (t, s) == (who, sequence):
                    return True
            last = first - 1
        return False

    def decode_issuer_applied(self, entry: Any) -> tuple[str, int]:
        """An IssuerActionApplied(token indexed, sequence indexed, op): (token, sequence)."""
        try:
            topics, _ = _log_parts(entry, ISSUER_APPLIED_TOPIC, 2, 32, "IssuerActionApplied")
            if any(topics[1][:12]) or any(topics[2][:24]):
                raise ValueError("an address with non-zero padding, or a number wider than uint64")
            return (_checksummed(topics[1][12:]), int.from_bytes(topics[2], "big"))
        except Exception as exc:
            raise _malformed(self.cfg.name, entry, "IssuerActionApplied", exc) from exc

    async def issuer_registry_sequence(self, registry: str, asset: str) -> int:
        """`sequenceOf(asset)` of the issuer registry at `registry` at the final head: the number
        of the issuer's last decision about `asset` (0: none)."""
        block = await self._read_block(True)
        at, who = to_checksum_address(registry), to_checksum_address(asset)

        async def get(ep: _Endpoint) -> int:
            f = ep.w3.eth.contract(address=at, abi=ISSUER_REGISTRY_ABI).functions
            return int(await f.sequenceOf(who).call(block_identifier=block))

        sequence: int = await self.call(get, "sequenceOf")
        return sequence

    async def local_token_of(self, remote_chain_id: int, remote_token: str) -> str:
        """`localTokenOf(remote, token)` at the final head: the token of this endpoint paired with
        `remote_token` on `remote_chain_id` (the zero address if none), from an endpoint not
        quarantined: a member signs from it."""
        block = await self._read_block(True)
        who = to_checksum_address(remote_token)

        async def get(ep: _Endpoint) -> str:
            f = ep.w3.eth.contract(address=ep.contract.address, abi=GATEWAY_ABI).functions
            return str(await f.localTokenOf(remote_chain_id, who).call(block_identifier=block))

        token: str = await self.call(get, "localTokenOf", trusted=True)
        return to_checksum_address(token)

    async def issuer_sequence(self, token: str, *, final: bool = False) -> int:
        """`issuerSequence(token)` (IssuerModule, through the gateway's fallback): the number of
        the issuer's last decision applied (or recorded failed) for `token` here, from an endpoint
        not quarantined: a member signs from it."""
        block = await self._read_block(final)
        who = to_checksum_address(token)

        async def get(ep: _Endpoint) -> int:
            f = ep.w3.eth.contract(address=ep.contract.address, abi=ISSUER_MODULE_ABI).functions
            return int(await f.issuerSequence(who).call(block_identifier=block))

        sequence: int = await self.call(get, "issuerSequence", trusted=True)
        return sequence

    async def issuer_action_failed(self, token: str, sequence: int) -> bool:
        """`issuerActionFailed(token, sequence)` at the final head: whether the token refused it
        (from an endpoint not quarantined: a member signs from it)."""
        block = await self._read_block(True)
        who = to_checksum_address(token)

        async def get(ep: _Endpoint) -> bool:
            f = ep.w3.eth.contract(address=ep.contract.address, abi=ISSUER_MODULE_ABI).functions
            return bool(await f.issuerActionFailed(who, sequence).call(block_identifier=block))

        failed: bool = await self.call(get, "issuerActionFailed", trusted=True)
        return failed

    async def issuer_scheduled(self, token: str, sequence: int, *, final: bool = True) -> IssuerScheduledView:
        """`issuerActionScheduled(token, sequence)` (IssuerModule) at the final head (or the head):
        the forced transfer or recovery decision `sequence` of `token` scheduled, and its status
        (from an endpoint not quarantined: a member acts on it)."""
        block = await self._read_block(final)
        who = to_checksum_address(token)

        async def get(ep: _Endpoint) -> Any:
            f = ep.w3.eth.contract(address=ep.contract.address, abi=ISSUER_MODULE_ABI).functions
            return await f.issuerActionScheduled(who, sequence).call(block_identifier=block)

        account, _op, status, executable_at, to, nonce, amount, held = await self.call(
            get, "issuerActionScheduled", trusted=True
        )
        return IssuerScheduledView(
            IssuerScheduleStatus(int(status)),
            int(executable_at),
            int(nonce),
            str(account),
            str(to),
            int(amount),
            int(held),
        )

    async def token_asset_state(self, token: str) -> AssetState:
        """A wrapped token's `assetStatus()` and `nav()` at the final head."""
        block = await self._read_block(True)
        who = to_checksum_address(token)

        async def get(ep: _Endpoint) -> AssetState:
            f = ep.w3.eth.contract(address=who, abi=TOKEN_ASSET_ABI).functions
            status = int(await f.assetStatus().call(block_identifier=block))
            nav, as_of = await f.nav().call(block_identifier=block)
            return AssetState(status, int(nav), int(as_of))

        state: AssetState = await self.call(get, "token asset state")
        return state

    async def issuer_asset_state(self, registry: str, asset: str) -> AssetState:
        """An asset's `assetStatus(asset)` and `navOf(asset)` in the issuer registry at
        `registry` (the consortium chain's), at the final head."""
        block = await self._read_block(True)
        at, who = to_checksum_address(registry), to_checksum_address(asset)

        async def get(ep: _Endpoint) -> AssetState:
            f = ep.w3.eth.contract(address=at, abi=ISSUER_REGISTRY_ABI).functions
            status = int(await f.assetStatus(who).call(block_identifier=block))
            nav, as_of = await f.navOf(who).call(block_identifier=block)
            return AssetState(status, int(nav), int(as_of))

        state: AssetState = await self.call(get, "issuer asset state")
        return state

    async def chain_time(self) -> int:
        """The timestamp of the latest block (the clock the endpoint's action delay runs on)."""

        async def get(ep: _Endpoint) -> int:
            return int((await ep.w3.eth.get_block("latest"))["timestamp"])

        return await self.call(get, "get_block(latest)")


@functools.lru_cache(maxsize=1 << 16)
def _checksummed(raw: bytes) -> str:
    """EIP-55 form of a 20-byte address, once per distinct address (a keccak each)."""
    return to_checksum_address(raw)


def _log_parts(entry: Any, topic: str, indexed: int, size: int, what: str) -> tuple[list[bytes], bytes]:
    """The topics and data of a raw log of event `what`, with their shape checked."""
    topics = [_bytes(t) for t in entry["topics"]]
    if len(topics) != indexed + 1 or "0x" + topics[0].hex() != topic:
        raise ValueError(f"expected the {what} signature and {indexed} indexed topics, got {len(topics) - 1}")
    if any(len(t) != 32 for t in topics):
        raise ValueError("malformed indexed topics")
    data = _bytes(entry["data"])
    if len(data) != size:
        raise ValueError(f"data of {len(data)} bytes, expected {size}")
    return topics, data


def _log_key(entry: Any) -> tuple[Any, ...]:
    """What endpoints must agree on about one raw log (other fields vary between node clients)."""
    if not isinstance(entry, dict):
        return (repr(entry),)
    topics = entry.get("topics")
    return (
        str(entry.get("address", "")).lower(),
        str(entry.get("blockNumber", "")).lower(),
        str(entry.get("blockHash", "")).lower(),
        str(entry.get("transactionHash", "")).lower(),
        str(entry.get("logIndex", "")).lower(),
        tuple(str(t).lower() for t in topics) if isinstance(topics, list) else repr(topics),
        str(entry.get("data", "")).lower(),
    )


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


def _raise_call_error(reply: dict[str, Any], what: str) -> None:
    """Nothing if an eth_call's `reply` carries no error. A revert raises ContractLogicError, by
    web3's own rule for eth_call (the error's code 3, its data, "execution reverted"), as its
    contract call does; any other error, and an error object that is not JSON-RPC's (no integer
    code: web3 refuses such a reply as malformed before reading it), is the endpoint's
    (RpcReplyError: the next endpoint is asked)."""
    error = reply.get("error")
    if error is None:
        return
    if isinstance(error, dict) and isinstance(error.get("code"), int) and not isinstance(error["code"], bool):
        raise_contract_logic_error_on_revert(cast(RPCResponse, reply))
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    raise RpcReplyError(f"{what}: {message}")


def _uint_reply(reply: Any, what: str) -> int:
    """The uint256 a raw eth_call `reply` returns; a revert raises ContractLogicError, classified
    by web3's own rule for eth_call (the error's code 3, its data, "execution reverted"), as its
    contract call does (deterministic: `ChainClient.call` asks no other endpoint); any other error
    is the endpoint's (RpcReplyError: the next endpoint is asked)."""
    if not isinstance(reply, dict):
        raise RpcReplyError(f"{what}: {reply!r}")
    _raise_call_error(reply, what)
    result = reply.get("result")
    if not isinstance(result, str) or not result.startswith("0x") or len(result) != 66:
        raise RpcReplyError(f"{what}: not one 32-byte word: {str(result)[:80]!r}")
    return int(result, 16)


@dataclass(frozen=True, slots=True)
class _View:
    """A view function of the endpoint's ABI, for raw `eth_call`s (`ChainClient._views`)."""

    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def data(self, args: tuple[Any, ...]) -> str:
        return "0x" + (self.selector + abi_encode(list(self.inputs), list(args))).hex()


def _view_table(abi: list[dict[str, Any]]) -> dict[str, _View]:
    """The ABI's view functions by name, those `_view_reply` can decode as web3 would: not
    overloaded, and returning no address (web3's normalizers checksum those; eth_abi does not)."""
    functions = [cast(ABIFunction, f) for f in abi if f.get("type") == "function"]
    names = [f["name"] for f in functions]
    table: dict[str, _View] = {}
    for f in functions:
        outputs = tuple(get_abi_output_types(f))
        decodable = not any("address" in t for t in outputs)
        if f.get("stateMutability") in ("view", "pure") and names.count(f["name"]) == 1 and decodable:
            inputs = tuple(get_abi_input_types(f))
            table[f["name"]] = _View(f["name"], function_abi_to_4byte_selector(f), inputs, outputs)
    return table


ENDPOINT_VIEWS = _view_table(ENDPOINT_ABI)


def _view_reply(view: _View, reply: Any, what: str) -> Any:
    """A raw eth_call's `reply` to `view`, decoded as web3's contract call returns it (one output:
    its value; several: a tuple). A revert is ContractLogicError, any other error the endpoint's,
    as in `_uint_reply`; so is a result that is not the outputs' encoding (an empty one: no code
    at the endpoint's address on this endpoint's chain, or a node not synced to the block)."""
    if not isinstance(reply, dict):
        raise RpcReplyError(f"{what}: {reply!r:.200}")
    _raise_call_error(reply, what)
    try:
        values = abi_decode(list(view.outputs), _bytes(reply.get("result")))
    except (DecodingError, ValueError) as exc:
        raise RpcReplyError(
            f"{what}: the reply {str(reply.get('result'))[:80]!r} is not {view.name}'s "
            f"({', '.join(view.outputs)}): is the endpoint's address right, and the node synced? ({exc})"
        ) from None
    return values[0] if len(view.outputs) == 1 else tuple(values)


_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,16}")  # a block number: a uint64


def _block_hash_of(block: dict[str, Any], number: int) -> str:
    """The hash of a raw eth_getBlockByNumber result: 32 bytes of 0x-hex, or RpcReplyError (a
    block without a well-formed hash is the endpoint's fault, never compared as "None")."""
    value = block.get("hash")
    if not isinstance(value, str) or _HASH.fullmatch(value) is None:
        raise RpcReplyError(f"eth_getBlockByNumber({number}): hash {str(value)[:80]!r} is not 32-byte hex")
    return value.lower()


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def _batch_replies(replies: Any, count: int, what: str) -> list[dict[str, Any]]:
    """The replies of a JSON-RPC batch of `count` requests, in the order asked. web3 numbers a
    batch's requests consecutively and sorts the replies by id, so the ids must be consecutive,
    each once, or the replies cannot be matched to the requests: an RPC that drops, repeats or
    invents a reply is refused."""
    if not isinstance(replies, list) or len(replies) != count:
        raise RpcReplyError(f"{what}: {count} replies expected, got {replies!r:.200}")
    ids = [r.get("id") if isinstance(r, dict) else None for r in replies]
    first = ids[0] if count else 0
    if not isinstance(first, int) or ids != list(range(first, first + count)):
        raise RpcReplyError(f"{what}: reply ids {ids} do not match the requests")
    return cast(list[dict[str, Any]], replies)


def _send_replies(replies: Any, *, nonce: bool) -> SendReads:
    """`ChainClient.send_reads`' replies, checked: the call's error is passed on as the node gave
    it (the submitter decides what it means); the block must have a gas limit (a base fee is 0
    before London); the nonce a quantity. Anything else is the endpoint's error (RpcReplyError)."""
    count = 2 + int(nonce)
    call, block, *rest = _batch_replies(replies, count, "send reads batch")
    error = call.get("error")
    if error is None and not isinstance(call.get("result"), str):
        raise RpcReplyError(f"send reads batch: the call's reply {call!r:.200}")
    header = block.get("result")
    if "error" in block or not isinstance(header, dict):
        raise RpcReplyError(f"send reads batch: the latest block {block!r:.200}")
    base_fee = _int(header.get("baseFeePerGas") or 0)
    block_gas_limit = _int(header.get("gasLimit"))
    pending_nonce = None
    if nonce:
        reply = rest.pop(0)
        if "error" in reply:
            raise RpcReplyError(f"send reads batch: the nonce {reply!r:.200}")
        pending_nonce = _int(reply.get("result"))
    return SendReads(
        error if error is None else (error if isinstance(error, dict) else {"message": str(error)}),
        base_fee,
        block_gas_limit,
        pending_nonce,
    )


def unexecuted_count_data(src: ChainId, first: int, last: int) -> str:
    """The 0x-hex data of the endpoint's `unexecutedCount(src, first, last)`."""
    return "0x" + (UNEXECUTED_COUNT + abi_encode(["uint256", "uint64", "uint64"], [src, first, last])).hex()


def unexecuted_counts_call(endpoint: str, ranges: list[tuple[ChainId, int, int]]) -> bytes:
    """The data of an `eth_call` without a `to` address that answers `unexecutedCount` of each
    range (src, first, last) at `endpoint`: the UnexecutedCounts reader's creation code with its
    constructor's arguments (contracts/src/reader/UnexecutedCounts.sol)."""
    return UNEXECUTED_COUNTS_CODE + abi_encode(
        ["address", "(uint256,uint64,uint64)[]"], [endpoint, [tuple(r) for r in ranges]]
    )


# revert data as the endpoint gives it: hex, a 4-byte selector at least (a node's text in `data`,
# "err: OutOfGas ...", is not the endpoint's answer)
_REVERT_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2}){4,}")


class _ReaderUnsupported(RpcReplyError):
    """A node answered the UnexecutedCounts reader's call with something other than counts or a
    revert with data: it does not run creation code by `eth_call` as the reader needs."""


def _counts_reply(reply: dict[str, Any], count: int, what: str) -> list[int]:
    """The counts of an UnexecutedCounts call's reply: `abi.encode(uint256[])` with exactly
    `count` entries, in the order asked. A revert with hex data (a range the endpoint refuses) is
    RpcReplyError; any other error, or a result of any other shape (another length, another
    offset, not hex: what a node that does not run creation code by `eth_call` gives back) is
    `_ReaderUnsupported`. Never matched to the wrong batches."""
    result = reply.get("result")
    error = reply.get("error")
    data = revert_data(error)
    if isinstance(data, str) and _REVERT_DATA.fullmatch(data):  # a selector at least: the endpoint's error
        raise RpcReplyError(f"{what}: the endpoint reverted: {reply!r:.200}")
    size = 64 + 32 * count
    if (
        error is not None
        or not isinstance(result, str)
        or not result.startswith("0x")
        or len(result) != 2 + 2 * size
    ):
        raise _ReaderUnsupported(f"{what}: not {count} counts: {reply!r:.200}")
    try:
        raw = bytes.fromhex(result[2:])
    except ValueError:
        raise _ReaderUnsupported(f"{what}: not hex: {reply!r:.200}") from None
    if len(raw) != size:  # fromhex skips whitespace
        raise _ReaderUnsupported(f"{what}: not hex: {reply!r:.200}")
    words = [int.from_bytes(raw[i : i + 32], "big") for i in range(0, size, 32)]
    if words[0] != 32 or words[1] != count:
        raise _ReaderUnsupported(f"{what}: not {count} counts: {reply!r:.200}")
    return words[2:]


def _word_reply(reply: dict[str, Any], what: str) -> int:
    """One `unexecutedCount` call's result in a JSON-RPC batch: exactly one 32-byte word, or
    RpcReplyError."""
    result = reply.get("result")
    if "error" in reply or not isinstance(result, str) or len(result) != 66 or not result.startswith("0x"):
        raise RpcReplyError(f"{what}: not one 32-byte word: {reply!r:.200}")
    try:
        raw = bytes.fromhex(result[2:])
    except ValueError:
        raise RpcReplyError(f"{what}: not hex: {reply!r:.200}") from None
    if len(raw) != 32:  # fromhex skips whitespace
        raise RpcReplyError(f"{what}: not hex: {reply!r:.200}")
    return int.from_bytes(raw, "big")
