"""`signed_items`: the one signed-once record every kind of signed item goes through.

What this member signed (batches, refunds, committee actions) is recorded here before its partial
leaves the node, in the same transaction as the kind's own records; `relayer.core.signing` decides
whether an item may be signed, from the rows that could collide with it (same kind, domain and
id, or a common position of its span), so no restart can make the member sign two different
messages for one item.
"""

from __future__ import annotations

import time

import aiosqlite

from relayer.adapters.store.connection import StoreBase
from relayer.core.signing import SignedItem, Span, signed_once

COLUMNS = (
    "kind, chain_id, contract, key_epoch, item_id, message, partial, signed_at, "
    "sequence, span_first, span_last, content"
)


def _item(r: aiosqlite.Row) -> SignedItem:
    span = None
    if r["sequence"] is not None:
        content = b"" if r["content"] is None else bytes(r["content"])
        span = Span(str(r["sequence"]), int(r["span_first"]), int(r["span_last"]), content)
    return SignedItem(
        str(r["kind"]),
        int(r["chain_id"]),
        str(r["contract"]),
        int(r["key_epoch"]),
        str(r["item_id"]),
        bytes(r["message"]),
        span,
    )


async def sign_in(
    db: aiosqlite.Connection, item: SignedItem, partial: bytes, now: float
) -> tuple[bytes, bool]:
    """Within the open transaction `db`: record that this member signs `item` with `partial`.
    Returns (the partial to publish, whether it is new): the one recorded before if this very
    item was signed already. Raises `Equivocation` (and records nothing) if it collides with
    anything else signed."""
    same = "chain_id=? AND contract=? AND key_epoch=? AND item_id=?"
    args: list[object] = [item.kind, item.chain_id, item.contract, item.key_epoch, item.item_id]
    if item.span is not None:
        same += " OR (sequence=? AND span_first<=? AND span_last>=?)"
        args += [item.span.sequence, item.span.last, item.span.first]
    cur = await db.execute(f"SELECT {COLUMNS} FROM signed_items WHERE kind=? AND ({same})", args)  # noqa: S608
    earlier = [(_item(r), bytes(r["partial"])) for r in await cur.fetchall()]
    again = signed_once(item, earlier)
    if again is not None:
        return again, False
    span = item.span
    await db.execute(
        f"INSERT INTO signed_items ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            *item.key,
            item.message,
            partial,
            now,
            None if span is None else span.sequence,
            None if span is None else span.first,
            None if span is None else span.last,
            None if span is None else span.content,
        ),
    )
    return partial, True


class SignedItems(StoreBase):
    """The signed-once record, read and written on its own (actions) or by the kinds' records."""

    async def sign_item(
        self,
        kind: str,
        chain_id: int,
        contract: str,
        key_epoch: int,
        item_id: str,
        message: bytes,
        partial: bytes,
    ) -> bytes:
        """Record that this member signs `message` as item (kind, chain, contract, key epoch, item
        id), before the partial is published. Signed once: the same message returns the partial
        recorded first; another message raises `Equivocation` and records nothing."""
        item = SignedItem(kind, chain_id, contract, key_epoch, item_id, message)
        async with self.transaction() as db:
            kept, _ = await sign_in(db, item, partial, time.time())
        return kept

    async def signed_item(
        self, kind: str, chain_id: int, contract: str, key_epoch: int, item_id: str
    ) -> tuple[bytes, bytes] | None:
        """(message, partial) this member signed as the item, if it did."""
        rows = await self._fetchall(
            "SELECT message, partial FROM signed_items WHERE kind=? AND chain_id=? AND contract=? "
            "AND key_epoch=? AND item_id=?",
            (kind, chain_id, contract.lower(), key_epoch, item_id),
        )
        return (bytes(rows[0]["message"]), bytes(rows[0]["partial"])) if rows else None

    async def signed_on_span(
        self, kind: str, sequence: str, first: int, last: int, key_epoch: int | None = None
    ) -> bytes | None:
        """The partial this member signed as the item of `kind` taking exactly positions
        `first`..`last` of `sequence` (under `key_epoch`, or any key epoch if None), if it did."""
        rows = await self._fetchall(
            "SELECT partial FROM signed_items WHERE kind=? AND sequence=? AND span_first=? AND span_last=? "
            "AND (? IS NULL OR key_epoch=?)",
            (kind, sequence, first, last, key_epoch, key_epoch),
        )
        return bytes(rows[0]["partial"]) if rows else None
