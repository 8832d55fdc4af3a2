"""Real mode: worker processes report as they finish; the server records the same kind of trace."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import aggregators as agg
from coordinator import directions, farsign
from coordinator.report_stream import Applied
from nodes import farsign_attacks as fa
from nodes.farsign_workers import FirstOrder, WithAdversaries
from sims import async_real
from sims.async_clock import Clock, Latency
from sims.farsign_experiments import CauchyRegression, NoisyObjective, identity


@pytest.mark.slow
def test_real_processes_drive_farsign_and_a_synchronous_baseline():
    task = NoisyObjective(CauchyRegression(dim=4, samples=40), noise=0.1)
    x0 = np.zeros(4)
    d = directions.replicated_basis(4, 3)
    p = farsign.params(d, a0=0.05)
    pool = WithAdversaries(FirstOrder(task, d.project), frozenset({2}), fa.Constant(1e6), x0)
    clock = Clock(Latency("exponential", 1.0), Latency("constant", 0.0))
    state, trace = async_real.run(farsign.rule(p), pool, 3, x0, budget=60, seed=0, clock=clock, time_scale=0.002)
    assert len(trace) == 60 and all(isinstance(t, Applied) for t in trace)
    assert {t.worker for t in trace} <= {0, 1, 2} and len({t.worker for t in trace}) >= 2
    assert all(t.staleness == (t.updates - 1) - t.version >= 0 for t in trace)
    assert np.all(np.diff([t.time for t in trace]) >= 0)
    assert np.isfinite(state.x).all() and state.n == 60
    assert task.f.loss(state.x) < task.f.loss(x0)

    state, trace = async_real.run(agg.synchronous(agg.CoordinateMedian(), 0.1, 3), FirstOrder(task, identity),
                                  3, x0, budget=4, seed=0)
    assert state.n == 4 and len(trace) == 12  # every step waited for all three workers
    assert sorted(t.worker for t in trace[:3]) == [0, 1, 2] and all(t.staleness == 0 for t in trace)
