"""The bytes the committee signs, computed exactly as the contracts do (docs/PROTOCOL.md).

Pure functions: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from relayer.core.types import Batch, Transfer

VERSION = "QIAO-V1"
TRANSFER_TYPEHASH = keccak(
    b"QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,"
    b"address dstToken,address sender,address recipient,uint256 amount)"
)
BATCH_TYPEHASH = keccak(
    b"QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,"
    b"uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
)


def leaf_hash(t: Transfer) -> bytes:
    """keccak(abi.encode(TRANSFER_TYPEHASH, t's eight fields)). Every field is a static type, so
    the encoding is nine 32-byte words, built here directly: eth_abi re-validated the four
    addresses with keccak each, and a catch-up hashes tens of thousands of leaves
    (`leaf_hash_reference` is the eth_abi form; a test holds them equal)."""
    return keccak(
        b"".join(
            (
                TRANSFER_TYPEHASH,
                t.src_chain_id.to_bytes(32, "big"),
                t.dst_chain_id.to_bytes(32, "big"),
                t.nonce.to_bytes(32, "big"),
                _address_word(t.src_token),
                _address_word(t.dst_token),
                _address_word(t.sender),
                _address_word(t.recipient),
                t.amount.to_bytes(32, "big"),
            )
        )
    )


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:])
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return bytes(12) + raw


def leaf_hash_reference(t: Transfer) -> bytes:
    """`leaf_hash` through eth_abi, kept as the reference the fast form is tested against."""
    return keccak(
        encode(
            [
                "bytes32",
                "uint256",
                "uint256",
                "uint64",
                "address",
                "address",
                "address",
                "address",
                "uint256",
            ],
            [
                TRANSFER_TYPEHASH,
                t.src_chain_id,
                t.dst_chain_id,
                t.nonce,
                t.src_token,
                t.dst_token,
                t.sender,
                t.recipient,
                t.amount,
            ],
        )
    )


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Ordered pairwise keccak; an odd last node is carried up unchanged, never duplicated."""
    if not leaves:
        raise ValueError("merkle_root: no leaves")
    level = list(leaves)
    for leaf in level:
        if len(leaf) != 32:
            raise ValueError("merkle_root: every leaf must be 32 bytes")
    while len(level) > 1:
        nxt = [keccak(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root (levels where it is carried are skipped)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"merkle_proof: index {index} outside 0..{len(leaves) - 1}")
    proof: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        nxt = [keccak(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, index = nxt, index // 2
    return proof


def batch_root(batch: Batch) -> bytes:
    return merkle_root([leaf_hash(t) for t in batch.transfers])


def batch_message(batch: Batch, root: bytes | None = None) -> bytes:
    """The 32-byte message every member signs for `batch` (`root`: its `batch_root`, if the
    caller has it already)."""
    bid = batch.id
    if root is None:
        root = batch_root(batch)
    return keccak(
        encode(
            [
                "bytes32",
                "string",
                "uint256",
                "uint256",
                "address",
                "uint64",
                "uint64",
                "uint64",
                "bytes32",
            ],
            [
                BATCH_TYPEHASH,
                VERSION,
                bid.route.src,
                bid.route.dst,
                batch.dst_contract,
                batch.key_epoch,
                bid.first_nonce,
                bid.last_nonce,
                root,
            ],
        )
    )


REFUND_TYPEHASH = keccak(
    b"QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,bytes32 transferLeaf)"
)


def refund_message(t: Transfer, src_endpoint: str, key_epoch: int) -> bytes:
    """The 32-byte REFUND message for `t`, signed for its **source** endpoint `src_endpoint`
    (the contract's `refundMessage(keyEpoch, t)`; its chain id is `t.src_chain_id`)."""
    if key_epoch < 1:
        raise ValueError(f"refund_message: key epoch {key_epoch} is not a valid epoch (>= 1)")
    return keccak(
        encode(
            ["bytes32", "string", "uint256", "address", "uint64", "bytes32"],
            [REFUND_TYPEHASH, VERSION, t.src_chain_id, src_endpoint, key_epoch, leaf_hash(t)],
        )
    )


# ---- committee-signed actions (docs/PROTOCOL.md, "Signed actions") -------------------------------

_ACTION_HEAD = "string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce"
ACTION_TYPEHASHES: dict[str, bytes] = {
    "pause": keccak(f"QiaoPause({_ACTION_HEAD})".encode()),
    "resume": keccak(f"QiaoResume({_ACTION_HEAD},uint64 pauseCount,uint64 deadline)".encode()),
    "rotate": keccak(f"QiaoRotateKey({_ACTION_HEAD},bytes32 newKeyHash)".encode()),
    "freeze": keccak(f"QiaoFreeze({_ACTION_HEAD},address account,bool frozen)".encode()),
    "allow": keccak(f"QiaoAllow({_ACTION_HEAD},address account,bool allowed)".encode()),
    "uncurse": keccak(f"QiaoUncurse({_ACTION_HEAD},uint256 remoteChainId,uint64 curseCount)".encode()),
    "issuer": keccak(
        f"QiaoIssuerAction({_ACTION_HEAD},address token,uint64 sequence,uint8 op,address account,"
        "address to,uint256 amount,uint64 asOf)".encode()
    ),
}
"""Each action kind's type hash, as the endpoint's PAUSE_TYPEHASH ... ALLOW_TYPEHASH (the
gateway's), UNCURSE_TYPEHASH (a route cursed by the sentinels, lifted after the action delay),
ISSUER_TYPEHASH (the gateway's IssuerModule: an issuer's decision recorded on C)."""
_PARAMS_SIZE = {
    "pause": 0,
    "resume": 64,
    "rotate": 32,
    "freeze": 64,
    "allow": 64,
    "uncurse": 64,
    "issuer": 224,
}
_PARAMS_SHAPE = {
    "pause": "no fields",
    "resume": "abi.encode(uint64 pauseCount, uint64 deadline)",
    "rotate": "abi.encode(bytes32 newKeyHash)",
    "freeze": "abi.encode(address account, bool frozen)",
    "allow": "abi.encode(address account, bool allowed)",
    "uncurse": "abi.encode(uint256 remoteChainId, uint64 curseCount)",
    "issuer": "abi.encode(address token, uint64 sequence, uint8 op, address account, address to, "
    "uint256 amount, uint64 asOf)",
}
_UINT64 = 2**64


def _action_kind(kind: str) -> str:
    if kind not in ACTION_TYPEHASHES:
        raise ValueError(f"{kind!r} is not an action kind (one of {', '.join(ACTION_TYPEHASHES)})")
    return str(kind)


def action_params(
    kind: str,
    *,
    account: str | None = None,
    flag: bool | None = None,
    new_key_hash: bytes | None = None,
    pause_count: int | None = None,
    deadline: int | None = None,
    remote_chain_id: int | None = None,
    curse_count: int | None = None,
) -> bytes:
    """The ABI-encoded fields of an action of `kind`: b"" for pause;
    abi.encode(uint64 pauseCount, uint64 deadline) for resume (the endpoint's `pauseCount()` in
    the pause it lifts, at least 1, and the last block timestamp it may be submitted at: the
    proposal's expiry); abi.encode(bytes32 newKeyHash) for rotate (keccak256 of the new 256-byte
    EIP-2537 key); abi.encode(address account, bool flag) for freeze (flag: frozen) and allow
    (flag: allowed); abi.encode(uint256 remoteChainId, uint64 curseCount) for uncurse (the cursed
    route's remote chain id and the endpoint's `curseCount(remoteChainId)`, at least 1: the curse
    it lifts)."""
    kind = _action_kind(kind)
    given = {
        "account": account,
        "flag": flag,
        "new_key_hash": new_key_hash,
        "pause_count": pause_count,
        "deadline": deadline,
        "remote_chain_id": remote_chain_id,
        "curse_count": curse_count,
    }
    wanted = {
        "resume": {"pause_count", "deadline"},
        "rotate": {"new_key_hash"},
        "freeze": {"account", "flag"},
        "allow": {"account", "flag"},
        "uncurse": {"remote_chain_id", "curse_count"},
    }
    needed = wanted.get(kind, set())
    extra = sorted(k for k, v in given.items() if v is not None and k not in needed)
    missing = sorted(k for k in needed if given[k] is None)
    if extra or missing:
        raise ValueError(
            f"action_params({kind!r}): takes {sorted(needed) or 'no fields'}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    if kind == "resume":
        words = b""
        for name, value, least in (("pause_count", pause_count, 1), ("deadline", deadline, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or not least <= value < _UINT64:
                raise ValueError(
                    f"action_params('resume'): {name} {value!r} is not a uint64"
                    + (" >= 1 (the endpoint's pauseCount() while it is paused)" if least else "")
                )
            words += value.to_bytes(32, "big")
        return words
    if kind == "uncurse":
        if (
            not isinstance(remote_chain_id, int)
            or isinstance(remote_chain_id, bool)
            or not 0 < remote_chain_id < 2**256
        ):
            raise ValueError(
                f"action_params('uncurse'): remote_chain_id {remote_chain_id!r} is not a positive uint256"
            )
        if (
            not isinstance(curse_count, int)
            or isinstance(curse_count, bool)
            or not 1 <= curse_count < _UINT64
        ):
            raise ValueError(
                f"action_params('uncurse'): curse_count {curse_count!r} is not a uint64 >= 1 "
                "(the endpoint's curseCount(remoteChainId) while the route is cursed)"
            )
        return remote_chain_id.to_bytes(32, "big") + curse_count.to_bytes(32, "big")
    if kind == "rotate":
        if not isinstance(new_key_hash, bytes) or len(new_key_hash) != 32:
            raise ValueError(
                "action_params('rotate'): new_key_hash must be the 32-byte keccak256 of the new key"
            )
        return new_key_hash
    if kind in ("freeze", "allow"):
        if not isinstance(flag, bool):
            raise ValueError(f"action_params({kind!r}): flag must be a bool, not {flag!r}")
        try:
            word = _address_word(account) if isinstance(account, str) and account.startswith("0x") else b""
        except ValueError:
            word = b""
        if not any(word):
            raise ValueError(f"action_params({kind!r}): account {account!r} is not a non-zero 0x address")
        return word + int(flag).to_bytes(32, "big")
    return b""


def action_message(
    kind: str, chain_id: int, endpoint: str, key_epoch: int, action_nonce: int, params: bytes
) -> bytes:
    """The 32-byte message of an action of `kind` for `endpoint` on `chain_id`, signed under
    `key_epoch` for the endpoint's action nonce `action_nonce` (`params` from `action_params`):
    keccak256(abi.encode(TYPEHASH, "QIAO-V1", chainId, endpoint, keyEpoch, actionNonce) || params),
    the endpoint's `actionMessage(typehash, keyEpoch, params)` while `actionNonce()` is `action_nonce`."""
    kind = _action_kind(kind)
    if not 0 < chain_id < 2**256:
        raise ValueError(f"action_message: chain id {chain_id} is not a positive uint256")
    if not 1 <= key_epoch < _UINT64:
        raise ValueError(f"action_message: key epoch {key_epoch} is not a valid epoch (1 .. 2^64 - 1)")
    if not 0 <= action_nonce < _UINT64:
        raise ValueError(f"action_message: action nonce {action_nonce} is not a uint64")
    check_action_params(kind, params)
    head = encode(
        ["bytes32", "string", "uint256", "address", "uint64", "uint64"],
        [ACTION_TYPEHASHES[kind], VERSION, chain_id, endpoint, key_epoch, action_nonce],
    )
    return keccak(head + params)


def check_action_params(kind: str, params: bytes) -> None:
    """Raises ValueError unless `kind` is an action kind and `params` has the shape
    `action_params` gives it (the contract would hash anything)."""
    kind = _action_kind(kind)
    if not isinstance(params, bytes) or len(params) != _PARAMS_SIZE[kind]:
        size = len(params) if isinstance(params, bytes) else type(params).__name__
        raise ValueError(
            f"{kind} params must be {_PARAMS_SIZE[kind]} bytes ({_PARAMS_SHAPE[kind]}, as "
            f"action_params makes them), got {size}"
        )
    if kind == "resume":
        if any(params[:24]) or any(params[32:56]):
            raise ValueError("resume params: a word is not a uint64 (pauseCount, deadline)")
        if not any(params[24:32]):
            raise ValueError("resume params: pause count 0; a RESUME is for a pause (count >= 1)")
    if kind == "uncurse":
        if not any(params[:32]):
            raise ValueError("uncurse params: remote chain id 0")
        if any(params[32:56]) or not any(params[56:64]):
            raise ValueError("uncurse params: the second word is not a uint64 curse count >= 1")
    if kind == "issuer":
        issuer_fields(params)  # ValueError unless an issuer decision's seven words
    if kind in ("freeze", "allow"):
        if any(params[:12]) or not any(params[12:32]):
            raise ValueError(f"{kind} params: the first word is not a non-zero address")
        if params[32:] not in (bytes(32), (1).to_bytes(32, "big")):
            raise ValueError(f"{kind} params: the second word is not a bool (0 or 1)")


def resume_fields(params: bytes) -> tuple[int, int]:
    """(pause count, deadline) of a RESUME's `params` (as `action_params("resume", ...)` makes
    them); ValueError if they are not a RESUME's."""
    check_action_params("resume", params)
    return int.from_bytes(params[:32], "big"), int.from_bytes(params[32:], "big")


def uncurse_fields(params: bytes) -> tuple[int, int]:
    """(remote chain id, curse count) of an UNCURSE's `params` (as `action_params("uncurse", ...)`
    makes them); ValueError if they are not an UNCURSE's."""
    check_action_params("uncurse", params)
    return int.from_bytes(params[:32], "big"), int.from_bytes(params[32:], "big")


# ---- the issuer's decisions (docs/PROTOCOL.md, "Issuer actions, asset status and NAV") ------------

ISSUER_OPS = {
    1: "freeze_wallet",
    2: "unfreeze_wallet",
    3: "freeze_partial",
    4: "unfreeze_partial",
    5: "forced_transfer",
    6: "recovery",
    7: "set_status",
    8: "set_nav",
}
"""IssuerRegistry's OP_* codes (part of the signed message: only ever appended)."""
ASSET_STATUSES = {0: "active", 1: "suspended", 2: "defaulted", 3: "matured"}
"""The asset status codes of IssuerRegistry and WrappedToken."""


@dataclass(frozen=True, slots=True)
class IssuerFields:
    """The seven signed fields of an issuer decision (IssuerModule.IssuerAction): the wrapped
    token on the destination, the decision's number on C for its asset, the operation, the holder
    (or lost wallet), the receiver (or new wallet), the amount (tokens, a status code or a NAV per
    unit) and the NAV's timestamp. Addresses, numbers and codes only: nothing personal."""

    token: str
    sequence: int
    op: int
    account: str
    to: str
    amount: int
    as_of: int

    def encode(self) -> bytes:
        return b"".join(
            (
                _address_word(self.token),
                self.sequence.to_bytes(32, "big"),
                self.op.to_bytes(32, "big"),
                _address_word(self.account),
                _address_word(self.to),
                self.amount.to_bytes(32, "big"),
                self.as_of.to_bytes(32, "big"),
            )
        )


def issuer_params(
    *, token: str, sequence: int, op: int, account: str, to: str, amount: int, as_of: int
) -> bytes:
    """abi.encode(address token, uint64 sequence, uint8 op, address account, address to,
    uint256 amount, uint64 asOf): the params of an ISSUER action, checked as the contract reads
    them (a known op, a non-zero token, sequence >= 1)."""
    for name, value, bound in (("sequence", sequence, _UINT64), ("op", op, 256), ("as_of", as_of, _UINT64)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            raise ValueError(f"issuer_params: {name} {value!r} out of range")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 2**256:
        raise ValueError(f"issuer_params: amount {amount!r} is not a uint256")
    params = IssuerFields(token, sequence, op, account, to, amount, as_of).encode()
    issuer_fields(params)
    return params


def issuer_fields(params: bytes) -> IssuerFields:
    """The fields of an ISSUER action's `params`; ValueError if they are not seven well-formed
    words (addresses padded, sequence and asOf uint64, op a known uint8, token non-zero,
    sequence >= 1)."""
    if not isinstance(params, bytes) or len(params) != 224:
        raise ValueError(f"issuer params must be 224 bytes ({_PARAMS_SHAPE['issuer']})")
    words = [params[i : i + 32] for i in range(0, 224, 32)]
    for index in (0, 3, 4):
        if any(words[index][:12]):
            raise ValueError(f"issuer params: word {index} is not an address")
    if not any(words[0]):
        raise ValueError("issuer params: the token is the zero address")
    for index in (1, 6):
        if any(words[index][:24]):
            raise ValueError(f"issuer params: word {index} is not a uint64")
    sequence = int.from_bytes(words[1], "big")
    if sequence == 0:
        raise ValueError("issuer params: sequence 0 (the issuer's decisions are numbered from 1)")
    op = int.from_bytes(words[2], "big")
    if op not in ISSUER_OPS:
        raise ValueError(f"issuer params: op {op} is not one of {sorted(ISSUER_OPS)}")

    def address(word: bytes) -> str:
        return "0x" + word[12:].hex()

    return IssuerFields(
        token=address(words[0]),
        sequence=sequence,
        op=op,
        account=address(words[3]),
        to=address(words[4]),
        amount=int.from_bytes(words[5], "big"),
        as_of=int.from_bytes(words[6], "big"),
    )
