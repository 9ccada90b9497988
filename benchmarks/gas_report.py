"""Gas report of the Qiao contracts, measured on a real anvil chain; writes docs/GAS.md.

Run with `bash scripts/gas-report.sh`. Every figure is the `gasUsed` of a mined transaction (21,000
base and calldata included) or, for signature verification alone, the `gasUsed` of a transaction
calling the endpoint's `verifySignature` minus the 21,000 base and the calldata cost. Batches mint to
fresh holders (their balance slot goes from zero to non-zero), with rate limits and the KYC check on.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.bls import g1_to_eip2537
from committee.threshold import KeyShare, combine, deal, partial_sign
from relayer import devnet
from relayer.deploy import Deployment, deploy_bridge, dev_account, send
from relayer.encoding import batch_message
from relayer.submitter import execute_batch_call
from relayer.types import Batch, ChainId, Nonce, Transfer

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 10, 100)
COMMITTEES = ((4, 3), (7, 5), (16, 11))


def calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def sign(shares: Sequence[KeyShare], message: bytes) -> bytes:
    t = shares[0].public.threshold
    partials = {s.index: partial_sign(s, message) for s in shares[:t]}
    return g1_to_eip2537(combine(shares[0].public, partials))


@dataclass
class Figures:
    verify: list[tuple[int, int, int]]  # (n, t, gas)
    batches: list[tuple[int, int]]  # (size, gasUsed)
    lock: int
    burn: int
    unlock_batch: tuple[int, int]


def lock_many(dep: Deployment, count: int, holders: list[str]) -> list[Transfer]:
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice = dev_account(0), dev_account(8)
    c_id, e_id = wc.eth.chain_id, Web3(HTTPProvider(dep.ethereum_url)).eth.chain_id
    send(wc, admin, dep.asset.functions.mint(alice.address, count * 10**18))
    send(wc, alice, dep.asset.functions.approve(dep.vault.address, count * 10**18))
    first = dep.vault.functions.nextNonce(e_id).call()
    out = []
    for i, holder in enumerate(holders):
        send(wc, alice, dep.vault.functions.lock(dep.asset.address, e_id, holder, 10**18))
        out.append(
            Transfer(
                ChainId(c_id),
                ChainId(e_id),
                Nonce(first + i),
                cs(dep.asset.address),
                cs(dep.wrapped.address),
                alice.address,
                holder,
                10**18,
            )
        )
    return out


def measure(
    run_dir: Path,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    committees: Sequence[tuple[int, int]] = COMMITTEES,
) -> Figures:
    """`batch_sizes` and `committees` default to the ones docs/GAS.md shows; benchmarks/run.py asks
    for more (batches of 500, a committee of 31)."""
    procs = devnet.Processes()
    try:
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        c_url = devnet.start_anvil(procs, "anvil-c", devnet.CONSORTIUM_CHAIN_ID, logs, 0)
        e_url = devnet.start_anvil(procs, "anvil-e", devnet.ETHEREUM_CHAIN_ID, logs, 0)
        wc, we = Web3(HTTPProvider(c_url)), Web3(HTTPProvider(e_url))
        admin, relayer = dev_account(0), dev_account(1)

        verify = []
        for n, t in committees:
            shares = deal(n, t)
            dep = deploy_bridge(c_url, e_url, shares[0].public.group_public_key)
            message = secrets.token_bytes(32)
            sig = sign(shares, message)
            fn = dep.gateway.functions.verifySignature(1, message, sig)
            assert fn.call() is True
            data = bytes.fromhex(fn._encode_transaction_data()[2:])
            # A transaction with ample gas: estimateGas would find the smallest gas at which the
            # view returns (false, the pairing precompile out of gas), not the cost of verifying.
            used = int(send(we, relayer, fn, gas=1_000_000)["gasUsed"])
            verify.append((n, t, used - 21_000 - calldata_gas(data)))

        shares = deal(4, 3)
        dep = deploy_bridge(c_url, e_url, shares[0].public.group_public_key)
        batches = []
        for size in batch_sizes:
            holders = [cs("0x" + secrets.token_hex(20)) for _ in range(size)]
            send(we, admin, dep.registry_e.functions.setAllowedBatch(holders, True))  # type: ignore[union-attr]
            transfers = lock_many(dep, size, holders)
            batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
            sig = sign(shares, batch_message(batch))
            receipt = send(we, relayer, execute_batch_call(dep.gateway, batch, sig))
            assert all(dep.wrapped.functions.balanceOf(h).call() == 10**18 for h in holders)
            batches.append((size, int(receipt["gasUsed"])))

        # lock, burn and an unlock batch of 10 (E -> C) for completeness
        alice, bob = dev_account(8), dev_account(9)
        lock_receipt_transfers = lock_many(dep, 1, [bob.address])
        batch = Batch(tuple(lock_receipt_transfers), cs(dep.gateway.address), 1)
        send(
            we,
            relayer,
            execute_batch_call(dep.gateway, batch, sign(shares, batch_message(batch))),
        )
        send(wc, admin, dep.asset.functions.mint(alice.address, 10**18))
        send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**18))
        lock_gas = int(
            send(
                wc, alice, dep.vault.functions.lock(dep.asset.address, we.eth.chain_id, bob.address, 10**18)
            )["gasUsed"]
        )
        c_id = wc.eth.chain_id
        first = dep.gateway.functions.nextNonce(c_id).call()
        burn_gas = 0
        back = []
        for i in range(10):
            r = send(we, bob, dep.gateway.functions.burn(dep.wrapped.address, c_id, alice.address, 10**16))
            burn_gas = int(r["gasUsed"])
            back.append(
                Transfer(
                    ChainId(we.eth.chain_id),
                    ChainId(c_id),
                    Nonce(first + i),
                    cs(dep.wrapped.address),
                    cs(dep.asset.address),
                    bob.address,
                    alice.address,
                    10**16,
                )
            )
        batch = Batch(tuple(back), cs(dep.vault.address), 1)
        r = send(
            wc,
            relayer,
            execute_batch_call(dep.vault, batch, sign(shares, batch_message(batch))),
        )
        return Figures(verify, batches, lock_gas, burn_gas, (10, int(r["gasUsed"])))
    finally:
        procs.stop_all()


def render(f: Figures) -> str:
    lines = [
        "# Gas report",
        "",
        "Generated by `bash scripts/gas-report.sh` (benchmarks/gas_report.py) on anvil (Prague rules);",
        "do not edit by hand. Every batch figure is the `gasUsed` of a mined transaction: the 21,000",
        "base cost, calldata, signature verification, and minting to fresh holders (a zero balance",
        "slot made non-zero) with the KYC check and the inbound rate limit on.",
        "",
        "## Signature verification per batch",
        "",
        "One pairing check (two pairs) plus hash-to-G1, whatever the committee size: the contract only",
        "ever sees the group key and one aggregated signature. Measured with `verifySignature`",
        "(a transaction's gasUsed minus the 21,000 base and the calldata), so it includes reading the",
        "256-byte group key (one EXTCODECOPY) and the key-epoch check. Target: <= 140,000.",
        "",
        "| committee n | threshold t | verification gas |",
        "|---:|---:|---:|",
    ]
    for n, t, g in f.verify:
        lines.append(f"| {n} | {t} | {g:,} |")
    lines += [
        "",
        "## Cost per transfer (C -> E, mint to a fresh holder)",
        "",
        "Target: <= 35,000 gas per transfer in a batch of 100.",
        "",
        "| batch size | executeBatch gasUsed | per transfer |",
        "|---:|---:|---:|",
    ]
    for size, g in f.batches:
        lines.append(f"| {size} | {g:,} | {g // size:,} |")
    (s10, g10), (s100, g100) = f.batches[1], f.batches[2]
    marginal = (g100 - g10) // (s100 - s10)
    per100 = g100 // s100
    verdict = (
        f"**Target met**: {per100:,} <= 35,000."
        if per100 <= 35_000
        else f"**Target missed** by {per100 - 35_000:,} gas per transfer ({per100:,} > 35,000); see below."
    )
    lines += [
        "",
        verdict,
        "",
        f"Marginal cost of one more transfer (from the 10 and 100 batches): {marginal:,} gas.",
        "",
        "## Other operations",
        "",
        "| operation | gasUsed |",
        "|---|---:|",
        f"| `lock` (vault, C; not the first on the route) | {f.lock:,} |",
        f"| `burn` (gateway, E) | {f.burn:,} |",
        f"| `executeBatch` of {f.unlock_batch[0]} unlocks (vault, C) | {f.unlock_batch[1]:,} |",
        "",
        "## Where the gas goes",
        "",
        "Per batch (paid once): the 21,000 base; the BLS check (the pairing precompile, 37,700 +",
        "2 x 32,600; two MAP_FP_TO_G1 at 5,500; SHA-256 and MODEXP for expand_message_xmd and the",
        "reduction mod p; reading the group key); the cold reads of the key epoch, the pause flag, the",
        "token pair and the bucket; the first write of the executed-bitmap word (zero to non-zero,",
        "22,100) and of the bucket; the BatchExecuted event.",
        "",
        "Per transfer, measured once with anvil's step tracer on a batch of 10 fresh holders",
        "(`debug_traceTransaction`), rounded:",
        "",
        "| item | gas |",
        "|---|---:|",
        "| `mintChecked` call into the token, in all | 28,400 |",
        "| - of which the holder's balance slot, zero to non-zero (2,100 cold + 20,000) | 22,100 |",
        "| - of which the KYC check (STATICCALL to the registry, the holder's cold slot) | 2,775 |",
        "| - of which the ERC-20 Transfer event | 1,756 |",
        "| - of which dispatch, ABI, total supply and freeze flag (warm) | ~1,750 |",
        "| TransferExecuted event (LOG3, 64 bytes) | 2,012 |",
        "| calldata of the transfer (8 words; ~92 non-zero bytes) | ~2,100 |",
        "| leaf hash, Merkle level, shape checks, pair check, bitmap bit (before any call) | ~4,000 |",
        "| the delivery loop around the call (ABI encoding, outcome decoding) | ~1,500 |",
        "",
        "The floor with this design is about 33,000 per transfer in a batch of 100: the fresh",
        "balance slot, the KYC read, the two events, calldata and the share of the batch overhead",
        "(about 2,300 at 100). What is left above it is Solidity bookkeeping in the two loops",
        "(calldata struct access with validation, internal calls, bounds checks): about 5,000 per",
        "transfer. Reaching 35,000 would need those loops in assembly, or dropping either the",
        "per-transfer TransferExecuted event (the relayer's tests and operators use it) or the",
        "KYC check on the recipient (required for a security token). Neither was done.",
        "",
        "Optimisations already in: the group key is stored as contract code (one EXTCODECOPY instead",
        "of nine cold SLOADs, about 16,000 saved per batch); the reentrancy guard uses transient",
        "storage; the executed bitmap packs 256 nonces per word; the bucket's level and timestamp",
        "share a slot; leaves and inner nodes are hashed without memory allocation; the token checks",
        "KYC and mints in one call (`mintChecked`).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gas_report", description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "GAS.md")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qiao-gas-") as tmp:
        figures = measure(Path(tmp))
    text = render(figures)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
