"""The data collector's FAR-SIGN server fed by a report board (protocol/board.py): posts become the server's
`Report` records in the board's order and go through the one loop every report source uses
(coordinator/report_stream.consume). Everything it needs is on the board (the posts, and the versions it
published with the server updates each reflects), so the server's state is a pure function of the board:
a server restarted at any point rebuilds it by replaying the posts, and continues."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from coordinator.report_stream import Applied, Report, ServerRule, consume
from protocol import codec
from protocol.board import Post, Published


def reports(posts: Sequence[Post], published: Sequence[Published], workers: Sequence[str],
            scale_bits: int) -> list[Report]:
    """A post's worker is its node's index in `workers` (the DC's assignment of direction blocks), its version
    the server updates of the model version it names, its time the block it was accepted in."""
    index = {a: j for j, a in enumerate(workers)}
    updates = {v.version: v.updates for v in published}
    return [Report(index[p.node], updates[p.version], codec.decode(p.values, scale_bits), float(p.block))
            for p in posts]


def replay(rule: ServerRule, x0: np.ndarray, posts: Sequence[Post], published: Sequence[Published],
           workers: Sequence[str], scale_bits: int) -> tuple[Any, list[Applied]]:
    """The server's state after every post, from its initial model: what a restarted server rebuilds."""
    return consume(rule, rule.init(x0), reports(posts, published, workers, scale_bits))
