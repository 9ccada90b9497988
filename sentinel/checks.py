"""The sentinel's decisions, pure: what a destination record must match, and when the evidence allows a curse.

No I/O: the runner reads the chains and passes what it read here.

Two steps, so that one RPC can never make the sentinel curse:

1. **Suspicion**, from the sentinel's own store (source events read from one RPC): `check_record`
   compares a destination record (a `TransferExecuted`, `TransferQueued`, `TransferHeld` or
   `BatchExecuted`) with the final source transfer of the same route and nonce: nonce, amount,
   recipient, the token pair (and, when the destination's calldata could be decoded, every field:
   the leaf) and, for a batch, the Merkle root of the source's leaves. A mismatch here is only a
   suspicion.

2. **Evidence**, from every RPC: `judge` curses only when ALL of these hold:
   - the destination event is final on every configured RPC of the destination chain (the
     transaction's receipt holds the log, in a block at or below that RPC's final head);
   - every configured RPC of the source chain answered (at least two are required: a single RPC
     never curses), each at its own final head, and they all agree on the source's state of that
     nonce: either `nextNonce(dst) <= nonce` (the transfer does not exist) or the same
     `initiatedLeaf(dst, nonce)`;
   - that agreed final state contradicts the destination record (absent, another leaf, another
     amount or recipient, a root the source's leaves do not give);
   - no RPC's latest (not yet final) head holds a state that would back the record: then the
     source may be merely behind the sentinel's stricter finality rule (`Verdict.PENDING`, wait).
   Anything less (an RPC failed, the RPCs disagree: a lying or lagging endpoint) is
   `Verdict.INSUFFICIENT`: the runner counts a mismatch with kind `evidence_insufficient` and logs
   `sentinel_evidence_insufficient`, and tries again next round. Why so strict: a curse stops a
   route until the committee's signed UNCURSE (after the action delay) lifts it, so a false curse
   costs liveness; a lying RPC must never be enough to cause one. A colluding committee cannot
   fake the source's state on every independent RPC, so the strict rule costs no safety.

Supply (S3): for a token pair, the amount locked in the home chain's vault must be at least the
wrapped token's total supply. Locks precede mints and burns precede unlocks, so honest reads at
final heads can only show an excess if the two chains' heads are far apart in time; `supply_verdict`
therefore requires the excess on every RPC of both chains in `confirmations` consecutive checks.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from relayer.core.encoding import leaf_hash, merkle_root
from relayer.core.types import Transfer

MIN_RPCS = 2  # a single RPC never curses


class Kind(enum.StrEnum):
    """What a destination record got wrong (label `kind` of qiao_sentinel_mismatches_total)."""

    UNBACKED = "unbacked"  # no final source transfer with that nonce
    AMOUNT = "amount"
    RECIPIENT = "recipient"
    TOKEN = "token"  # noqa: S105 (a label, not a secret); the token pair differs from the source transfer's
    LEAF = "leaf"  # another field (sender, route): the leaves differ
    ROOT = "root"  # a batch's root is not the root of the source's leaves
    SUPPLY = "supply"  # wrapped supply above the amount locked
    INSUFFICIENT = "evidence_insufficient"  # suspected, but the RPCs do not all agree
    SUPPLY_INSUFFICIENT = "supply_evidence_insufficient"  # an excess not on every RPC, or not yet confirmed


class Verdict(enum.StrEnum):
    BACKED = "backed"  # the record matches the source's final transfer
    UNBACKED = "unbacked"  # evidence enough: curse (or veto a held transfer)
    PENDING = "pending"  # the source's latest head backs it, its final head not yet: wait
    INSUFFICIENT = "insufficient"  # an RPC failed or the RPCs disagree: never curse


@dataclass(frozen=True, slots=True)
class Executed:
    """`TransferExecuted(srcChainId, nonce, recipient, amount)` on the destination. `claimed`: the
    whole transfer from the transaction's calldata (executeBatch / executeTransfer), if decoded."""

    src_chain_id: int
    dst_chain_id: int
    nonce: int
    recipient: str
    amount: int
    claimed: Transfer | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """`TransferQueued(srcChainId, nonce, leaf, amount)`, or `TransferHeld(..., releaseAfter)`
    (held = True): a transfer kept for the rate limit or its challenge window."""

    src_chain_id: int
    dst_chain_id: int
    nonce: int
    leaf: bytes
    amount: int
    held: bool = False
    release_after: int = 0
    claimed: Transfer | None = None


@dataclass(frozen=True, slots=True)
class BatchExecuted:
    """`BatchExecuted(srcChainId, firstNonce, lastNonce, root, keyEpoch)`."""

    src_chain_id: int
    dst_chain_id: int
    first_nonce: int
    last_nonce: int
    root: bytes
    key_epoch: int

    @property
    def nonces(self) -> range:
        return range(self.first_nonce, self.last_nonce + 1)


Record = Executed | Queued | BatchExecuted


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    detail: str


def check_record(record: Record, sources: Sequence[Transfer | None]) -> Finding | None:
    """The suspicion: `record` against the source's final transfers (one per nonce of the record,
    None where the source has none); None if it matches."""
    if isinstance(record, BatchExecuted):
        if len(sources) != len(record.nonces):
            raise ValueError(f"batch {record.first_nonce}..{record.last_nonce}: {len(sources)} sources given")
        missing = [n for n, t in zip(record.nonces, sources, strict=True) if t is None]
        if missing:
            return Finding(Kind.UNBACKED, f"batch nonces {missing} have no final source transfer")
        root = merkle_root([leaf_hash(t) for t in sources if t is not None])
        if root != record.root:
            return Finding(Kind.ROOT, f"batch root {record.root.hex()} != source root {root.hex()}")
        return None
    if len(sources) != 1:
        raise ValueError(f"transfer {record.nonce}: one source expected, {len(sources)} given")
    source = sources[0]
    if source is None:
        return Finding(Kind.UNBACKED, f"nonce {record.nonce} has no final source transfer")
    if source.nonce != record.nonce or source.src_chain_id != record.src_chain_id:
        raise ValueError(f"source {source.src_chain_id}#{source.nonce} is not record's")
    if record.amount != source.amount:
        return Finding(Kind.AMOUNT, f"nonce {record.nonce}: amount {record.amount} != source {source.amount}")
    if isinstance(record, Executed) and record.recipient.lower() != source.recipient.lower():
        return Finding(
            Kind.RECIPIENT, f"nonce {record.nonce}: recipient {record.recipient} != source {source.recipient}"
        )
    claimed = record.claimed
    if claimed is not None:
        if (claimed.src_token, claimed.dst_token) != (source.src_token, source.dst_token):
            return Finding(
                Kind.TOKEN,
                f"nonce {record.nonce}: token pair {claimed.src_token}/{claimed.dst_token} != source "
                f"{source.src_token}/{source.dst_token}",
            )
        if claimed.recipient != source.recipient:
            return Finding(
                Kind.RECIPIENT,
                f"nonce {record.nonce}: recipient {claimed.recipient} != source {source.recipient}",
            )
        if leaf_hash(claimed) != leaf_hash(source):
            return Finding(
                Kind.LEAF, f"nonce {record.nonce}: the destination's transfer differs from the source's"
            )
    if isinstance(record, Queued) and record.leaf != leaf_hash(source):
        return Finding(Kind.LEAF, f"nonce {record.nonce}: leaf {record.leaf.hex()} != source leaf")
    return None


@dataclass(frozen=True, slots=True)
class NonceState:
    """One nonce of the route on the source endpoint at one block: `exists` is `nextNonce(dst) >
    nonce`; `leaf` is `initiatedLeaf(dst, nonce)` (zero bytes when none)."""

    exists: bool
    leaf: bytes


@dataclass(frozen=True, slots=True)
class RpcView:
    """What one source RPC answered for the nonces of a record, at its final and its latest head;
    `error` set (and the states empty) when it did not answer."""

    url: str
    final_block: int = 0
    final: tuple[NonceState, ...] = ()
    latest: tuple[NonceState, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    verdict: Verdict
    reason: str


def _backs(record: Record, states: Sequence[NonceState], local: Sequence[Transfer | None]) -> bool | None:
    """Whether the source states (one per nonce) back `record`; None when they cannot tell (an
    Executed record without a claimed transfer needs the local source transfer whose leaf the
    states confirm, and the local one does not match them)."""
    if any(not s.exists for s in states):
        return False
    if isinstance(record, BatchExecuted):
        return merkle_root([s.leaf for s in states]) == record.root
    state = states[0]
    if isinstance(record, Queued):
        return state.leaf == record.leaf
    if record.claimed is not None:
        return state.leaf == leaf_hash(record.claimed)
    source = local[0]
    if source is None or leaf_hash(source) != state.leaf:
        return None
    return record.amount == source.amount and record.recipient.lower() == source.recipient.lower()


def judge(
    record: Record,
    local: Sequence[Transfer | None],
    views: Sequence[RpcView],
    configured_rpcs: int,
    destination_final: Sequence[bool],
    scanned_to: int | None = None,
) -> Evidence:
    """The evidence rule of the module docstring. `local`: the store's source transfers for the
    record's nonces (as `check_record` had them); `views`: one per configured source RPC;
    `destination_final`: per configured destination RPC, whether it shows the record's log final;
    `scanned_to`: the last source block the sentinel's store has scanned (a transfer final on every
    RPC but above it is not in the store yet: wait; at or below it, the store missed it)."""
    if len(destination_final) < MIN_RPCS or not all(destination_final):
        return Evidence(
            Verdict.INSUFFICIENT,
            f"the destination event is final on {sum(destination_final)} of {len(destination_final)} RPCs "
            f"(every one, at least {MIN_RPCS}, must show it)",
        )
    if configured_rpcs < MIN_RPCS or len(views) < configured_rpcs:
        return Evidence(
            Verdict.INSUFFICIENT,
            f"{len(views)} of {configured_rpcs} source RPCs answered; a curse needs every configured one, "
            f"at least {MIN_RPCS}",
        )
    failed = [v for v in views if v.error is not None]
    if failed:
        return Evidence(Verdict.INSUFFICIENT, f"source RPC {failed[0].url} failed: {failed[0].error}")
    finals = {v.final for v in views}
    if len(finals) != 1:
        return Evidence(Verdict.INSUFFICIENT, "the source RPCs disagree on the nonce's final state")
    final = views[0].final
    backed = _backs(record, final, local)
    if backed is None:
        if (
            any(t is None for t in local)
            and scanned_to is not None
            and scanned_to < min(v.final_block for v in views)
        ):
            return Evidence(Verdict.PENDING, f"the store has scanned the source to block {scanned_to} only")
        return Evidence(
            Verdict.INSUFFICIENT,
            "the sentinel's stored source transfer does not match the leaf every RPC shows",
        )
    if backed:
        return Evidence(Verdict.BACKED, "every source RPC's final head backs the record")
    if any(_backs(record, v.latest, local) for v in views):
        return Evidence(Verdict.PENDING, "a source RPC's latest head backs the record; not final yet")
    return Evidence(
        Verdict.UNBACKED,
        f"every one of {len(views)} source RPCs shows at its final head (blocks "
        f"{sorted(v.final_block for v in views)}) no source transfer matching the record",
    )


@dataclass(frozen=True, slots=True)
class SupplyRead:
    """One read of a pair: the amount locked (home vault's balance) and the wrapped total supply,
    each at a final head, from one RPC of each chain (None: that RPC failed)."""

    locked: int | None
    wrapped: int | None


def supply_excess(locked: int, wrapped: int) -> int:
    """How much wrapped supply exceeds what is locked (0 when within)."""
    return max(0, wrapped - locked)


def supply_verdict(history: Sequence[Sequence[SupplyRead]], confirmations: int) -> Evidence:
    """`history`: the last checks of one pair, newest last, each the reads of every configured
    RPC pairing. UNBACKED only when the newest `confirmations` checks each show an excess on every
    read; an excess seen on some reads only is INSUFFICIENT; none is BACKED."""
    if confirmations < 1:
        raise ValueError(f"supply confirmations {confirmations}: must be at least 1")
    if not history:
        return Evidence(Verdict.INSUFFICIENT, "no supply read yet")
    newest = history[-1]
    complete = [r for r in newest if r.locked is not None and r.wrapped is not None]
    if not any(supply_excess(r.locked, r.wrapped) for r in complete if r.locked is not None and r.wrapped):
        if len(complete) < len(newest) or len(newest) < MIN_RPCS:
            return Evidence(Verdict.INSUFFICIENT, "not every RPC answered the supply read")
        return Evidence(Verdict.BACKED, "wrapped supply within the amount locked")
    recent = history[-confirmations:]

    def all_excess(reads: Sequence[SupplyRead]) -> bool:
        return len(reads) >= MIN_RPCS and all(
            r.locked is not None and r.wrapped is not None and supply_excess(r.locked, r.wrapped) > 0
            for r in reads
        )

    if len(recent) == confirmations and all(all_excess(reads) for reads in recent):
        worst = max(supply_excess(r.locked or 0, r.wrapped or 0) for r in newest)
        return Evidence(
            Verdict.UNBACKED,
            f"wrapped supply exceeds the amount locked by {worst} on every RPC, {confirmations}x",
        )
    return Evidence(Verdict.INSUFFICIENT, "a supply excess not (yet) seen on every RPC in consecutive checks")
