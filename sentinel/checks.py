"""The sentinel's decisions, pure: what a destination record must match, and when the evidence allows a curse.

No I/O: the runner reads the chains and passes what it read here.

**The evidence rule.** The sentinel's store (filled by scanning the logs of every RPC) only says
where to look: which transactions and log indexes hold records, and hints of the source transfers.
Nothing it holds is ever taken as evidence, for a pass or for a curse. A record is judged on what
every configured RPC (two or more, `MIN_RPCS`) of each chain answers itself, and one RPC that lies,
lags or fails can only make the sentinel wait and alert (`Verdict.INSUFFICIENT`), never curse, veto
or pass:

1. **The record, on every RPC of its chain** (`agree`): each RPC's receipt of the transaction holds,
   at the log index, a log of the endpoint (address, topics and data) in a block at or below that
   RPC's final head, and the record every RPC decodes from its own receipt and its own copy of the
   transaction (the `executeBatch`, `executeTransfer` or `releaseQueued` calldata, or the call
   tracer's frames for a call through another contract) is the same: every field, the leaf, the
   token pair and the transfer rebuilt from the calldata (`claimed`). For a held transfer, a
   rebuilt transfer is used for a veto only if its leaf is the leaf every RPC's log shows.
2. **The source, on every RPC of the other chain** (`judge`): every configured RPC answered, each
   at its own final head, and they all show the same state of each nonce of the record: absent
   (`nextNonce(dst) <= nonce`) or one `initiatedLeaf(dst, nonce)`. The source transfer whose fields
   are compared with an `Executed` record is one whose leaf is that agreed leaf (the store's, or one
   read from an RPC's `TransferInitiated` log: a log cannot fake a leaf's preimage).
3. **The verdict.** `BACKED` (the record is settled ok) only when that agreed final state backs the
   record completely: the leaf of a queued or held transfer, every leaf of a batch (its root), or
   for a `TransferExecuted` the leaf of its rebuilt transfer, else its amount and recipient and a
   batch of the same transaction whose root covers it (without either, the token pair is not
   verifiable: `INSUFFICIENT`). `UNBACKED` (curse; veto a held transfer) only when the agreed final
   state contradicts the record (absent, another leaf, amount, recipient or root) and no RPC's
   latest (not yet final) head backs it; that one is `PENDING` (the source is merely behind the
   sentinel's stricter finality: wait).
4. **Refunds** (`judge_refund`): a `TransferRefunded` on a source (itself agreed by every RPC of the
   source, step 1) is backed only when every RPC of the destination shows `transferStatus(src,
   nonce) == Failed` at its final head; `UNBACKED` (curse) when every one shows another status at
   its final and latest heads.

Anything less (an RPC failed, the RPCs disagree) is `Verdict.INSUFFICIENT`: the runner counts a
mismatch with kind `evidence_insufficient`, logs `sentinel_evidence_insufficient`, and tries again
next round. Why so strict: a curse stops a route until the committee's signed UNCURSE (after the
action delay) lifts it, so a false curse costs liveness, and a veto of a real transfer costs its
sender a refund round trip; a lying RPC must never be enough for either. A pass must not rest on one
RPC either, or one lying RPC would hide a forgery: it then keeps the record unsettled and the alert
firing. A colluding committee cannot fake the chains' state on every independent RPC, so the strict
rule costs no safety.

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
    REFUND = "refund"  # a source refunded a transfer its destination did not fail
    UNMONITORED = "unmonitored_source"  # a record from a chain the sentinel has no RPCs for: never judged
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
    whole transfer from the transaction's calldata (executeBatch / executeTransfer / releaseQueued,
    sent to the endpoint or found by the call tracer), if decoded; `in_batch`: the same transaction
    has a `BatchExecuted` of the route whose nonces cover it (its root check covers the token pair)."""

    src_chain_id: int
    dst_chain_id: int
    nonce: int
    recipient: str
    amount: int
    claimed: Transfer | None = None
    in_batch: bool = False


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


@dataclass(frozen=True, slots=True)
class Refunded:
    """`TransferRefunded(dstChainId, nonce, sender, amount)` on the transfer's source chain
    (`src_chain_id`, the chain that refunded): its destination must show the transfer `Failed`."""

    src_chain_id: int
    dst_chain_id: int
    nonce: int
    sender: str
    amount: int


Record = Executed | Queued | BatchExecuted | Refunded


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    detail: str


def check_record(record: Record, sources: Sequence[Transfer | None]) -> Finding | None:
    """What `record` gets wrong against the source's final transfers (one per nonce of the record,
    None where the source has none); None if it matches. Kind INSUFFICIENT: a `TransferExecuted`
    whose token pair nothing shows (no transfer rebuilt from its transaction, no batch root)."""
    if isinstance(record, Refunded):
        raise ValueError("a refund is judged by judge_refund, against the destination's status")
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
    if isinstance(record, Executed) and claimed is None and not record.in_batch:
        return Finding(
            Kind.INSUFFICIENT,
            f"nonce {record.nonce}: the delivered token pair is not verifiable (no executeBatch, "
            "executeTransfer or releaseQueued calldata decoded, no batch root in the transaction)",
        )
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
    if isinstance(record, Refunded):
        raise ValueError("a refund is judged by judge_refund")
    if record.claimed is not None:
        return state.leaf == leaf_hash(record.claimed)
    source = local[0]
    if source is None or leaf_hash(source) != state.leaf:
        return None
    if record.amount != source.amount or record.recipient.lower() != source.recipient.lower():
        return False
    return True if record.in_batch else None  # the token pair: only a batch's root shows it


def _may_back(record: Record, states: Sequence[NonceState], local: Sequence[Transfer | None]) -> bool:
    """Whether a (latest) head may back `record`: it does, or it holds the very source transfer the
    sentinel knows (its leaf) with the record's amount and recipient and only the token pair is not
    verifiable. A head holding some other transfer at that nonce, or one the sentinel cannot name,
    is no reason to wait: a forger would start a tiny transfer at the nonce it forges a large
    delivery of, to hold the curse back until the source is final."""
    backed = _backs(record, states, local)
    if backed is not None:
        return backed
    return all(t is not None and leaf_hash(t) == s.leaf for t, s in zip(local, states, strict=True))


def agree(rebuilt: Sequence[Record | None], configured_rpcs: int) -> tuple[Record | None, str]:
    """Step 1 of the rule: the record every configured RPC of its chain rebuilt from its own final
    receipt and transaction (None: that RPC does not show the log final, or failed). Returns the
    agreed record, or None and why not. Records must be equal in every field but `claimed` of a
    held or queued transfer: there the first rebuilt transfer whose leaf is the agreed leaf is kept
    (enough for a veto: the leaf is what the endpoint checks), or None."""
    shown = [r for r in rebuilt if r is not None]
    if configured_rpcs < MIN_RPCS or len(rebuilt) < configured_rpcs or len(shown) < len(rebuilt):
        return None, (
            f"the record is final on {len(shown)} of {configured_rpcs} RPCs of its chain "
            f"(every one, at least {MIN_RPCS}, must show it)"
        )
    first = shown[0]
    if isinstance(first, Queued):
        bare = {r if not isinstance(r, Queued) else _replace_claimed(r, None) for r in shown}
        if len(bare) != 1:
            return None, "the RPCs of its chain show different records at that log"
        claimed = next(
            (r.claimed for r in shown if isinstance(r, Queued) and r.claimed is not None
             and leaf_hash(r.claimed) == first.leaf),
            None,
        )  # fmt: skip
        return _replace_claimed(first, claimed), ""
    if len(set(shown)) != 1:
        return None, "the RPCs of its chain show different records at that log (or transactions)"
    return first, ""


def _replace_claimed(r: Queued, claimed: Transfer | None) -> Queued:
    return Queued(r.src_chain_id, r.dst_chain_id, r.nonce, r.leaf, r.amount, r.held, r.release_after, claimed)


def pick_source(candidates: Sequence[Transfer], state: NonceState) -> Transfer | None:
    """The source transfer for a nonce whose agreed final state is `state`: a candidate (the
    store's, or one an RPC's `TransferInitiated` log gives) whose leaf is the agreed leaf."""
    if not state.exists:
        return None
    return next((t for t in candidates if leaf_hash(t) == state.leaf), None)


def judge(
    record: Record,
    local: Sequence[Transfer | None],
    views: Sequence[RpcView],
    configured_rpcs: int,
    scanned_to: int | None = None,
) -> Evidence:
    """Steps 2 and 3 of the evidence rule (the record itself agreed by every RPC of its chain,
    `agree`). `local`: the source transfers for the record's nonces (None where none is known);
    `views`: one per configured source RPC; `scanned_to`: the last source block the sentinel's
    store has scanned (a transfer final on every RPC but above it is not in the store yet: wait)."""
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
        if isinstance(record, Executed) and not record.in_batch and local[0] is not None:
            return Evidence(
                Verdict.INSUFFICIENT,
                "amount and recipient match the source, but the delivered token pair is not "
                "verifiable: no transfer rebuilt from the transaction, no batch root",
            )
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
    if any(_may_back(record, v.latest, local) for v in views):
        return Evidence(Verdict.PENDING, "a source RPC's latest head backs the record; not final yet")
    return Evidence(
        Verdict.UNBACKED,
        f"every one of {len(views)} source RPCs shows at its final head (blocks "
        f"{sorted(v.final_block for v in views)}) no source transfer matching the record",
    )


class Status(enum.IntEnum):
    """`transferStatus(src, nonce)` on a destination endpoint."""

    NONE = 0
    DELIVERED = 1
    QUEUED = 2
    FAILED = 3


@dataclass(frozen=True, slots=True)
class StatusView:
    """What one destination RPC answered for `transferStatus(src, nonce)` at its final and its
    latest head; `error` set when it did not answer."""

    url: str
    final_block: int = 0
    final: int = 0
    latest: int = 0
    error: str | None = None


def judge_refund(views: Sequence[StatusView], configured_rpcs: int) -> Evidence:
    """Step 4 of the rule: a source's `TransferRefunded` (agreed by every RPC of the source) against
    the transfer's status on every configured RPC of its destination."""
    if configured_rpcs < MIN_RPCS or len(views) < configured_rpcs:
        return Evidence(
            Verdict.INSUFFICIENT,
            f"{len(views)} of {configured_rpcs} destination RPCs answered; a curse needs every configured "
            f"one, at least {MIN_RPCS}",
        )
    failed = [v for v in views if v.error is not None]
    if failed:
        return Evidence(Verdict.INSUFFICIENT, f"destination RPC {failed[0].url} failed: {failed[0].error}")
    if all(v.final == Status.FAILED for v in views):
        return Evidence(Verdict.BACKED, "every destination RPC shows the transfer failed at its final head")
    if len({v.final for v in views}) != 1:
        return Evidence(Verdict.INSUFFICIENT, "the destination RPCs disagree on the transfer's final status")
    if any(v.latest == Status.FAILED for v in views):
        return Evidence(Verdict.PENDING, "a destination RPC's latest head shows it failed; not final yet")
    try:
        status = Status(views[0].final).name
    except ValueError:
        status = str(views[0].final)
    return Evidence(
        Verdict.UNBACKED,
        f"refunded on the source, but every one of {len(views)} destination RPCs shows status {status} "
        f"(not Failed) at its final head (blocks {sorted(v.final_block for v in views)})",
    )


def veto_allowed(now: int, release_after: int, cursed: bool) -> bool:
    """Whether the endpoint takes a veto of a held transfer: inside its window, or (after it) while
    the route is cursed (`releaseQueued` cannot deliver it then, and the endpoint takes the veto)."""
    return now < release_after or cursed


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
