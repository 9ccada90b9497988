"""Every Prometheus metric of the node, in one place (namespace `qiao_`, units in names)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CHAIN_HEAD = Gauge("qiao_chain_head_block", "Latest block number seen", ["chain"])
CHAIN_FINAL = Gauge("qiao_chain_final_block", "Highest block treated as final", ["chain"])
CHAIN_SCANNED = Gauge("qiao_chain_scanned_block", "Highest block scanned for events", ["chain"])
RPC_ERRORS = Counter("qiao_rpc_errors_total", "Failed RPC interactions", ["chain"])
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
BATCHES_AGGREGATED = Counter("qiao_batches_aggregated_total", "Threshold signatures combined")
SUBMISSIONS = Counter("qiao_submissions_total", "Batch submissions by outcome", ["dst", "outcome"])
GAS_USED = Counter("qiao_gas_used_total", "Gas used by this relayer's transactions", ["dst"])
FEE_PAID_WEI = Counter("qiao_fee_paid_wei_total", "Fees paid by this relayer", ["dst"])
ACCOUNT_BALANCE_WEI = Gauge("qiao_account_balance_wei", "Submitting account balance", ["chain"])
TRANSFER_LATENCY = Histogram(
    "qiao_transfer_latency_seconds",
    "From storing a final transfer to seeing it executed",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
TRANSFERS_BY_STATE = Gauge("qiao_transfers", "Transfers in the store by state", ["state"])
MQTT_CONNECTED = Gauge("qiao_mqtt_connected", "1 while connected to the broker")
MQTT_RECONNECTS = Counter("qiao_mqtt_reconnects_total", "Broker connection losses")
MQTT_MESSAGES_REJECTED = Counter("qiao_mqtt_messages_rejected_total", "MQTT messages dropped as malformed")
MQTT_OUTBOX_DEPTH = Gauge("qiao_mqtt_outbox_depth", "Messages waiting to be published")
MQTT_OUTBOX_DROPPED = Counter("qiao_mqtt_outbox_dropped_total", "Messages dropped from a full outbox")
MEMBERS_ONLINE = Gauge("qiao_committee_members_online", "Members whose heartbeat is online")
COMMITTEE_THRESHOLD = Gauge("qiao_committee_threshold", "Partials needed to sign")
ROUTE_HALTED = Gauge("qiao_route_halted", "1 when a route stopped on an error", ["src", "dst"])
