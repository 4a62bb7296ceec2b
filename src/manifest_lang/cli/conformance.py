"""``manifest conformance DIR``: run the reference test vectors (fixtures/ + expected/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("conformance")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report instead of progress lines.")
@click.option(
    "--ir",
    "prefer",
    type=click.Choice(["compiled", "expected"]),
    default="compiled",
    show_default=True,
    help="Run runtime cases on the compiler's IR or on the expected IR files.",
)
@click.option("--no-compile", is_flag=True, help="Skip the compilation checks.")
def conformance_command(directory: Path, as_json: bool, prefer: str, no_compile: bool) -> None:
    """Run a conformance directory (fixtures/ + expected/); exit 1 if any check fails."""
    from ..conformance import CaseResult, run_directory

    def progress(result: CaseResult) -> None:
        if as_json:
            return
        if result.passed:
            click.echo(".", nl=False)
        else:
            click.echo(f"\nFAIL {result.fixture} [{result.kind}] {result.case}: {result.reason}")

    report = run_directory(directory, prefer=prefer, compile_checks=not no_compile, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("")
        click.echo(f"{report.passed} passed, {report.failed} failed")
    if report.failed:
        sys.exit(1)
