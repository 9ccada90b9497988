"""The sentinel's metrics (prometheus_client, names fixed in SENTINEL.md and the alert rules)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TRANSFERS_CHECKED = Counter(
    "qiao_sentinel_transfers_checked", "Destination records matched against their source transfer", ["route"]
)
LAG_BLOCKS = Gauge(
    "qiao_sentinel_lag_blocks", "Blocks between a chain's final head and the sentinel's scan", ["chain"]
)
MISMATCHES = Counter(
    "qiao_sentinel_mismatches", "Destination records or supplies that did not match", ["route", "kind"]
)
CURSES_SENT = Counter("qiao_sentinel_curses_sent", "curse transactions sent, per endpoint's chain", ["chain"])
VETOES_SENT = Counter("qiao_sentinel_vetoes_sent", "veto transactions sent, per endpoint's chain", ["chain"])
UP = Gauge("qiao_sentinel_up", "1 while the sentinel's loop runs")
LAST_CHECK = Gauge("qiao_sentinel_last_check_timestamp_seconds", "Unix time of the last complete round")
