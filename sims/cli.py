"""The `deml` command line: one entry point, subcommands defined next to what they drive.

Only typer and the cheap config models are imported up front (`deml --help`, `deml sim --list` and
`deml sim show` load no engine); each command imports what it runs. Bad input is one line and exit 2
(`ConfigError`), Ctrl-C keeps the finished work and exits 130; anything else is a bug and keeps its trace.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from contracts.commands import CHAIN_HELP, chain_app
from economics.commands import equilibrium
from sims.analysis.commands import analyse_app
from sims.config import ConfigError, Unavailable, parse_assignments
from sims.experiment import RunInterrupted

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(add_completion=False, no_args_is_help=True, context_settings=HELP,
                  help="deml: decentralized ML with adversary majorities (VISTA, on-chain rounds, FAR-SIGN).")
app.command("equilibrium", help="Equilibrium curves of the game of coding: P_A*(eta), MSE*(eta), noise law.")(
    equilibrium)
app.add_typer(chain_app, name="chain")
app.add_typer(analyse_app, name="analyse")


@contextmanager
def user_errors():
    """ConfigError: one line, exit 2. Unavailable (a peer gone or wrong): one line, exit 3. RunInterrupted: where
    the finished work is, exit 130."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Unavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    except RunInterrupted as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"deml {version('deml')}")
        except PackageNotFoundError:
            typer.echo("deml (not installed: run from a source checkout)")
        raise typer.Exit()


@app.callback()
def main(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version")):
    """deml: decentralized ML with adversary majorities (VISTA, on-chain rounds, FAR-SIGN)."""


OUT_HELP = "run directory (default runs/{}-TIMESTAMP); must be new or empty unless --force"
FORCE_HELP = "let --out replace an earlier run directory (removes only the files deml wrote there)"


@app.command()
def demo(
    rounds: int = typer.Option(300, min=1, help="on-chain rounds"),
    chain: str = typer.Option("embedded", help=CHAIN_HELP),
    out: Optional[Path] = typer.Option(None, help=OUT_HELP.format("demo")),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    seed: int = typer.Option(0, help="seeds the node keys and the reports"),
):
    """VISTA on the 3-D task with every round on a chain: 1 honest + 4 rational adversaries, live table,
    run directory with report.html."""
    with user_errors():
        from contracts.chain import connect
        from sims import rundir

        rundir.check(out, force=force)
        try:  # first, before the heavy imports: a dead URL fails within about a second
            target = connect(chain)
        except (ConnectionError, ValueError) as exc:  # what connect() raises for a dead or malformed target
            if chain == "embedded":  # no user input to blame: a bug
                raise
            raise ConfigError(str(exc)) from None
        from sims.demo import run_demo

        run_demo(rounds, target, rundir.prepare(out, "demo", force=force), seed)


class _SimGroup(TyperGroup):
    """`deml sim NAME ...` runs NAME: a first word that is no subcommand is an experiment for `run`."""

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().resolve_command(ctx, args)


sim_app = typer.Typer(cls=_SimGroup, invoke_without_command=True, context_settings=HELP,
                      help="Named experiments: `deml sim NAME` runs one, `deml sim show NAME` shows its settings.")
app.add_typer(sim_app, name="sim")


@sim_app.callback()
def sim(ctx: typer.Context, list_: bool = typer.Option(False, "--list", help="list the experiments and exit")):
    """Named experiments: `deml sim NAME [options]` runs one into a run directory (config.json, Parquet
    tables, PNG plots); `deml sim show NAME` lists its settings; `deml sim --list` the experiments."""
    if list_ or ctx.invoked_subcommand is None:
        from sims import registry

        for exp in registry.all_experiments():
            typer.echo(f"{exp.name:18s} {exp.description}")
        raise typer.Exit()


@sim_app.command("run")
def sim_run(
    name: str = typer.Argument(..., help="experiment name (see deml sim --list)"),
    runs: Optional[int] = typer.Option(None, help="independent runs (config key runs)"),
    rounds: Optional[int] = typer.Option(None, help="rounds per run (config key rounds)"),
    out: Optional[Path] = typer.Option(None, help=OUT_HELP.format("NAME")),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    set_: list[str] = typer.Option([], "--set", help="config override key=value (repeatable; see deml sim show NAME)"),
    sweep: Optional[str] = typer.Option(None, help="sweep one key: key=v1,v2,..."),
):
    """Run a named experiment and write its run directory (config.json, Parquet tables, PNG plots)."""
    with user_errors():
        from sims.runner import run_experiment

        overrides = parse_assignments(set_)
        for key, value in (("runs", runs), ("rounds", rounds)):
            if value is not None:
                overrides[key] = value
        run_experiment(name, overrides, out, sweep, force=force)


@sim_app.command("show")
def sim_show(name: str = typer.Argument(..., help="experiment name (see deml sim --list)")):
    """Every setting of an experiment: its default, type and meaning (set one with --set key=value)."""
    from rich.console import Console
    from rich.table import Table

    from sims import registry
    from sims.config import describe

    with user_errors():
        exp = registry.get(name)
    table = Table(title=f"{exp.name}: {exp.description}", title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("default", overflow="fold", max_width=24)
    table.add_column("type", overflow="fold", max_width=24)
    table.add_column("meaning", overflow="fold", ratio=1)
    for row in describe(exp.config):
        table.add_row(*row)
    Console().print(table)


# ------------------------------------------------------------------------------------- actors as processes
SWARM_CHAIN_HELP = "anvil (a managed devnet, started and stopped by this command), a node's URL, or embedded"
WORKLOAD_HELP = ("quad3d, scalar1d, or mnist-lenet, mnist-mlp, mnist-logreg (a real model, reports checked through "
                 "sketches); --mode farsign: synthetic-logreg, mnist-logreg, mnist-mlp or rosenbrock")
SET_HELP = "a setting of the workload, as in deml sim quad3d (repeatable)"
HONEST_HELP = "honest nodes of the swarm (the game VISTA's table and a rational node assume)"
ADVERSARIES_HELP = "adversarial nodes of the swarm (idem)"
STATS_HELP = "write where this process's time went (seconds per part) as JSON to this file"
PATIENCE_HELP = "seconds of retries (doubling pauses) with a chain or store that stopped answering, then exit 3"


MODE_HELP = "rounds (VISTA's on-chain rounds) or farsign (asynchronous reports on the FAR-SIGN report board)"


def _mode(mode: str) -> None:
    if mode not in ("rounds", "farsign"):
        raise ConfigError(f"--mode {mode!r}: unknown; use rounds or farsign")


def _swarmed(workload: str, set_: list[str], honest: int, adversaries: int, seed: int):
    from sims.processes import Swarmed

    return Swarmed(workload, parse_assignments(set_), honest, adversaries, seed)


@app.command()
def deploy(
    chain: str = typer.Option("anvil", help="anvil (the one `deml chain up` runs, started if none) or a node's URL"),
    out: Path = typer.Option(Path("deployment.json"), help="the deployment file to write (must not exist)"),
    owner_key: Optional[Path] = typer.Option(None, help="the owner's key file; default: a fresh key, written to "
                                             "OUT with the suffix .owner.key (mode 0600)"),
    reward: float = typer.Option(1.0, help="tokens paid to each revealer of an accepted round"),
    stake: float = typer.Option(10.0, help="tokens each node locks when it registers"),
    min_stake: float = typer.Option(2.0, help="the coordinator's minimum stake, in tokens"),
    slash_bps: int = typer.Option(5_000, help="share of the stake a silent member loses, in basis points"),
):
    """Deploy the reward token and the coordinator, and write the deployment file later commands take."""
    with user_errors():
        from sims.processes import deploy_contracts, reach

        if chain == "embedded":
            raise ConfigError("--chain embedded: an embedded chain lives inside one process and ends with it; deploy "
                              "to anvil or a URL (or run `deml swarm run --chain embedded`)")
        if chain == "anvil":
            from contracts import anvil

            chain = (anvil.running() or anvil.start()).url
        _, rec = deploy_contracts(reach(chain), out, owner_key=owner_key, reward=reward, stake=stake,
                                  min_stake=min_stake, slash_bps=slash_bps)
        typer.echo(f"deployed coordinator {rec.coordinator} and token {rec.token} on {rec.rpc} (chain id "
                   f"{rec.chain_id}); deployment file: {out}")


coordinator_app = typer.Typer(no_args_is_help=True, context_settings=HELP, help="The data collector as a service.")
app.add_typer(coordinator_app, name="coordinator")


@coordinator_app.command("run")
def coordinator_run(
    deployment: Path = typer.Option(..., help="the file `deml deploy` wrote"),
    participants: Path = typer.Option(..., help="one node a line: ADDRESS [ROLE]; the candidates of every round"),
    workload: str = typer.Option(..., help=WORKLOAD_HELP),
    rounds: Optional[int] = typer.Option(None, min=1, help="rounds to settle on chain (all of them, counting earlier "
                                         "runs'); --mode rounds"),
    method: str = typer.Option("vista", help="vista, or eta=X for a constant threshold"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    honest: int = typer.Option(1, min=0, help=HONEST_HELP),
    adversaries: int = typer.Option(4, min=0, help=ADVERSARIES_HELP),
    seed: int = typer.Option(0, help="the run's seed (the same as the nodes')"),
    mode: str = typer.Option("rounds", help=MODE_HELP),
    reports: Optional[int] = typer.Option(None, min=1, help="--mode farsign: stop once this many reports are applied"),
    duration: Optional[float] = typer.Option(None, min=0, help="--mode farsign: or after this many seconds"),
    publish_every: int = typer.Option(5, min=1, help="--mode farsign: publish a model version every this many "
                                      "applied reports"),
    owner_key: Optional[Path] = typer.Option(None, help="the owner's key file (default: beside the deployment file)"),
    out: Optional[Path] = typer.Option(None, help=OUT_HELP.format("coordinator") + "; the same directory with "
                                       "the same arguments resumes"),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    store_port: int = typer.Option(0, help="port of the model store on 127.0.0.1 (0: a free one)"),
    grace: float = typer.Option(5.0, min=0, help="seconds without a new commit or reveal before a devnet is "
                                "mined past the window silent members hold open"),
    join_timeout: float = typer.Option(60.0, min=0, help="seconds to wait for every participant to register"),
    chain: Optional[str] = typer.Option(None, help="the node's URL, if not the deployment file's"),
    tables: bool = typer.Option(True, help="write the tables, plots and report.html from the chain at the end"),
    patience: float = typer.Option(30.0, min=0, help=PATIENCE_HELP),
    stats: Optional[Path] = typer.Option(None, help=STATS_HELP),
):
    """Run (or resume) the data collector: VISTA, each round's model published to its store, rounds opened for
    the participants, settled, read back from the chain's events (--mode farsign: the FAR-SIGN server fed by the
    report board's posts, each model version published to its store and on chain). Restart-safe."""
    with user_errors():
        from sims import processes

        try:
            _mode(mode)
            if mode == "farsign":
                from sims import board_processes

                if out is None:
                    raise ConfigError("--out: --mode farsign keeps its model store there; give a directory")
                board_processes.coordinator_run(
                    deployment, participants, _swarmed(workload, set_, honest, adversaries, seed), reports=reports,
                    duration=duration, every=publish_every, owner_key=owner_key, out=out, store_port=store_port,
                    chain=chain, patience=patience, stats=stats, say=lambda line: typer.echo(line))
                return
            if rounds is None:
                raise ConfigError("--rounds: missing; give the rounds to settle, e.g. --rounds 20")
            processes.coordinator_run(
                deployment, participants, _swarmed(workload, set_, honest, adversaries, seed), rounds=rounds,
                method=method, owner_key=owner_key, out=out, force=force, store_port=store_port, grace=grace,
                join_timeout=join_timeout, chain=chain, tables=tables, stats=stats, patience=patience,
                say=lambda line: typer.echo(line))
        except KeyboardInterrupt:
            typer.echo("coordinator: stopped; the settled rounds are on chain (start it again to resume)", err=True)
            raise typer.Exit(130) from None


node_app = typer.Typer(no_args_is_help=True, context_settings=HELP, help="A node as a process.")
app.add_typer(node_app, name="node")


@node_app.command("run")
def node_run(
    deployment: Path = typer.Option(..., help="the file `deml deploy` wrote"),
    key: Path = typer.Option(..., help="this node's key file (one hex private key, mode 0600)"),
    role: str = typer.Option(..., help="honest, rational, sign-flip, ipm, alie, gaussian, mimic, non-finite or "
                             "threshold-hugging; --mode farsign: fo, zo, flood or an attack (sign-flip, large-value, "
                             "nan, inf, random-signs, opposite-mean, stale-replay, ...)"),
    workload: str = typer.Option(..., help=WORKLOAD_HELP),
    store: Optional[str] = typer.Option(None, help="the data collector's model store, http://127.0.0.1:PORT, or "
                                        "its folder on this machine, file:///PATH (--mode farsign: default the "
                                        "deployment file's)"),
    mode: str = typer.Option("rounds", help=MODE_HELP),
    delay: str = typer.Option("none", help="--mode farsign: pause per report, KIND[:MEAN[:SHAPE]] seconds (none, "
                              "constant, exponential, lognormal, pareto), seeded per node"),
    shard: str = typer.Option("0/1", help="i/n: this node's data shard and index (keys its randomness)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda (workloads that compute on a device)"),
    seed: int = typer.Option(0, help="the run's seed"),
    collude: bool = typer.Option(False, "--collude", help="draw with the colluding coalition (one shared point)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    honest: int = typer.Option(1, min=0, help=HONEST_HELP),
    adversaries: int = typer.Option(4, min=0, help=ADVERSARIES_HELP),
    join_timeout: float = typer.Option(60.0, min=0, help="seconds to wait for the stake's grant before giving up"),
    chain: Optional[str] = typer.Option(None, help="the node's URL, if not the deployment file's"),
    patience: float = typer.Option(30.0, min=0, help=PATIENCE_HELP),
    stats: Optional[Path] = typer.Option(None, help=STATS_HELP),
):
    """Take part in the coordinator's rounds with this key: register, then for each round fetch the model (its
    digest checked), report, commit and reveal with this node's own transactions. Runs until stopped."""
    import signal

    with user_errors():
        from sims import processes

        stopped = []
        signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
        try:
            _mode(mode)
            if mode == "farsign":
                from sims import board_processes

                board_processes.node_run(
                    deployment, key, role, _swarmed(workload, set_, honest, adversaries, seed), store=store,
                    delay=delay, join_timeout=join_timeout, chain=chain, stats=stats, patience=patience,
                    say=lambda line: typer.echo(line), stop=lambda: bool(stopped))
                return
            if store is None:
                raise ConfigError("--store: missing; give the data collector's model store, http://127.0.0.1:PORT "
                                  "or file:///PATH")
            processes.node_run(deployment, key, role, _swarmed(workload, set_, honest, adversaries, seed),
                               store=store, shard=processes.parse_shard(shard), device=device, collude=collude,
                               join_timeout=join_timeout, chain=chain, stats=stats, patience=patience,
                               say=lambda line: typer.echo(line), stop=lambda: bool(stopped))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


swarm_app = typer.Typer(no_args_is_help=True, context_settings=HELP, help="A swarm of node processes in one command.")
app.add_typer(swarm_app, name="swarm")


@swarm_app.command("run")
def swarm_run(
    workload: str = typer.Option("quad3d", help=WORKLOAD_HELP),
    honest: int = typer.Option(1, min=0, help="honest nodes"),
    adversaries: int = typer.Option(4, min=0, help="adversarial nodes (may be the majority)"),
    attack: Optional[str] = typer.Option(None, help="the adversaries' role: rational (the default), sign-flip, ipm, "
                                         "alie, gaussian, mimic, non-finite or threshold-hugging; --mode farsign: "
                                         "sign-flip (the default), large-value, nan, inf, random-signs, "
                                         "opposite-mean, stale-replay, ..."),
    collude: bool = typer.Option(True, help="adversaries draw one shared point (--no-collude: each its own)"),
    rounds: int = typer.Option(100, min=1, help="rounds"),
    method: str = typer.Option("vista", help="vista, or eta=X for a constant threshold"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    chain: str = typer.Option("anvil", help=SWARM_CHAIN_HELP),
    deployment: Optional[Path] = typer.Option(None, help="attach to this deployment (its owner key beside it) "
                                              "instead of deploying"),
    owner_key: Optional[Path] = typer.Option(None, help="the data collector's key file when the swarm deploys "
                                             "(default: a fresh key, written beside the deployment file)"),
    ray: Optional[str] = typer.Option(None, "--ray", help="run the nodes as actors of the Ray cluster at ADDRESS"),
    out: Optional[Path] = typer.Option(None, help=OUT_HELP.format("swarm")),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    seed: int = typer.Option(0, help="seeds every node's randomness (per node and round)"),
    grace: float = typer.Option(5.0, min=0, help="seconds without a new commit or reveal before the devnet is "
                                "mined past a window"),
    stats: Optional[Path] = typer.Option(None, help="write where each process's time went into this folder"),
    mode: str = typer.Option("rounds", help=MODE_HELP),
    reports: Optional[int] = typer.Option(None, min=1, help="--mode farsign: stop once this many reports are applied"),
    duration: Optional[float] = typer.Option(None, min=0, help="--mode farsign: or after this many seconds"),
    delay: str = typer.Option("pareto:0.5:2", help="--mode farsign: each node's pause per report, "
                              "KIND[:MEAN[:SHAPE]] seconds, seeded per node (stragglers)"),
    publish_every: int = typer.Option(5, min=1, help="--mode farsign: a model version every this many reports"),
):
    """Deploy (or attach), start the data collector and HONEST + ADVERSARIES node processes (each its own key),
    show a live table, and write the run directory from the chain's events. --mode farsign: the same with the
    FAR-SIGN report board (asynchronous reports, no rounds)."""
    with user_errors():
        _mode(mode)
        if mode == "farsign":
            from sims.board_swarm import BoardPlan, run_board_swarm

            w = "mnist-logreg" if workload == "quad3d" else workload  # quad3d is the round mode's default
            run_board_swarm(BoardPlan(_swarmed(w, set_, honest, adversaries, seed), attack or "sign-flip", reports,
                                      duration, delay, publish_every), chain=chain, out=out, force=force)
            return
        from sims.swarm import Plan, run_swarm

        plan = Plan(_swarmed(workload, set_, honest, adversaries, seed), attack or "rational", collude, rounds, method,
                    grace)
        run_swarm(plan, chain=chain, deployment=deployment, ray_address=ray, out=out, force=force, stats=stats,
                  owner_key=owner_key)


@app.command()
def runs(folder: Path = typer.Argument(Path("runs"), help="folder holding run directories")):
    """Past runs in FOLDER: name, date, experiment, status (complete, interrupted, running or failed), key figures."""
    with user_errors():
        from sims.past_runs import show_runs

        show_runs(folder)


if __name__ == "__main__":
    app()
