"""`relayer status`'s line of signed items: the phases with any, per kind; none when the daemon
sends no `items` (an older daemon)."""

from __future__ import annotations

from relayer.cli import _items_line
from relayer.core.lifecycle import ItemKind, item_phases


def test_the_items_line_shows_the_phases_with_any() -> None:
    items = item_phases(
        {
            ItemKind.BATCH: {"pending": 2, "executed": 40},
            ItemKind.REFUND: {},
            ItemKind.ACTION: {"scheduled": 1},
        }
    )
    assert _items_line(items) == ("\nitems  batch: collecting 2, done 40; refund: none; action: scheduled 1")


def test_no_items_from_an_older_daemon_adds_nothing() -> None:
    assert _items_line(None) == ""
    assert _items_line({}) == ""
