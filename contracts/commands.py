"""Chain commands of the `deml` CLI (registered by sims/cli.py): `deml chain up|down` and `deml demo`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

chain_app = typer.Typer(no_args_is_help=True, help="A local anvil devnet for the on-chain commands.")

CHAIN_HELP = "'embedded' (eth-tester + py-evm in process) or a node's URL, e.g. the one `deml chain up` prints"


@chain_app.command()
def up():
    """Start anvil on 127.0.0.1 (installing it into .deml/anvil on first use) and print its URL."""
    from contracts import anvil

    live = anvil.running()
    if live is None:
        live = anvil.start()
    typer.echo(live.url)


@chain_app.command()
def down():
    """Stop the anvil that `deml chain up` started."""
    from contracts import anvil

    typer.echo("stopped" if anvil.stop() else "no anvil recorded as running")


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
