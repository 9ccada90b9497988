"""How the issuer's decisions on C become ISSUER actions, and in which order they are signed. Pure:
no I/O (review of issue 19, findings #5 and #6; docs/PROTOCOL.md, "Issuer actions, asset status
and NAV").

A decision of asset X recorded on C is carried to a follower E as an ISSUER action naming X's
wrapped token there (`localTokenOf`, read at E's final head from a trusted endpoint). Before the
pair of X is registered on E there is no token to name: the decision WAITS (kept in the store with
the registry's cursor, `WaitingDecision`) and is carried, in C's order, once the pair is
registered. It is never dropped, and none of X's later decisions is carried before it.

Why wait rather than snapshot the asset's state at registration: the gateway's IssuerModule applies
a token's decisions in C's numbering and refuses one out of turn, and it takes a token's first
decision at any number (it does not start at 1 nor at C's number at registration). A snapshot
would have to be signed as decisions C never numbered, and the registry keeps no list of the
frozen wallets to snapshot; and if decision #5 of X were carried first, #1..#4 could never be
applied after it (out of turn for ever: skipped). So every decision of X is carried from #1, in
order; a member signs decision #n only once #n-1 is consumed on E (`decide_issuer`); a decision
the token cannot apply (a forced transfer from a wallet that holds nothing on E yet) is recorded
failed there in its turn, and the next one goes on.

Members may resolve the mapping at different times (one endpoint's final head saw the pair
registered, another's not yet): with nothing dropped, each member carries the same decisions under
the same ids (the event's position on C) with the same token (a pair never changes once
registered), only some scans later. The signing order is per subject (`c_order_waits`), so one
token's decision that is not signed yet holds back only that token's later decisions and the
KYC-registry decisions of the accounts it names, never the whole endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from relayer.core.items import Action, asset_difference
from relayer.core.onchain import AssetState, IssuerEvent
from relayer.core.types import ChainId

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True, slots=True)
class WaitingDecision:
    """An issuer decision final on C, for follower `chain_id`, whose asset has no token pair
    registered there yet: carried once it has."""

    chain_id: ChainId
    event: IssuerEvent

    @property
    def position(self) -> tuple[int, int]:
        return (self.event.block_number, self.event.log_index)


@dataclass(frozen=True, slots=True)
class Carried:
    """An issuer decision to carry now to follower `chain_id`, as token `token`'s decision."""

    chain_id: ChainId
    event: IssuerEvent
    token: str


def unmapped(token: str | None) -> bool:
    """Whether a `localTokenOf` answer names no token (the pair is not registered)."""
    return token is None or int(token, 16) == 0


def plan_issuer_scan(
    waiting: Sequence[WaitingDecision],
    events: Sequence[IssuerEvent],
    followers: Sequence[ChainId],
    tokens: Mapping[tuple[ChainId, str], str],
) -> tuple[list[Carried], list[WaitingDecision]]:
    """What one scan does with the decisions that waited so far (`waiting`, from earlier scans)
    and the new final ones (`events`, in log order), for every follower: (the decisions carried
    now, in C's order; the ones that still wait, in C's order). `tokens`: (follower, asset) ->
    the asset's token there at the follower's final head (the zero address: not registered), for
    every asset of `waiting` and `events`. A decision of an asset waits while any earlier decision
    of the same asset and follower waits (so a later one is never carried first), and is dropped
    by nobody."""
    pending = [(w.chain_id, w.event) for w in waiting]
    pending += [(dst, e) for e in events for dst in followers]
    pending.sort(key=lambda p: (p[0], p[1].block_number, p[1].log_index))
    carried: list[Carried] = []
    still: list[WaitingDecision] = []
    blocked: set[tuple[ChainId, str]] = set()
    seen: set[tuple[ChainId, int, int]] = set()
    for dst, e in pending:
        where = (dst, e.block_number, e.log_index)
        if where in seen:
            continue  # read again after a crash between the scan and its record: once is enough
        seen.add(where)
        key = (dst, e.asset)
        if key not in tokens:
            raise KeyError(f"no token read for asset {e.asset} on chain {dst}")
        token = tokens[key]
        if key in blocked or unmapped(token):
            blocked.add(key)
            still.append(WaitingDecision(dst, e))
            continue
        carried.append(Carried(dst, e, token))
    return carried, still


@dataclass(frozen=True, slots=True)
class OrderItem:
    """What the signing order needs of one open decision of C on an endpoint, in queue order:
    its id, whether it is the issuer's (else the KYC registry's), its token (issuer) and the
    accounts it names (the registry's account; the issuer's holder and receiver)."""

    id: str
    issuer: bool
    token: str | None
    accounts: frozenset[str]


def order_item(a: Action) -> OrderItem:
    """`a` (a decision of C: the KYC registry's or the issuer's) as the signing order sees it."""
    f = a.issuer
    if f is not None:
        return OrderItem(a.id, True, f.token, frozenset({f.account, f.to}))
    return OrderItem(a.id, False, None, frozenset({a.account} if a.account else ()))


def c_order_waits(items: Iterable[OrderItem]) -> set[str]:
    """The ids among `items` (an endpoint's open decisions of C being signed, in C's order) that
    wait for an earlier one: an issuer decision waits for every earlier issuer decision of the
    same token, and for every earlier decision (registry or issuer) naming one of its accounts; a
    registry decision waits for every earlier issuer decision naming its account (the registry's
    own decisions keep their order per account and flag elsewhere). Decisions about other tokens
    and other accounts do not wait: one that is not signed holds back nothing else."""
    open_tokens: set[str] = set()
    open_accounts_issuer: set[str] = set()
    open_accounts_any: set[str] = set()
    waits: set[str] = set()
    for it in items:
        accounts = {a.lower() for a in it.accounts if a and int(a, 16) != 0}
        if it.issuer:
            token = (it.token or "").lower()
            if token in open_tokens or accounts & open_accounts_any:
                waits.add(it.id)
            open_tokens.add(token)
            open_accounts_issuer |= accounts
        elif accounts & open_accounts_issuer:
            waits.add(it.id)
        open_accounts_any |= accounts
    return waits


def pair_difference(
    token: str, source: AssetState, follower: AssetState, source_sequence: int, follower_sequence: int
) -> str | None:
    """How a registered pair's wrapped token differs from the issuer registry on the source (None:
    it follows): its asset status and NAV (relayer.core.items.asset_difference), and the number of
    the asset's last decision on the source against the last one consumed on the follower (below:
    decisions not carried yet, or skipped; above: the follower consumed a decision C never took)."""
    problems = []
    status = asset_difference(token, source, follower)
    if status is not None:
        problems.append(status.split(": ", 1)[1])
    if source_sequence != follower_sequence:
        problems.append(
            f"the issuer's last decision is #{source_sequence} on the source, #{follower_sequence} is the "
            "last consumed here"
        )
    return f"{token}: " + "; ".join(problems) if problems else None
