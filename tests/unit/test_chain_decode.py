"""Decoding transfer events: a log that is not a valid transfer is refused, never half-used."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from web3 import AsyncWeb3

from relayer.adapters.chain import (
    TRANSFER_FAILED_TOPIC,
    TRANSFER_INITIATED_TOPIC,
    ChainClient,
    MalformedEvent,
)
from relayer.config import ChainConfig
from relayer.core.txmath import TX_GAS_CAP, gas_limit
from relayer.core.types import ChainId

ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0x" + "11" * 20
USER = "0x" + "22" * 20


def client() -> ChainClient:
    cfg = ChainConfig("c", ChainId(7001), "http://127.0.0.1:1", ENDPOINT, 0, 0, 1.0, 100)
    return ChainClient(cfg, AsyncWeb3())


def log_entry(data: bytes, nonce: int = 1, dst: int = 7002) -> dict[str, object]:
    return {
        "address": ENDPOINT,
        "topics": [
            bytes.fromhex(TRANSFER_INITIATED_TOPIC[2:]),
            dst.to_bytes(32, "big"),
            nonce.to_bytes(32, "big"),
            bytes(12) + bytes.fromhex(USER[2:]),
        ],
        "data": data,
        "blockNumber": 5,
        "blockHash": b"\x01" * 32,
        "transactionHash": b"\x02" * 32,
        "logIndex": 0,
        "transactionIndex": 0,
        "removed": False,
    }


def test_a_valid_log_becomes_a_transfer() -> None:
    data = encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 7])
    observed = client().decode_transfer(log_entry(data))
    assert observed.located.transfer.amount == 7
    assert observed.located.transfer.nonce == 1
    assert observed.located.block_number == 5


@pytest.mark.parametrize(
    ("data", "nonce", "reason"),
    [
        (b"\x00" * 10, 1, "not a valid TransferInitiated"),
        (encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 0]), 1, "amount"),
        (
            encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, "0x" + "00" * 20, 1]),
            1,
            "zero address",
        ),
        (encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 1]), 0, "nonce"),
        (  # an address word whose 12 padding bytes are not zero (a different address to a lax decoder)
            b"\x01" + encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 1])[1:],
            1,
            "non-zero padding",
        ),
        (  # the recipient word dirty
            encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 1])[:64]
            + b"\xff"
            + encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 1])[65:],
            1,
            "non-zero padding",
        ),
    ],
)
def test_malformed_events_are_refused_with_the_reason(data: bytes, nonce: int, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        client().decode_transfer(log_entry(data, nonce=nonce))


def test_a_log_with_other_topics_is_refused() -> None:
    data = encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 7])
    entry = log_entry(data)
    entry["topics"] = entry["topics"][:3]  # type: ignore[index]
    with pytest.raises(MalformedEvent, match="3 indexed topics"):
        client().decode_transfer(entry)
    entry = log_entry(data)
    entry["topics"][3] = b"\x01" * 32  # type: ignore[index]  # a sender topic that is not an address
    with pytest.raises(MalformedEvent, match="malformed indexed topics"):
        client().decode_transfer(entry)


def failure_entry(
    data: bytes, *, src: int = 7002, nonce: bytes | None = None, topics: int = 3
) -> dict[str, object]:
    entry = log_entry(data)
    entry["topics"] = [
        bytes.fromhex(TRANSFER_FAILED_TOPIC[2:]),
        src.to_bytes(32, "big"),
        nonce if nonce is not None else (4).to_bytes(32, "big"),
    ][:topics]
    return entry


@pytest.mark.parametrize("reason", [0, 1, 2, 3, 4])
def test_every_failure_reason_of_the_contracts_decodes(reason: int) -> None:
    failure = client().decode_failure(failure_entry(reason.to_bytes(32, "big")))
    assert failure.reason == reason


def test_a_valid_transfer_failed_log_becomes_a_failure_toward_this_chain() -> None:
    failure = client().decode_failure(failure_entry((1).to_bytes(32, "big")))
    assert (failure.route.src, failure.route.dst, failure.nonce, failure.reason) == (7002, 7001, 4, 1)
    assert (failure.block_number, failure.log_index) == (5, 0)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (failure_entry(b"\x00" * 31), "data of 31 bytes"),
        (failure_entry((256).to_bytes(32, "big")), "not a known FailureReason"),
        (failure_entry((7).to_bytes(32, "big")), "reason 7 is not a known FailureReason (0..6)"),
        (failure_entry((1).to_bytes(32, "big"), topics=2), "2 indexed topics"),
        (
            failure_entry((1).to_bytes(32, "big"), nonce=(2**64).to_bytes(32, "big")),
            "malformed indexed topics",
        ),
        (failure_entry((1).to_bytes(32, "big"), nonce=bytes(32)), "nonce 0"),
        (failure_entry((1).to_bytes(32, "big"), src=7001), "source and destination are the same"),
        (log_entry(b""), "not a valid TransferFailed"),  # a TransferInitiated is not a failure
    ],
)
def test_a_malformed_transfer_failed_log_is_refused(entry: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedEvent, match="not a valid TransferFailed") as info:
        client().decode_failure(entry)
    assert reason in str(info.value)


def test_a_raw_json_log_decodes_like_the_bytes_one() -> None:
    data = encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 7])
    entry = log_entry(data, nonce=3)
    raw = {
        k: ("0x" + v.hex() if isinstance(v, bytes) else hex(v) if type(v) is int else v)
        for k, v in entry.items()
        if k != "topics"
    } | {"topics": ["0x" + t.hex() for t in entry["topics"]]}  # type: ignore[attr-defined]
    assert client().decode_transfer(raw) == client().decode_transfer(entry)


@pytest.mark.parametrize("data", [128, [0] * 128, None, "00" * 128])
def test_log_data_that_is_not_hex_or_bytes_is_refused(data: object) -> None:
    entry = log_entry(b"") | {"data": data}
    with pytest.raises(MalformedEvent, match="not a valid TransferInitiated"):
        client().decode_transfer(entry)
    failure = failure_entry(b"") | {"data": data}
    with pytest.raises(MalformedEvent, match="not a valid TransferFailed"):
        client().decode_failure(failure)


async def test_a_malformed_event_goes_through_the_endpoint_fallback_to_the_watcher() -> None:
    async def bad(_: object) -> None:
        raise MalformedEvent("log 0x..#0 is not a valid TransferInitiated: test")

    with pytest.raises(MalformedEvent, match="test"):  # not RpcUnavailable: the route must halt
        await client().call(bad, "eth_getLogs")


def test_the_gas_limit_pads_the_estimate_but_never_past_the_eip_7825_cap() -> None:
    assert gas_limit(100_000) == 130_000
    assert gas_limit(13_000_000) == 15_610_000
    assert gas_limit(14_000_000) == TX_GAS_CAP  # padded it would be 16.81M, which a node refuses
    assert gas_limit(TX_GAS_CAP) == TX_GAS_CAP
    assert gas_limit(TX_GAS_CAP + 1) == TX_GAS_CAP + 1  # over the cap already: sent as estimated


@pytest.mark.parametrize(("field", "value"), [("blockNumber", "12"), ("logIndex", None), ("topics", 7)])
def test_a_bad_field_is_a_malformed_event_not_an_rpc_error(field: str, value: object) -> None:
    data = encode(["address", "address", "address", "uint256"], [TOKEN, TOKEN, USER, 7])
    entry = log_entry(data) | {field: value}
    with pytest.raises(MalformedEvent, match="not a valid TransferInitiated"):
        client().decode_transfer(entry)


def test_a_log_that_is_not_an_object_is_refused_with_a_plain_message() -> None:
    with pytest.raises(MalformedEvent, match=r"log \? is not a valid TransferInitiated"):
        client().decode_transfer(["not", "a", "log"])
