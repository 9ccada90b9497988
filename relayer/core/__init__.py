"""The pure core: the protocol's data, rules and decisions, with no I/O (sockets, database, broker)."""
