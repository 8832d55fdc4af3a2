"""Gas of a sketched round (a LeNet-5-sized model, d = 61,706, checked through k-value sketches) against the
unsketched round of k values that the same check costs without sketches, on a fresh deployment on the embedded
EVM (revm: the same bytecode and gas as py-evm and anvil), N = 10 nodes each sending its own transactions.

Every phase is measured: open (with the seed's hash), commit, the DC's seed reveal, reveal (the first one
compares with nobody, the last with every earlier one), finalize, confirm, and the mismatch path (a node whose
revealed sketch row is not its full report's, proven on chain with the full report). The store traffic of a
round is what the full reports (packed int32) and the posted model (the store's float64 .npy) weigh.

    python bench/bench_sketch_gas.py [--nodes 10] [--dim 61706] [--ks 64 128 256]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the deployment helper the gas tests use lives in tests/

import numpy as np  # noqa: E402

from contracts.chain import TX_GAS_CAP, connect  # noqa: E402
from protocol import codec, sketch, store  # noqa: E402
from protocol.commitment import commitment, digest_commitment, keccak, report_digests  # noqa: E402
from tests.chain.conftest import registered_deployment  # noqa: E402

SEED = keccak(b"bench-sketch-seed")


def round_gas(n: int, dim: int, k: int, sketched: bool, liar: bool = False) -> dict[str, int]:
    """{phase: gas} of one accepted round of n nodes on a fresh deployment (the dearest case: first writes)."""
    chain = connect("revm")
    d, nodes = registered_deployment(chain, n, "bench-sketch")
    rng = np.random.default_rng(k)
    width = dim if sketched else k
    fulls = codec.encode(rng.normal(size=width) * 0.05 + 1e-3 * rng.normal(size=(n, width)), 16)
    window = 2 * n + 4  # each transaction mines a block of its own here
    extra = dict(full_dim=dim, seed_hash=keccak(SEED)) if sketched else {}
    rid = d.open_round(members=[a.address for a in nodes], tau_fx=2**31 - 1, dim=k, reward=1, commit_blocks=window,
                       reveal_blocks=window, **extra).args["round_id"]
    gas = {"open": d.last_gas}
    salts = [rng.bytes(32) for _ in nodes]
    if sketched:
        digests = report_digests(fulls)
        commits = [digest_commitment(rid, a.address, h, s) for a, h, s in zip(nodes, digests, salts)]
    else:
        commits = [commitment(rid, a.address, codec.pack(y), s) for a, y, s in zip(nodes, fulls, salts)]
    for a, c in zip(nodes, commits):
        d.commit(rid, [(a, c)])
    gas["commit (each)"] = d.last_gas
    chain.mine(window + 1)
    if sketched:
        d.reveal_seed(rid, SEED)
        gas["reveal_seed"] = d.last_gas
        z = sketch.sketch(fulls, SEED, k)
        if liar:
            z[-1, 0] += 1  # the last node's first sketch row is not its report's
        openings = [(a, codec.pack_sketch(zi), s, h) for a, zi, s, h in zip(nodes, z, salts, digests)]
    else:
        openings = [(a, codec.pack(y), s) for a, y, s in zip(nodes, fulls, salts)]
    for i, o in enumerate(openings):
        d.reveal(rid, [o], members=n)
        if i == 0:
            gas["reveal (first)"] = d.last_gas
    gas["reveal (last)"] = d.last_gas
    chain.mine(window + 1)
    d.finalize(rid, members=n)
    gas["finalize"] = d.last_gas
    if sketched:
        if liar:
            d.prove_mismatch(rid, nodes[-1].address, codec.pack(fulls[-1]), 0)
            gas["prove_mismatch"] = d.last_gas
        d.confirm(rid, (1 << n) - 1, members=n)
        gas["confirm"] = d.last_gas
    return gas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--dim", type=int, default=61_706)
    ap.add_argument("--ks", type=int, nargs="+", default=[64, 128, 256])
    args = ap.parse_args()
    n, dim = args.nodes, args.dim
    print(f"gas per phase, N = {n}, full reports of d = {dim} values, fresh deployment on revm "
          f"(per-transaction cap 2^24 = {TX_GAS_CAP:,})")
    for k in args.ks:
        plain = round_gas(n, dim, k, sketched=False)
        sk = round_gas(n, dim, k, sketched=True, liar=True)
        print(f"\nk = {k}")
        print(f"  {'phase':<16}{'sketched':>14}{'unsketched k':>14}{'ratio':>8}")
        for phase in sk:
            base = plain.get(phase)
            ratio = f"{sk[phase] / base:8.2f}" if base else f"{'-':>8}"
            shown = f"{base:>14,}" if base else f"{'-':>14}"
            print(f"  {phase:<16}{sk[phase]:>14,}{shown}{ratio}")
        print(f"  largest transaction: {max(sk.values()):,} gas ({max(sk.values()) / TX_GAS_CAP:.0%} of the cap)")
    report_bytes, model_bytes = 4 * dim, len(store.encode(np.zeros(dim))[1])
    print(f"\nstore traffic per round: {n} full reports up x {report_bytes:,} B = {n * report_bytes / 1e6:.2f} MB "
          f"(packed int32), the model down to {n} nodes x {model_bytes:,} B = {n * model_bytes / 1e6:.2f} MB (the "
          f"store's float64 .npy); on chain per node: a {8 * max(args.ks)}-byte sketch at k = {max(args.ks)}")


if __name__ == "__main__":
    main()
