"""The development harness (devnet, soak): never imported by the daemon and not in the wheel."""
