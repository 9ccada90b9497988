"""Committee cryptography for Qiao: threshold BLS on BLS12-381 (signatures in G1, keys in G2).

- `committee.bls`: the `BlsBackend` protocol, the py-ecc and arkworks backends, point checks and
  the EIP-2537 encodings.
- `committee.threshold`: Shamir shares, partial signatures and their combination.
- `committee.keyfile`: member key files and the committee's public file.
- `committee.vectors`: cross-language test vectors for the contracts.

This package never imports `relayer`.
"""
