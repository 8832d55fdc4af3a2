"""The ordered report stream and the one loop that feeds it to a server.

A server is a pure rule (init, update) over explicit state with fields `x` (the published model) and `n`
(its version: server updates so far). The discrete-event simulator, the real multi-process mode and, later,
the chain's report board (events in block order) all produce the same `Report` records in arrival order,
and `apply` is the single place where a report meets a server, so every source drives the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np


@dataclass(frozen=True)
class Report:
    """One worker's report: the values for its whole block of rows (or its full gradient, for the
    gradient baselines), computed at model `version`, arriving at `time` (virtual or wall seconds)."""

    worker: int
    version: int
    values: np.ndarray
    time: float


class Applied(NamedTuple):
    """The trace of one applied report; staleness = server version at arrival - version the worker used."""

    worker: int
    version: int
    staleness: int
    time: float
    updates: int  # server version after the report


class ServerRule(NamedTuple):
    """init(x0) -> state; update(state, report) -> state. Synchronous rules step only once every worker
    has reported on the current version, so their workers wait for a new version before the next job."""

    init: Callable[[np.ndarray], Any]
    update: Callable[[Any, Report], Any]
    synchronous: bool = False


def apply(rule: ServerRule, state: Any, report: Report) -> tuple[Any, Applied]:
    new = rule.update(state, report)
    return new, Applied(report.worker, report.version, state.n - report.version, report.time, new.n)


def consume(rule: ServerRule, state: Any, reports: Iterable[Report]) -> tuple[Any, list[Applied]]:
    """Apply reports in the order given (arrival order, or block order for a chain board)."""
    trace = []
    for report in reports:
        state, row = apply(rule, state, report)
        trace.append(row)
    return state, trace
