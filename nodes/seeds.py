"""Node randomness, keyed by who draws and when: (seed, node index, round), and (seed, coalition, round) for the
one point colluding adversaries share.

A node's draws then depend on nothing but its own identity and the round, not on how many nodes drew before it
or in which process: a swarm of node processes replays the in-process engine bit for bit, and colluding
adversaries agree on their point without talking. Salts are not drawn here: they only need to be secret.
"""
from __future__ import annotations

import numpy as np

_NODE, _COALITION = 0, 1  # the stream's kind, so that no node's key equals the coalition's


def node_rng(seed: int, index: int, round_id: int) -> np.random.Generator:
    """Node `index`'s generator for round `round_id` (the ledger's round id, from 0)."""
    return np.random.default_rng([seed, _NODE, index, round_id])


def coalition_rng(seed: int, round_id: int) -> np.random.Generator:
    """The colluding adversaries' shared generator for round `round_id`."""
    return np.random.default_rng([seed, _COALITION, 0, round_id])
