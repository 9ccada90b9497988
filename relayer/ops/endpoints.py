"""The on-chain side of operations: the endpoint's pause and guardian, and the supply of each token pair.

These read (and, for the guardian's pause, send) through the node's chain clients; the admin
socket's verbs call them (relayer.ops.admin) and the health loop refreshes their gauges.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, cast

import structlog
from eth_account import Account
from eth_utils.address import to_checksum_address

from relayer import metrics
from relayer.adapters.abi import ISSUER_MODULE_ABI
from relayer.adapters.chain import ChainClient
from relayer.config import ConfigError, read_secret_file
from relayer.core.types import ChainId
from relayer.ops.admin_client import AdminError
from relayer.ops.reconciler import supply_violations

log = structlog.get_logger(__name__)

ERC20_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "a", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "totalSupply",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "gateway",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
]


ENDPOINT_OPS_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "paused",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {"type": "function", "name": "pause", "stateMutability": "nonpayable", "inputs": [], "outputs": []},
    {
        "type": "function",
        "name": "guardian",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
    {
        "type": "function",
        "name": "cancelPending",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "nonce", "type": "uint64"}],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "cancelAllPending",
        "stateMutability": "nonpayable",
        "inputs": [],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "actionNonce",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "nonce", "type": "uint64"}],
    },
    {
        "type": "function",
        "name": "pendingAction",
        "stateMutability": "view",
        "inputs": [{"name": "nonce", "type": "uint64"}],
        "outputs": [
            {
                "name": "action",
                "type": "tuple",
                "internalType": "struct QiaoEndpoint.PendingAction",
                "components": [
                    {"name": "typehash", "type": "bytes32"},
                    {"name": "keyEpoch", "type": "uint64"},
                    {"name": "executableAt", "type": "uint64"},
                    {"name": "pauseCount", "type": "uint64"},
                    {"name": "status", "type": "uint8", "internalType": "enum QiaoEndpoint.PendingStatus"},
                    {"name": "keyData", "type": "address"},
                ],
            }
        ],
    },
    {
        "type": "function",
        "name": "RESUME_TYPEHASH",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "ROTATE_TYPEHASH",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "UNCURSE_TYPEHASH",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "availableCapacity",
        "stateMutability": "view",
        "inputs": [{"name": "token", "type": "address"}, {"name": "direction", "type": "uint8"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]
UNLIMITED = 2**256 - 1


async def guardian_checked(
    chains: Mapping[ChainId, ChainClient], chain_ids: list[ChainId], guardian_key_file: str
) -> tuple[Any, dict[ChainId, bool]]:
    """The guardian's account, checked against every endpoint's `guardian()`, and whether each
    endpoint is paused already. Raises AdminError before anything changes."""
    try:
        key = read_secret_file(Path(guardian_key_file), "guardian key file")
    except ConfigError as exc:
        raise AdminError(f"{exc}; nothing was paused") from None
    try:
        guardian = Account.from_key(key)
    except Exception:  # what eth_account raises for garbage varies; never echo the key
        raise AdminError(
            f"guardian key file {guardian_key_file}: not a private key (0x + 64 hex digits); "
            "nothing was paused"
        ) from None
    already: dict[ChainId, bool] = {}
    for chain_id in chain_ids:
        chain = chains[chain_id]
        endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
        try:
            already[chain_id] = bool(await endpoint.functions.paused().call())
            on_chain_guardian = await endpoint.functions.guardian().call()
        except Exception as exc:
            raise AdminError(
                f"{chain.cfg.name}: cannot read the endpoint's guardian ({exc!r}); nothing was paused"
            ) from exc
        if not already[chain_id] and to_checksum_address(on_chain_guardian) != guardian.address:
            raise AdminError(
                f"{chain.cfg.name}: the endpoint's guardian is {on_chain_guardian}, the key file holds "
                f"{guardian.address}; nothing was paused (neither here nor on-chain); use the "
                "guardian's key"
            )
    return guardian, already


async def send_pause(chain: ChainClient, guardian: Any) -> dict[str, Any]:
    endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
    tx = await endpoint.functions.pause().build_transaction(
        {
            "from": guardian.address,
            "nonce": await chain.w3.eth.get_transaction_count(guardian.address, "pending"),
            "chainId": chain.chain_id,
        }
    )
    signed = guardian.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = await chain.w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = await chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    ok = receipt["status"] == 1
    sent = "0x" + bytes(tx_hash).hex()
    log.warning("operator_pause_on_chain", chain=chain.cfg.name, tx=sent, ok=ok)
    if not ok:
        raise RuntimeError(f"the pause transaction {sent} reverted")
    return {"chain": chain.cfg.name, "tx": sent, "result": "paused"}


async def endpoints_paused(chains: Mapping[ChainId, ChainClient]) -> dict[str, bool | None]:
    """Each chain's endpoint `paused()` (None when the contract has no pause); exports it and the
    endpoint's key epoch (beside `qiao_dkg_key_epoch`, the key this member holds)."""
    out: dict[str, bool | None] = {}
    for chain in chains.values():
        try:
            state = await chain.endpoint_state()
        except Exception:
            out[chain.cfg.name] = None
            continue
        out[chain.cfg.name] = state.paused
        metrics.ENDPOINT_PAUSED.labels(chain.cfg.name).set(1 if state.paused else 0)
        metrics.ENDPOINT_KEY_EPOCH.labels(chain.cfg.name).set(state.key_epoch)
    return out


# ---- the sentinels' curses ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteCurse:
    """One route of one endpoint as the sentinels left it, read at the final head: `remote` the
    route's other end (its name here), `cursed` and `curse_count` (`isCursed`, `curseCount`)."""

    chain: str
    remote: str
    remote_chain_id: int
    cursed: bool
    curse_count: int


def cursed_on(curses: list[RouteCurse], src: str, dst: str) -> list[str]:
    """The endpoints (chain names) whose curse stops the route from `src` to `dst`: the source's
    curse of its route with `dst` (lock, burn, refunds) and the destination's of its route with
    `src` (execution, release)."""
    return [c.chain for c in curses if c.cursed and (c.chain, c.remote) in ((src, dst), (dst, src))]


async def routes_cursed(
    chains: Mapping[ChainId, ChainClient], remotes: Mapping[ChainId, Mapping[ChainId, str]]
) -> list[RouteCurse]:
    """The curse of every configured route on each endpoint (`remotes`: chain -> the chains it has
    routes with, by id, and their names), read at the final head; exports `qiao_route_cursed`. A
    chain whose endpoint cannot be read is logged and keeps its last values."""
    out: list[RouteCurse] = []
    for chain_id, others in remotes.items():
        chain = chains.get(chain_id)
        if chain is None:
            continue
        for remote_id, remote in sorted(others.items()):
            try:
                curse = await chain.route_curse(remote_id, final=True)
            except Exception as exc:
                log.warning("route_curse_check_error", chain=chain.cfg.name, remote=remote, error=repr(exc))
                continue
            metrics.ROUTE_CURSED.labels(chain.cfg.name, remote).set(1 if curse.cursed else 0)
            out.append(RouteCurse(chain.cfg.name, remote, remote_id, curse.cursed, curse.count))
    return out


# ---- committee-signed actions waiting for their delay -------------------------------------------

PENDING_WINDOW = 32
"""How many of the latest action nonces each read checks with `pendingAction(n)`: n from
`actionNonce() - PENDING_WINDOW` to `actionNonce() - 1`. An action scheduled under an older nonce is
seen only if an earlier read saw it pending (it is remembered until it is no longer pending): one
scheduled and then pushed more than PENDING_WINDOW nonces back before any node read it (for
example by a guardian's `invalidateActions` right after it) is not seen."""
REMEMBERED_MAX = 256  # per chain: pending nonces remembered below the window, the highest kept
PENDING_STATUS = 1  # QiaoEndpoint.PendingStatus.Pending


class ActionKind(Enum):
    RESUME = "resume"
    ROTATE = "rotate"
    UNCURSE = "uncurse"
    ISSUER = "issuer"  # an issuer's forced transfer or recovery the gateway's IssuerModule scheduled


ISSUER_PENDING = 1  # IssuerModule.ScheduledStatus.Pending (a cancelAllPending cut-off reads Cancelled)
# the module's lookup of a forced move by the action nonce its signature used (both endpoints run the
# module behind their fallback; a vault's answers are always empty)
_ISSUER_AT_ABI = [
    {
        "type": "function",
        "name": "issuerActionAt",
        "stateMutability": "view",
        "inputs": [{"name": "nonce", "type": "uint64"}],
        "outputs": [{"name": "token", "type": "address"}, {"name": "sequence", "type": "uint64"}],
    },
    *(f for f in ISSUER_MODULE_ABI if f.get("name") == "issuerActionScheduled"),
]


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """One pending action, as `pendingAction(nonce)` returns it; kind None: a type hash that is
    none of the endpoint's RESUME_TYPEHASH, ROTATE_TYPEHASH and UNCURSE_TYPEHASH."""

    nonce: int
    kind: ActionKind | None
    key_epoch: int
    executable_at: int


@dataclass(frozen=True, slots=True)
class EndpointPending:
    """The pending actions of one endpoint, read at one block whose timestamp is `chain_time` (the
    clock `executePending` is judged by)."""

    chain: str
    block: int
    chain_time: int
    action_nonce: int
    actions: tuple[ScheduledAction, ...]

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)

    @property
    def executable_in(self) -> int | None:
        """Seconds until the earliest pending action may be executed (negative: it may be
        already); None when nothing is pending."""
        if not self.actions:
            return None
        return min(a.executable_at for a in self.actions) - self.chain_time


class PendingActionWatch:
    """Reads every endpoint's pending RESUME, ROTATE and UNCURSE actions (the last PENDING_WINDOW action
    nonces, plus those seen pending before) and exports `qiao_endpoint_pending_actions{chain,kind}`
    and `qiao_endpoint_pending_action_executable_seconds{chain}` (removed when nothing is pending).
    Read-only; a chain whose endpoint cannot be read is logged and keeps its last values."""

    def __init__(self, window: int = PENDING_WINDOW) -> None:
        self.window = window
        self._remembered: dict[ChainId, set[int]] = {}
        self._kinds: dict[ChainId, dict[bytes, ActionKind]] = {}
        # per chain: used action nonces known to hold no pending forced move (a nonce's use never
        # changes, nor does a forced move that ended); the ones below the window are dropped
        self._not_issuer: dict[ChainId, set[int]] = {}

    async def read(self, chains: Mapping[ChainId, ChainClient]) -> dict[str, EndpointPending]:
        out: dict[str, EndpointPending] = {}
        for chain in chains.values():
            try:
                view = await self._read_chain(chain)
            except Exception as exc:
                log.warning("endpoint_pending_actions_check_error", chain=chain.cfg.name, error=repr(exc))
                continue
            out[chain.cfg.name] = view
            export_pending(view)
        return out

    async def _read_chain(self, chain: ChainClient) -> EndpointPending:
        endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
        kinds = self._kinds.get(chain.chain_id)
        if kinds is None:
            resume = bytes(await endpoint.functions.RESUME_TYPEHASH().call())
            rotate = bytes(await endpoint.functions.ROTATE_TYPEHASH().call())
            uncurse = bytes(await endpoint.functions.UNCURSE_TYPEHASH().call())
            kinds = self._kinds[chain.chain_id] = {
                resume: ActionKind.RESUME,
                rotate: ActionKind.ROTATE,
                uncurse: ActionKind.UNCURSE,
            }
        head = await chain.w3.eth.get_block("latest")
        number, chain_time = int(head["number"]), int(head["timestamp"])
        next_nonce = int(await endpoint.functions.actionNonce().call(block_identifier=number))
        remembered = self._remembered.get(chain.chain_id, set())
        nonces = sorted(
            {n for n in remembered if n < next_nonce}
            | set(range(max(0, next_nonce - self.window), next_nonce))
        )
        rows = await asyncio.gather(
            *(endpoint.functions.pendingAction(n).call(block_identifier=number) for n in nonces)
        )
        actions: list[ScheduledAction] = []
        others = []
        for nonce, row in zip(nonces, rows, strict=True):
            typehash, key_epoch, executable_at, _pause_count, status, _key_data = row
            if int(status) == 0:
                others.append(nonce)  # not a RESUME, ROTATE or UNCURSE: perhaps a forced move
            if int(status) != PENDING_STATUS:
                continue
            kind = kinds.get(bytes(typehash))
            if kind is None:
                log.warning(
                    "endpoint_pending_action_unknown_type",
                    chain=chain.cfg.name,
                    action_nonce=nonce,
                    typehash="0x" + bytes(typehash).hex(),
                )
            actions.append(ScheduledAction(nonce, kind, int(key_epoch), int(executable_at)))
        actions += await self._issuer_moves(chain, number, others, min(nonces, default=next_nonce))
        actions.sort(key=lambda a: a.nonce)
        pending = sorted(a.nonce for a in actions)
        if len(pending) > REMEMBERED_MAX:
            log.warning(
                "endpoint_pending_actions_too_many",
                chain=chain.cfg.name,
                pending=len(pending),
                kept=REMEMBERED_MAX,
            )
        self._remembered[chain.chain_id] = set(pending[-REMEMBERED_MAX:])
        view = EndpointPending(chain.cfg.name, number, chain_time, next_nonce, tuple(actions))
        if actions and set(pending) != remembered:  # logged when what is pending changes
            log.warning(
                "endpoint_action_pending",
                chain=chain.cfg.name,
                actions=[
                    (a.nonce, a.kind.value if a.kind else "unknown", a.key_epoch, a.executable_at)
                    for a in actions
                ],
                executable_in=view.executable_in,
            )
        return view

    async def _issuer_moves(
        self, chain: ChainClient, block: int, nonces: list[int], lowest: int
    ) -> list[ScheduledAction]:
        """The forced transfers and recoveries the gateway's IssuerModule scheduled under
        `nonces` (used, with no RESUME, ROTATE or UNCURSE) and still pending at `block`: each
        counted as kind ISSUER, whoever submitted it (a stolen key's by hand too)."""
        module = chain.w3.eth.contract(address=chain.endpoint.address, abi=_ISSUER_AT_ABI)
        done = self._not_issuer.setdefault(chain.chain_id, set())
        done.difference_update({n for n in done if n < lowest})
        found: list[ScheduledAction] = []
        try:
            for nonce in nonces:
                if nonce in done:
                    continue
                f = module.functions
                token, sequence = await f.issuerActionAt(nonce).call(block_identifier=block)
                if int(token, 16) == 0:
                    done.add(nonce)
                    continue
                d = await f.issuerActionScheduled(token, sequence).call(block_identifier=block)
                _account, _op, status, executable_at, _to, _nonce, _amount, _held = d
                if int(status) != ISSUER_PENDING:
                    done.add(nonce)
                    continue
                found.append(ScheduledAction(nonce, ActionKind.ISSUER, 0, int(executable_at)))
        except Exception as exc:  # an endpoint deployed before the module had the lookup
            log.warning("endpoint_issuer_moves_check_error", chain=chain.cfg.name, error=repr(exc))
        return found


def export_pending(view: EndpointPending) -> None:
    for kind in ActionKind:
        metrics.ENDPOINT_PENDING_ACTIONS.labels(view.chain, kind.value).set(view.count(kind))
    seconds = view.executable_in
    if seconds is None:
        with contextlib.suppress(KeyError):
            metrics.ENDPOINT_PENDING_ACTION_EXECUTABLE_SECONDS.remove(view.chain)
    else:
        metrics.ENDPOINT_PENDING_ACTION_EXECUTABLE_SECONDS.labels(view.chain).set(seconds)


async def pair_supply(
    chains: Mapping[ChainId, ChainClient], a: tuple[int, str], b: tuple[int, str]
) -> dict[str, Any] | None:
    """The supply check of one token pair, read from both chains: which side is wrapped (its
    `gateway()` is the endpoint), the amount locked on the home side and the wrapped supply,
    judged by the one S3 check (relayer.ops.reconciler); None when neither side is wrapped."""

    async def is_wrapped(side: tuple[int, str]) -> bool:
        chain = chains.get(ChainId(side[0]))
        if chain is None:
            return False
        token = chain.w3.eth.contract(address=to_checksum_address(side[1]), abi=ERC20_ABI)
        try:
            gateway = await token.functions.gateway().call()
        except Exception:
            return False
        return bool(to_checksum_address(gateway) == chain.endpoint.address)

    if await is_wrapped(b):
        home, wrapped = a, b
    elif await is_wrapped(a):
        home, wrapped = b, a
    else:
        return None
    hc = chains[ChainId(home[0])]
    wc = chains[ChainId(wrapped[0])]
    home_token = hc.w3.eth.contract(address=to_checksum_address(home[1]), abi=ERC20_ABI)
    wrapped_token = wc.w3.eth.contract(address=to_checksum_address(wrapped[1]), abi=ERC20_ABI)
    for chain, token in ((hc, home[1]), (wc, wrapped[1])):
        await headroom(chain, token)
    locked = int(await home_token.functions.balanceOf(hc.endpoint.address).call())
    supply = int(await wrapped_token.functions.totalSupply().call())
    pair = f"{hc.cfg.name}:{home[1][:10]}/{wc.cfg.name}:{wrapped[1][:10]}"
    return {
        "pair": pair,
        "home_chain": hc.cfg.name,
        "home_token": home[1],
        "wrapped_chain": wc.cfg.name,
        "wrapped_token": wrapped[1],
        "locked": str(locked),
        "wrapped": str(supply),
        "in_flight": str(locked - supply),
        "ok": not supply_violations(supply, locked, settled=False),
    }


def shared_backing(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judge together the pairs whose home token sits in one endpoint: a vault that backs several
    wrapped chains (a third chain beside Ethereum) holds one balance for all of them, so each such
    pair is judged by the sum of their wrapped supplies against it (`wrapped_total`, `shared_with`,
    `in_flight` of the whole group). Pure; pairs of a home token paired once are left as they are.
    The per-pair split of that balance comes from the events: `python -m relayer.ops.reconciler`."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pair in pairs:
        groups.setdefault((pair["home_chain"], str(pair["home_token"]).lower()), []).append(pair)
    for group in groups.values():
        if len(group) < 2:
            continue
        total = sum(int(p["wrapped"]) for p in group)
        locked = max(int(p["locked"]) for p in group)  # read one pair after another: the latest
        ok = not supply_violations(total, locked, settled=False)
        for pair in group:
            pair.update(
                locked=str(locked),
                wrapped_total=str(total),
                shared_with=[q["pair"] for q in group if q is not pair],
                in_flight=str(locked - total),
                ok=ok,
            )
    return pairs


async def headroom(chain: ChainClient, token: str) -> None:
    """Export the endpoint's rate-limit headroom for `token`, both directions (none: unlimited)."""
    endpoint = chain.w3.eth.contract(address=chain.endpoint.address, abi=ENDPOINT_OPS_ABI)
    for direction, name in ((0, "outbound"), (1, "inbound")):
        try:
            value = int(
                await endpoint.functions.availableCapacity(to_checksum_address(token), direction).call()
            )
        except Exception:  # a contract without rate limits
            return
        gauge = metrics.RATE_LIMIT_HEADROOM.labels(chain.cfg.name, token, name)
        if value == UNLIMITED:
            metrics.RATE_LIMIT_HEADROOM.remove(chain.cfg.name, token, name)
        else:
            gauge.set(value)
