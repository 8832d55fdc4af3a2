"""Throughput of the FAR-SIGN report board with 10 posting processes on anvil, each holding only its own key and
sending its own transactions at once (as `deml node run --mode farsign` does, without the compute), against
MemoryBoard, the in-process board, with the same posts in the same run. bench/bench_board.py is the board's cost
from one process; this is what the board takes when the nodes post concurrently.

    python bench/bench_board_swarm.py [--reports 300] [--values 100] [--nodes 10]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_board import posts as memory_posts  # noqa: E402
from bench.bench_board import setup as memory_setup  # noqa: E402
from contracts import anvil  # noqa: E402
from contracts.board_client import BoardNode, deploy_board  # noqa: E402
from contracts.chain import connect  # noqa: E402
from contracts.keys import NODE_ETHER  # noqa: E402
from coordinator.memory_board import MemoryBoard  # noqa: E402
from protocol.board import BoardParams  # noqa: E402

# no rate limit in the way (a window of one block, ten posts in it): the board's own throughput
PARAMS = BoardParams(min_stake=2, fee=1, window_blocks=1, max_posts=10, max_staleness=8)
STAKE = 20


def poster(url: str, key: bytes, token: str, board: str, deploy_block: int, j: int, reports: int, values: int,
           ready, done) -> None:
    """One node: register with its own key, wait for the others, post `reports` reports as fast as it can."""
    from eth_account import Account

    from contracts.client import Contract

    account = Account.from_key(key)
    chain = connect(url, accounts=[account])
    me = BoardNode(chain, Contract(chain, "reward_token", token), Contract(chain, "board", board), PARAMS,
                   deploy_block, account)
    me.allow()
    me.register(STAKE)
    payloads = np.random.default_rng(j).integers(-2**31, 2**31, size=(reports, values))
    ready.wait()
    gas = 0
    for r in range(reports):
        me.post(0, j, payloads[r])
        gas += me.last_gas
    done.put(gas)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=300, help="reports in all (split evenly over the nodes)")
    ap.add_argument("--values", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=10)
    args = ap.parse_args()
    per = args.reports // args.nodes
    total = per * args.nodes
    memory = MemoryBoard(PARAMS)
    addresses = [f"0x{i:040x}" for i in range(1, args.nodes + 1)]
    memory_setup(memory, addresses, args.values)
    base, _ = memory_posts(memory, addresses, total, args.values, np.random.default_rng(0))
    print(f"{total} reports of {args.values} values by {args.nodes} nodes")
    print(f"  MemoryBoard, one process        {base:10.0f} reports/s   1.00x (the baseline)")
    node = anvil.start(record=False)
    try:
        chain = connect(node.url)
        owner = deploy_board(chain, PARAMS, chain.funded[0])
        owner.fund(10**9)
        from eth_account import Account

        keys = [Account.create() for _ in range(args.nodes)]
        for j, a in enumerate(keys):
            chain.give_ether(a.address, NODE_ETHER)
            owner.grant(a.address, STAKE)
            owner.assign(a.address, j, args.values)
        owner.publish(bytes(32), 0)
        ctx = mp.get_context("spawn")
        ready, done = ctx.Barrier(args.nodes + 1), ctx.Queue()
        procs = [ctx.Process(target=poster, args=(node.url, bytes(a.key), owner.token.address, owner.board.address,
                                                  owner.deploy_block, j, per, args.values, ready, done))
                 for j, a in enumerate(keys)]
        for p in procs:
            p.start()
        ready.wait(120)
        t0 = time.perf_counter()
        gas = sum(done.get(timeout=600) for _ in procs)
        wall = time.perf_counter() - t0
        for p in procs:
            p.join()
        accepted = owner.board.call("posts")
        assert accepted == total, f"{accepted} of {total} posts accepted"
        rate = total / wall
        print(f"  anvil, {args.nodes} posting processes   {rate:10.0f} reports/s   {rate / base:.4f}x; "
              f"{gas / total:,.0f} gas a report")
    finally:
        anvil.stop(node)


if __name__ == "__main__":
    main()
