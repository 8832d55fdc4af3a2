"""Throughput of a swarm of node processes on anvil, against the in-process per-node driver on anvil,
measured in the same run. Prints figures; asserts nothing about time.

Both run VISTA on the 3-D quadratic with 1 honest node and N - 1 colluding rational adversaries, one transaction
per node per phase (each node's own commit, then its own reveal), on one anvil:

- in-process: the round driver with `ChainLedger(mode="per-node")`: one process holds every key and sends each
  phase's transactions as one JSON-RPC batch;
- swarm: `deml swarm run`'s processes: the data collector and N node processes, each with its own key, meeting
  only on the chain (and the DC's model store). Its rate counts the rounds themselves (open to settlement, as the
  DC times them), not the processes' start.

Then where the swarm's time goes: the DC's round split into waiting for the members (of which looking at the
chain), its own transactions and reads, the gradient and loss, hashing and the store; and per node and round, its
looks at the chain, the model fetch, its report, hashing, and its transactions.

    python bench/bench_swarm.py [--nodes 10] [--rounds 40] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from contracts import anvil
from contracts.chain import connect
from contracts.chain_ledger import ChainLedger
from coordinator.driver import provision, run
from sims.processes import Swarmed
from sims.swarm import Plan, run_swarm
from sims.vista_experiments import Quad3dConfig, setup


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process(url: str, nodes: int, rounds: int) -> float:
    s = setup(Quad3dConfig(honest=1, adversaries=nodes - 1, runs=1, rounds=rounds, baselines=[]), 3, progress=False)
    ledger = ChainLedger(connect(url), nodes=nodes, seed=9, mode="per-node", min_stake=s.proto.min_stake,
                         slash_bps=s.proto.slash_bps)
    provision(ledger, ledger.nodes, s.proto, rounds)
    t0 = time.perf_counter()
    run(ledger, Quad3dConfig().task(), s.swarm, s.control, s.proto, members=ledger.nodes, rounds=rounds,
        rng=np.random.default_rng(0))
    return rounds / (time.perf_counter() - t0)


def swarm(url: str, anvil_pid: int, nodes: int, rounds: int, folder: Path) -> tuple[float, dict, list[dict], float]:
    """(rounds/s, the DC's stats, the nodes' stats, anvil's CPU seconds from the first round's settlement to the
    last's)."""
    plan = Plan(Swarmed("quad3d", {}, 1, nodes - 1, 0), "rational", True, rounds)
    stats = folder / "stats"
    marks: list[float] = []

    def watch_log() -> None:  # anvil's CPU at the first round's settlement, as the DC's log says it
        log = folder / "run" / "logs" / "coordinator.log"
        while not marks:
            if log.exists() and "round 1:" in log.read_text():
                marks.append(cpu_seconds(anvil_pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_log, daemon=True)
    watcher.start()
    run_swarm(plan, chain=url, deployment=None, ray_address=None, out=folder / "run", force=False, stats=stats)
    dc = json.loads((stats / "coordinator.json").read_text())
    members = [json.loads(p.read_text()) for p in sorted(stats.glob("node-*.json"))]
    return rounds / dc["seconds"]["round"], dc, members, marks[0] if marks else float("nan")


@contextmanager
def devnet() -> Iterator[anvil.Anvil]:
    node = anvil.start(record=False)
    try:
        yield node
    finally:
        anvil.stop(node)


def pair(nodes: int, rounds: int) -> dict:
    """One swarm run and one in-process run, each on a fresh anvil (its cost per transaction grows with the blocks
    behind it, about 5x after 3,000, empty or not, which would tax whichever ran second)."""
    with tempfile.TemporaryDirectory() as tmp, devnet() as node:
        rate, dc, members, anvil_first = swarm(node.url, node.pid, nodes, rounds, Path(tmp))
        anvil_swarm = cpu_seconds(node.pid) - anvil_first
    with devnet() as node:
        cpu0, anvil0 = time.process_time(), cpu_seconds(node.pid)
        base = in_process(node.url, nodes, rounds)
        cpu, anvil_base = time.process_time() - cpu0, cpu_seconds(node.pid) - anvil0
    return dict(rate=rate, base=base, dc=dc, members=members, anvil_swarm=anvil_swarm, cpu=cpu, anvil_base=anvil_base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs; the figure is their median ratio")
    args = parser.parse_args()
    n, r = args.nodes, args.rounds
    # pairs, because a shared machine's load drifts: one pair's ratio moved between 0.32 and 0.57 from run to run
    pairs = [pair(n, r) for _ in range(args.repeat)]
    print(f"\n== {n} nodes, {r} rounds of VISTA on anvil (quad3d, 1 honest + {n - 1} rational), {len(pairs)} pairs ==")
    for i, p in enumerate(pairs):
        print(f"pair {i + 1}: in-process per-node driver {p['base']:6.2f} rounds/s, swarm of {n} node processes "
              f"{p['rate']:6.2f} rounds/s = {p['rate'] / p['base']:.2f} x")
    ratios = [p["rate"] / p["base"] for p in pairs]
    mid = pairs[int(np.argsort(ratios)[len(ratios) // 2])]  # the breakdown below is the median pair's
    print(f"median: {float(np.median(ratios)):.2f} x in-process (goal: >= 0.5)")
    dc, members = mid["dc"], mid["members"]
    node_cpu = sum(sum(m["cpu"].values()) for m in members)
    print(f"CPU per round: in-process {1e3 * mid['cpu'] / r:.0f} ms + anvil {1e3 * mid['anvil_base'] / r:.0f} ms; "
          f"swarm: data collector {1e3 * dc['cpu']['round'] / r:.0f} ms + nodes {1e3 * node_cpu / r:.0f} ms "
          f"(in their rounds; with their start and joining: {1e3 * dc['process_cpu'] / r:.0f} + "
          f"{1e3 * sum(m['process_cpu'] for m in members) / r:.0f} ms) + anvil "
          f"{1e3 * mid['anvil_swarm'] / (r - 1):.0f} ms (rounds 2 on, and the tables at the end)")
    sec = dc["seconds"]
    own = sec["round"] - sec.get("wait", 0.0) - sec.get("gradient", 0.0)
    print("\n== the data collector, ms per round ==")
    for name, value in [("round (open to settlement)", sec["round"]), ("waiting for the members", sec.get("wait", 0)),
                        ("  of which looking at the chain (RPC)", sec.get("poll", 0)),
                        ("its own transactions and reads (RPC)", own),
                        ("gradient and loss", sec.get("gradient", 0)),
                        ("hashing and the model store", sec.get("hash", 0))]:
        print(f"{name:>40}: {1e3 * value / r:8.2f}")
    print(f"\n== a node, ms per round (mean over {len(members)} nodes) ==")
    parts = [("poll", "looking at the chain (RPC: block number, logs)"), ("wait", "waiting for the next block"),
             ("store", "fetching the model"), ("gradient", "its report (gradient)"), ("hash", "hashing"),
             ("rpc", "its commit and reveal (RPC)")]
    print(f"{'':>48}  {'wall':>8} {'CPU':>8}")
    for key, name in parts:
        wall = np.mean([m["seconds"].get(key, 0.0) for m in members])
        cpu = np.mean([m["cpu"].get(key, 0.0) for m in members])
        print(f"{name:>48}: {1e3 * wall / r:8.2f} {1e3 * cpu / r:8.2f}")
    print("\n(the machine may be shared: the ratio is the figure, measured in the same run)")


if __name__ == "__main__":
    main()
