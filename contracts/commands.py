"""Chain commands of the `deml` CLI (registered by sims/cli.py): `deml chain up|down`."""
from __future__ import annotations

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

