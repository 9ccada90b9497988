"""Adapters: everything that talks to the outside world (chains, the broker, the store, systemd)."""
