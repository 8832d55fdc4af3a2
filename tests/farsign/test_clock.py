"""The discrete-event simulator: reproducible, records staleness, and models the two kinds of servers."""
from __future__ import annotations

import numpy as np
import pytest

from coordinator import aggregators as agg
from coordinator import directions, farsign
from coordinator.report_stream import ServerRule, consume
from nodes import attacks as classic
from nodes.farsign_workers import FirstOrder, WithAdversaries
from sims.async_clock import Clock, Latency, simulate

CLOCK = Clock(Latency("pareto", 1.0, 1.5), Latency("exponential", 0.2))


def setup(objective, workers=5, adversaries=2, attack=classic.SignFlip()):
    d = directions.replicated_basis(objective.f.dim, workers)
    p = farsign.params(d, a0=0.05)
    x0 = np.zeros(objective.f.dim)
    pool = WithAdversaries(FirstOrder(objective, d.project), frozenset(range(workers - adversaries, workers)),
                           attack, x0)
    return p, pool, x0


@pytest.mark.parametrize("kind", ["constant", "exponential", "lognormal", "pareto"])
def test_latency_laws_have_the_requested_mean(kind):
    draws = Latency(kind, 2.0, 2.5 if kind == "pareto" else 0.5).sample(np.random.default_rng(0), 200_000)
    assert draws.min() > 0 and draws.mean() == pytest.approx(2.0, rel=0.03)


def test_latency_refuses_a_pareto_without_a_mean():
    with pytest.raises(ValueError):
        Latency("pareto", 1.0, 1.0)


def test_same_seed_same_trace_and_model(objective):
    p, pool, x0 = setup(objective)
    a = simulate(farsign.rule(p), pool, CLOCK, 5, x0, budget=300, seed=4)
    b = simulate(farsign.rule(p), pool, CLOCK, 5, x0, budget=300, seed=4)
    c = simulate(farsign.rule(p), pool, CLOCK, 5, x0, budget=300, seed=5)
    assert a[1] == b[1] and np.array_equal(a[0].x, b[0].x)
    assert a[1] != c[1]


def test_trace_records_arrival_order_and_staleness(objective):
    p, pool, x0 = setup(objective)
    _, trace = simulate(farsign.rule(p), pool, CLOCK, 5, x0, budget=400, seed=0)
    assert len(trace) == 400
    assert all(t.updates == i + 1 for i, t in enumerate(trace))
    assert all(t.staleness == (t.updates - 1) - t.version >= 0 for t in trace)
    assert np.all(np.diff([t.time for t in trace]) >= 0)
    assert max(t.staleness for t in trace) >= 5  # heavy-tailed compute: some reports are very stale


def test_replaying_the_recorded_stream_gives_the_same_server(objective):
    """The server only sees an ordered report stream: feeding the same stream again (as a chain's report
    board would) reproduces the simulated state exactly."""
    p, pool, x0 = setup(objective, attack=classic.NonFinite(np.nan))
    rule, seen = farsign.rule(p), []
    recording = ServerRule(rule.init, lambda s, r: (seen.append(r), rule.update(s, r))[1])
    state, trace = simulate(recording, pool, CLOCK, 5, x0, budget=200, seed=2)
    again, trace2 = consume(rule, rule.init(x0), seen)
    assert np.array_equal(state.x, again.x) and trace == trace2
    assert np.isfinite(state.x).all()


def test_synchronous_rule_waits_for_the_slowest_worker(objective):
    workers = 4
    clock = Clock(Latency("constant", 1.0), Latency("constant", 0.0), slowdown=(5.0,))  # worker 0: 5 s
    pool = FirstOrder(objective, lambda j, g: g)
    x0 = np.zeros(objective.f.dim)
    state, trace = simulate(agg.synchronous(agg.Mean(), 0.1, workers), pool, clock, workers, x0, budget=3, seed=0)
    steps = [t for t in trace if t.worker == 0]
    assert [t.time for t in steps] == pytest.approx([5.0, 10.0, 15.0]) and state.n == 3
    assert all(t.staleness == 0 for t in trace) and len(trace) == 3 * workers
    # the same clock, asynchronously: the fast workers report 5x as often as the slow one
    p = farsign.params(directions.replicated_basis(objective.f.dim, workers))
    _, trace = simulate(farsign.rule(p), pool, clock, workers, x0, budget=10_000, seed=0, horizon=50.0)
    counts = np.bincount([t.worker for t in trace], minlength=workers)
    assert counts[1:].min() >= 4 * counts[0] and trace[-1].time <= 50.0


def test_workers_starting_together_are_computed_in_one_batch(objective):
    calls = []

    def respond(workers, x, version, rng):
        calls.append((list(workers), version))
        return [np.zeros(objective.f.dim) for _ in workers]

    clock = Clock(Latency("constant", 1.0), Latency("constant", 0.5))
    p = farsign.params(directions.replicated_basis(objective.f.dim, 3))
    simulate(farsign.rule(p), respond, clock, 3, np.zeros(objective.f.dim), budget=6, seed=0)
    # all three start at t = 0 and again at t = 1, all before the first arrival at t = 1.5: six jobs on
    # version 0 in one call
    assert calls[0] == ([0, 1, 2, 0, 1, 2], 0)
    assert calls[1:] == [([0, 1, 2], 3)]  # the t = 2 starts, computed before the t = 2.5 arrivals
