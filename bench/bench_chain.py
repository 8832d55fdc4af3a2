"""Gas and throughput of the on-chain protocol. Prints figures; asserts nothing about time.

0. The report encoding: a 2-report pairwise check and the storage of one report at d = 64, as packed int32
   words in `bytes` (what the coordinator takes) against int128[] arrays.
1. Gas per phase (open, commit, reveal, finalize) for N members in {2, 5, 10, 20, 64} and report dimension d
   in {3, 64, 256}: the second round of a fresh deployment (storage already written once, as in steady state),
   one transaction per node message (the first reveal compares with nothing, the last with every earlier
   report); and the relayer's path (all commits in one transaction; the reveals and the settlement in as many
   transactions as the per-transaction cap needs). 64 x 256 is the largest round the contract accepts.
   Gas is the same on both chains (same bytecode, both on the Prague EVM); it is measured on anvil when one
   runs (revm is fast), and one shape is measured on both to show they agree.
2. On-chain rounds per second at N = 5, d = 3 (VISTA, 1 honest + 4 rational adversaries, through the round
   driver and ChainLedger) on the embedded chain and on anvil, for the relayer and per-node transports and
   for a naive baseline measured in the same run: the per-node messages sent as web3 contract transactions,
   one at a time, each with its gas estimated and its nonce and fees asked of the node, then waiting for
   its receipt.

    python bench/bench_chain.py [--rounds 30] [--skip-gas] [--no-anvil]
"""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from eth_account import Account

from contracts import anvil
from contracts.chain import TX_GAS_CAP, Chain, Receipt, connect
from contracts.chain_ledger import ChainLedger
from contracts.client import Contract, deploy
from protocol import codec
from protocol.commitment import commitment, keccak
from coordinator.driver import provision, run
from sims.objectives import Quadratic
from sims.vista_experiments import Quad3dConfig, setup

SHAPES = [(n, d) for n in (2, 5, 10, 20, 64) for d in (3, 64, 256)]
# The report encoding, chosen by measurement: the same pairwise check and the same storage of a report, with
# reports as packed big-endian int32 words in `bytes` (the coordinator's layout) or as int128[] arrays.
ENCODINGS = """
# pragma version ~=0.4.3
packed: Bytes[1024]
array: DynArray[int128, 256]

@external
def check_packed(a: Bytes[1024], b: Bytes[1024], tau_sq: int256) -> bool:
    sq: int256 = 0
    for c: uint256 in range(len(a) // 4, bound=256):
        d: int256 = convert(convert(slice(a, 4 * c, 4), bytes4), int256) - convert(
            convert(slice(b, 4 * c, 4), bytes4), int256)
        sq += d * d
    return sq <= tau_sq

@external
def check_array(a: DynArray[int128, 256], b: DynArray[int128, 256], tau_sq: int256) -> bool:
    sq: int256 = 0
    for c: uint256 in range(len(a), bound=256):
        d: int256 = convert(a[c], int256) - convert(b[c], int256)
        sq += d * d
    return sq <= tau_sq

@external
def store_packed(a: Bytes[1024]):
    self.packed = a

@external
def store_array(a: DynArray[int128, 256]):
    self.array = a
"""
BIG_BLOCK = 120_000_000  # for the shapes beyond a real chain's 16.7M cap


def gas_per_phase(chain: Chain, n: int, dim: int) -> dict[str, float]:
    d = deploy(chain)
    nodes = [Account.from_key(keccak(f"bench-{n}-{dim}-{i}".encode())) for i in range(n)]
    for node in nodes:
        chain.give_ether(node.address, 2 * 10**19)  # gas for reveals at d = 256 (the fee cap bounds the prepayment)
        d.allow(node)
        d.grant(node.address, 10)
    d.fund(10**9)
    d.register(nodes, 10)
    rng = np.random.default_rng(0)
    row: dict[str, float] = {}
    members = [a.address for a in nodes]
    for relay in (False, False, True):  # the first round writes every slot from zero: measure the second
        rid = d.open_round(members=members, tau_fx=2**31 - 1, dim=dim, reward=1, commit_blocks=4 * n,
                           reveal_blocks=4 * n).args["round_id"]
        row["open"] = d.last_gas
        reports = [codec.pack(codec.encode(rng.normal(size=dim) * 100, 16)) for _ in nodes]
        salts = [rng.bytes(32) for _ in nodes]
        digests = [commitment(rid, a.address, r, s) for a, r, s in zip(nodes, reports, salts)]
        if relay:
            d.commit_signed(rid, [(c, d.sign_commit(a, rid, c)) for a, c in zip(nodes, digests)])
            row["relay commit"] = d.last_gas
            start = chain.block_number
            receipt = d.finalize(rid, members=n, openings=[(a.address, r, s) for a, r, s in zip(nodes, reports, salts)])
            row["relay reveals+settle"], row["relay txs"] = d.last_gas, chain.block_number - start
            row["relay last tx"] = receipt.gas_used
        else:
            d.commit(rid, list(zip(nodes, digests)))
            row["commit/node"] = d.last_gas / n
            gas = []
            for a, r, s in zip(nodes, reports, salts):
                d.reveal(rid, [(a, r, s)], members=n)
                gas.append(d.last_gas)
            row["first reveal"], row["last reveal"] = gas[0], gas[-1]
            d.finalize(rid, members=n)
            row["finalize"] = d.last_gas
    return row


def print_gas(rows: dict[tuple[int, int], dict[str, float]]) -> None:
    cols = ["open", "commit/node", "first reveal", "last reveal", "finalize", "relay commit", "relay last tx",
            "relay reveals+settle", "relay txs"]
    print(f"{'N':>3} {'d':>4} " + " ".join(f"{c:>14}" for c in cols))
    for (n, dim), row in rows.items():
        cells = [f"{row[c]:>13,.0f}" + ("*" if c not in ("relay reveals+settle", "relay txs") and row[c] > TX_GAS_CAP
                                         else " ") for c in cols]
        print(f"{n:>3} {dim:>4} " + " ".join(cells))
    print(f"(* above a real chain's per-transaction cap of {TX_GAS_CAP:,}; 'relay reveals+settle' sums 'relay txs' "
          f"transactions, each under the cap)")


def encoding_gas(chain: Chain, dim: int) -> dict[str, int]:
    """Gas of one 2-report pairwise check and of storing one report, packed int32 bytes against int128[]."""
    from eth_abi import encode
    from vyper import compile_code

    from contracts.chain import Tx

    out = compile_code(ENCODINGS, output_formats=["bytecode", "abi"])
    owner = chain.funded[0]
    (made,) = chain.send([Tx(owner, None, bytes.fromhex(out["bytecode"][2:]), 3_000_000)])
    rng = np.random.default_rng(1)
    a, b = (rng.integers(-2**20, 2**20, dim) for _ in range(2))
    select = lambda sig: keccak(sig.encode())[:4]  # noqa: E731
    calls = {
        "check, packed": select("check_packed(bytes,bytes,int256)") + encode(
            ["bytes", "bytes", "int256"], [codec.pack(a), codec.pack(b), 2**80]),
        "check, int128[]": select("check_array(int128[],int128[],int256)") + encode(
            ["int128[]", "int128[]", "int256"], [a.tolist(), b.tolist(), 2**80]),
        "store, packed": select("store_packed(bytes)") + encode(["bytes"], [codec.pack(a)]),
        "store, int128[]": select("store_array(int128[])") + encode(["int128[]"], [a.tolist()]),
    }
    receipts = chain.send([Tx(owner, made.contract_address, data, 10_000_000) for data in calls.values()])
    return {name: r.gas_used for name, r in zip(calls, receipts)}


def vista_setup(rounds: int):
    s = setup(Quad3dConfig(adversaries=4, runs=1, rounds=rounds, baselines=[]), 3, progress=False)
    return s.control, s.swarm, s.proto


class NaiveContract(Contract):
    """The baseline transport: web3's Contract API, one transaction at a time, its gas estimated, its nonce and
    fees asked of the node, then a wait for its receipt. The ledger above it is unchanged."""

    def transact_many(self, fn, calls, gas, *, preflight=False, ordered=True) -> list[Receipt]:
        w3 = self.chain.w3
        contract = w3.eth.contract(address=self.address, abi=self.abi)
        receipts = []
        for args, sender in calls:
            tx = contract.functions[fn](*args).build_transaction(
                {"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address)})
            rec = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))
            logs = tuple((lg["address"], tuple(bytes(t) for t in lg["topics"]), bytes(lg["data"]))
                         for lg in rec["logs"])
            receipts.append(Receipt(bytes(rec["transactionHash"]), rec["blockNumber"], rec["gasUsed"],
                                    rec["status"] == 1, "", logs))
        return receipts


def driver_rounds_per_second(target: str, mode: str, rounds: int) -> float:
    control, swarm, proto = vista_setup(rounds)
    ledger = ChainLedger(connect(target), nodes=swarm.size, seed=9, mode="per-node" if mode == "naive" else mode,
                         min_stake=proto.min_stake, slash_bps=proto.slash_bps)
    provision(ledger, ledger.nodes, proto, rounds)
    if mode == "naive":
        d = ledger.deployment
        d.coordinator = NaiveContract(d.chain, "coordinator", d.coordinator.address)
    t0 = time.perf_counter()
    run(ledger, Quadratic(), swarm, control, proto, members=ledger.nodes, rounds=rounds, rng=np.random.default_rng(0))
    return rounds / (time.perf_counter() - t0)


@contextmanager
def devnet(wanted: bool, gas_limit: int = anvil.BLOCK_GAS) -> Iterator[str | None]:
    """A fresh anvil's URL for the block (None when not wanted), stopped afterwards."""
    node = anvil.start(gas_limit=gas_limit, record=False) if wanted else None
    try:
        yield node.url if node else None
    finally:
        if node is not None:
            anvil.stop(node)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="rounds per throughput measurement")
    parser.add_argument("--skip-gas", action="store_true")
    parser.add_argument("--no-anvil", action="store_true", help="embedded chain only")
    args = parser.parse_args()
    if not args.skip_gas:
        print("== report encoding (d = 64; transaction gas, 21,000 of it the base cost) ==")
        for name, gas in encoding_gas(connect("embedded"), 64).items():
            print(f"{name:>16}: {gas:>10,}")
        with devnet(not args.no_anvil, BIG_BLOCK) as url:
            print(f"== gas per phase (steady state; measured on {'anvil' if url else 'embedded'}) ==")
            gas_chain = connect(url or "embedded", block_gas_limit=BIG_BLOCK)
            print_gas({(n, d): gas_per_phase(gas_chain, n, d) for n, d in SHAPES})
        if not args.no_anvil:
            with devnet(True, BIG_BLOCK) as url:  # fresh, as the embedded chain is
                embedded = gas_per_phase(connect("embedded", block_gas_limit=BIG_BLOCK), 5, 64)
                on_anvil = gas_per_phase(connect(url), 5, 64)
            # the relayed commits carry EIP-712 signatures over the contract's address, which differs between
            # the chains, and calldata is priced per zero byte: only that phase may differ, by a few gas
            same = all(embedded[k] == on_anvil[k] for k in embedded if not k.startswith("relay"))
            print(f"gas identical on the embedded chain and anvil at N = 5, d = 64 (all but the relayer's path, "
                  f"{embedded['relay commit']:,} vs {on_anvil['relay commit']:,}): {same}")
    print(f"\n== on-chain rounds per second, N = 5, d = 3 ({args.rounds} rounds each; naive: a third) ==")
    for name in ["embedded"] + ([] if args.no_anvil else ["anvil"]):
        rates = {}
        for mode in ("naive", "per-node", "relay"):
            with devnet(name == "anvil") as url:  # a fresh anvil each: it slows as blocks accumulate
                rates[mode] = driver_rounds_per_second(url or "embedded", mode,
                                                       max(5, args.rounds // 3) if mode == "naive" else args.rounds)
            print(f"{name:>9}: {mode:>8} {rates[mode]:6.2f} rounds/s  = {rates[mode] / rates['naive']:5.1f} x naive",
                  flush=True)


if __name__ == "__main__":
    main()
