"""`deml swarm run --mode farsign`: FAR-SIGN on a report board in one command. It deploys the token and the board
(writing the deployment file and the owner's key), writes each node's key file and the participants file, starts
the data collector (`coordinator run --mode farsign`: the model store and the server) and HONEST + ADVERSARIES node
processes (`node run --mode farsign`, each its own key), each in its own session and stopped by PID at the end or
on Ctrl-C, and writes the run directory from the board's events (sims/board_tables.py).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from sims import rundir
from sims.config import ConfigError, Unavailable
from sims.experiment import RunInterrupted
from sims.processes import Swarmed, new_key, write_participants
from sims.swarm import Launched, _chain_url, _free_port, _json, _last_line, spawn

PROGRESS_EVERY = 5.0  # seconds between progress lines


@dataclass(frozen=True)
class BoardPlan:
    spec: Swarmed
    attack: str
    reports: int | None
    duration: float | None
    delay: str = "pareto:0.5:2"
    every: int = 5

    @property
    def roles(self) -> list[str]:
        return ["fo"] * self.spec.honest + [self.attack] * self.spec.adversaries

    def check(self) -> None:
        from sims.board_workloads import ATTACKS, WORKLOADS, delay_law

        n = self.spec.honest + self.spec.adversaries
        if n < 1:
            raise ConfigError(f"--honest {self.spec.honest} --adversaries {self.spec.adversaries}: no nodes")
        if self.spec.adversaries and self.attack not in ATTACKS:
            raise ConfigError(f"--attack {self.attack!r}: unknown for --mode farsign; use one of {', '.join(ATTACKS)}")
        if self.spec.workload not in WORKLOADS:
            raise ConfigError(f"--workload {self.spec.workload!r}: unknown for --mode farsign; use one of "
                              f"{', '.join(WORKLOADS)}")
        if self.reports is None and self.duration is None:
            raise ConfigError("--reports / --duration: give at least one with --mode farsign, e.g. --reports 500")
        delay_law(self.delay)


def run_board_swarm(plan: BoardPlan, *, chain: str, out: Path | None, force: bool,
                    console: Console | None = None) -> Path:
    """The whole swarm; returns the run directory. Ctrl-C stops every process it started and raises RunInterrupted
    after writing the run directory from the events so far."""
    from sims.board_processes import board_params, deploy_board_file, workload_of
    from sims.processes import reach

    console = console or Console(stderr=True)
    plan.check()
    if chain == "embedded":
        raise ConfigError("--chain embedded: --mode farsign runs its actors as processes; use anvil or a URL")
    rundir.check(out, force=force)
    spec, n = plan.spec, plan.spec.honest + plan.spec.adversaries
    work = workload_of(spec)  # bad settings or missing data files fail here, before anything is deployed
    with ExitStack() as stack:
        url = _chain_url(chain, stack)
        out = rundir.prepare(out, "swarm-farsign", force=force)
        target = reach(url)
        params = board_params()
        store_port = _free_port()
        store = f"http://127.0.0.1:{store_port}"
        deployment = out / "deployment.json"
        board, rec = deploy_board_file(target, deployment, params, stake=params.max_posts * params.min_stake,
                                       store=store)
        (out / "keys").mkdir()
        (out / "logs").mkdir()
        keys = [out / "keys" / f"node-{i:02d}.key" for i in range(n)]
        addresses = [new_key(k).address for k in keys]
        participants = write_participants(out / "participants.txt", addresses, plan.roles)
        from sims.board_tables import config_extra

        rundir.write_config(out, "swarm-farsign", work.cfg.model_dump(), {
            "workload": spec.workload, "attack": plan.attack, "reports": plan.reports, "duration": plan.duration,
            "delay": plan.delay, "publish_every": plan.every, "store": store,
            **config_extra(rec, addresses, plan.roles, keys)})
        sets = [x for k, v in spec.settings.items() for x in ("--set", f"{k}={_json(v)}")]
        common = ["--mode", "farsign", "--deployment", str(deployment), "--workload", spec.workload, "--honest",
                  str(spec.honest), "--adversaries", str(spec.adversaries), "--seed", str(spec.seed), *sets]
        stop = [*(["--reports", str(plan.reports)] if plan.reports else []),
                *(["--duration", str(plan.duration)] if plan.duration else [])]
        launched = Launched()
        stack.callback(launched.stop)
        console.print(f"[bold]deml swarm --mode farsign[/]: {spec.honest} fo + {spec.adversaries} {plan.attack} "
                      f"nodes, {spec.workload} (d = {work.dim}) on {url}, board {rec.board}")
        t0 = time.perf_counter()
        logs = out / "logs"
        try:
            launched.coordinator = spawn(["coordinator", "run", *common, "--participants", str(participants), *stop,
                                          "--publish-every", str(plan.every), "--out", str(out / "dc"),
                                          "--store-port", str(store_port)], logs / "coordinator.log")
            launched.nodes = [spawn(["node", "run", *common, "--key", str(k), "--role", role, "--delay", plan.delay],
                                    logs / f"node-{i:02d}.log") for i, (k, role) in enumerate(zip(keys, plan.roles))]
            last = 0.0
            while launched.coordinator.poll() is None:
                for i, code in launched.exited():
                    console.print(f"[yellow]node {i} exited ({code}):[/] {_last_line(logs / f'node-{i:02d}.log')}")
                if time.perf_counter() - last > PROGRESS_EVERY:
                    last = time.perf_counter()
                    console.print(f"{last - t0:6.0f} s: {board.board.call('posts')} reports accepted, "
                                  f"{board.board.call('versions')} versions published")
                time.sleep(0.5)
            if launched.coordinator.returncode != 0:
                raise Unavailable(f"the data collector exited with code {launched.coordinator.returncode}: "
                                  f"{_last_line(logs / 'coordinator.log')} (log: {logs / 'coordinator.log'})")
        except KeyboardInterrupt:
            launched.stop()
            frames = _write(out, board, work, addresses, plan.roles, rec.owner)
            rundir.mark(out, "interrupted", interrupted=True)
            raise RunInterrupted(out, f"swarm: interrupted after {len(frames['evals'])} versions; every process it "
                                      f"started is stopped; the run directory is {out}/")
        launched.stop()
        wall = time.perf_counter() - t0
        frames = _write(out, board, work, addresses, plan.roles, rec.owner)
        rundir.mark(out, "complete", wall_s=round(wall, 1))
    _show(frames, console, wall)
    return out


def _write(out: Path, board, work, addresses, roles, owner: str) -> dict:
    from sims import board_tables

    frames = board_tables.tables(board, out / "dc" / "store", work.evaluate, work.dim, addresses, roles, owner=owner)
    board_tables.write(out, frames)
    return frames


def _show(frames: dict, console: Console, wall: float) -> None:
    from sims.board_tables import per_role

    s = frames["summary"].iloc[0]
    console.print(f"swarm: {int(s['reports'])} reports, {int(s['versions'])} versions in {wall:.0f} s; "
                  f"{s['reports_per_s']:.2f} reports/s (block time); {s['gas_per_report']:,.0f} gas per report; "
                  f"best accuracy {s['best_acc']:.3f}; time to 80% {s['time_to_0.8_s']:.0f} s")
    for _, r in per_role(frames["nodes"]).iterrows():
        console.print(f"  {r['role']:>12s}: {int(r['nodes'])} nodes, {int(r['accepted'])} accepted, "
                      f"{int(r['refused'])} refused, {r['tokens']:.2f} tokens, {int(r['gas']):,} gas")
