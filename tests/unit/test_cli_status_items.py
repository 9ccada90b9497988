"""`relayer status`'s line of signed items: the phases with any, per kind; none when the daemon
sends no `items` (an older daemon); and the routes the sentinels cursed."""

from __future__ import annotations

from relayer.cli import _curse_cell, _cursed_note, _items_line
from relayer.core.lifecycle import ItemKind, item_phases
from relayer.ops.endpoints import RouteCurse, cursed_on


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


def test_the_status_head_names_every_cursed_route_with_its_curse() -> None:
    curses = {
        "ethereum": {"consortium": {"cursed": True, "curse_count": 2, "remote_chain_id": 7001}},
        "consortium": {"ethereum": {"cursed": False, "curse_count": 1, "remote_chain_id": 7002}},
    }
    assert _cursed_note(curses) == "; route CURSED on ethereum with consortium (curse #2)"
    curses["consortium"]["ethereum"]["cursed"] = True
    assert _cursed_note(curses) == (
        "; route CURSED on consortium with ethereum (curse #1), ethereum with consortium (curse #2)"
    )
    assert _cursed_note(None) == ""  # an older daemon
    assert _cursed_note({"ethereum": {"consortium": {"cursed": False, "curse_count": 1}}}) == ""


def test_a_route_is_cursed_on_either_endpoint_of_its_two() -> None:
    curses = [
        RouteCurse("ethereum", "consortium", 7001, True, 1),
        RouteCurse("consortium", "ethereum", 7002, False, 0),
        RouteCurse("ethereum", "other", 999, True, 3),
    ]
    assert cursed_on(curses, "consortium", "ethereum") == ["ethereum"]
    assert cursed_on(curses, "ethereum", "consortium") == ["ethereum"]  # burns toward it revert too
    assert cursed_on(curses[1:2], "consortium", "ethereum") == []
    assert _curse_cell({"cursed_on": ["ethereum"]}) == "on-chain (ethereum)"
    assert _curse_cell({}) == "no"
