"""The packed calldata form of `executeBatch` (docs/PROTOCOL.md) and the helpers that build the call."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address as cs
from web3 import Web3

from committee.bls import g1_to_eip2537
from committee.threshold import deal, partial_sign
from relayer.adapters.abi import ENDPOINT_ABI
from relayer.core.calldata import execute_batch_call, execute_batch_data
from relayer.core.txmath import turn
from relayer.core.types import Batch, ChainId, Nonce, Transfer, execute_batch_args, packed_batch

GW = cs("0x" + "55" * 20)
PACKED_TYPE = "(uint256,uint256,uint64,(address,address)[],bytes,(address,address,uint256)[])"


def addr(n: int) -> str:
    return cs(f"0x{n:040x}")


def transfer(nonce: int, src_token: int = 1, dst_token: int = 2, amount: int = 5) -> Transfer:
    return Transfer(
        ChainId(7001),
        ChainId(7002),
        Nonce(nonce),
        addr(src_token),
        addr(dst_token),
        addr(8),
        addr(9 + nonce),
        amount,
    )


def test_one_pair_is_named_once_and_transfers_carry_only_sender_recipient_amount() -> None:
    batch = Batch(tuple(transfer(n, amount=n) for n in range(4, 7)), GW, 3)
    src, dst, first, pairs, pair_of, rows = packed_batch(batch)
    assert (src, dst, first) == (7001, 7002, 4)
    assert pairs == [(addr(1), addr(2))]
    assert pair_of == b"\x00\x00\x00"
    assert rows == [(addr(8), addr(9 + n), n) for n in range(4, 7)]


def test_mixed_pairs_are_indexed_in_order_of_first_appearance() -> None:
    ts = (transfer(1, 1, 2), transfer(2, 3, 4), transfer(3, 1, 2), transfer(4, 5, 6), transfer(5, 3, 4))
    _, _, _, pairs, pair_of, _ = packed_batch(Batch(ts, GW, 1))
    assert pairs == [(addr(1), addr(2)), (addr(3), addr(4)), (addr(5), addr(6))]
    assert pair_of == bytes([0, 1, 0, 2, 1])


def test_the_packed_form_rebuilds_every_transfer_exactly() -> None:
    ts = tuple(transfer(10 + i, 1 + i % 3, 20 + i % 3, amount=10**18 + i) for i in range(9))
    src, dst, first, pairs, pair_of, rows = packed_batch(Batch(ts, GW, 1))
    rebuilt = [
        Transfer(ChainId(src), ChainId(dst), Nonce(first + i), *pairs[pair_of[i]], *rows[i])
        for i in range(len(rows))
    ]
    assert tuple(rebuilt) == ts


def test_more_than_256_pairs_in_one_batch_is_refused() -> None:
    ts = tuple(transfer(1 + i, 1000 + i, 5000 + i) for i in range(257))
    with pytest.raises(ValueError, match="more than 256 token pairs"):
        packed_batch(Batch(ts, GW, 1))
    assert len(packed_batch(Batch(ts[:256], GW, 1))[3]) == 256


def test_the_arguments_abi_encode_as_the_contract_declares_them() -> None:
    batch = Batch((transfer(1), transfer(2)), GW, 7)
    epoch, packed, sig = execute_batch_args(batch, b"\x01" * 128)
    assert (epoch, sig) == (7, b"\x01" * 128)
    data = encode(["uint64", PACKED_TYPE, "bytes"], [epoch, packed, sig])
    _, back, _ = decode(["uint64", PACKED_TYPE, "bytes"], data)
    assert back[0:3] == packed[0:3]
    assert back[4] == packed[4]
    assert [tuple(cs(a) for a in p) for p in back[3]] == packed[3]
    assert [(cs(s), cs(r), a) for s, r, a in back[5]] == packed[5]


class _Functions:
    def executeBatch(self, *args: Any) -> tuple[Any, ...]:
        return args


class _Endpoint:
    functions = _Functions()


def test_execute_batch_call_converts_the_wire_signature_and_passes_any_other_unchanged() -> None:
    batch = Batch((transfer(1),), GW, 1)
    share = deal(4, 3)[0]
    wire = partial_sign(share, b"m" * 32)  # some valid 48-byte G1 point
    assert len(wire) == 48
    assert execute_batch_call(_Endpoint(), batch, wire) == (1, packed_batch(batch), g1_to_eip2537(wire))
    for raw in (b"", b"\x00" * 128, b"\x07" * 127, b"\x09" * 256):
        assert execute_batch_call(_Endpoint(), batch, raw) == (1, packed_batch(batch), raw)


@pytest.mark.parametrize("size", [1, 3, 100])
def test_the_directly_encoded_calldata_is_the_one_web3_builds(size: int) -> None:
    ts = tuple(
        transfer(40 + i, src_token=1 + i % 3, dst_token=20 + i % 3, amount=10**18 + i) for i in range(size)
    )
    batch = Batch(ts, GW, 3)
    wire = partial_sign(deal(4, 3)[0], b"m" * 32)
    endpoint = Web3().eth.contract(address=GW, abi=ENDPOINT_ABI)
    for signature in (wire, b"\x07" * 128):
        web3_data = execute_batch_call(endpoint, batch, signature)._encode_transaction_data()
        assert "0x" + execute_batch_data(batch, signature).hex() == web3_data


def test_batch_turns_spread_evenly_over_the_relayers() -> None:
    n = 4
    counts = [0] * n
    for k in range(4000):  # batches of 100, where first_nonce mod 4 is always 1
        counts[turn(7001, 7002, 1 + 100 * k, n)] += 1
    assert min(counts) > 850, counts
    assert turn(7001, 7002, 1, n) == turn(7001, 7002, 1, n)  # every member computes the same turn
    assert {turn(7002, 7001, 1 + k, 7) for k in range(200)} == set(range(7))
