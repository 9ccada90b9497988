"""Fixtures shared by the integration modules that drive one signed batch to the destination."""

from __future__ import annotations

import pytest
from web3 import HTTPProvider, Web3

from tests.support.signed_batch import SignedBatch, lock_and_sign, rpc


@pytest.fixture
def signed(chains: tuple[str, str]) -> SignedBatch:
    return lock_and_sign(chains)


@pytest.fixture
def we(signed: SignedBatch) -> Web3:
    """The destination chain, no longer mining by itself (blocks come from `mine`)."""
    w3 = Web3(HTTPProvider(signed.dep.ethereum_url))
    rpc(w3, "evm_setAutomine", False)
    rpc(w3, "anvil_setIntervalMining", 0)
    return w3
