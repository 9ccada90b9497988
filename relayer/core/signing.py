"""The one signed-once rule for everything the committee signs, pure (docs/PROTOCOL.md).

A *signed item* is one message this member signs: its kind (a batch, a refund, a committee
action), its domain (chain, contract, key epoch), its id, and the exact message. An item of a kind
that takes positions of a counter the contract consumes once also names its *span*: a batch takes
nonces first..last of its route, a refund the one nonce of the transfer it refunds.

The rule: a member never signs two different messages for the same (kind, domain, id), and never
two different items of one kind on a common position of a span, under any key epoch. So a batch
range signed once is never signed again with another range, root or message, and a refund is
approved with one message per key epoch. The one exception is a re-key (`rekeyed`): the same item,
span and content signed again under a later key epoch, for an endpoint that no longer accepts the
epoch it was first signed under (relayer.core.keyring).

The store (`relayer.adapters.store.signed`) reads what this member signed before that could
collide with an item, and records the item only if `signed_once` says so, in the transaction that
writes the kind's own records, before the partial is published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from relayer.core.states import Equivocation
from relayer.core.types import BatchId, Route


@dataclass(frozen=True, slots=True)
class Span:
    """The positions `first`..`last` of counter `sequence` an item takes, and what it commits to
    there (`content`: a batch's Merkle root; empty for a refund)."""

    sequence: str
    first: int
    last: int
    content: bytes = b""

    def __post_init__(self) -> None:
        if not self.sequence or not 0 <= self.first <= self.last:
            raise ValueError(
                f"span {self.sequence!r} {self.first}-{self.last}: need a name and first <= last"
            )

    def same(self, other: Span | None) -> bool:
        """The same positions committing to the same content; an empty content (a refund approved
        by a build that did not record its transfer's leaf) matches any."""
        return (
            other is not None
            and (self.sequence, self.first, self.last) == (other.sequence, other.first, other.last)
            and (self.content == other.content or not self.content or not other.content)
        )

    def overlaps(self, other: Span) -> bool:
        return self.sequence == other.sequence and self.first <= other.last and other.first <= self.last


@dataclass(frozen=True, slots=True)
class SignedItem:
    """One message this member signs: (kind, chain, contract, key epoch, item id), the message,
    and the span it takes (None for a kind that takes none: a committee action)."""

    kind: str
    chain_id: int
    contract: str
    key_epoch: int
    item_id: str
    message: bytes
    span: Span | None = None

    def __post_init__(self) -> None:
        if not self.kind or not self.item_id:
            raise ValueError(f"signed item {self.kind!r} {self.item_id!r}: needs a kind and an id")
        object.__setattr__(self, "contract", self.contract.lower())

    @property
    def key(self) -> tuple[str, int, str, int, str]:
        return (self.kind, self.chain_id, self.contract, self.key_epoch, self.item_id)


def batch_item(bid: BatchId, dst_contract: str, key_epoch: int, root: bytes, message: bytes) -> SignedItem:
    """A batch: id `<src>:<first nonce>` on its destination's endpoint; it takes nonces
    first..last of its route under any key epoch, committing to `root`."""
    return SignedItem(
        "batch",
        bid.route.dst,
        dst_contract,
        key_epoch,
        f"{bid.route.src}:{bid.first_nonce}",
        message,
        Span(route_sequence(bid.route), bid.first_nonce, bid.last_nonce, root),
    )


def refund_item(
    route: Route, nonce: int, src_contract: str, key_epoch: int, message: bytes, leaf: bytes = b""
) -> SignedItem:
    """The refund of transfer `nonce` of `route`: id `<src>:<dst>:<nonce>` on its source's
    endpoint; it takes that one nonce of the route under any key epoch, committing to the
    transfer's `leaf` (its leaf hash: a re-key under a later epoch refunds the same transfer)."""
    return SignedItem(
        "refund",
        route.src,
        src_contract,
        key_epoch,
        f"{route.src}:{route.dst}:{nonce}",
        message,
        Span(route_sequence(route), nonce, nonce, leaf),
    )


def route_sequence(route: Route) -> str:
    """The name of a route's nonce counter in a span: `<src>:<dst>`."""
    return f"{route.src}:{route.dst}"


def signed_once(item: SignedItem, earlier: Iterable[tuple[SignedItem, bytes]]) -> bytes | None:
    """The signed-once rule. `earlier`: the (item, partial) this member signed before with the
    same (kind, domain, id) as `item` or, of its kind, on a position of its span. Returns the
    partial recorded for this very item (publish it again, never sign again), or None when nothing
    collides (sign and record it). Raises `Equivocation` if any of them is another message, was
    signed under another key epoch (its partial is another key's; a re-key to a later epoch,
    `rekeyed`, excepted) or, on a span, takes another range or commits to other content."""
    again: bytes | None = None
    for before, partial in earlier:
        same_span = before.span == item.span or (item.span is not None and item.span.same(before.span))
        if (before.message, before.key_epoch) == (item.message, item.key_epoch) and same_span:
            again = partial
            continue
        if rekeyed(item, before):
            continue
        raise Equivocation(_collision(item, before))
    return again


def rekeyed(item: SignedItem, before: SignedItem) -> bool:
    """Whether `item` signs again, under a later key epoch, exactly what `before` signed: the same
    kind, span and content (a batch's root; a refund's one nonce). An endpoint that stopped
    accepting the old epoch (a rotation's grace period over, or a rotation while paused) is given
    the same transfers under its current key: no other range or content, and the contract's
    executed and refunded bitmaps let each nonce take effect once, whichever epoch signed it."""
    return (
        item.kind == before.kind
        and item.span is not None
        and item.span.same(before.span)
        and item.key_epoch > before.key_epoch
        and (item.chain_id, item.contract, item.item_id) == (before.chain_id, before.contract, before.item_id)
    )


def _collision(item: SignedItem, before: SignedItem) -> str:
    if item.span is not None and before.span is not None and before.span.overlaps(item.span):
        b, s = before.span, item.span
        return (
            f"{item.kind} {item.item_id} (nonces {s.first}-{s.last} of {s.sequence}) overlaps "
            f"{b.first}-{b.last} signed earlier under key epoch {before.key_epoch} with content "
            f"0x{b.content.hex()}, message 0x{before.message.hex()}; refusing to sign content "
            f"0x{s.content.hex()}, message 0x{item.message.hex()} (key epoch {item.key_epoch})"
        )
    return (
        f"{item.kind} {item.item_id} on chain {item.chain_id} (epoch {item.key_epoch}) was signed with "
        f"message 0x{before.message.hex()}; refusing 0x{item.message.hex()}"
    )
