"""`deml analyse`: the command group (cheap to import: each command loads the analysis when it runs).

`deml analyse RUN_DIR ...` analyses runs; `deml analyse receipt RUN_DIR --node A --round R` explains one node's
round. Bad input is one line naming the argument and the fix, exit 2.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from sims.config import ConfigError


@contextmanager
def _user_errors():
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


class _AnalyseGroup(TyperGroup):
    """`deml analyse RUN_DIR ...` runs `report`: a first word that is no subcommand is a run directory."""

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["report", *args]
        return super().resolve_command(ctx, args)


analyse_app = typer.Typer(cls=_AnalyseGroup, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                          help="Economics of finished runs: `deml analyse RUN_DIR [RUN_DIR ...]` writes summary.parquet, "
                               "summary.json, PNGs and report.html; `deml analyse receipt RUN_DIR --node A --round R` "
                               "says why a node was paid, not paid or slashed.")


@analyse_app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="run directories of deml sim quad3d|scalar1d or deml demo"),
    out: Optional[Path] = typer.Option(None, help="output directory (default runs/analyse-TIMESTAMP); must be new or "
                                                  "empty: an existing analysis is never overwritten"),
    gas_price: float = typer.Option(1.0, "--gas-price", min=0, help="gas price in gwei, to price gas in ETH"),
):
    """Analyse run directories: tokens, slashes, gas per node and role, the adversary's realised play against the
    solver, cost per unit of progress, sweeps against the swept key."""
    with _user_errors():
        from sims import rundir
        from sims.analysis.analyse import analyse

        rundir.check(out)
        path = analyse(run_dirs, out, gas_price)
        typer.echo(f"analyse: wrote {path}/ (report.html, summary.json, summary.parquet, "
                   f"{len(list(path.glob('*.png')))} PNGs)")


@analyse_app.command("receipt")
def receipt(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    node: str = typer.Option(..., "--node", help="the node's address (or its index)"),
    round_: int = typer.Option(..., "--round", help="the round, counted from 1 as in rounds.parquet"),
    method: Optional[str] = typer.Option(None, help="the method (default: the run's first, vista)"),
    run: int = typer.Option(0, "--run", min=0, help="which independent run of a batched simulation"),
    sweep: Optional[str] = typer.Option(None, help="a sweep's value of the swept key (default: its first)"),
):
    """Why a node was paid, not paid or slashed in a round: commit, reveal, the pair that failed the check and by
    how much against tau, whether the round was accepted."""
    with _user_errors():
        from sims.analysis.load import load
        from sims.analysis.receipt import receipt as lines

        for line in lines(load(run_dir), node, round_, method, run, sweep):
            typer.echo(line)
