"""Operations: the admin socket and its client, health, preflight checks and the reconciler."""
