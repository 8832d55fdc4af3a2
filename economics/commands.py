"""`deml equilibrium`: solve and show the equilibrium curves of one game (registered by sims/cli.py).

The solver is imported when the command runs, so that `deml --help` does not load scipy."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from pydantic import ValidationError

from economics.game import GameSpec

if TYPE_CHECKING:
    from rich.console import Console

    from economics.equilibrium import EquilibriumTable


def plot_curves(table: EquilibriumTable, path: Path) -> None:
    """P_A*(eta) and MSE*(eta), one panel each, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
    top.plot(table.eta, table.p_accept)
    top.set_ylabel("P_A*")
    bottom.plot(table.eta, table.mse)
    bottom.set_ylabel("MSE*")
    bottom.set_xlabel("eta = tau / Delta")
    spec = table.spec
    game = f"d={spec.dim} h={spec.honest} t={spec.adversaries} {spec.estimator}"
    top.set_title(f"{game}, {spec.utility} utility, kappa={spec.kappa}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def atoms(table: EquilibriumTable, i: int) -> list[tuple[float, float]]:
    """The noise law at grid position i as (radius, weight) pairs of positive weight."""
    return [(float(r), float(w)) for r, w in zip(table.radii[i], table.weights[i]) if w > 0]


def print_table(table: EquilibriumTable, console: Console) -> None:
    from rich.table import Table

    rows = Table("eta", "tau", "P_A*", "MSE*", "noise radius (weight)")
    for i in range(table.eta.size):
        noise = ", ".join(f"{r:.4f} ({w:.3f})" for r, w in atoms(table, i))
        eta, tau, p_accept, mse = table.eta[i], table.tau[i], table.p_accept[i], table.mse[i]
        rows.add_row(f"{eta:.4g}", f"{tau:.4g}", f"{p_accept:.4f}", f"{mse:.4f}", noise)
    console.print(rows)


def json_lines(table: EquilibriumTable) -> list[str]:
    """One JSON object per eta: eta, tau, p_accept, mse, noise = [{radius, weight}] (atoms of positive weight)."""
    return [
        json.dumps(
            {
                "eta": float(table.eta[i]),
                "tau": float(table.tau[i]),
                "p_accept": float(table.p_accept[i]),
                "mse": float(table.mse[i]),
                "noise": [{"radius": r, "weight": w} for r, w in atoms(table, i)],
            }
        )
        for i in range(table.eta.size)
    ]


def check_writable(plot: Path) -> None:
    """Refuse a --plot path that cannot be written, before the (possibly long) solve: open it for appending
    (which changes nothing) and remove it again if it was not there."""
    existed = plot.exists()
    try:
        with open(plot, "ab"):
            pass
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {plot} ({exc.strerror}); give a writable file path",
                                 param_hint="--plot") from None
    if not existed:
        plot.unlink()


def equilibrium(
    dim: Annotated[int, typer.Option(help="report dimension d")] = 1,
    kappa: Annotated[float, typer.Option(help="acceptance weight in the adversary's utility")] = 1.0,
    delta: Annotated[float, typer.Option(help="honest noise radius Delta")] = 1.0,
    honest: Annotated[int, typer.Option(help="honest nodes h")] = 1,
    adversaries: Annotated[int, typer.Option(help="adversarial nodes t (one colluding adversary)")] = 1,
    utility: Annotated[str, typer.Option(help="log | product")] = "log",
    estimator: Annotated[str, typer.Option(help="mean | midrange")] = "mean",
    sketch: Annotated[
        Optional[int], typer.Option(help="k: the check sees k-row sketches of the d-dim reports (docs/sketch.md)")
    ] = None,
    eta_min: Annotated[float, typer.Option(help="smallest eta = tau / Delta")] = 1.5,
    eta_max: Annotated[float, typer.Option(help="largest eta")] = 8.0,
    points: Annotated[int, typer.Option(min=1, help="eta grid points")] = 27,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per eta on stdout, nothing else")] = False,
    plot: Annotated[Path, typer.Option(help="PNG of both curves (not with --json)")] = Path("equilibrium.png"),
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="table cache (default $DEML_CACHE_DIR or ~/.cache/deml)")
    ] = None,
) -> None:
    """Equilibrium curves P_A*(eta), MSE*(eta) and the adversary's noise law (docs/game_of_coding.md)."""
    try:
        spec = GameSpec(
            dim=dim,
            kappa=kappa,
            delta=delta,
            honest=honest,
            adversaries=adversaries,
            utility=utility,
            estimator=estimator,
            sketch=sketch,
        )
    except ValidationError as error:
        first = error.errors()[0]
        # a field's error names its flag; a cross-field one (loc empty) names the fields in its message
        hint = f"--{str(first['loc'][0]).replace('_', '-')}" if first["loc"] else None
        raise typer.BadParameter(first["msg"], param_hint=hint) from None
    if not 0 < eta_min <= eta_max:
        message = f"need 0 < --eta-min <= --eta-max, got {eta_min} and {eta_max}"
        raise typer.BadParameter(message, param_hint="--eta-min")
    if points > 1 and eta_min == eta_max:
        raise typer.BadParameter("--eta-min equals --eta-max: use --points 1", param_hint="--points")
    if not json_out:
        check_writable(plot)
    import numpy as np
    from rich.console import Console

    from economics.equilibrium import solve

    table = solve(spec, np.linspace(eta_min, eta_max, points), cache_dir=cache_dir, progress=True)
    if json_out:
        typer.echo("\n".join(json_lines(table)))
        return
    console = Console()
    if spec.monte_carlo:
        console.print("[bold]MONTE CARLO[/bold] curves below eta = 2 (vectors with two or more honest nodes)")
    print_table(table, console)
    plot_curves(table, plot)
    console.print(f"plot: {plot}")
    dips = table.nonmonotone()
    if dips:
        spans = ", ".join(f"[{a:.4g}, {b:.4g}]" for a, b in dips)
        console.print(f"[yellow]warning:[/yellow] P_A* decreases in eta on {spans} (VISTA assumes it does not)")
