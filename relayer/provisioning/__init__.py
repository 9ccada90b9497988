"""Operator provisioning the CLI uses: contract deployment, broker files, the devnet operator transfer."""
