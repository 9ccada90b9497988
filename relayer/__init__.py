"""Qiao relayer: watchers, store, signer, aggregator, submitter and the operator CLI."""
