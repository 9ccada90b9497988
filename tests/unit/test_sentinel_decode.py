"""The sentinel's own decoding (sentinel/abi.py, sentinel/store.py): a batch's calldata gives back the
transfers the committee signed, whatever the token pairs; a `TransferInitiated` log its transfer; a
stored record reads back equal."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from relayer.core.calldata import execute_batch_data
from relayer.core.encoding import leaf_hash
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from sentinel import abi
from sentinel.checks import BatchExecuted, Executed, Queued
from sentinel.store import record_from, record_json

SRC, DST = 7001, 7002
addresses = st.binary(min_size=20, max_size=20).filter(any).map(to_checksum_address)
GATEWAY = to_checksum_address("0x" + "99" * 20)


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    first = draw(st.integers(min_value=1, max_value=2**40))
    tokens = draw(st.lists(st.tuples(addresses, addresses), min_size=1, max_size=3))
    n = draw(st.integers(min_value=1, max_value=6))
    transfers = []
    for i in range(n):
        src_token, dst_token = draw(st.sampled_from(tokens))
        transfers.append(
            Transfer(ChainId(SRC), ChainId(DST), Nonce(first + i), src_token, dst_token, draw(addresses),
                     draw(addresses), draw(st.integers(min_value=1, max_value=2**128)))
        )  # fmt: skip
    return Batch(tuple(transfers), GATEWAY, 1)


@given(batch=batches())
def test_a_batch_calldata_gives_back_the_signed_transfers(batch: Batch) -> None:
    data = execute_batch_data(batch, b"\x01" * 128)
    claimed = abi.claimed_transfers(data, SRC, DST)
    assert list(claimed.values()) == list(batch.transfers)
    assert abi.claimed_transfers(data, SRC, 7003) == {}  # another route: not this record's


def test_anything_else_claims_nothing() -> None:
    assert abi.claimed_transfers(b"", SRC, DST) == {}
    assert abi.claimed_transfers(abi.EXECUTE_BATCH + b"\x00" * 7, SRC, DST) == {}  # truncated
    assert abi.claimed_transfers(bytes.fromhex("deadbeef") + b"\x00" * 64, SRC, DST) == {}


def test_an_initiated_log_decodes_to_its_transfer() -> None:
    t = Transfer(
        ChainId(SRC), ChainId(DST), Nonce(9), to_checksum_address("0x" + "11" * 20),
        to_checksum_address("0x" + "22" * 20), to_checksum_address("0x" + "aa" * 20),
        to_checksum_address("0x" + "bb" * 20), 777,
    )  # fmt: skip
    log = {
        "topics": [
            abi.TRANSFER_INITIATED,
            DST.to_bytes(32, "big"),
            (9).to_bytes(32, "big"),
            bytes(12) + bytes.fromhex(t.sender[2:]),
        ],
        "data": encode(
            ["address", "address", "address", "uint256"], [t.src_token, t.dst_token, t.recipient, 777]
        ),
    }
    assert abi.initiated(log, SRC) == t


def test_the_event_topics_are_those_of_the_relayers_abi() -> None:
    """The sentinel keeps its own copy of the interface; the relayer's (checked against forge's
    compiled ABI by its own test) must give the same topics."""
    from relayer.adapters.abi import ENDPOINT_ABI

    def signature(name: str) -> bytes:
        event = next(e for e in ENDPOINT_ABI if e["type"] == "event" and e["name"] == name)
        return abi.topic(f"{name}({','.join(i['type'] for i in event['inputs'])})")

    assert signature("TransferInitiated") == abi.TRANSFER_INITIATED
    assert signature("TransferExecuted") == abi.TRANSFER_EXECUTED
    assert signature("TransferQueued") == abi.TRANSFER_QUEUED
    assert signature("TransferFailed") == abi.TRANSFER_FAILED
    assert signature("TransferHeld") == abi.TRANSFER_HELD


@given(batch=batches(), held=st.booleans())
def test_records_read_back_from_the_store_equal(batch: Batch, held: bool) -> None:
    t = batch.transfers[0]
    for record in (
        Executed(SRC, DST, t.nonce, t.recipient.lower(), t.amount, t),
        Executed(SRC, DST, t.nonce, t.recipient.lower(), t.amount),
        Queued(SRC, DST, t.nonce, leaf_hash(t), t.amount, held, 123 if held else 0, t if held else None),
        BatchExecuted(SRC, DST, t.nonce, batch.transfers[-1].nonce, leaf_hash(t), 2),
    ):
        assert record_from(record_json(record)) == record
