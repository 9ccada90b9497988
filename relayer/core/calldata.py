"""The calldata of the endpoint's `executeBatch`, `refund` and `releaseQueued` calls and of the
committee-signed actions (`action_call_data`, `execute_pending_data`), built without I/O.

`execute_batch_call` and `refund_call` take a web3 contract (sync or async, with the endpoint ABI)
and return the call, ready to `.call()`, `.estimate_gas()` or `.build_transaction()`;
`execute_batch_data` encodes the same `executeBatch` calldata with eth_abi directly (the submitter's
hot path). Signatures in the 48-byte compressed G1 wire form are converted to EIP-2537 first.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from committee.bls import g1_to_eip2537, g2_to_eip2537
from relayer.core.encoding import check_action_params, issuer_fields, resume_fields, uncurse_fields
from relayer.core.types import Batch, Transfer, execute_batch_args

SIGNATURE_WIRE_LENGTH = 48


def execute_batch_call(endpoint: Any, batch: Batch, signature: bytes) -> Any:
    """The `executeBatch` call of `batch` on `endpoint` (a web3 contract, sync or async, with
    the endpoint ABI), ready to `.call()`, `.estimate_gas()` or `.build_transaction()`.

    `signature` is the 48-byte compressed G1 wire form (converted to EIP-2537) or anything else,
    passed to the contract unchanged (the 128-byte EIP-2537 form; a malformed one is the
    contract's to refuse). The batch goes packed (`relayer.core.types.execute_batch_args`)."""
    if len(signature) == SIGNATURE_WIRE_LENGTH:
        signature = g1_to_eip2537(signature)
    return endpoint.functions.executeBatch(*execute_batch_args(batch, signature))


_PACKED_BATCH_TYPE = "(uint256,uint256,uint64,(address,address)[],bytes,(address,address,uint256)[])"
_EXECUTE_BATCH_TYPES = ["uint64", _PACKED_BATCH_TYPE, "bytes"]
EXECUTE_BATCH_SIGNATURE = f"executeBatch({','.join(_EXECUTE_BATCH_TYPES)})"
EXECUTE_BATCH_SELECTOR = keccak(text=EXECUTE_BATCH_SIGNATURE)[:4]


def execute_batch_data(batch: Batch, signature: bytes) -> bytes:
    """The calldata of `execute_batch_call(endpoint, batch, signature).build_transaction()`,
    encoded with eth_abi directly: web3's encoder re-validated every address of a 100-transfer
    batch with keccak twice per send and was most of a relayer's CPU (docs/BENCHMARKS.md)."""
    if len(signature) == SIGNATURE_WIRE_LENGTH:
        signature = g1_to_eip2537(signature)
    epoch, (src, dst, first, pairs, pair_of, transfers), sig = execute_batch_args(batch, signature)
    raw = [
        epoch,
        (
            src,
            dst,
            first,
            [(_address(a), _address(b)) for a, b in pairs],
            pair_of,
            [(_address(sender), _address(recipient), amount) for sender, recipient, amount in transfers],
        ),
        sig,
    ]
    return EXECUTE_BATCH_SELECTOR + abi_encode(_EXECUTE_BATCH_TYPES, raw)


def _address(value: str) -> bytes:
    """20 raw bytes of an address already checked when its Transfer was made."""
    return bytes.fromhex(value[2:])


def refund_call(endpoint: Any, key_epoch: int, transfer: Transfer, signature: bytes) -> Any:
    """The `refund(keyEpoch, transfer, signature)` call on the transfer's source `endpoint`
    (48-byte signatures are converted to EIP-2537 as for batches)."""
    if len(signature) == SIGNATURE_WIRE_LENGTH:
        signature = g1_to_eip2537(signature)
    return endpoint.functions.refund(key_epoch, transfer.as_abi_tuple(), signature)


def refund_data(endpoint: Any, key_epoch: int, transfer: Transfer, signature: bytes) -> bytes:
    """The calldata of `refund_call(endpoint, key_epoch, transfer, signature)` (web3's encoder)."""
    call = refund_call(endpoint, key_epoch, transfer, signature)
    return bytes.fromhex(call._encode_transaction_data()[2:])


_TRANSFER_TYPE = "(uint256,uint256,uint64,address,address,address,address,uint256)"
RELEASE_QUEUED_SELECTOR = keccak(text=f"releaseQueued({_TRANSFER_TYPE})")[:4]


def release_data(transfer: Transfer) -> bytes:
    """The calldata of `releaseQueued(t)`: delivers a transfer its destination held for its
    challenge window or queued by its rate limit, with the fields that were signed (anyone may
    send it; relayer.core.releases)."""
    t = transfer
    raw = (
        t.src_chain_id,
        t.dst_chain_id,
        t.nonce,
        _address(t.src_token),
        _address(t.dst_token),
        _address(t.sender),
        _address(t.recipient),
        t.amount,
    )
    return RELEASE_QUEUED_SELECTOR + abi_encode([_TRANSFER_TYPE], [raw])


# ---- committee-signed actions (docs/PROTOCOL.md, "Signed actions") -------------------------------

_ACTION_CALLS: dict[str, tuple[str, list[str]]] = {
    "pause": ("pauseWithSignature", ["uint64", "bytes"]),
    "resume": ("resume", ["uint64", "uint64", "bytes"]),
    "rotate": ("rotateKey", ["uint64", "bytes", "bytes"]),
    "freeze": ("applyFreeze", ["uint64", "address", "bool", "bytes"]),
    "allow": ("applyAllow", ["uint64", "address", "bool", "bytes"]),
    "uncurse": ("uncurse", ["uint64", "uint256", "uint64", "bytes"]),
    "issuer": (
        "applyIssuerAction",
        ["uint64", "(address,uint64,uint8,address,address,uint256,uint64)", "bytes"],
    ),
}
ACTION_SELECTORS: dict[str, bytes] = {
    kind: keccak(text=f"{name}({','.join(types)})")[:4] for kind, (name, types) in _ACTION_CALLS.items()
}
EXECUTE_PENDING_SELECTOR = keccak(text="executePending(uint64)")[:4]
EXECUTE_ISSUER_SELECTOR = keccak(text="executeIssuerAction(address,uint64)")[:4]
G2_COMPRESSED_LENGTH = 96
G2_EIP2537_LENGTH = 256


def action_call_data(
    kind: str, key_epoch: int, params: bytes, signature: bytes, *, new_key: bytes | None = None
) -> bytes:
    """The calldata that submits a signed action of `kind` to its endpoint: `pauseWithSignature`,
    `resume`, `rotateKey`, `applyFreeze` (gateway), `applyAllow` (gateway), `uncurse` or
    `applyIssuerAction` (gateway, IssuerModule). `params`
    are the signed fields (`relayer.core.encoding.action_params`); resume takes its deadline from
    them (the pause count is the endpoint's own), freeze and allow the account and flag, uncurse
    the route's remote chain id and the curse count. `new_key`
    (rotate only): the new group key, 96-byte compressed G2 or its 256-byte EIP-2537 form, whose
    keccak256 must be the hash in `params`. `signature` as for batches (48-byte wire form
    converted to EIP-2537)."""
    check_action_params(kind, params)  # the kind too
    if (new_key is not None) != (kind == "rotate"):
        raise ValueError(f"action_call_data({kind!r}): new_key is for rotate only, and rotate needs it")
    if len(signature) == SIGNATURE_WIRE_LENGTH:
        signature = g1_to_eip2537(signature)
    args: list[Any]
    if kind == "rotate":
        assert new_key is not None
        if len(new_key) == G2_COMPRESSED_LENGTH:
            new_key = g2_to_eip2537(new_key)
        if len(new_key) != G2_EIP2537_LENGTH:
            raise ValueError(
                f"action_call_data('rotate'): new_key of {len(new_key)} bytes; give the 96-byte "
                "compressed G2 key or its 256-byte EIP-2537 form"
            )
        if keccak(new_key) != params:
            raise ValueError("action_call_data('rotate'): keccak256(new_key) is not the hash in params")
        args = [key_epoch, new_key, signature]
    elif kind == "resume":
        args = [key_epoch, resume_fields(params)[1], signature]
    elif kind in ("freeze", "allow"):
        args = [key_epoch, params[12:32], params[63] == 1, signature]
    elif kind == "uncurse":
        args = [key_epoch, *uncurse_fields(params), signature]
    elif kind == "issuer":
        f = issuer_fields(params)
        args = [key_epoch, (f.token, f.sequence, f.op, f.account, f.to, f.amount, f.as_of), signature]
    else:
        args = [key_epoch, signature]
    return ACTION_SELECTORS[kind] + abi_encode(_ACTION_CALLS[kind][1], args)


def execute_pending_data(nonce: int) -> bytes:
    """The calldata of `executePending(nonce)`: applies the RESUME, ROTATE or UNCURSE scheduled under
    action nonce `nonce` once the endpoint's delay has passed (anyone may send it)."""
    if not 0 <= nonce < 2**64:
        raise ValueError(f"execute_pending_data: action nonce {nonce} is not a uint64")
    return EXECUTE_PENDING_SELECTOR + abi_encode(["uint64"], [nonce])


def execute_issuer_data(token: str, sequence: int) -> bytes:
    """The calldata of `executeIssuerAction(token, sequence)` (gateway, IssuerModule): moves the
    tokens of the forced transfer or recovery scheduled by decision `sequence` of `token` once
    the endpoint's delay has passed, or closes it if the guardian cancelled every scheduled
    action (anyone may send it)."""
    if not 0 < sequence < 2**64:
        raise ValueError(f"execute_issuer_data: decision number {sequence} is not a positive uint64")
    if not isinstance(token, str) or len(token) != 42 or not token.startswith("0x"):
        raise ValueError(f"execute_issuer_data: token {token!r} is not a 0x address")
    return EXECUTE_ISSUER_SELECTOR + abi_encode(["address", "uint64"], [token, sequence])
