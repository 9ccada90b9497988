"""New heads pushed by a chain's node over WebSocket (`eth_subscribe("newHeads")`): wake-ups only.

A pushed head tells the watcher to scan now rather than at its next poll. Nothing of the push is
stored or signed over, and it moves no cursor: the scan it triggers reads the head, the final head
and the logs through the chain's RPC endpoints under their usual checks (fallback, stall, quorum,
quarantine, the final-hash checks: relayer.adapters.chain), exactly as a poll does. So a push that
lies (a head that does not exist) costs one scan that finds nothing new, and a dropped
subscription loses nothing: the watcher keeps polling every `poll_interval`, the ranged log reads
pick up every block from the durable cursor, and this feed reconnects with a backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from web3 import AsyncWeb3, WebSocketProvider

from relayer import metrics
from relayer.adapters.aio import within
from relayer.config import ChainConfig

log = structlog.get_logger(__name__)

BACKOFF_FIRST = 0.5  # seconds before the first reconnect; doubles each failed attempt
BACKOFF_MAX = 30.0
# the feed pings the node this often and drops a connection whose pong takes longer than this (a
# connection that went silent without a close frame: a dead peer, a half-open NAT entry)
PING_SECONDS = 10.0


class WrongChain(Exception):
    """The WebSocket endpoint serves another chain than the one configured; `served` is the chain
    id it reported."""

    def __init__(self, message: str, served: int) -> None:
        super().__init__(message)
        self.served = served


class HeadFeed:
    """Follows one chain's `ws` endpoint and calls `on_head(number)` for every head it pushes.

    `run` never returns and never raises (but CancelledError): a connection that cannot be made,
    that serves another chain, or that drops is logged (`chain_subscription_down`), exported as
    `qiao_chain_subscription_up{chain} 0`, and tried again after a backoff (BACKOFF_FIRST doubling
    to BACKOFF_MAX; reset once a subscription was up)."""

    def __init__(
        self,
        cfg: ChainConfig,
        on_head: Callable[[int], None],
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        if cfg.ws is None:
            raise ValueError(f"chain {cfg.name}: no ws URL configured")
        self.cfg = cfg
        self.url = cfg.ws
        self.on_head = on_head
        self.on_state = on_state  # told True when a subscription is up, False when it drops
        self.up = False
        self.subscriptions = 0  # subscriptions opened so far (each reconnect counts)
        self.heads = 0  # heads pushed so far
        metrics.CHAIN_SUBSCRIPTION_UP.labels(cfg.name).set(0)
        metrics.CHAIN_HEADS_PUSHED.labels(cfg.name)

    async def run(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            since = time.monotonic()
            try:
                await self._follow()
                reason = "the node closed the connection"
            except asyncio.CancelledError:
                self._set_down()
                raise
            except Exception as exc:  # any failure of the feed: the watcher polls meanwhile
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            was_up = self.up
            self._set_down()
            if was_up:
                backoff = BACKOFF_FIRST
            log.warning(
                "chain_subscription_down",
                chain=self.cfg.name,
                url=self.url,
                reason=reason,
                was_up_seconds=round(time.monotonic() - since, 1) if was_up else 0,
                retry_in=backoff,
                effect=f"the watcher polls every {self.cfg.poll_interval} s until it is back",
            )
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, BACKOFF_MAX)

    async def _follow(self) -> None:
        """One connection: connect, check the chain id, subscribe, and wake on every pushed head
        until the connection ends (returns) or fails (raises)."""
        provider, w3 = await subscribed(self.cfg)
        try:
            self._set_up()
            async for message in w3.socket.process_subscriptions():
                number = _head_number(message)
                if number is None:
                    continue
                self.heads += 1
                metrics.CHAIN_HEADS_PUSHED.labels(self.cfg.name).inc()
                self.on_head(number)
        finally:
            await provider.disconnect()

    def _set_up(self) -> None:
        self.up = True
        self.subscriptions += 1
        metrics.CHAIN_SUBSCRIPTION_UP.labels(self.cfg.name).set(1)
        if self.on_state is not None:
            self.on_state(True)
        log.info("chain_subscription_up", chain=self.cfg.name, url=self.url, subscriptions=self.subscriptions)

    def _set_down(self) -> None:
        self.up = False
        metrics.CHAIN_SUBSCRIPTION_UP.labels(self.cfg.name).set(0)
        if self.on_state is not None:
            self.on_state(False)


async def subscribed(cfg: ChainConfig) -> tuple[WebSocketProvider, AsyncWeb3[Any]]:
    """A connection to `cfg.ws` whose chain id was checked, subscribed to new heads; the caller
    disconnects the provider. Raises WrongChain, or the connection's own error, each within the
    chain's rpc_timeout per step (nothing is left open then)."""
    assert cfg.ws is not None
    timeout = cfg.rpc_timeout
    provider = WebSocketProvider(
        cfg.ws,
        websocket_kwargs={
            "ping_interval": PING_SECONDS,
            "ping_timeout": PING_SECONDS,
            "open_timeout": timeout,
        },
        max_connection_retries=1,  # HeadFeed.run retries, with its own backoff and log lines
        request_timeout=timeout,
    )
    w3 = AsyncWeb3(provider)
    try:
        await within(timeout, provider.connect())
        chain_id = int(await within(timeout, w3.eth.chain_id))
        if chain_id != cfg.chain_id:
            raise WrongChain(
                f"{cfg.ws} serves chain id {chain_id}, chain {cfg.name} is {cfg.chain_id}; fix its ws URL",
                chain_id,
            )
        await within(timeout, w3.eth.subscribe("newHeads"))
    except BaseException:
        await provider.disconnect()
        raise
    return provider, w3


async def probe(cfg: ChainConfig) -> str | None:
    """What is wrong with chain `cfg`'s `ws` for `config check --online`, or None when it serves
    the configured chain and takes a newHeads subscription (opened, then closed again)."""
    where = f"chains.{cfg.name}.ws = {cfg.ws!r}"
    try:
        provider, _ = await subscribed(cfg)
    except WrongChain as exc:
        return (
            f"{where} serves chain id {exc.served}, but chains.{cfg.name}.chain_id = {cfg.chain_id}; "
            "fix the ws URL (the node of this chain's rpc)"
        )
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return (
            f"{where} did not take a newHeads subscription ({reason}); check the URL and that the "
            "node serves WebSocket subscriptions, or remove ws to poll only"
        )
    await provider.disconnect()
    return None


def _head_number(message: Any) -> int | None:
    """The block number of one pushed newHeads message (web3 formats it to an int; a raw hex
    quantity is accepted too), or None for a message without one."""
    try:
        number = message["result"]["number"]
    except (KeyError, TypeError):
        return None
    if isinstance(number, str):
        try:
            return int(number, 16)
        except ValueError:
            return None
    return number if isinstance(number, int) and not isinstance(number, bool) else None
