"""Throughput of the FAR-SIGN report board: accepted reports per second on anvil and on the embedded EVM (revm)
against MemoryBoard, the in-process board, measured in the same run with the same posts (10 nodes posting in
turn from this one process, each report a fresh set of values at the latest version; the server's side, reading
the posts back from the events, timed apart). Gas per report is printed too. This is the board's own cost;
bench/bench_board_swarm.py has ten processes posting at once, each with its own key.

    python bench/bench_board.py [--reports 300] [--values 100] [--no-anvil]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from contracts import anvil
from contracts.board_client import ChainBoard
from coordinator.memory_board import MemoryBoard
from protocol.board import BoardParams

PARAMS = BoardParams(min_stake=2, fee=1, window_blocks=1, max_posts=10, max_staleness=8)


def setup(board, nodes: list[str], values: int) -> None:
    board.fund(10**9)
    for j, a in enumerate(nodes):
        board.grant(a, 100)
        board.register([a], 100)
        board.assign(a, j, values)
    board.publish(bytes(32), 0)


def posts(board, nodes: list[str], reports: int, values: int, rng: np.random.Generator) -> tuple[float, float]:
    """(reports per second posting, seconds to read every post back)."""
    payloads = rng.integers(-2**31, 2**31, size=(reports, values))
    t0 = time.perf_counter()
    for r in range(reports):
        j = r % len(nodes)
        board.post(nodes[j], 0, j, payloads[r])
    rate = reports / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    assert len(board.posts()) == reports
    return rate, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=300)
    ap.add_argument("--values", type=int, default=100)
    ap.add_argument("--no-anvil", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    nodes = [f"0x{i:040x}" for i in range(1, 11)]
    memory = MemoryBoard(PARAMS)
    setup(memory, nodes, args.values)
    base, _ = posts(memory, nodes, args.reports, args.values, rng)
    print(f"{args.reports} reports of {args.values} values by 10 nodes in turn")
    print(f"  MemoryBoard            {base:10.0f} reports/s   1.00x (the baseline)")
    targets = ["revm"] + ([] if args.no_anvil else ["anvil"])
    for target in targets:
        node = anvil.start(record=False) if target == "anvil" else None
        try:
            chain = ChainBoard(node.url if node else target, PARAMS, nodes=10)
            setup(chain, chain.nodes, args.values)
            rate, read = posts(chain, chain.nodes, args.reports, args.values, rng)
            print(f"  ChainBoard on {target:8s} {rate:10.0f} reports/s   {rate / base:.4f}x; reading the "
                  f"{args.reports} posts back from events {read:.2f} s; gas of the last post {chain.last_gas:,}")
        finally:
            if node:
                anvil.stop(node)


if __name__ == "__main__":
    main()
