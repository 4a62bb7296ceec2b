"""``manifest init [DIR] --example NAME``: copy a shipped example model out of the package."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ManifestError
from ..examples_data import EXAMPLES, copy_example


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--example",
    type=click.Choice(sorted(EXAMPLES)),
    required=True,
    help="Copy this example model (and its API keys) into DIRECTORY.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_command(directory: Path, example: str, force: bool) -> None:
    """Start a project in DIRECTORY (default: here) from a shipped example."""
    try:
        written = copy_example(example, directory, overwrite=force)
    except ManifestError as exc:
        click.echo(f"manifest: {exc.message}", err=True)
        sys.exit(1)
    for path in written:
        click.echo(f"wrote {path}")
    model = directory / f"{example}.manifest"
    click.echo(f"\nnext: manifest serve {model} --api-keys {directory / 'keys.json'}")
