"""Resharing over a real broker, then the new committee's signature verified on-chain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as cs

from committee.cli import store_result
from committee.dkg import DkgMachine, DkgResult, SessionConfig, Timeouts, default_threshold
from committee.dkg_runner import DkgFailed, run_machines
from committee.identity import Identity
from committee.keyfile import load_public_file
from committee.keystore import load_keystore_share
from committee.threshold import CommitteePublic, KeyShare, combine, partial_sign
from harness import devnet
from relayer.core.encoding import batch_message
from relayer.core.types import Batch
from tests.integration.test_contracts_onchain import execute, lock_transfers

pytestmark = pytest.mark.integration

TIMEOUTS = Timeouts(deal=20, complaint=20, justification=20, confirm=20)
PASSWORD = "correct horse battery staple"


def ok(results: list[DkgResult | DkgFailed]) -> list[DkgResult]:
    assert all(isinstance(r, DkgResult) for r in results), results
    return [r for r in results if isinstance(r, DkgResult)]


async def reshare(
    old_shares: dict[str, KeyShare],
    old_public: CommitteePublic,
    dealers: dict[int, str],
    receivers: tuple[str, ...],
    identities: dict[str, Identity],
    port: int,
    network: str,
) -> list[DkgResult]:
    config = SessionConfig(
        kind="reshare",
        nonce=os.urandom(16),
        threshold=default_threshold(len(receivers)),
        key_epoch=old_public.key_epoch,
        identities={name: identities[name].public for name in {*receivers, *dealers.values()}},
        receivers=receivers,
        dealers=dealers,
        old_public=old_public,
    )
    machines = [
        DkgMachine(config, identities[name], timeouts=TIMEOUTS, old_share=old_shares.get(name))
        for name in sorted({*receivers, *dealers.values()})
    ]
    return ok(await run_machines(machines, host="127.0.0.1", port=port, network=network))


def sign_on_chain(dep: devnet.Deployment, shares: list[KeyShare], count: int) -> None:
    transfers = lock_transfers(dep, count)
    batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    public = shares[0].public
    partials = {s.index: partial_sign(s, message) for s in shares[-public.threshold :]}
    receipt = execute(dep, batch, combine(public, partials))
    assert receipt["status"] == 1
    assert all(
        dep.gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, t.nonce).call() for t in transfers
    )


async def test_resharing_4_to_7_to_4_keeps_the_group_key_and_the_new_shares_sign_on_chain(
    chains: tuple[str, str], mosquitto_port: int, network: str, tmp_path: Path
) -> None:
    identities = {f"node-{i}": Identity.generate(f"node-{i}") for i in range(1, 8)}
    four = tuple(f"node-{i}" for i in range(1, 5))
    seven = tuple(f"node-{i}" for i in range(1, 8))
    # a DKG of four members
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=3,
        key_epoch=1,
        identities={n: identities[n].public for n in four},
        receivers=four,
        dealers={i + 1: n for i, n in enumerate(four)},
    )
    machines = [DkgMachine(config, identities[n], timeouts=TIMEOUTS) for n in four]
    first = ok(await run_machines(machines, host="127.0.0.1", port=mosquitto_port, network=network))
    group_key = first[0].public.group_public_key
    dep = devnet.deploy_bridge(chains[0], chains[1], group_key)

    # each member keeps its share in a keystore
    for r in first:
        assert r.share is not None
        state = tmp_path / "epoch-a" / four[r.share.index - 1]
        state.mkdir(parents=True)
        store_result(state, r, PASSWORD, work_factor=1000)
    public_a = load_public_file(tmp_path / "epoch-a" / "node-1" / "committee.json")
    old = {
        n: load_keystore_share(tmp_path / "epoch-a" / n / "keystore.json", PASSWORD, public_a, i + 1)
        for i, n in enumerate(four)
    }

    # 4 -> 7: any three of the four deal (member 3 sits out)
    dealers = {1: "node-1", 2: "node-2", 4: "node-4"}
    second = await reshare(old, public_a, dealers, seven, identities, mosquitto_port, network)
    assert {r.public.group_public_key for r in second} == {group_key}
    assert second[0].public.size == 7
    assert second[0].public.threshold == 5
    for r in second:
        if r.share is not None:
            name = seven[r.share.index - 1]
            state = tmp_path / "epoch-b" / name
            state.mkdir(parents=True)
            old_keystore = tmp_path / "epoch-a" / name / "keystore.json" if name in four else None
            store_result(state, r, PASSWORD, old_keystore=old_keystore, work_factor=1000)
    # the old shares are gone from the keystores; the new ones load
    assert not any((tmp_path / "epoch-a" / n / "keystore.json").exists() for n in four)
    public_b = load_public_file(tmp_path / "epoch-b" / "node-1" / "committee.json")
    new7 = [
        load_keystore_share(tmp_path / "epoch-b" / n / "keystore.json", PASSWORD, public_b, i + 1)
        for i, n in enumerate(seven)
    ]
    sign_on_chain(dep, new7, 2)

    # 7 -> 4: five of the seven deal, to members 4..7 of the old committee
    by_name = {seven[s.index - 1]: s for s in new7}
    dealers = {i: seven[i - 1] for i in (2, 3, 5, 6, 7)}
    receivers = ("node-4", "node-5", "node-6", "node-7")
    third = await reshare(by_name, public_b, dealers, receivers, identities, mosquitto_port, network)
    assert {r.public.group_public_key for r in third} == {group_key}
    assert third[0].public.size == 4
    assert third[0].public.threshold == 3
    new4 = sorted((r.share for r in third if r.share is not None), key=lambda s: s.index)
    assert len(new4) == 4
    sign_on_chain(dep, new4, 3)
    # the key on chain never changed: still epoch 1
    assert dep.gateway.functions.currentKeyEpoch().call() == 1
