"""One signed batch on a real bridge, for tests that drive Submitters by hand.

`lock_and_sign` deploys the bridge on the two anvil chains with a 1-of-1 committee key and locks one
transfer (alice sends 777 to bob); `store_aggregated` puts its signed batch into a relayer's store
as aggregated, ready to be sent to the ethereum chain (`ethereum_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.threshold import KeyShare, deal, partial_sign
from harness import devnet
from relayer.adapters.store import Store
from relayer.config import ChainConfig
from relayer.core.batching import Located
from relayer.core.encoding import batch_message, batch_root
from relayer.core.states import BatchState
from relayer.core.types import Batch, ChainId, Nonce, Route, Transfer
from relayer.provisioning.deploy import Deployment

ROUTE = Route(ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID))
AMOUNT = 777
LOCK_CONFIRMATIONS = 3  # blocks mined on the consortium chain after the lock, before it is signed


@dataclass(frozen=True)
class SignedBatch:
    dep: Deployment
    share: KeyShare
    transfer: Transfer
    batch: Batch
    message: bytes
    signature: bytes
    lock_block: int  # the lock's block on the consortium chain


def lock_and_sign(chains: tuple[str, str]) -> SignedBatch:
    share = deal(1, 1)[0]
    dep = devnet.deploy_bridge(chains[0], chains[1], share.public.group_public_key)
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**20))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**20))
    receipt = devnet.send(
        wc, alice, dep.vault.functions.lock(dep.asset.address, ROUTE.dst, bob.address, AMOUNT)
    )
    transfer = Transfer(
        ROUTE.src,
        ROUTE.dst,
        Nonce(1),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        alice.address,
        bob.address,
        AMOUNT,
    )
    # final before the committee signs, as a committee's own finality rule has it: the integration
    # chains mine each transaction at once, so the lock would otherwise be the head, and a reader
    # counting confirmations (a sentinel) would see the mint before the lock that backs it
    for _ in range(LOCK_CONFIRMATIONS):
        rpc(wc, "evm_mine")
    batch = Batch((transfer,), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    signature = partial_sign(share, message)  # a 1-of-1 committee: the partial is the signature
    return SignedBatch(dep, share, transfer, batch, message, signature, int(receipt["blockNumber"]))


async def store_aggregated(store: Store, signed: SignedBatch) -> None:
    """The transfer scanned and its batch aggregated (signed), as a relayer's store has them."""
    block = signed.lock_block
    await store.record_scan(ROUTE.src, block + 1, [(Located(signed.transfer, block), "0xb", "0xt", 0)])
    await store.record_batches(ROUTE, [(signed.batch, batch_root(signed.batch), signed.message)], block, 2)
    await store.set_batch_state(signed.batch.id, BatchState.AGGREGATED, signature=signed.signature)


def ethereum_config(dep: Deployment, finality_depth: int = 0) -> ChainConfig:
    """The destination chain as a relayer sees it: polled every 0.2 s."""
    return ChainConfig(
        "ethereum", ROUTE.dst, dep.ethereum_url, dep.gateway.address, finality_depth, 0, 0.2, 100
    )


def rpc(w3: Web3, method: str, *params: object) -> object:
    """A raw JSON-RPC call (anvil's own methods), failing the test on an error reply."""
    result = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in result, result
    return result.get("result")
