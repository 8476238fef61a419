"""The `sidecar-injector` command."""

from __future__ import annotations

import typer

from sidecar_injector import __version__

app = typer.Typer(
    name="sidecar-injector",
    help="Kubernetes sidecar injection: the admission webhook and manual injection.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """Kubernetes sidecar injection: the admission webhook and manual injection."""


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
