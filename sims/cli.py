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
from sims.config import ConfigError, parse_assignments
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
    """ConfigError: one line, exit 2. RunInterrupted: where the finished work is, exit 130."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
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


@app.command()
def runs(folder: Path = typer.Argument(Path("runs"), help="folder holding run directories")):
    """Past runs in FOLDER: name, date, experiment, status (complete, interrupted, running or failed), key figures."""
    with user_errors():
        from sims.past_runs import show_runs

        show_runs(folder)


if __name__ == "__main__":
    app()
