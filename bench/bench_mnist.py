"""Speed of one VISTA round on LeNet-5 (d = 61,706) with 10 nodes in memory, against one plain torch SGD step on
the same total batch (10 x batch) measured in the same run. Prints figures; asserts nothing about time.

Where the time goes: the nodes' gradients (one forward and backward pass, split by minibatch), the reference
gradient (the simulation's low-noise gradient: the worst-case adversary's knowledge and the logs' yardstick, not
part of a deployment), sealing (fixed-point encoding and commitment hashes of 10 reports of 61,706 values), the
ledger (commit, reveal with hash checks, finalize with the exact pairwise check) and, for the sketched protocol,
the projection (keccak words for S, then S y for 10 reports). The floor it prints is what no implementation of the
protocol's round avoids: the nodes' gradients, every report hashed twice (by its node, for the commitment, and by
the ledger, to check the reveal) and the model's digest. One BLAS and one torch thread: on a shared machine
more threads only contend (OpenBLAS's spinning threads made small products 100x slower here).

    python bench/bench_mnist.py [--batch 64] [--rounds 10] [--reference 1024] [--data-dir PATH]
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from coordinator import rules, vista  # noqa: E402
from coordinator.driver import ProtocolConfig, provision, run  # noqa: E402
from coordinator.memory_ledger import MemoryLedger  # noqa: E402
from economics import GameSpec, solve  # noqa: E402
from nodes.swarm import node_addresses, seal  # noqa: E402
from nodes.workloads import LearningSwarm, ReferenceTask  # noqa: E402
from protocol import codec, sketch  # noqa: E402
from protocol.commitment import digests_of  # noqa: E402
from protocol.digest import params_digests  # noqa: E402
from protocol.ledger import RoundSpec  # noqa: E402
from sims.mnist_config import VistaMnistConfig  # noqa: E402
from sims.mnist_workload import build_module, load, workload  # noqa: E402
from sims.vista_experiments import TOKEN  # noqa: E402


def best(fn, reps: int) -> float:
    """Best of `reps` timings (seconds), after one warm-up call: the least disturbed by other load."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reference", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = VistaMnistConfig(data_dir=args.data_dir, batch=args.batch, reference=args.reference, adversaries=0,
                           rounds=args.rounds, honest_sgd=False, baselines=[], torch_threads=1, device="cpu")
    ds = load(cfg)
    work, own = workload(cfg, ds, torch.device("cpu"))
    n, d, rng = cfg.nodes, work.dim, np.random.default_rng(0)
    theta = work.model.initial()
    print(f"LeNet-5, d = {d:,}, {n} honest nodes x batch {args.batch}; CPU, 1 thread (shared machine: best of "
          f"{args.reps})")

    # plain torch SGD: an nn.Module, one backward on the whole 10 x batch, optimizer step
    module = build_module(cfg, ds.features, cfg.seed)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    idx = torch.from_numpy(rng.integers(len(work.y), size=n * args.batch))
    x, y = work.x[idx], work.y[idx]

    def sgd_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()

    t_sgd = best(sgd_step, args.reps)
    print(f"plain torch SGD step on {n * args.batch} examples: {t_sgd * 1e3:.1f} ms  (the baseline, 1.00x)")

    # the round's parts
    batches = work.minibatches(1, n, rng)
    parts = {"node gradients (one pass, split by minibatch)":
                 best(lambda: work.node_grads(theta[None], batches), args.reps),
             f"reference gradient ({args.reference} examples)":
                 best(lambda: work.value_and_grad(theta[None], own[:args.reference]), args.reps)}
    reports = work.node_grads(theta[None], batches)
    addresses = node_addresses(n, 0)
    parts["seal: encode + 10 commitments"] = best(lambda: seal(0, addresses, reports, 16, rng), args.reps)
    fx = codec.encode(reports, 16)
    # the keccak the protocol cannot skip: each report hashed by its node (the commitment) and again by the ledger
    # (the reveal's check), and the posted model's digest
    t_hashes = best(lambda: digests_of([fx[0]]), args.reps)
    t_model = best(lambda: params_digests(theta[None]), args.reps)
    parts["keccak of the 10 reports, once"] = t_hashes
    parts["keccak of the model (its digest)"] = t_model
    revealed = np.ones((1, n), dtype=bool)
    parts["pairwise check (exact, Gram)"] = best(lambda: rules.pairwise_sq_dist_max(fx, revealed), args.reps)
    for k in (64, 128, 256):
        seed = rng.bytes(32)
        parts[f"sketch k={k}: S from keccak"] = best(lambda: sketch.signs(seed, k, d), max(2, args.reps // 2))
        s = sketch.signs(seed, k, d)
        parts[f"sketch k={k}: S y for {n} reports"] = best(lambda: sketch.apply(s, fx), args.reps)

    # the ledger's share: commit, reveal (each reveal re-hashed against its commitment), finalize (pairwise check)
    table = solve(GameSpec(dim=d, honest=n, adversaries=1), np.array([2.0, 8.0]), progress=False)
    proto = ProtocolConfig(delta=3.0, reward=TOKEN, stake=10 * TOKEN, min_stake=2 * TOKEN, estimator="mean")
    ledger = MemoryLedger(batch=1, min_stake=proto.min_stake, max_dim=None)
    provision(ledger, addresses, proto, args.reps + 2)
    spec = RoundSpec(tau_fx=np.array([2**30]), dim=d, scale_bits=16, params_digest=[bytes(32)], reward=proto.reward,
                     members=addresses)

    def ledger_round():
        rid = ledger.open_round(spec)
        commits, reveals = seal(rid, addresses, reports, 16, rng)
        t0 = time.perf_counter()
        ledger.commit(rid, commits)
        ledger.reveal(rid, reveals)
        ledger.finalize(rid)
        return time.perf_counter() - t0

    parts["ledger: commit, reveal (hash checks), finalize"] = min(ledger_round() for _ in range(args.reps + 1))
    for name, t in parts.items():
        print(f"  {name:48s} {t * 1e3:8.1f} ms  {t / t_sgd:6.2f}x")
    floor = parts["node gradients (one pass, split by minibatch)"] + 2 * t_hashes + t_model
    print(f"  {'floor: gradients + keccak (reports x 2, model)':48s} {floor * 1e3:8.1f} ms  {floor / t_sgd:6.2f}x"
          f"  (no round costs less)")

    # whole rounds through the driver: the best per-round time of `rounds` rounds
    control = vista.params(table.eta, table.mse, eta_min=2.0, eta_max=8.0, lam=np.inf)
    swarm = LearningSwarm(work, n, 0, None)

    def round_time(reference: int) -> float:
        led = MemoryLedger(batch=1, min_stake=proto.min_stake, max_dim=None)
        provision(led, addresses, proto, args.rounds + 1)
        stamps = [time.perf_counter()]
        run(led, ReferenceTask(work, own[:reference], theta[None]), swarm, control, proto, members=addresses,
            rounds=args.rounds, rng=np.random.default_rng(1),
            on_round=lambda log, out: stamps.append(time.perf_counter()))
        return float(np.min(np.diff(stamps)))

    t_sgd_again = best(sgd_step, args.reps)  # the baseline again, as the load may have moved
    t_full, t_own = round_time(args.reference), round_time(1)
    base = min(t_sgd, t_sgd_again)
    print(f"plain SGD step, measured again: {t_sgd_again * 1e3:.1f} ms; ratios below use the best of both")
    print(f"one VISTA round through the driver, reference gradient on {args.reference}: {t_full * 1e3:.1f} ms = "
          f"{t_full / base:.2f}x the SGD step")
    print(f"one VISTA round, reference gradient on 1 example (the protocol's own cost): {t_own * 1e3:.1f} ms "
          f"= {t_own / base:.2f}x the SGD step (goal <= 1.3x)")


if __name__ == "__main__":
    main()
