"""A vault token wrapped on several chains: the node's supply check judges those pairs together."""

from __future__ import annotations

from typing import Any

from relayer.ops.endpoints import shared_backing

VAULT_TOKEN = "0xAaaa000000000000000000000000000000000001"


def pair(wrapped_chain: str, locked: int, wrapped: int, home_token: str = VAULT_TOKEN) -> dict[str, Any]:
    return {
        "pair": f"consortium:{home_token[:10]}/{wrapped_chain}:0xbb",
        "home_chain": "consortium",
        "home_token": home_token,
        "wrapped_chain": wrapped_chain,
        "locked": str(locked),
        "wrapped": str(wrapped),
        "in_flight": str(locked - wrapped),
        "ok": wrapped <= locked,
    }


def test_pairs_of_one_vault_token_are_judged_by_their_summed_supply() -> None:
    # each pair alone looks backed (60 <= 100, 50 <= 100); together they are not (110 > 100)
    out = shared_backing([pair("ethereum", 100, 60), pair("l2", 100, 50)])
    assert [p["ok"] for p in out] == [False, False]
    assert all(p["wrapped_total"] == "110" and p["in_flight"] == "-10" for p in out)
    assert out[0]["shared_with"] == [out[1]["pair"]]


def test_pairs_backed_in_sum_pass_and_the_latest_locked_read_counts() -> None:
    out = shared_backing([pair("ethereum", 99, 60), pair("l2", 100, 40)])
    assert [p["ok"] for p in out] == [True, True]
    assert {p["locked"] for p in out} == {"100"}
    assert {p["in_flight"] for p in out} == {"0"}


def test_a_token_paired_once_is_left_as_it_is() -> None:
    alone = pair("ethereum", 10, 20)
    other = pair("l2", 5, 1, home_token="0xCccc000000000000000000000000000000000002")
    out = shared_backing([alone, other])
    assert out[0]["ok"] is False
    assert "wrapped_total" not in out[0]
    assert out[1]["ok"] is True
    assert "shared_with" not in out[1]
