"""The `deml` command line: one entry point, subcommands defined next to what they drive."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from contracts.commands import CHAIN_HELP, chain_app
from economics.commands import equilibrium
from sims.config import ConfigError, parse_assignments

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="deml: decentralized ML with adversary majorities (VISTA, on-chain rounds, FAR-SIGN).")
app.command("equilibrium", help="Equilibrium curves of the game of coding: P_A*(eta), MSE*(eta), noise law.")(
    equilibrium)
app.add_typer(chain_app, name="chain")


@app.command()
def demo(
    rounds: int = typer.Option(300, min=1, help="on-chain rounds"),
    chain: str = typer.Option("embedded", help=CHAIN_HELP),
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/demo-TIMESTAMP)"),
    seed: int = typer.Option(0, help="seeds the node keys and the reports"),
):
    """VISTA on the 3-D task with every round on a chain: 1 honest + 4 rational adversaries, live table,
    run directory with report.html."""
    from sims.demo import run_demo

    try:
        run_demo(rounds, chain, out, seed)
    except (ConnectionError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


@app.command()
def sim(
    name: Optional[str] = typer.Argument(None, help="experiment name (see --list)"),
    runs: Optional[int] = typer.Option(None, help="independent runs (config key runs)"),
    rounds: Optional[int] = typer.Option(None, help="rounds per run (config key rounds)"),
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/NAME-TIMESTAMP)"),
    set_: list[str] = typer.Option([], "--set", help="config override key=value (repeatable)"),
    sweep: Optional[str] = typer.Option(None, help="sweep one key: key=v1,v2,..."),
    list_: bool = typer.Option(False, "--list", help="list the experiments and exit"),
):
    """Run a named experiment and write its run directory (config.json, Parquet tables, PNG plots)."""
    from sims import registry
    from sims.runner import run_experiment

    if list_ or name is None:
        for exp in registry.all_experiments():
            typer.echo(f"{exp.name:18s} {exp.description}")
        return
    try:
        overrides = parse_assignments(set_)
        for key, value in (("runs", runs), ("rounds", rounds)):
            if value is not None:
                overrides[key] = value
        run_experiment(name, overrides, out, sweep)
    except (ConfigError, KeyError) as exc:
        typer.echo(f"error: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(2)


if __name__ == "__main__":
    app()
