"""The operator's `reobserve`: read one source transaction again and store the final transfers it holds.

It reads the way the watcher reads (relayer.pipeline.watcher): only a final block, only the
chain's canonical block at that height, and the logs under the chain's quorum and log checks. A
stored transfer can fill a nonce gap, so the nonce-gap halts of its chain's routes are cleared.
"""

from __future__ import annotations

from typing import Any

import structlog

from relayer.adapters.chain import ChainClient, MalformedEvent
from relayer.ops.admin_client import AdminError
from relayer.pipeline.halts import HaltKind
from relayer.pipeline.node import Node

log = structlog.get_logger(__name__)


async def reobserve(node: Node, tx_hash: str) -> dict[str, Any]:
    """Read a source transaction's receipt again and store any transfer it holds that is final."""
    if not (tx_hash.startswith("0x") and len(tx_hash) == 66):
        raise AdminError(f"{tx_hash!r} is not a transaction hash (0x + 64 hex)")
    for chain in node.chains.values():
        try:
            receipt = await chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except Exception as exc:  # not on this chain
            log.debug("reobserve_not_on_chain", chain=chain.cfg.name, error=repr(exc))
            continue
        return await _reobserve_receipt(node, chain, tx_hash, receipt)
    raise AdminError(f"transaction {tx_hash} not found on any configured chain")


async def _reobserve_receipt(node: Node, chain: ChainClient, tx_hash: str, receipt: Any) -> dict[str, Any]:
    """The transfers of the receipt's transaction, read again the way the watcher reads them:
    final under the chain's finality rule (`final_head`), the receipt's block the canonical
    one at its number, and the logs read under the chain's quorum and log checks."""
    block = int(receipt["blockNumber"])
    final = await chain.final_head()
    if block > final:
        raise AdminError(
            f"transaction {tx_hash} is in block {block}, not final yet (final head {final} under "
            f"finality {chain.cfg.finality!r}); run reobserve again once it is"
        )
    canonical = await chain.block_hash(block)
    if _hex(receipt["blockHash"]).lower() != canonical.lower():
        raise AdminError(
            f"transaction {tx_hash}: its receipt names block {_hex(receipt['blockHash'])}, the "
            f"chain's block {block} is {canonical}: not canonical, nothing stored"
        )
    wanted = {r.dst for r in node.cfg.routes if r.src == chain.chain_id}
    found: list[dict[str, Any]] = []
    events = []
    try:
        observed = await chain.transfers(block, block, end_hash=canonical)
    except MalformedEvent as exc:
        raise AdminError(str(exc)) from exc
    for obs in observed:
        if obs.tx_hash.lower() != tx_hash.lower() or obs.located.transfer.dst_chain_id not in wanted:
            continue
        events.append((obs.located, obs.block_hash, obs.tx_hash, obs.log_index))
        found.append({"route": str(obs.located.transfer.route), "nonce": obs.located.transfer.nonce})
    if not events:
        raise AdminError(f"transaction {tx_hash} holds no transfer on a configured route")
    cursor = await node.store.cursor(chain.chain_id)
    keep = cursor if cursor is not None else chain.cfg.start_block
    new = await node.store.record_scan(chain.chain_id, keep, events)
    cleared = []
    for route, halt in list(node.halts.halted.items()):
        if route.src == chain.chain_id and halt.kind is HaltKind.NONCE_GAP:
            node.clear_halt(route)
            cleared.append(str(route))
    node.wake()
    log.info("operator_reobserve", tx=tx_hash, new=len(new), found=found)
    return {
        "tx": tx_hash,
        "chain": chain.cfg.name,
        "transfers": found,
        "new": len(new),
        "unhalted": cleared,
    }


def _hex(value: Any) -> str:
    """A receipt field as 0x-hex (web3 gives HexBytes; a raw reply gives a string)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
