"""The committee actions' bytes (docs/PROTOCOL.md, "Signed actions"): their messages, their
calldata, the values the chain client reads, and the strict decoding of the registry's events.
The messages and calldata are checked against the contracts on anvil in
tests/integration/test_action_bindings.py."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address as cs
from eth_utils.crypto import keccak
from web3 import AsyncWeb3, Web3

from committee.bls import g1_to_eip2537, g2_to_eip2537
from committee.rotation import ROTATE_TYPEHASH, rotation_message
from committee.threshold import deal, partial_sign
from relayer.adapters.abi import ENDPOINT_ABI, GATEWAY_ABI, ISSUER_MODULE_ABI
from relayer.adapters.chain import REGISTRY_TOPICS, ChainClient, MalformedEvent
from relayer.config import ChainConfig
from relayer.core.calldata import action_call_data, execute_pending_data
from relayer.core.encoding import (
    ACTION_TYPEHASHES,
    action_message,
    action_params,
    issuer_params,
    resume_fields,
    uncurse_fields,
)
from relayer.core.onchain import EndpointState, PendingActionView, RegistryEvent, RegistryStatus
from relayer.core.types import ChainId

GW = cs("0x" + "55" * 20)
ACCOUNT = cs("0x" + "a1" * 20)
HEAD = "string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce"
TYPE_STRINGS = {
    "pause": f"QiaoPause({HEAD})",
    "resume": f"QiaoResume({HEAD},uint64 pauseCount,uint64 deadline)",
    "rotate": f"QiaoRotateKey({HEAD},bytes32 newKeyHash)",
    "freeze": f"QiaoFreeze({HEAD},address account,bool frozen)",
    "allow": f"QiaoAllow({HEAD},address account,bool allowed)",
    "uncurse": f"QiaoUncurse({HEAD},uint256 remoteChainId,uint64 curseCount)",
    "issuer": f"QiaoIssuerAction({HEAD},address token,uint64 sequence,uint8 op,address account,address to,"
    "uint256 amount,uint64 asOf)",
}
SIG128 = b"\x07" * 128
DEADLINE = 1_900_000_000


def reference_message(
    kind: str, chain_id: int, endpoint: str, epoch: int, nonce: int, params: bytes
) -> bytes:
    """The contract's encoding written word by word (as contracts/test/Features.t.sol's reference)."""
    words = [
        keccak(text=TYPE_STRINGS[kind]),
        (6 * 32).to_bytes(32, "big"),  # offset of the version string
        chain_id.to_bytes(32, "big"),
        bytes(12) + bytes.fromhex(endpoint[2:]),
        epoch.to_bytes(32, "big"),
        nonce.to_bytes(32, "big"),
        (7).to_bytes(32, "big"),
        b"QIAO-V1".ljust(32, b"\x00"),
    ]
    return keccak(b"".join(words) + params)


def params_of(kind: str) -> bytes:
    if kind == "rotate":
        return action_params(kind, new_key_hash=b"\x42" * 32)
    if kind in ("freeze", "allow"):
        return action_params(kind, account=ACCOUNT, flag=True)
    if kind == "resume":
        return action_params(kind, pause_count=2, deadline=DEADLINE)
    if kind == "uncurse":
        return action_params(kind, remote_chain_id=4242, curse_count=3)
    if kind == "issuer":
        return issuer_params(token=GW, sequence=4, op=5, account=ACCOUNT, to=GW, amount=9, as_of=0)
    return action_params(kind)


@pytest.mark.parametrize("kind", list(TYPE_STRINGS))
def test_each_kind_has_its_type_hash_and_the_contracts_message(kind: str) -> None:
    assert ACTION_TYPEHASHES[kind] == keccak(text=TYPE_STRINGS[kind])
    params = params_of(kind)
    got = action_message(kind, 11155111, GW, 3, 17, params)
    assert got == reference_message(kind, 11155111, GW, 3, 17, params)
    assert action_message(kind, 11155111, GW, 3, 18, params) != got  # the nonce is signed
    assert action_message(kind, 4242, GW, 3, 17, params) != got  # the chain
    assert len(set(ACTION_TYPEHASHES.values())) == 7


def test_action_params_are_the_abi_encoding() -> None:
    assert action_params("pause") == b""
    for count, deadline in ((1, 0), (2, DEADLINE), (2**64 - 1, 2**64 - 1)):
        params = action_params("resume", pause_count=count, deadline=deadline)
        assert params == encode(["uint64", "uint64"], [count, deadline])
        assert resume_fields(params) == (count, deadline)
    assert action_params("rotate", new_key_hash=b"\x01" * 32) == encode(["bytes32"], [b"\x01" * 32])
    for kind in ("freeze", "allow"):
        for flag in (True, False):
            assert action_params(kind, account=ACCOUNT, flag=flag) == encode(
                ["address", "bool"], [ACCOUNT, flag]
            )
    for remote, count in ((1, 1), (4242, 7), (2**256 - 1, 2**64 - 1)):
        params = action_params("uncurse", remote_chain_id=remote, curse_count=count)
        assert params == encode(["uint256", "uint64"], [remote, count])
        assert uncurse_fields(params) == (remote, count)
    # a lower-case account is the same address
    assert action_params("allow", account=ACCOUNT.lower(), flag=True) == params_of("allow")


def test_the_rotation_message_of_the_committee_package_agrees() -> None:
    assert ACTION_TYPEHASHES["rotate"] == ROTATE_TYPEHASH
    new_key = deal(4, 3)[0].public.group_public_key  # 96-byte compressed G2
    params = action_params("rotate", new_key_hash=keccak(g2_to_eip2537(new_key)))
    assert action_message("rotate", 11155111, GW, 2, 9, params) == rotation_message(
        11155111, GW, 2, 9, new_key
    )


@pytest.mark.parametrize(
    ("kind", "fields", "says"),
    [
        ("unpause", {}, "not an action kind"),
        ("pause", {"account": ACCOUNT}, "unexpected ['account']"),
        ("freeze", {"account": ACCOUNT}, "missing ['flag']"),
        ("allow", {"flag": True}, "missing ['account']"),
        ("rotate", {}, "missing ['new_key_hash']"),
        ("rotate", {"new_key_hash": b"\x01" * 31}, "32-byte keccak256"),
        ("allow", {"account": "0x" + "00" * 20, "flag": True}, "non-zero"),
        ("allow", {"account": "0x1234", "flag": True}, "not a non-zero 0x address"),
        ("allow", {"account": "11" * 20, "flag": True}, "not a non-zero 0x address"),
        ("freeze", {"account": ACCOUNT, "flag": 1}, "must be a bool"),
        ("resume", {}, "missing ['deadline', 'pause_count']"),
        ("resume", {"pause_count": 1}, "missing ['deadline']"),
        ("pause", {"pause_count": 1, "deadline": DEADLINE}, "unexpected ['deadline', 'pause_count']"),
        ("allow", {"account": ACCOUNT, "flag": True, "deadline": 5}, "unexpected ['deadline']"),
        ("resume", {"pause_count": 0, "deadline": DEADLINE}, "pause_count 0 is not a uint64 >= 1"),
        ("resume", {"pause_count": 2**64, "deadline": DEADLINE}, "pause_count 18446744073709551616"),
        ("resume", {"pause_count": 1, "deadline": -1}, "deadline -1 is not a uint64"),
        ("resume", {"pause_count": 1, "deadline": 2**64}, "deadline 18446744073709551616 is not"),
        ("resume", {"pause_count": True, "deadline": DEADLINE}, "pause_count True is not"),
        ("resume", {"pause_count": 1, "deadline": 1.5e9}, "deadline 1500000000.0 is not"),
        ("uncurse", {"remote_chain_id": 4242}, "missing ['curse_count']"),
        ("uncurse", {"remote_chain_id": 0, "curse_count": 1}, "remote_chain_id 0 is not a positive uint256"),
        ("uncurse", {"remote_chain_id": 4242, "curse_count": 0}, "curse_count 0 is not a uint64 >= 1"),
        ("uncurse", {"remote_chain_id": 4242, "curse_count": 2**64}, "curse_count 18446744073709551616"),
        ("pause", {"remote_chain_id": 4242}, "unexpected ['remote_chain_id']"),
    ],
)
def test_action_params_refuse_what_does_not_fit_the_kind(
    kind: str, fields: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError) as err:
        action_params(kind, **fields)
    assert says in str(err.value)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("allow", 1, GW, 0, 0, params_of("allow")), "key epoch 0"),
        (("allow", 1, GW, 1, -1, params_of("allow")), "action nonce -1"),
        (("allow", 1, GW, 1, 2**64, params_of("allow")), "is not a uint64"),
        (("allow", 0, GW, 1, 0, params_of("allow")), "chain id 0"),
        (("pause", 1, GW, 1, 0, b"\x00"), "pause params must be 0 bytes"),
        (("resume", 1, GW, 1, 0, b""), "resume params must be 64 bytes (abi.encode(uint64 pauseCount"),
        (("resume", 1, GW, 1, 0, b"\x01" + params_of("resume")[1:]), "a word is not a uint64"),
        (("resume", 1, GW, 1, 0, params_of("resume")[:32] + b"\x01" + bytes(31)), "a word is not a uint64"),
        (("resume", 1, GW, 1, 0, bytes(32) + params_of("resume")[32:]), "pause count 0"),
        (("rotate", 1, GW, 1, 0, b""), "rotate params must be 32 bytes"),
        (("freeze", 1, GW, 1, 0, params_of("allow")[:63]), "freeze params must be 64 bytes"),
        (("allow", 1, GW, 1, 0, b"\x01" + params_of("allow")[1:]), "not a non-zero address"),
        (("allow", 1, GW, 1, 0, bytes(64)), "not a non-zero address"),
        (("allow", 1, GW, 1, 0, params_of("allow")[:63] + b"\x02"), "not a bool"),
        (("mint", 1, GW, 1, 0, b""), "not an action kind"),
        (("uncurse", 1, GW, 1, 0, b""), "uncurse params must be 64 bytes (abi.encode(uint256 remoteChainId"),
        (("uncurse", 1, GW, 1, 0, bytes(32) + params_of("uncurse")[32:]), "remote chain id 0"),
        (("uncurse", 1, GW, 1, 0, params_of("uncurse")[:32] + bytes(32)), "not a uint64 curse count >= 1"),
        (("uncurse", 1, GW, 1, 0, params_of("uncurse")[:32] + b"\x01" + bytes(31)), "not a uint64 curse"),
    ],
)
def test_action_message_refuses_bad_input(args: tuple[Any, ...], says: str) -> None:
    with pytest.raises(ValueError) as err:
        action_message(*args)
    assert says in str(err.value)


def web3_call_data(kind: str, epoch: int, signature: bytes, new_key: bytes | None = None) -> bytes:
    """The same call, encoded by web3 from relayer.adapters.abi's fragments."""
    fns = Web3().eth.contract(address=GW, abi=ENDPOINT_ABI + GATEWAY_ABI + ISSUER_MODULE_ABI).functions
    call = {
        "pause": lambda: fns.pauseWithSignature(epoch, signature),
        "resume": lambda: fns.resume(epoch, DEADLINE, signature),
        "rotate": lambda: fns.rotateKey(epoch, new_key, signature),
        "freeze": lambda: fns.applyFreeze(epoch, ACCOUNT, True, signature),
        "allow": lambda: fns.applyAllow(epoch, ACCOUNT, True, signature),
        "uncurse": lambda: fns.uncurse(epoch, 4242, 3, signature),
        "issuer": lambda: fns.applyIssuerAction(epoch, (GW, 4, 5, ACCOUNT, GW, 9, 0), signature),
    }[kind]()
    return bytes.fromhex(call._encode_transaction_data()[2:])


@pytest.mark.parametrize("kind", list(TYPE_STRINGS))
def test_action_call_data_is_what_web3_encodes_from_the_abi(kind: str) -> None:
    shares = deal(4, 3)
    new_key = shares[0].public.group_public_key if kind == "rotate" else None
    key256 = g2_to_eip2537(new_key) if new_key is not None else None
    params = action_params(kind, new_key_hash=keccak(key256)) if key256 else params_of(kind)
    assert action_call_data(kind, 2, params, SIG128, new_key=new_key) == web3_call_data(
        kind, 2, SIG128, key256
    )
    if key256 is not None:  # the 256-byte form is taken as it is
        assert action_call_data(kind, 2, params, SIG128, new_key=key256) == web3_call_data(
            kind, 2, SIG128, key256
        )
    wire = partial_sign(shares[0], b"\x01" * 32)  # a 48-byte compressed G1 point
    assert action_call_data(kind, 2, params, wire, new_key=new_key) == web3_call_data(
        kind, 2, g1_to_eip2537(wire), key256
    )


def test_action_call_data_refuses_a_mismatched_or_missing_key() -> None:
    key = deal(4, 3)[0].public.group_public_key
    other = deal(4, 3)[0].public.group_public_key
    params = action_params("rotate", new_key_hash=keccak(g2_to_eip2537(key)))
    with pytest.raises(ValueError, match="not the hash in params"):
        action_call_data("rotate", 1, params, SIG128, new_key=other)
    with pytest.raises(ValueError, match="96-byte compressed G2"):
        action_call_data("rotate", 1, params, SIG128, new_key=b"\x01" * 100)
    with pytest.raises(ValueError, match="rotate needs it"):
        action_call_data("rotate", 1, params, SIG128)
    with pytest.raises(ValueError, match="new_key is for rotate only"):
        action_call_data("allow", 1, params_of("allow"), SIG128, new_key=key)
    with pytest.raises(ValueError, match="allow params must be 64 bytes"):
        action_call_data("allow", 1, b"", SIG128)
    with pytest.raises(ValueError, match="resume params must be 64 bytes"):
        action_call_data("resume", 1, b"", SIG128)


def test_a_resume_carries_the_deadline_it_was_signed_for() -> None:
    """The deadline travels in the calldata (the endpoint rebuilds the message from it and its own
    pause count): two RESUMEs that differ only in their deadline differ in both."""
    early = action_params("resume", pause_count=4, deadline=DEADLINE)
    later = action_params("resume", pause_count=4, deadline=DEADLINE + 1)
    assert action_message("resume", 1, GW, 1, 0, early) != action_message("resume", 1, GW, 1, 0, later)
    other_pause = action_params("resume", pause_count=5, deadline=DEADLINE)
    assert action_message("resume", 1, GW, 1, 0, early) != action_message("resume", 1, GW, 1, 0, other_pause)
    data = action_call_data("resume", 1, later, SIG128)
    assert int.from_bytes(data[4 + 32 : 4 + 64], "big") == DEADLINE + 1
    # the pause count is not sent: the calldata of two pauses' RESUMEs differs only by the signature
    assert action_call_data("resume", 1, other_pause, SIG128) == action_call_data("resume", 1, early, SIG128)


def test_execute_pending_data() -> None:
    fns = Web3().eth.contract(address=GW, abi=ENDPOINT_ABI).functions
    assert execute_pending_data(7) == bytes.fromhex(fns.executePending(7)._encode_transaction_data()[2:])
    with pytest.raises(ValueError, match="not a uint64"):
        execute_pending_data(-1)


# ---- the values the chain client reads --------------------------------------------------------


def test_onchain_values_check_themselves() -> None:
    EndpointState(True, 0, 1, 1)
    EndpointState(False, 0, 1, 0)
    with pytest.raises(ValueError, match="paused with pause count 0"):
        EndpointState(True, 0, 1, 0)
    with pytest.raises(ValueError, match="pause count -1"):
        EndpointState(False, 0, 1, -1)
    with pytest.raises(ValueError, match="key epoch 0"):
        EndpointState(False, 0, 0, 0)
    with pytest.raises(ValueError, match="action nonce -1"):
        EndpointState(False, -1, 1, 0)
    view = PendingActionView(ACTION_TYPEHASHES["resume"], 1, 100, 1, "0x" + "00" * 20, 2)
    assert view.kind == "resume"
    assert PendingActionView(bytes(32), 0, 0, 0, "0x" + "00" * 20).kind is None
    with pytest.raises(ValueError, match="status 4"):
        PendingActionView(bytes(32), 0, 0, 4, "0x" + "00" * 20)
    with pytest.raises(ValueError, match="not 32 bytes"):
        PendingActionView(b"\x01", 0, 0, 0, "0x" + "00" * 20)
    event = dict(account=ACCOUNT, flag=True, block_number=5, block_hash="0x" + "01" * 32)
    more = dict(tx_hash="0x" + "02" * 32, log_index=0, by=GW)
    RegistryEvent("allow", **event, **more)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind 'unfreeze'"):
        RegistryEvent("unfreeze", **event, **more)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="caller '0x12'"):
        RegistryEvent("freeze", **event, **{**more, "by": "0x12"})  # type: ignore[arg-type]
    assert RegistryStatus(True, True, False, True).usable is False
    assert RegistryStatus(True, False, False, False).usable is True
    with pytest.raises(ValueError, match="disagree"):
        RegistryStatus(True, False, True, False)


def client() -> ChainClient:
    cfg = ChainConfig("e", ChainId(11155111), "http://127.0.0.1:1", GW, 0, 0, 1.0, 100)
    return ChainClient(cfg, AsyncWeb3())


def registry_log(name: str = "AllowedSet", flag: int = 1, **change: Any) -> dict[str, Any]:
    topic = next(bytes.fromhex(t[2:]) for t, (_, n) in REGISTRY_TOPICS.items() if n == name)
    entry: dict[str, Any] = {
        "address": "0x" + "77" * 20,
        "topics": [topic, bytes(12) + bytes.fromhex(ACCOUNT[2:]), bytes(12) + bytes.fromhex(GW[2:])],
        "data": flag.to_bytes(32, "big"),
        "blockNumber": "0x5",
        "blockHash": "0x" + "01" * 32,
        "transactionHash": "0x" + "02" * 32,
        "logIndex": "0x3",
        "removed": False,
    }
    entry.update(change)
    return entry


def test_registry_events_decode_with_their_fields() -> None:
    allow = client().decode_registry_event(registry_log("AllowedSet", 1))
    assert (allow.kind, allow.account, allow.flag, allow.by) == ("allow", ACCOUNT, True, GW)
    assert (allow.block_number, allow.log_index, allow.tx_hash) == (5, 3, "0x" + "02" * 32)
    freeze = client().decode_registry_event(registry_log("FrozenSet", 0))
    assert (freeze.kind, freeze.flag) == ("freeze", False)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"data": (2).to_bytes(32, "big")}, "flag 2 is not a bool"),
        ({"data": b"\x01"}, "data of 1 bytes, expected 32"),
        ({"topics": [b"\x09" * 32]}, "neither FrozenSet nor AllowedSet"),
        ({"topics": []}, "neither FrozenSet nor AllowedSet"),
        ("drop by", "expected the AllowedSet signature and 2 indexed topics, got 1"),
        ("dirty account", "non-zero padding"),
        ("zero account", "the zero account"),
        ({"blockHash": "0x01"}, "block hash '0x01'"),
        ({"logIndex": 3.5}, "is not a quantity"),
    ],
)
def test_a_malformed_registry_log_is_an_error_that_says_what(change: Any, says: str) -> None:
    entry = registry_log()
    if change == "drop by":
        entry["topics"] = entry["topics"][:2]
    elif change == "dirty account":
        entry["topics"][1] = b"\x01" + entry["topics"][1][1:]
    elif change == "zero account":
        entry["topics"][1] = bytes(32)
    else:
        entry.update(change)
    with pytest.raises(MalformedEvent) as err:
        client().decode_registry_event(entry)
    assert "is not a valid FrozenSet or AllowedSet" in str(err.value)
    assert says in str(err.value)
