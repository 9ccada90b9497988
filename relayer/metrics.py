"""Every Prometheus metric of the node, in one place (namespace `qiao_`, units in names)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from relayer.core.logcheck import LogFault

CHAIN_HEAD = Gauge("qiao_chain_head_block", "Latest block number seen", ["chain"])
CHAIN_FINAL = Gauge("qiao_chain_final_block", "Highest block treated as final", ["chain"])
CHAIN_SCANNED = Gauge("qiao_chain_scanned_block", "Highest block scanned for events", ["chain"])
CHAIN_SUBSCRIPTION_UP = Gauge(
    "qiao_chain_subscription_up",
    "1 while the chain's new-heads subscription (ws) is open, 0 while it is down (the watcher polls)",
    ["chain"],
)
CHAIN_HEADS_PUSHED = Counter(
    "qiao_chain_heads_pushed_total", "New heads pushed by the chain's ws subscription", ["chain"]
)
RPC_ERRORS = Counter("qiao_rpc_errors_total", "Failed RPC interactions", ["chain"])
RPC_FALLBACKS = Counter("qiao_rpc_fallbacks_total", "Switches to another RPC endpoint", ["chain"])
RPC_STALLS = Counter("qiao_rpc_stalls_total", "RPC endpoints left because their head stopped", ["chain"])
QUORUM_MISMATCHES = Counter(
    "qiao_rpc_quorum_mismatches_total", "Block ranges whose logs differed between endpoints", ["chain"]
)
LOGS_REFUSED = Counter(
    "qiao_logs_refused_total",
    "eth_getLogs replies refused: a log not the endpoint's, out of range, removed or not canonical",
    ["chain", "reason"],
)
RPC_QUARANTINES = Counter(
    "qiao_rpc_quarantines_total",
    "RPC endpoints set aside for serving an inconsistent view (a refused reply, a dissent from the "
    "quorum, a final block that changed)",
    ["chain", "reason"],
)
QUARANTINE_REASONS = (*(f.value for f in LogFault), "quorum_dissent", "final_block_changed")
FINALITY_STALLED_SECONDS = Gauge(
    "qiao_chain_finality_stalled_seconds",
    "Seconds the final head has not moved while the head has (0 while it moves)",
    ["chain"],
)
DEEP_REORGS = Counter(
    "qiao_deep_reorgs_total", "Reorgs that replaced a block already treated as final", ["chain"]
)


def zero_chain_counters(chain: str) -> None:
    """Create a chain's evidence counters at 0 at start-up: prometheus_client creates a labelled
    series at its first increment, so the first refusal would appear at 1 and increase() (what the
    alerts use) would never see it."""
    for fault in LogFault:
        LOGS_REFUSED.labels(chain, fault.value)
    for reason in QUARANTINE_REASONS:
        RPC_QUARANTINES.labels(chain, reason)
    DEEP_REORGS.labels(chain)
    QUORUM_MISMATCHES.labels(chain)
    ISSUER_ACTIONS_FAILED.labels(chain)  # QiaoIssuerDecisionRefused sees the first refusal


def zero_pending_actions(chain: str) -> None:
    """A chain's pending-action gauges at 0 for every kind, before the first read of its endpoint."""
    for kind in PENDING_ACTION_KINDS:
        ENDPOINT_PENDING_ACTIONS.labels(chain, kind).set(0)


TRANSFERS_OBSERVED = Counter("qiao_transfers_observed_total", "Final transfers stored", ["src", "dst"])
MALFORMED_EVENTS = Counter("qiao_malformed_events_total", "Undecodable transfer events", ["chain"])
BATCHES_CUT = Counter("qiao_batches_cut_total", "Batches cut from final transfers", ["src", "dst"])
BATCH_SIZE = Histogram(
    "qiao_batch_size_transfers", "Transfers per batch", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500)
)
PARTIALS_SIGNED = Counter("qiao_partials_signed_total", "Partials this member signed")
EQUIVOCATIONS_REFUSED = Counter(
    "qiao_equivocations_refused_total", "Signatures refused by the signed-once guard"
)
PARTIALS_RECEIVED = Counter("qiao_partials_received_total", "Partials received", ["member", "outcome"])
REFUNDS_SIGNED = Counter("qiao_refunds_signed_total", "Refund partials this member signed")
REFUND_PARTIALS_RECEIVED = Counter(
    "qiao_refund_partials_received_total", "Refund partials received", ["member", "outcome"]
)
REFUNDS_SUBMITTED = Counter("qiao_refunds_submitted_total", "Refund transactions this relayer sent", ["src"])
REFUND_SUBMISSIONS = Counter(
    "qiao_refund_submissions_total", "Refund submission attempts by outcome", ["src", "outcome"]
)
REFUNDS_REFUNDED = Counter(
    "qiao_refunds_refunded_total", "Failed transfers seen refunded on their source (final)", ["src"]
)
BATCHES_AGGREGATED = Counter("qiao_batches_aggregated_total", "Threshold signatures combined")
SUBMISSIONS = Counter("qiao_submissions_total", "Batch submissions by outcome", ["dst", "outcome"])
FEE_CAP_REACHED = Counter(
    "qiao_fee_cap_reached_total", "Submissions held back because fees would exceed the cap", ["dst"]
)
DUPLICATE_SENDS = Counter(
    "qiao_duplicate_sends_total",
    "This relayer's batch transactions that reverted because another relayer's executed the batch first",
    ["dst"],
)
SENT_NOTICES_DISMISSED = Counter(
    "qiao_sent_notices_dismissed_total",
    "Other relayers' sent-batch notices not waited for (unknown tx, not the batch's, or too old)",
    ["dst"],
)
NONCE_RESYNCS = Counter("qiao_nonce_resyncs_total", "Transactions whose nonce another sender used", ["dst"])
TXS_DROPPED = Counter("qiao_txs_dropped_total", "Sent transactions the node no longer knows", ["dst"])
GAS_USED = Counter("qiao_gas_used_total", "Gas used by this relayer's transactions", ["dst"])
FEE_PAID_WEI = Counter("qiao_fee_paid_wei_total", "Fees paid by this relayer", ["dst"])
ACCOUNT_BALANCE_WEI = Gauge("qiao_account_balance_wei", "Submitting account balance", ["chain"])
TRANSFER_LATENCY = Histogram(
    "qiao_transfer_latency_seconds",
    "From storing a final transfer to seeing it executed",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
TRANSFERS_BY_STATE = Gauge("qiao_transfers", "Transfers in the store by state", ["state"])
BATCHES_BY_STATE = Gauge("qiao_batches", "Batches in the store by state (the pipeline's queues)", ["state"])
SIGNED_ITEMS = Gauge(
    "qiao_signed_items",
    "Signed items in the store by kind (batch, refund, action) and phase, one set of phases for every "
    "kind (relayer.core.lifecycle)",
    ["kind", "phase"],
)
MQTT_CONNECTED = Gauge(
    "qiao_mqtt_connected", "1 while connected to the broker (to at least one, with several)"
)
BROKER_CONNECTED = Gauge(
    "qiao_broker_connected", "1 while connected to this broker ([mqtt] or [[mqtt.brokers]])", ["broker"]
)
BROKER_MIN_CONNECTED = Gauge(
    "qiao_broker_min_connected", "Brokers this node must reach (mqtt.min_brokers); fewer alerts"
)
BROKER_COPIES_DROPPED = Counter(
    "qiao_broker_copies_dropped_total",
    "Copies of a message already received (through another broker, or redelivered) dropped unhandled",
    ["broker"],
)
MQTT_RECONNECTS = Counter("qiao_mqtt_reconnects_total", "Broker connection losses")
MQTT_MESSAGES_REJECTED = Counter("qiao_mqtt_messages_rejected_total", "MQTT messages dropped as malformed")
HEARTBEATS_REFUSED = Counter(
    "qiao_heartbeats_refused_total",
    "Members' heartbeats refused (relayer.core.heartbeats), by reason",
    ["reason"],
)
MQTT_OUTBOX_DEPTH = Gauge(
    "qiao_mqtt_outbox_depth", "Messages waiting to be published (the deepest broker outbox, with several)"
)
MQTT_OUTBOX_DROPPED = Counter("qiao_mqtt_outbox_dropped_total", "Messages dropped from a full outbox")
MEMBERS_ONLINE = Gauge(
    "qiao_committee_members_online", "Members whose heartbeat is online and names no route paused"
)
MEMBERS_PAUSED = Gauge(
    "qiao_committee_members_paused", "Members online but paused (locally) on a route: not in the margin"
)
COMMITTEE_THRESHOLD = Gauge("qiao_committee_threshold", "Partials needed to sign")
ROUTE_HALTED = Gauge("qiao_route_halted", "1 when a route stopped on an error", ["src", "dst"])

# ---- operations (health probes, admin, supply check) ------------------------------------------
CHAIN_LAG = Gauge("qiao_chain_lag_blocks", "Head minus the next block the watcher will scan", ["chain"])
CHAIN_UP = Gauge("qiao_chain_rpc_up", "1 while the chain's RPC answered the last probe", ["chain"])
RPC_LATENCY = Histogram(
    "qiao_rpc_latency_seconds",
    "Latency of the health probe's RPC calls",
    ["chain"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REORG_DEPTH = Gauge("qiao_chain_reorg_depth_blocks", "Depth of the last reorganisation seen", ["chain"])
REORGS = Counter("qiao_chain_reorgs_total", "Reorganisations seen by the probe", ["chain"])
COMMITTEE_SIZE = Gauge("qiao_committee_members", "Committee size n")
COMMITTEE_MARGIN = Gauge(
    "qiao_committee_margin_members", "Members online minus the threshold (below 0: cannot sign)"
)
DKG_KEY_EPOCH = Gauge(
    "qiao_dkg_key_epoch", "Key epoch of the committee key this node's configuration calls current"
)
MEMBER_KEY_EPOCHS_HELD = Gauge(
    "qiao_member_key_epochs_held",
    "1 for each key epoch this member holds a committee key of (two during a key rotation)",
    ["epoch"],
)
MEMBER_SIGNING_EPOCH = Gauge(
    "qiao_member_signing_epoch",
    "The key epoch this member signs new batches, refunds and actions for the chain's endpoint under "
    "(the endpoint's current epoch); -1 when it holds no key of that epoch and signs nothing there",
    ["chain"],
)
BATCHES_REKEYED = Counter(
    "qiao_batches_rekeyed_total",
    "Batches signed again under the destination's current key epoch because it no longer accepts theirs",
)
DKG_SHARE_LOADED = Gauge("qiao_dkg_share_loaded", "1 when this node holds a key share (a signer)")
ROUTE_PENDING = Gauge("qiao_route_pending_transfers", "Transfers stored but not executed", ["src", "dst"])
ROUTE_OLDEST_PENDING = Gauge(
    "qiao_route_oldest_pending_seconds", "Age of the oldest transfer not executed", ["src", "dst"]
)
# transfers a destination executed and keeps: held for a challenge window, or queued by its rate
# limit (relayer.pipeline.releaser); their counts are qiao_transfers{state="held"|"queued"}
RELEASES_SENT = Counter(
    "qiao_releases_sent_total", "releaseQueued transactions this relayer sent", ["chain", "reason"]
)
TRANSFERS_RELEASED = Counter(
    "qiao_transfers_released_total",
    "Held or queued transfers delivered on their destination (final)",
    ["src", "dst"],
)
RELEASE_OVERDUE_SECONDS = Gauge(
    "qiao_release_overdue_seconds",
    "How long the longest-waiting transfer releaseQueued would deliver now is not released (0: none)",
    ["chain"],
)
ROUTE_PAUSED = Gauge("qiao_route_paused", "1 while an operator paused the route", ["src", "dst"])
ROUTE_PAUSED_SECONDS = Gauge(
    "qiao_route_paused_seconds",
    "How long an operator has paused the route on this node (0: not paused); survives restarts",
    ["src", "dst"],
)
AGGREGATION_LATENCY = Histogram(
    "qiao_aggregation_latency_seconds",
    "From storing a final transfer to its batch's threshold signature",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
SUBMISSION_LATENCY = Histogram(
    "qiao_submission_latency_seconds",
    "From a batch's threshold signature to its execution on the destination",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
SUPPLY_CHECK_OK = Gauge(
    "qiao_supply_check_ok", "1 when wrapped supply <= locked amount, per token pair", ["pair"]
)
SUPPLY_LOCKED_UNITS = Gauge("qiao_supply_locked_units", "Amount locked in the vault (token units)", ["pair"])
SUPPLY_WRAPPED_UNITS = Gauge(
    "qiao_supply_wrapped_units", "Wrapped token total supply (token units)", ["pair"]
)
SUPPLY_CHECK_TIMESTAMP = Gauge("qiao_supply_check_timestamp_seconds", "Unix time of the last supply check")
RATE_LIMIT_HEADROOM = Gauge(
    "qiao_rate_limit_headroom_units",
    "Amount that can pass the endpoint's rate limit now (absent: no limit set for the token)",
    ["chain", "token", "direction"],
)
ENDPOINT_PAUSED = Gauge("qiao_endpoint_paused", "1 while the chain's endpoint contract is paused", ["chain"])
ENDPOINT_KEY_EPOCH = Gauge(
    "qiao_endpoint_key_epoch", "The key epoch the chain's endpoint verifies signatures under", ["chain"]
)
ENDPOINT_PENDING_ACTIONS = Gauge(
    "qiao_endpoint_pending_actions",
    "Committee-signed RESUME, ROTATE or UNCURSE actions, or issuer forced transfers and recoveries, "
    "scheduled on the endpoint, not executed or cancelled",
    ["chain", "kind"],
)
ENDPOINT_PENDING_ACTION_EXECUTABLE_SECONDS = Gauge(
    "qiao_endpoint_pending_action_executable_seconds",
    "Seconds (chain time) until the earliest pending RESUME, ROTATE or UNCURSE may be executed; negative: "
    "executable already; absent: nothing pending",
    ["chain"],
)
PENDING_ACTION_KINDS = ("resume", "rotate", "uncurse", "issuer")
ROUTE_CURSED = Gauge(
    "qiao_route_cursed",
    "1 while the sentinels' curse stops the chain's endpoint's route with the remote chain (every entry "
    "point of it reverts RouteIsCursed until the committee's UNCURSE executes), read at the final head",
    ["chain", "remote"],
)
ACTIONS = Gauge("qiao_actions", "Committee actions in this node's store by kind and state", ["kind", "state"])
ACTION_OLDEST_OPEN_SECONDS = Gauge(
    "qiao_action_oldest_open_seconds",
    "Age of the oldest action of the kind still waiting for signatures or its submission (proposed, "
    "approved or submitted; not scheduled on-chain, executed, cancelled, expired nor refused); 0: none",
    ["kind"],
)
ACTION_PARTIALS_RECEIVED = Counter(
    "qiao_action_partials_received", "Action partials received, by outcome", ["member", "outcome"]
)
ACTIONS_EXECUTED = Counter(
    "qiao_actions_executed", "Committee actions seen executed on the chain's endpoint", ["chain", "kind"]
)
REGISTRY_CARRY_SECONDS = Histogram(
    "qiao_registry_carry_seconds",
    "From a registry event final on the consortium chain to its flag final on the other chain",
    buckets=(5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600),
)
REGISTRY_MISMATCHES = Gauge(
    "qiao_registry_mismatches",
    "Accounts whose allow-list entry or carried freeze on the chain differs from the consortium chain's",
    ["chain"],
)
ISSUER_ACTIONS_FAILED = Counter(
    "qiao_issuer_actions_failed_total",
    "Issuer decisions carried from the consortium chain not applied on the token: "
    "refused (IssuerActionFailed) or skipped (their turn passed without them)",
    ["chain"],
)
ISSUER_DECISIONS_WAITING = Gauge(
    "qiao_issuer_decisions_waiting",
    "Issuer decisions final on the consortium chain waiting for their asset's token pair on a follower",
)
ASSET_STATUS_MISMATCH = Gauge(
    "qiao_asset_status_mismatch",
    "1 while the asset's status on the wrapped token differs from the consortium chain's issuer registry",
    ["chain", "token"],
)
NAV_AGE_SECONDS = Gauge(
    "qiao_nav_age_seconds",
    "Age of the NAV per unit the wrapped token holds (now minus its timestamp; -1 before the first)",
    ["chain", "token"],
)
NAV_STALE = Gauge(
    "qiao_nav_stale",
    "1 while the wrapped token's NAV is older than actions.nav_max_age (or there is none)",
    ["chain", "token"],
)
READY = Gauge("qiao_ready", "1 when the readiness check passes")
READY_CHECK = Gauge("qiao_ready_check", "Each readiness condition, 1 when it holds", ["check"])
WATCHDOG_PINGS = Counter("qiao_watchdog_pings_total", "WATCHDOG=1 notifications sent to systemd")
ADMIN_REQUESTS = Counter("qiao_admin_requests_total", "Admin socket requests", ["command", "outcome"])
BUILD_INFO = Gauge("qiao_build_info", "Always 1; the labels say what runs", ["version", "member"])
STORE_WRITABLE = Gauge("qiao_store_writable", "1 while the store's writes succeed (0: disk full or failing)")
STORE_WRITE_FAILURES = Counter(
    "qiao_store_write_failures_total", "Store transactions the filesystem refused", ["reason"]
)
