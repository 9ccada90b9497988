"""Key rotation: the message the current committee signs to install a new group key on-chain.

A rotation is a fresh DKG (a new secret, for when shares may be compromised) plus a call to the
endpoint's `rotateKey(keyEpoch, newGroupKey, signature)`, where `signature` is the current
committee's threshold signature, under the current key epoch, on

    message = keccak256(abi.encode(ROTATE_TYPEHASH, "QIAO-V1", chainId, endpoint, keyEpoch,
                                   actionNonce) || abi.encode(keccak256(newGroupKey)))

with newGroupKey the new group key in its 256-byte EIP-2537 form and actionNonce the endpoint's
`actionNonce()` (every committee-signed action consumes one). This mirrors `actionMessage` in
contracts/src/QiaoEndpoint.sol. Each member signs the message with its current share
(`partial_sign`), and any t partials combine (`combine`). `rotateKey` only schedules the rotation
(event `ActionScheduled`); once the endpoint's `actionDelay()` has passed, anyone calls
`executePending(actionNonce)` and the new key becomes epoch keyEpoch + 1, unless the guardian
cancelled it meanwhile (docs/PROTOCOL.md, "Signed actions").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from committee.bls import BlsBackend, default_backend
from committee.threshold import KeyShare, combine, partial_sign, verify

__all__ = ["ROTATE_TYPEHASH", "VERSION", "rotation_message", "sign_rotation"]

VERSION: Final = "QIAO-V1"
ROTATE_TYPEHASH: Final = keccak(
    b"QiaoRotateKey(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,"
    b"bytes32 newKeyHash)"
)


def rotation_message(
    chain_id: int,
    endpoint: str,
    key_epoch: int,
    action_nonce: int,
    new_group_key: bytes,
    backend: BlsBackend | None = None,
) -> bytes:
    """The 32-byte message that rotates `endpoint` on `chain_id` to `new_group_key` (compressed
    G2, 96 bytes), signed under the current `key_epoch` at the endpoint's `action_nonce`."""
    new_key = default_backend(backend).g2_to_eip2537(new_group_key)
    head = encode(
        ["bytes32", "string", "uint256", "address", "uint64", "uint64"],
        [ROTATE_TYPEHASH, VERSION, chain_id, endpoint, key_epoch, action_nonce],
    )
    return keccak(head + encode(["bytes32"], [keccak(new_key)]))


def sign_rotation(
    shares: Sequence[KeyShare],
    chain_id: int,
    endpoint: str,
    action_nonce: int,
    new_group_key: bytes,
    backend: BlsBackend | None = None,
) -> bytes:
    """The current committee's signature (48 bytes) on the rotation, from t or more current shares.

    In production each member signs on its own machine and only the partials travel; this helper
    is for tests, the devnet and tools that hold partials already."""
    if not shares:
        raise ValueError("no shares to sign with")
    public = shares[0].public
    message = rotation_message(chain_id, endpoint, public.key_epoch, action_nonce, new_group_key, backend)
    partials = {s.index: partial_sign(s, message, backend) for s in shares}
    signature = combine(public, partials, backend)
    if not verify(public.group_public_key, message, signature, backend):
        raise ValueError("the shares are not of one committee: the rotation signature does not verify")
    return signature
