"""The node-round table (`nodes.parquet`): one row per method x run x round x node, for batched simulations.

What a node did and got in a round (committed, revealed, paid, slashed) comes from the ledger's outcome; how far
its report lay from the others does not (an outcome keeps only aggregates), so it is computed here from the
reports the swarm revealed in that round, which `RevealRecorder` keeps as the driver asks for them.

Columns are typed compactly (bool, int32, float32, dictionary-encoded strings): a 20-run x 3000-round quad3d run
with its 7 methods is 840,000 rows, 6.3 MB on disk (bench/bench_analyse.py prints it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coordinator.driver import Reporters, RoundLog
from protocol.ledger import Reveal, RoundOutcome

ROLES = pd.CategoricalDtype(["honest", "adversary"])


def distances(reports: np.ndarray, revealed: np.ndarray,
              honest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node, the distance of its report [B, N, k] to the farthest other revealed report and that report's
    node (-1: none), and the distance to the mean of the honest revealed reports; NaN where the node did not
    reveal or there is nothing to compare with. `revealed` [B, N] bool, `honest` [N] bool."""
    diff = reports[:, :, None, :] - reports[:, None, :, :]
    dist = np.sqrt(np.einsum("bijk,bijk->bij", diff, diff))
    pair = revealed[:, :, None] & revealed[:, None, :] & ~np.eye(reports.shape[1], dtype=bool)
    some = pair.any(axis=2)
    masked = np.where(pair, dist, -np.inf)
    far = masked.argmax(axis=2)
    farthest = np.where(some, np.take_along_axis(masked, far[:, :, None], axis=2)[:, :, 0], np.nan)
    h = revealed & honest[None, :]
    count = h.sum(axis=1)
    mean = np.where(h[:, :, None], reports, 0.0).sum(axis=1) / np.maximum(count, 1)[:, None]
    to_mean = np.linalg.norm(reports - mean[:, None, :], axis=2)
    return farthest, np.where(some, far, -1), np.where(revealed & (count > 0)[:, None], to_mean, np.nan)


class RevealRecorder:
    """The swarm as the driver's reporting hook, keeping the reveals of the latest round (what the nodes sent:
    the ledger's outcome keeps only aggregates)."""

    def __init__(self, swarm: Reporters):
        self.swarm, self.size, self.last = swarm, swarm.size, []

    def round(self, round_id, addresses, theta, grad, tau, eta_index, scale_bits, rng):
        commits, self.last = self.swarm.round(round_id, addresses, theta, grad, tau, eta_index, scale_bits, rng)
        return commits, self.last


def revealed_reports(reveals: list[Reveal], addresses: list[str], batch: int, dim: int, scale_bits: int) -> np.ndarray:
    """The reveals as real-valued reports [B, N, k] laid out over `addresses` (NaN where a node sent none)."""
    out = np.full((batch, len(addresses), dim), np.nan)
    index = {a: i for i, a in enumerate(addresses)}
    for m in reveals:
        out[:, index[m.sender]] = np.asarray(m.report_fx, dtype=np.float64) / 2.0**scale_bits
    return out


@dataclass
class NodeRounds:
    """Per-round node arrays [B, N], stacked into the table at the end."""

    token: int  # base units per token: paid and slashed are stored in tokens
    rounds: list[int] = field(default_factory=list)
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, log: RoundLog, outcome: RoundOutcome, reports: np.ndarray, honest: np.ndarray) -> None:
        farthest, far_node, to_mean = distances(np.nan_to_num(reports), outcome.revealed, honest)
        self.rounds.append(log.round)
        for name, value in (("committed", outcome.committed), ("revealed", outcome.revealed),
                            ("paid", outcome.paid.astype(np.float64) / self.token),
                            ("slashed", outcome.slashed.astype(np.float64) / self.token),
                            ("dist_farthest", farthest), ("farthest_node", far_node),
                            ("dist_honest_mean", to_mean)):
            self.parts.setdefault(name, []).append(value)
        for name, value in (("tau", log.tau), ("eta", log.eta), ("accepted", log.accepted)):
            self.parts.setdefault(name, []).append(value)

    def frame(self, methods: list[str], runs: int, addresses: list[str], adversary: np.ndarray) -> pd.DataFrame:
        """Round-major, then batch (method-major, runs contiguous), then node."""
        t = len(self.rounds)
        b, n = self.parts["committed"][0].shape
        node = lambda name, dtype: np.stack(self.parts[name]).astype(dtype).reshape(-1)  # noqa: E731  [T*B*N]
        per_run = lambda name, dtype: np.repeat(np.stack(self.parts[name]).astype(dtype).reshape(-1), n)  # noqa: E731
        return node_frame(
            method=np.tile(np.repeat(np.repeat(methods, runs), n), t), run=np.tile(np.repeat(np.arange(b) % runs, n), t),
            round=np.repeat(np.asarray(self.rounds), b * n), node=np.tile(np.arange(n), t * b),
            address=np.tile(np.asarray(addresses), t * b), adversary=np.tile(adversary, t * b),
            committed=node("committed", bool), revealed=node("revealed", bool),
            dist_farthest=node("dist_farthest", np.float32), farthest_node=node("farthest_node", np.int32),
            dist_honest_mean=node("dist_honest_mean", np.float32),
            tau=per_run("tau", np.float32), eta=per_run("eta", np.float32), accepted=per_run("accepted", bool),
            paid=node("paid", np.float32), slashed=node("slashed", np.float32), gas=np.zeros(t * b * n, np.int32))


def node_frame(*, method, run, round, node, address, adversary, committed, revealed, dist_farthest, farthest_node,
               dist_honest_mean, tau, eta, accepted, paid, slashed, gas) -> pd.DataFrame:
    """The table with its compact types, from flat columns (also what the chain-backed builder calls)."""
    return pd.DataFrame({
        "method": pd.Categorical(method), "run": np.asarray(run, np.int32), "round": np.asarray(round, np.int32),
        "node": np.asarray(node, np.int32), "address": pd.Categorical(address),
        "role": pd.Categorical.from_codes(np.asarray(adversary, np.int8), dtype=ROLES),
        "committed": np.asarray(committed, bool), "revealed": np.asarray(revealed, bool),
        "dist_farthest": np.asarray(dist_farthest, np.float32), "farthest_node": np.asarray(farthest_node, np.int32),
        "dist_honest_mean": np.asarray(dist_honest_mean, np.float32),
        "tau": np.asarray(tau, np.float32), "eta": np.asarray(eta, np.float32),
        "accepted": np.asarray(accepted, bool), "paid": np.asarray(paid, np.float32),
        "slashed": np.asarray(slashed, np.float32), "gas": np.asarray(gas, np.int32)})
