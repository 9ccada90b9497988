"""One account's transaction sender on one chain: estimate, fees, nonce, sign, record, broadcast.

It sends with the next nonce the chain reports as pending unless told to replace one (so a dropped
transaction's nonce is reused and no gap can form), and hands every signed transaction to a
`record` callback before broadcasting it, so a crash cannot lose a transaction that went out; it
also reads receipts, the account's nonce and its balance. The sender owns no policy: which
transaction to send, when, and what a revert means is the submitter's (`relayer.pipeline.submitter`);
the fee arithmetic is pure (`relayer.core.txmath`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.types import RPCEndpoint, TxParams

from relayer import metrics
from relayer.adapters.chain import ChainClient, RpcReplyError, SendReads
from relayer.config import RelayerConfig
from relayer.core.notices import TxView
from relayer.core.states import TxRecord
from relayer.core.txmath import FeeRefusal, Fees, fees, gwei, send_fees, transaction

log = structlog.get_logger(__name__)


class Reverted(Exception):
    """A gas estimate the endpoint reverted; `data` is the revert data as the node gave it (a
    0x-hex string, or None), for `relayer.core.reverts`. Its text is the node's error's."""

    def __init__(self, message: str, data: object) -> None:
        super().__init__(message)
        self.data = data


@dataclass(frozen=True, slots=True)
class Receipt:
    """The fields of a mined transaction's receipt the submitter uses. The fee fields are None
    when the endpoint leaves them out (not every node reports `effectiveGasPrice`): only the
    fee metrics read them, never a decision."""

    status: int  # 1 executed, 0 reverted
    block_number: int
    gas_used: int | None
    effective_gas_price: int | None


@dataclass(frozen=True, slots=True)
class Quote:
    """What a send needs from the node besides the gas: the fees and, for a new transaction, the
    account's pending nonce; read together, while the estimate runs (`TxSender.quote`)."""

    fees: Fees
    pending_nonce: int | None


def _quantity(raw: dict[str, Any], field: str, tx_hash: str) -> int:
    value = raw.get(field)
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcReplyError(
        f"eth_getTransactionReceipt({tx_hash}): {field} is {value!r:.80}, not a hex quantity; "
        "the node's answer is malformed (check the RPC endpoint)"
    )


def _optional_quantity(raw: dict[str, Any], field: str, tx_hash: str) -> int | None:
    return None if raw.get(field) is None else _quantity(raw, field, tx_hash)


def _rpc_result(reply: Any, what: str) -> Any:
    """The `result` of a raw JSON-RPC reply. An error, or a reply with no result at all (a
    proxy's, a rate limiter's), is no answer: RpcReplyError, never read as a null result ("not
    mined", "dropped": the submitter would send again)."""
    if not isinstance(reply, dict):
        raise RpcReplyError(f"{what}: not a JSON-RPC reply: {reply!r:.120}")
    error = reply.get("error")
    if error is not None:
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RpcReplyError(f"{what}: {message}")
    if "result" not in reply:
        raise RpcReplyError(f"{what}: neither result nor error: {reply!r:.120}")
    return reply["result"]


def receipt_of_reply(reply: Any, tx_hash: str) -> Receipt | None:
    """The `Receipt` in a raw `eth_getTransactionReceipt` reply; None when its result is null (not
    mined, or not known) or its block number is null (a node answering for a pending transaction).
    An error, a reply with no result, a receipt of another transaction or a field that is not a
    hex quantity raises RpcReplyError (nothing decided on it: the submitter's step is retried)."""
    raw = _rpc_result(reply, f"eth_getTransactionReceipt({tx_hash})")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RpcReplyError(f"eth_getTransactionReceipt({tx_hash}): result is {raw!r:.120}, not a receipt")
    got = raw.get("transactionHash")
    if got is not None and str(got).lower() != tx_hash.lower():
        raise RpcReplyError(
            f"eth_getTransactionReceipt({tx_hash}): the node answered with the receipt of {got}"
        )
    if raw.get("blockNumber") is None:
        return None  # a node that answers for a pending transaction: not mined yet
    return Receipt(
        status=_quantity(raw, "status", tx_hash),
        block_number=_quantity(raw, "blockNumber", tx_hash),
        gas_used=_optional_quantity(raw, "gasUsed", tx_hash),
        effective_gas_price=_optional_quantity(raw, "effectiveGasPrice", tx_hash),
    )


class TxSender:
    """Sends `account`'s transactions to `chain`'s endpoint contract."""

    def __init__(self, chain: ChainClient, account: LocalAccount, cfg: RelayerConfig) -> None:
        self.chain = chain
        self.account = account
        self.cfg = cfg

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def estimate(self, data: bytes) -> int:
        """eth_estimateGas of `data` sent to the endpoint; raises Reverted on a revert."""
        params: TxParams = {
            "from": self.account.address,
            "to": self.chain.endpoint.address,
            "data": HexStr("0x" + data.hex()),
        }
        try:
            return int(await self.chain.w3.eth.estimate_gas(params))
        except ContractLogicError as exc:
            raise Reverted(str(exc), exc.data) from exc

    async def fees(self) -> Fees:
        """The fees of a new transaction at the latest block's base fee, within the cap."""
        latest = await self.chain.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        return fees(base_fee, gwei(self.cfg.priority_fee_gwei), gwei(self.cfg.max_fee_gwei))

    async def confirmed_nonce(self) -> int:
        """The account's next nonce as of the latest block (the nonces below it are used)."""
        return int(await self.chain.w3.eth.get_transaction_count(self.account.address, "latest"))

    async def quote(self, with_nonce: bool) -> Quote:
        """The fees and (`with_nonce`) the pending nonce, both reads at once. Read under the
        account's send lock, it stays right until the send: nothing else sends meanwhile."""
        if not with_nonce:
            return Quote(await self.fees(), None)
        current, pending_nonce = await asyncio.gather(
            self.fees(), self.chain.w3.eth.get_transaction_count(self.account.address, "pending")
        )
        return Quote(current, int(pending_nonce))

    async def checked_quote(self, data: bytes, gas: int, with_nonce: bool) -> tuple[SendReads, Quote]:
        """In one round trip (`ChainClient.send_reads`): `data` run by `eth_call` with gas limit
        `gas` at the pending state, the fees and the pending nonce (`with_nonce`). Read under the
        account's send lock, like `quote`."""
        reads = await self.chain.send_reads(self.account.address, data, gas, nonce=with_nonce)
        current = fees(reads.base_fee, gwei(self.cfg.priority_fee_gwei), gwei(self.cfg.max_fee_gwei))
        return reads, Quote(current, reads.pending_nonce)

    async def send(
        self,
        data: bytes,
        gas: int,
        nonce: int | None,
        previous: TxRecord | None,
        record: Callable[[TxRecord], Awaitable[None]],
        what: dict[str, str],
        quote: Quote | None = None,
        exact: bool = False,
    ) -> TxRecord | None:
        """Send `data` to the endpoint with gas estimate `gas`: EIP-1559 fees within the cap (a
        replacement of `previous` bumped by `fee_bump_percent`), the account's pending nonce
        unless `nonce` is given, signed, `record`ed before broadcast (a crash cannot lose it),
        broadcast. None when fees would exceed the cap (nothing is sent); `what` names the
        transaction in the log. A `quote` read beforehand (under the same send lock) saves
        reading the fees and nonce here. With `exact`, `gas` is the gas limit itself (a bound
        the caller checked), not an estimate to pad."""
        if quote is None or (nonce is None and quote.pending_nonce is None):
            quote = await self.quote(nonce is None)
        current = quote.fees
        if nonce is None:
            assert quote.pending_nonce is not None
            nonce = quote.pending_nonce
        cap = gwei(self.cfg.max_fee_gwei)
        fee = send_fees(current, cap, previous, self.cfg.fee_bump_percent)
        if fee is FeeRefusal.CAP_REACHED:
            assert previous is not None  # only a replacement is refused for its bump
            metrics.FEE_CAP_REACHED.labels(str(self.chain.chain_id)).inc()
            log.warning("fee_cap_reached", **what, tx=previous.tx_hash, cap=cap)
            return None
        if fee is FeeRefusal.BASE_FEE_ABOVE_CAP:
            metrics.FEE_CAP_REACHED.labels(str(self.chain.chain_id)).inc()
            log.warning("base_fee_above_cap", **what, base_fee=current.base_fee, cap=cap)
            return None
        assert isinstance(fee, Fees)
        tx = transaction(self.chain.chain_id, nonce, self.chain.endpoint.address, data, gas, fee, exact=exact)
        signed = self.account.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        tx_record = TxRecord(
            tx_hash,
            self.chain.chain_id,
            self.account.address,
            nonce,
            fee.max_fee,
            fee.priority_fee,
            time.time(),
        )
        await record(tx_record)  # recorded before broadcast: a crash cannot lose it
        await self.chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        return tx_record

    async def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of `tx_hash`, None while it is not mined (or not known).

        A raw request, read by `receipt_of_reply`: a batch's receipt carries a log per mint (100
        to 400), and web3's formatters turned every one into an AttributeDict of HexBytes that
        nothing reads; under a backlog each transaction in flight is followed every poll until
        its block is final (12 % of a member's CPU in a drain, benchmarks/notes.md)."""
        reply = await self.chain.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash])
        return receipt_of_reply(reply, tx_hash)

    async def known(self, tx_hash: str) -> bool:
        """Whether the node knows `tx_hash` (pending or mined); False once it was dropped."""
        # raw: a batch's transaction carries its calldata (tens of kB), which web3 would format
        reply = await self.chain.w3.provider.make_request(RPCEndpoint("eth_getTransactionByHash"), [tx_hash])
        found = _rpc_result(reply, f"eth_getTransactionByHash({tx_hash})")
        if found is not None and not isinstance(found, dict):
            raise RpcReplyError(
                f"eth_getTransactionByHash({tx_hash}): result is {found!r:.120}, not a transaction"
            )
        return found is not None

    async def view(self, tx_hash: str) -> TxView | None:
        """What the node says of `tx_hash` (recipient, input, mined or not); None if unknown."""
        try:
            raw = await self.chain.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        to, data = raw.get("to"), raw.get("input", b"")
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        return TxView(None if to is None else str(to), bytes(data), raw.get("blockNumber") is not None)

    async def balance(self) -> int:
        """The account's balance in wei."""
        return int(await self.chain.w3.eth.get_balance(self.account.address))
