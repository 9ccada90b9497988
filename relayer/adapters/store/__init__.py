"""The node's durable state: one SQLite file (WAL), one transaction per change; the only place with SQL.

The store is the only memory a node has across restarts. It holds the watcher cursors, the final
transfers, the batches cut from them, what this member signed (the signed-once guard), the
partials received, the refunds of failed transfers, and every transfer's state with timestamps.

`Store` is composed of one part per concern, each in its own module:
- `connection`: opening (checked, migrated or created), read-only opening, write transactions;
- `schema`: the tables, the version and the migrations; `integrity`: the WAL header and quick check;
- `ledger`: the one place a transfer's state changes (with its history line);
- `transfers`: the watch cursors and the final transfers (`record_scan`);
- `signed`: `signed_items`, the one signed-once record of every kind (batches, refunds, actions);
- `batches`: batches, what this member signed of them, partials, batch transactions;
- `refunds`: failures seen on the destination and their refunds;
- `releases`: transfers the destination holds for a challenge window or queues by its rate limit;
- `actions`: committee actions and their partials;
- `operator`: what the admin socket, the health probes and the soak harness read.
The rules they apply (which moves a transfer may make, what the signed-once rule allows) are pure
and live in `relayer.core.states`, `relayer.core.signing` and `relayer.core.store_rules`.
"""

from __future__ import annotations

from relayer.adapters.store.actions import Actions
from relayer.adapters.store.batches import Batches
from relayer.adapters.store.connection import StoreError, StoreUnwritable, open_error, readonly_uri
from relayer.adapters.store.integrity import (
    quick_check_problem,
    unwritable_reason,
    wal_checksum,
    wal_problem,
)
from relayer.adapters.store.operator import Operator
from relayer.adapters.store.refunds import Refunds
from relayer.adapters.store.releases import Releases
from relayer.adapters.store.schema import SCHEMA, SCHEMA_VERSION, expected_columns, schema_problem
from relayer.adapters.store.signed import SignedItems
from relayer.adapters.store.transfers import Transfers
from relayer.core.states import Equivocation
from relayer.core.store_rules import failure_detail, remedy

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Equivocation",
    "Store",
    "StoreError",
    "StoreUnwritable",
    "expected_columns",
    "failure_detail",
    "open_error",
    "quick_check_problem",
    "readonly_uri",
    "remedy",
    "schema_problem",
    "unwritable_reason",
    "wal_checksum",
    "wal_problem",
]


class Store(Transfers, Batches, Refunds, Releases, Actions, SignedItems, Operator):
    """Async access to the node's SQLite file. Use as `async with Store.open(path) as store`."""
