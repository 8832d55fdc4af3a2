"""A FAR-SIGN swarm's run directory, from the report board's events alone (and the models the published digests
name in the DC's store): evals.parquet (each published version evaluated), nodes.parquet (each node's posts
accepted and refused, tokens earned and gas paid), summary.parquet, accuracy.png. Nothing comes from the memory of
the processes that ran."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from contracts.board_client import BoardContracts
from protocol import store
from protocol.board_deployment import BoardRecord
from sims import rundir
from sims.processes import TOKEN


def tables(board: BoardContracts, models: Path, evaluate, dim: int, addresses: Sequence[str], roles: Sequence[str],
           target: float = 0.8, owner: str | None = None) -> dict[str, pd.DataFrame]:
    """`owner`: the DC's address, whose transactions (publishes, grants, funding) are the summary's dc_gas."""
    chain = board.chain
    head = chain.block_number
    published, posts = board.published(), board.posts()
    version_blocks = _blocks(board, "Published", unique=False)
    stamps = _timestamps(chain, sorted({board.deploy_block, *version_blocks}))
    t0 = stamps[version_blocks[0]] if version_blocks else stamps[board.deploy_block]  # training starts at version 0
    rows = []
    for v, block in zip(published, version_blocks):
        path = Path(models) / f"{v.digest.hex()}.npy"
        acc, loss = evaluate(store.decode(path.read_bytes(), v.digest, dim)) if path.is_file() else (np.nan, np.nan)
        rows.append({"version": v.version, "updates": v.updates, "block": block, "wall_s": stamps[block] - t0,
                     "test_acc": acc, "test_loss": loss})
    evals = pd.DataFrame(rows, columns=["version", "updates", "block", "wall_s", "test_acc", "test_loss"])
    post_txs = {e.tx_hash for e in chain.log_entries(board.board.address, board.deploy_block, head,
                                                     [board.board.topic("Posted")])}
    sent = chain.sent(board.deploy_block, head, set(addresses))
    nodes = []
    for a, role in zip(addresses, roles):
        mine = [p for p in posts if p.node == a]
        txs = [t for t in sent if t.sender == a]
        post_gas = [t.gas_used for t in txs if t.tx_hash in post_txs]
        nodes.append({"address": a, "role": role, "accepted": len(mine), "refused": sum(not t.ok for t in txs),
                      "tokens_earned": sum(p.fee for p in mine) / TOKEN, "gas_paid": sum(t.gas_used for t in txs),
                      "gas_per_post": float(np.mean(post_gas)) if post_gas else np.nan})
    nodes_df = pd.DataFrame(nodes)
    span = 0
    if posts:
        span = _timestamps(chain, [posts[0].block, posts[-1].block])
        span = span[posts[-1].block] - span[posts[0].block]
    reached = evals[evals["test_acc"] >= target]
    summary = pd.DataFrame([{
        "reports": len(posts), "versions": len(published), "reports_per_s": len(posts) / span if span else np.nan,
        "gas_per_report": float(nodes_df["gas_per_post"].mean()) if len(nodes_df) else np.nan,
        "best_acc": float(evals["test_acc"].max()) if len(evals) else np.nan,
        f"time_to_{target:g}_s": float(reached["wall_s"].iloc[0]) if len(reached) else np.nan,
        "final_loss": float(evals["test_loss"].iloc[-1]) if len(evals) else np.nan,
        "dc_gas": sum(t.gas_used for t in chain.sent(board.deploy_block, head, {owner})) if owner else np.nan}])
    return {"evals": evals, "nodes": nodes_df, "summary": summary}


def write(out: Path, frames: dict[str, pd.DataFrame]) -> None:
    rundir.write_tables(out, frames)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = frames["evals"]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    ax[0].plot(e["wall_s"], e["test_acc"], marker=".")
    ax[0].set(xlabel="wall seconds (block time)", ylabel="test accuracy", title="published versions")
    ax[1].plot(e["updates"], e["test_loss"], marker=".")
    ax[1].set(xlabel="server updates (reports applied)", ylabel="test loss")
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=100)
    plt.close(fig)


def per_role(nodes: pd.DataFrame) -> pd.DataFrame:
    return nodes.groupby("role", sort=False).agg(nodes=("address", "count"), accepted=("accepted", "sum"),
                                                 refused=("refused", "sum"), tokens=("tokens_earned", "sum"),
                                                 gas=("gas_paid", "sum")).reset_index()


def _blocks(board: BoardContracts, event: str, unique: bool = True):
    blocks = [e.block for e in board.chain.log_entries(board.board.address, board.deploy_block, "latest",
                                                       [board.board.topic(event)])]
    return set(blocks) if unique else blocks


def _timestamps(chain, blocks) -> dict[int, int]:
    """Block -> its timestamp (seconds): the chain's clock, the only wall time the run directory trusts."""
    return {b: int(chain.w3.eth.get_block(b)["timestamp"]) for b in blocks}


def config_extra(rec: BoardRecord, addresses: Sequence[str], roles: Sequence[str], keys: Sequence[Path]) -> dict:
    return {"deployment": rec.model_dump(),
            "nodes": [{"address": a, "role": r, "key": str(k)} for a, r, k in zip(addresses, roles, keys)]}
