"""``manifest fmt FILE...``: rewrite files in the canonical layout (``--check``: only report)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..compiler.api import compile_source
from ..compiler.formatter import format_source
from .compile import SourceError, read_source


def _meaning(source: str) -> tuple[Any, list[str]]:
    """What formatting must not change: the IR without provenance, and the diagnostics' text."""
    result = compile_source(source)
    ir = None if result.ir is None else {k: v for k, v in result.ir.items() if k != "provenance"}
    return ir, [f"{d.severity}: {d.message}" for d in result.diagnostics]


@click.command("fmt")
@click.argument("files", nargs=-1, required=True)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 listing the files fmt would change.")
def fmt_command(files: tuple[str, ...], check: bool) -> None:
    """Format FILES (- : stdin to stdout) in the canonical layout; comments are kept and the
    compiled model never changes."""
    failed = False
    for file in files:
        try:
            source = read_source(file)
        except SourceError as exc:
            exc.show()
            failed = True
            continue
        formatted = format_source(source)
        if formatted != source and _meaning(formatted) != _meaning(source):
            # never expected (the suite checks it); refusing beats rewriting a model differently
            click.echo(f"manifest: {file}: formatting would change the compiled model; left as is", err=True)
            failed = True
            continue
        if file == "-":
            if check:
                failed = failed or formatted != source
            else:
                sys.stdout.write(formatted)
            continue
        if formatted == source:
            continue
        if check:
            click.echo(f"would reformat {file}")
            failed = True
            continue
        try:
            Path(file).write_text(formatted, encoding="utf-8", newline="\n")
        except OSError as exc:
            click.echo(f"manifest: {file}: cannot write ({exc.strerror or exc})", err=True)
            failed = True
            continue
        click.echo(f"reformatted {file}", err=True)
    raise SystemExit(1 if failed else 0)
