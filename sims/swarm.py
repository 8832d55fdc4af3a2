"""`deml swarm run`: a swarm in one command. It deploys (or attaches to a deployment file), writes each node's
key file (mode 0600) and the participants file, starts the data collector and H + A nodes, shows a live table,
and writes the run directory from the chain's events when the rounds are done.

Where the actors run:
- by default, each is its own process (`python -m sims.cli coordinator run` / `node run`, each in its own
  session): Ctrl-C reaches only this command, which stops them by PID and writes the finished rounds;
- with `--ray ADDRESS`, the nodes are Ray actors on that cluster running the same node code (the data collector
  stays a process here);
- with `--chain embedded`, every actor runs in this process, where the embedded chain lives: the same service and
  node code, each node with its own key, stepped in turn while the data collector waits.
With `--chain anvil` (the default) the command starts its own anvil on 127.0.0.1 and stops it by PID at the end.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from protocol.deployment import DeploymentRecord
from protocol.ledger import MAX_MEMBERS
from sims import rundir
from sims.config import ConfigError, Unavailable
from sims.experiment import RunInterrupted
from sims.processes import Swarmed, new_key, owner_key_path, read_key, write_participants

REPO = Path(__file__).resolve().parents[1]
SHOWN_ROWS = 12
LIVE_TICK = 0.5  # seconds between looks at the chain for the live table (it shares the cores with the swarm)
STOP_GRACE = 5.0  # seconds a process has to exit after SIGTERM before SIGKILL


@dataclass(frozen=True)
class Plan:
    """One swarm: the workload and its settings, who the nodes are, and how the data collector runs it."""

    spec: Swarmed
    attack: str
    collude: bool
    rounds: int
    method: str = "vista"
    grace: float = 5.0
    join_timeout: float = 60.0

    @property
    def roles(self) -> list[str]:
        return ["honest"] * self.spec.honest + [self.attack] * self.spec.adversaries

    def check(self) -> None:
        from sims.workloads import ADVERSARIAL

        n = self.spec.honest + self.spec.adversaries
        if not 2 <= n <= MAX_MEMBERS:
            raise ConfigError(f"--honest {self.spec.honest} --adversaries {self.spec.adversaries}: {n} nodes; a round "
                              f"takes 2 to {MAX_MEMBERS}")
        if self.attack not in ADVERSARIAL:
            raise ConfigError(f"--attack {self.attack!r}: unknown; use one of {', '.join(ADVERSARIAL)}")
        self.spec.config(self.rounds)


@dataclass
class Launched:
    """The processes (or Ray actors) a swarm started, stopped by PID (or by Ray) whatever happens."""

    coordinator: subprocess.Popen | None = None
    nodes: list[subprocess.Popen] = field(default_factory=list)
    actors: list = field(default_factory=list)
    refs: list = field(default_factory=list)
    reported: set[int] = field(default_factory=set)

    def exited(self) -> list[tuple[int, int]]:
        """(node, exit code) of the nodes that stopped since the last call."""
        done = [(i, p.returncode) for i, p in enumerate(self.nodes) if p.poll() is not None]
        if self.refs:
            import ray

            finished, _ = ray.wait(self.refs, num_returns=len(self.refs), timeout=0)
            done += [(self.refs.index(ref), ray.get(ref)) for ref in finished]
        fresh = [(i, code) for i, code in done if i not in self.reported]
        self.reported.update(i for i, _ in fresh)
        return fresh

    def stop(self) -> None:
        for proc in [*self.nodes, *([self.coordinator] if self.coordinator else [])]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in [*self.nodes, *([self.coordinator] if self.coordinator else [])]:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.actors:
            import ray

            for actor in self.actors:
                ray.kill(actor)
            self.actors = []


def run_swarm(plan: Plan, *, chain: str, deployment: Path | None, ray_address: str | None, out: Path | None,
              force: bool, stats: Path | None = None, console: Console | None = None,
              owner_key: Path | None = None) -> Path:
    """The whole swarm; returns report.html. Ctrl-C stops every process it started and raises RunInterrupted
    after writing the finished rounds. `owner_key`: the DC's key for a deployment the swarm makes (its sketched
    rounds' projection seeds derive from it: the same key and seed, the same run)."""
    console = console or Console(stderr=True)
    plan.check()
    if ray_address is not None and chain == "embedded":
        raise ConfigError("--ray with --chain embedded: embedded nodes live in this process; use anvil or a URL")
    if ray_address is not None:
        _ray_available(ray_address)
    rundir.check(out, force=force)
    if out is not None and any((out / sub).exists() for sub in ("keys", "logs", "coordinator", "deployment.json")):
        raise ConfigError(f"--out {out}: holds an earlier swarm's keys, logs or deployment, which are never "
                          f"overwritten; give a new path")
    if owner_key is not None and deployment is not None:
        raise ConfigError("--owner-key with --deployment: an existing deployment's owner key lies beside its file; "
                          "drop --owner-key")
    if owner_key is not None:
        read_key(owner_key, "--owner-key")  # a bad file fails here, before anything is started
    with ExitStack() as stack:
        url = _chain_url(chain, stack)
        out = rundir.prepare(out, "swarm", force=force)
        if url is None:
            return _embedded(plan, out, console, owner_key)
        return _processes(plan, url, deployment, ray_address, out, stats, console, stack, owner_key)


def _chain_url(chain: str, stack: ExitStack) -> str | None:
    """The URL the swarm uses: a managed anvil for "anvil" (stopped when the stack closes), None for embedded."""
    if chain == "embedded":
        return None
    if chain == "anvil":
        from contracts import anvil

        node = anvil.start(record=False)
        stack.callback(anvil.stop, node)
        return node.url
    from sims.processes import reach

    reach(chain)  # a dead or malformed URL fails here, in about a second, before anything is written
    return chain


def _processes(plan: Plan, url: str, deployment: Path | None, ray_address: str | None, out: Path,
               stats: Path | None, console: Console, stack: ExitStack, owner_key: Path | None) -> Path:
    from coordinator.store_server import read_report
    from sims.processes import deploy_contracts, opened, reach
    from sims.processes import _load as load_record
    from sims.workloads import get

    spec, n = plan.spec, plan.spec.honest + plan.spec.adversaries
    target = reach(url)
    cfg = spec.config(plan.rounds)
    if deployment is None:
        deployment = out / "deployment.json"
        deploy_contracts(target, deployment, owner_key=owner_key, reward=cfg.reward, stake=10 * cfg.reward,
                         min_stake=2 * cfg.reward, slash_bps=5_000)
    # a deployment given is used with its owner key beside it (`deml deploy` wrote both)
    owner_key = owner_key or owner_key_path(deployment)
    rec = load_record(deployment)
    d = opened(target, rec, deployment, read_key(owner_key, "--owner-key"))
    side = get(spec.workload).dc(cfg, plan.method, rec)  # solves (and caches) the equilibrium table first
    keys = out / "keys"
    keys.mkdir()
    logs = out / "logs"
    logs.mkdir()
    addresses = [new_key(keys / f"node-{i:02d}.key").address for i in range(n)]
    participants = write_participants(out / "participants.txt", addresses, plan.roles)
    if stats is not None:
        stats.mkdir(parents=True, exist_ok=True)
    store_port = _free_port()
    # the nodes on this machine read the DC's store folder (a fetch through the DC's process, ten at each opening,
    # took 15 ms of a 100 ms round); Ray's may run elsewhere and fetch over HTTP
    node_store = (f"http://127.0.0.1:{store_port}" if ray_address else
                  (out / "coordinator" / "store").resolve().as_uri())
    rundir.write_config(out, "swarm", cfg.model_dump(), {
        "deployment": rec.model_dump(), "method": plan.method, "attack": plan.attack, "collude": plan.collude,
        "nodes": [{"address": a, "role": r, "key": str(keys / f"node-{i:02d}.key")}
                  for i, (a, r) in enumerate(zip(addresses, plan.roles))],
        "ray": ray_address, "store": f"http://127.0.0.1:{store_port}", "node_store": node_store})
    sets = [x for k, v in spec.settings.items() for x in ("--set", f"{k}={_json(v)}")]
    common = ["--deployment", str(deployment), "--workload", spec.workload, "--honest", str(spec.honest),
              "--adversaries", str(spec.adversaries), "--seed", str(spec.seed), *sets]
    launched = Launched()
    stack.callback(launched.stop)
    console.print(f"[bold]deml swarm[/]: {spec.honest} honest + {spec.adversaries} {plan.attack} nodes"
                  f"{' (colluding)' if plan.collude else ''}, {plan.rounds} rounds of {spec.workload} on {url} "
                  f"(coordinator {rec.coordinator}){'; nodes on Ray at ' + ray_address if ray_address else ''}")
    t0 = time.perf_counter()
    watcher = _Watcher(d, rec, side, addresses, plan.roles, plan.rounds,
                       partial(read_report, out / "coordinator" / "store", dim=side.report_dim))
    try:
        launched.coordinator = spawn(
            ["coordinator", "run", *common, "--participants", str(participants), "--rounds", str(plan.rounds),
             "--method", plan.method, "--out", str(out / "coordinator"), "--store-port", str(store_port),
             "--owner-key", str(owner_key),
             "--grace", str(plan.grace), "--join-timeout", str(plan.join_timeout), "--no-tables",
             *(["--stats", str(stats / "coordinator.json")] if stats else [])], logs / "coordinator.log")
        node_args = [[*common, "--key", str(keys / f"node-{i:02d}.key"), "--role", role, "--shard", f"{i}/{n}",
                      "--store", node_store, "--join-timeout", str(plan.join_timeout),
                      *(["--collude"] if plan.collude and role != "honest" else []),
                      *(["--stats", str(stats / f"node-{i:02d}.json")] if stats else [])]
                     for i, role in enumerate(plan.roles)]
        if ray_address is None:
            launched.nodes = [spawn(["node", "run", *args], logs / f"node-{i:02d}.log")
                              for i, args in enumerate(node_args)]
        else:
            _ray_nodes(launched, ray_address, node_args, logs, stack)
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while launched.coordinator.poll() is None:
                live.update(watcher.table(time.perf_counter() - t0))
                for i, code in launched.exited():
                    console.print(f"[yellow]node {i} exited ({code}):[/] {_last_line(logs / f'node-{i:02d}.log')}")
                time.sleep(LIVE_TICK)
            live.update(watcher.table(time.perf_counter() - t0))
        rc = launched.coordinator.returncode
        if rc != 0:
            raise Unavailable(f"the coordinator exited with code {rc}: {_last_line(logs / 'coordinator.log')} "
                              f"(log: {logs / 'coordinator.log'})")
    except KeyboardInterrupt:
        launched.stop()
        tables = watcher.write(out)
        rundir.mark(out, "interrupted", interrupted=True, done={"rounds": len(tables.get("rounds", [])),
                                                                "of": plan.rounds})
        raise RunInterrupted(out, f"swarm: interrupted after {len(tables.get('rounds', []))} of {plan.rounds} "
                                  f"rounds; every process it started is stopped; the finished rounds are in {out}/")
    launched.stop()
    wall = time.perf_counter() - t0
    tables = watcher.write(out, wall)
    rundir.mark(out, "complete", wall_s=round(wall, 1))
    from sims.chain_tables import show

    show(tables, "swarm")
    console.print(f"swarm: {plan.rounds} rounds in {wall:.0f} s ({plan.rounds / wall:.2f} rounds/s); "
                  f"report: {out / 'report.html'}")
    return out / "report.html"


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m sims.cli ARGS` in its own session (Ctrl-C in the terminal reaches only the swarm), output to
    `log`, importing this checkout's code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "sims.cli", *args], stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=REPO)


def _last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
    return lines[-1] if lines else "(no output)"


def _json(value) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------- Ray
RAY_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback(address: str) -> bool:
    """Whether a Ray address (HOST:PORT, ray://HOST:PORT) names this machine's loopback interface."""
    import ipaddress

    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ray_available(address: str) -> None:
    if _loopback(address):
        # Ray swaps a loopback address for the machine's routable IP (ray/_private/services.py, get_node_ip_address)
        # unless this is 0, and the driver would look for the head there; read when ray is imported, so set first.
        # The head is started with it too (docs/cli.md)
        os.environ.setdefault(RAY_LOCAL_ONLY, "0")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("--ray: ray is not installed; pip install 'deml[ray]'") from None


class NodeActor:
    """A node as a Ray actor: `deml node run` with the same arguments, its output in its log file."""

    def run(self, args: list[str], log: str) -> int:
        from typer.main import get_command

        from sims.cli import app

        with open(log, "w", buffering=1) as f:
            sys.stdout = sys.stderr = f
            try:
                get_command(app).main(["node", "run", *args], standalone_mode=False)
            except SystemExit as exc:
                return int(exc.code or 0)
            except Exception as exc:  # the typer app already printed bad input; anything else is a bug
                print(f"error: {type(exc).__name__}: {exc}")
                return 1
        return 0


def _ray_nodes(launched: Launched, address: str, node_args: list[list[str]], logs: Path, stack: ExitStack) -> None:
    import ray

    env = {k: v for k, v in os.environ.items() if k.startswith("DEML_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False,
             logging_level="ERROR", configure_logging=False)
    stack.callback(ray.shutdown)
    remote = ray.remote(num_cpus=0)(NodeActor)  # waiting on the chain, not computing: no CPU reservation
    launched.actors = [remote.remote() for _ in node_args]
    launched.refs = [a.run.remote(args, str(logs / f"node-{i:02d}.log"))
                     for i, (a, args) in enumerate(zip(launched.actors, node_args))]


# ----------------------------------------------------------------------------------------- embedded chain
def _embedded(plan: Plan, out: Path, console: Console, owner_key: Path | None) -> Path:
    """Every actor in this process: the embedded chain lives here. The same Service and Node code as the
    processes run, each node with its own key and its own Deployment object."""
    from contracts.chain import connect
    from contracts.chain_ledger import ChainLedger
    from contracts.client import attach
    from coordinator.service import Clock, Service
    from coordinator.store_server import ModelStore, StoreServer
    from nodes.runtime import Identity, Node
    from protocol.store import StoreClient
    from sims.processes import deploy_contracts
    from sims.workloads import get

    spec, n = plan.spec, plan.spec.honest + plan.spec.adversaries
    cfg = spec.config(plan.rounds)
    chain = connect("embedded")
    keys = out / "keys"
    keys.mkdir()
    d, rec = deploy_contracts(chain, out / "deployment.json", owner_key=owner_key, reward=cfg.reward,
                              stake=10 * cfg.reward, min_stake=2 * cfg.reward, slash_bps=5_000)
    side = get(spec.workload).dc(cfg, plan.method, rec).keyed(d.owner.key)
    accounts = [new_key(keys / f"node-{i:02d}.key") for i in range(n)]
    addresses = [a.address for a in accounts]
    write_participants(out / "participants.txt", addresses, plan.roles)
    rundir.write_config(out, "swarm", cfg.model_dump(), {
        "deployment": rec.model_dump(), "method": plan.method, "attack": plan.attack, "collude": plan.collude,
        "nodes": [{"address": a, "role": r} for a, r in zip(addresses, plan.roles)], "chain": "embedded"})
    models = ModelStore(out / "coordinator" / "store", report_dim=side.report_dim)
    server = StoreServer(models)
    workload = get(spec.workload)
    nodes = []
    for i, (account, role) in enumerate(zip(accounts, plan.roles)):
        node_side = workload.node(spec.config(), role, shard=(i, n))
        nodes.append(Node(attach(chain, None, rec.token, rec.coordinator), Identity(account, i, spec.seed,
                          plan.collude and role != "honest"), node_side.report, node_side.announcement,
                          StoreClient(server.url), stake=rec.stake, from_block=rec.deploy_block, say=lambda s: None))
    watcher = _Watcher(d, rec, side, addresses, plan.roles, plan.rounds, models.report)
    t0 = time.perf_counter()
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            service = Service(ChainLedger(chain, deployment=d), side.task, side.control, side.proto, addresses,
                              rounds=plan.rounds, models=models, from_block=rec.deploy_block, clock=Clock(grace=0.0, poll=0.0),
                              pump=lambda: [node.step() for node in nodes], say=lambda s: None,
                              on_round=lambda log, outcome: live.update(watcher.table(time.perf_counter() - t0)))
            service.provision()
            for node in nodes:
                node.join(0.0)
            service.run(0.0)
    except KeyboardInterrupt:
        tables = watcher.write(out)
        rundir.mark(out, "interrupted", interrupted=True, done={"rounds": len(tables.get("rounds", [])),
                                                                "of": plan.rounds})
        raise RunInterrupted(out, f"swarm: interrupted after {len(tables.get('rounds', []))} of {plan.rounds} "
                                  f"rounds; the finished rounds are in {out}/") from None
    finally:
        server.close()
    wall = time.perf_counter() - t0
    tables = watcher.write(out, wall)
    rundir.mark(out, "complete", wall_s=round(wall, 1))
    from sims.chain_tables import show

    show(tables, "swarm")
    console.print(f"swarm: {plan.rounds} rounds in {wall:.0f} s on the embedded chain; report: {out / 'report.html'}")
    return out / "report.html"


# ------------------------------------------------------------------------------------------- live table
class _Watcher:
    """The live table and the run directory, both from the chain: settled rounds are replayed through the DC's
    rules as they appear (the model's loss is the DC's, recomputed here, never asked of it)."""

    def __init__(self, d, rec: DeploymentRecord, side, members: list[str], roles: list[str], rounds: int, reports):
        from contracts.chain_ledger import ChainLedger

        from contracts.client import RoundBook

        self.d, self.rec, self.side, self.members, self.roles, self.rounds = d, rec, side, members, roles, rounds
        self.reports = reports  # from the DC's store: a sketched round's delivered full reports, by digest
        self.ledger = ChainLedger(d.chain, deployment=d)
        self.book, self.feed = RoundBook(d), None
        self.state = None
        self.rows: list[tuple] = []
        self.earned = {role: 0 for role in dict.fromkeys(roles)}

    def table(self, elapsed: float) -> Group:
        from coordinator.service import replay
        from sims.vista_experiments import TOKEN

        try:
            if self.feed is None:
                self.feed = self.d.chain.feed(self.d.coordinator.address, self.rec.deploy_block)
            self.book.add(self.feed.next()[0])
        except OSError:  # the chain is gone: the data collector will say so
            self.feed = None
        records = [r for r in self.book.records if r.settled]
        fresh = records[len(self.rows):]
        if fresh:
            done = replay(fresh, self.ledger, self.side.task, self.side.control, self.side.proto, self.members,
                          self.state, reports=self.reports)
            self.state = done.state
            for (log, outcome), r in zip(done.settled, fresh):
                for role, paid in zip(self.roles, outcome.paid[0]):
                    self.earned[role] += int(paid) / TOKEN
                gas = sum(t.gas_used for t in self.d.chain.sent(r.block, r.sources[-1][0]))
                self.rows.append((log, dict(self.earned), gas))
        t = Table(title=f"swarm rounds ({elapsed:.0f} s)", expand=False)
        for col in ("round", "eta", "accepted", "loss", *[f"tokens {r}" for r in self.earned], "gas"):
            t.add_column(col, justify="right")
        for log, earned, gas in self.rows[-SHOWN_ROWS:]:
            t.add_row(f"{log.round}/{self.rounds}", f"{log.eta[0]:.2f}",
                      "[green]yes[/]" if log.accepted[0] else "[red]no[/]", f"{log.loss[0]:.4g}",
                      *[f"{earned[r]:.0f}" for r in self.earned], f"{gas:,}")
        return Group(t)

    def write(self, out: Path, wall: float | None = None) -> dict:
        from sims.chain_tables import write_run

        if self.feed is not None:
            self.feed.close()
        extra = {"wall time": f"{wall:.0f} s", "rounds per second": f"{self.rounds / wall:.2f}"} if wall else {}
        return write_run(out, self.d, self.rec, self.side, self.members, self.roles, "swarm",
                         title="deml swarm: every actor its own process, every round on chain", extra=extra,
                         reports=self.reports,
                         say=lambda s: None)
