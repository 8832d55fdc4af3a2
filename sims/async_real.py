"""Real asynchrony: one OS process per worker, reporting to the server (this process) as it finishes.

The server publishes (version, x) in shared memory; a worker copies it, computes its report with the same
`respond` pool the simulator uses, optionally sleeps a compute + delay draw from the same Clock (scaled by
time_scale, to emulate heterogeneous machines), and queues a Report. The server applies reports in the
order it receives them, stamped with wall seconds since start, and records the same trace as the
simulator. Processes are spawned (not forked), so torch's thread pools start clean in each worker.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import sys
import threading
import time
from typing import Any

import numpy as np

from coordinator.report_stream import Applied, Report, ServerRule, apply
from nodes.farsign_workers import Respond
from sims.async_clock import Clock, Observe

SPAWN_HINT = ("(a script that starts this must guard its entry point with `if __name__ == '__main__':`, "
              "as processes are spawned)")


def _work(worker: int, respond: Respond, shared, version, changed, ready, stop, out, seed: int,
          clock: Clock | None, time_scale: float, synchronous: bool) -> None:
    out.cancel_join_thread()  # at stop, unread reports may be dropped rather than block this process's exit
    if "torch" in sys.modules:  # one process per worker already fills the cores: more threads only contend
        sys.modules["torch"].set_num_threads(1)
    rng, clock_rng = np.random.default_rng([seed, 2, worker]), np.random.default_rng([seed, 3, worker])
    last = -1
    try:
        ready.wait()  # start together with the others, once every process has imported and unpickled
    except threading.BrokenBarrierError:  # the server gave up waiting for a slower sibling
        return
    while not stop.is_set():
        with changed:
            if synchronous:  # wait for a version this worker has not reported on
                while version.value <= last and not stop.is_set():
                    changed.wait(0.05)
            v, x = version.value, np.frombuffer(shared.get_obj()).copy()
        if stop.is_set():
            break
        values = respond([worker], x, v, rng)[0]
        if clock is not None and time_scale > 0:
            time.sleep(time_scale * (clock.factor(worker) * clock.compute.sample(clock_rng)
                                     + clock.delay.sample(clock_rng)))
        out.put(Report(worker, v, values, 0.0))
        last = v


def run(rule: ServerRule, respond: Respond, workers: int, x0: np.ndarray, *, budget: int, seed: int,
        horizon: float = np.inf, clock: Clock | None = None, time_scale: float = 0.0,
        observe: Observe | None = None, timeout: float = 120.0) -> tuple[Any, list[Applied]]:
    """Run until `budget` server updates or `horizon` wall seconds; returns (final state, trace)."""
    ctx = mp.get_context("spawn")
    state = rule.init(x0)
    shared = ctx.Array("d", len(state.x))
    version, changed, stop, out = ctx.Value("q", 0), ctx.Condition(), ctx.Event(), ctx.Queue()
    ready = ctx.Barrier(workers + 1)
    np.frombuffer(shared.get_obj())[:] = state.x
    procs = [ctx.Process(target=_work, args=(j, respond, shared, version, changed, ready, stop, out, seed, clock,
                                             time_scale, rule.synchronous), daemon=True) for j in range(workers)]
    for p in procs:
        p.start()
    trace: list[Applied] = []
    try:
        # a start returns before the child has imported anything, so wait for all of them: a worker that
        # began early would fill the queue on version 0 before its siblings could report at all
        try:
            ready.wait(timeout)
        except threading.BrokenBarrierError:
            dead = [j for j, p in enumerate(procs) if not p.is_alive()]
            raise RuntimeError(f"real mode: worker processes not ready after {timeout:.0f} s; {dead} have "
                               f"exited {SPAWN_HINT}") from None
        t0 = time.monotonic()
        while state.n < budget and time.monotonic() - t0 < horizon:
            waited = 0.0
            while True:
                try:
                    report = out.get(timeout=1.0)
                    break
                except queue.Empty:
                    waited += 1.0
                    dead = [j for j, p in enumerate(procs) if not p.is_alive()]
                    if len(dead) == workers or waited >= timeout:
                        raise RuntimeError(f"real mode: no report for {waited:.0f} s; worker processes {dead} "
                                           f"have exited {SPAWN_HINT}") from None
            now = time.monotonic() - t0
            before = state.n
            state, row = apply(rule, state, Report(report.worker, report.version, report.values, now))
            trace.append(row)
            if state.n > before:
                with changed:
                    np.frombuffer(shared.get_obj())[:] = state.x
                    version.value = state.n
                    changed.notify_all()
                if observe is not None:
                    observe(state, now)
    finally:
        stop.set()
        with changed:
            changed.notify_all()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return state, trace
