"""The protocol's shared vocabulary: the only package that the data collector (`coordinator/`), the nodes
(`nodes/`) and the chain clients (`contracts/`) all import, and it imports none of them.

- `codec`: the fixed-point codec (real values <-> int32 words, packed big-endian for calldata);
- `commitment`: the commitment hash keccak256(abi.encode(round, node, report, salt));
- `ledger`: the records that cross a ledger (round spec, commits, reveals, outcomes, balances), the `Ledger`
  interface, and the catalogue of revert reasons mapped to typed exceptions;
- `digest`: the digest of a model's parameters that a round posts and a node checks.
"""
