"""``manifest compile`` / ``validate`` / ``lint``: bad input is one clear line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
import orjson

from ..compiler.api import compile_source
from ..compiler.diagnostics import Diagnostic
from ..compiler.lint import lint_source
from ..errors import InvalidInputError
from ..inputs import decode_text


class SourceError(click.ClickException):
    """A file that cannot be compiled at all (missing, unreadable, binary, not UTF-8)."""

    def show(self, file: object = None) -> None:
        click.echo(f"manifest: {self.message}", err=True)


def read_source(path: str) -> str:
    label = "<stdin>" if path == "-" else path
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{label}: is a directory, not a .manifest file") from None
    except OSError as exc:
        raise SourceError(f"{label}: cannot read ({exc.strerror or exc})") from None
    try:
        return decode_text(data, label)  # the rule ``manifest run`` / ``serve`` apply as well
    except InvalidInputError as exc:
        raise SourceError(exc.message) from None


def render(diagnostic: Diagnostic, filename: str, lines: list[str]) -> str:
    """``file:line:col: severity: message`` plus the source line and a caret."""
    text = diagnostic.format(filename).replace("\n", "\\n")
    line_no = diagnostic.line
    if line_no is None or not 1 <= line_no <= len(lines):
        return text
    source_line = lines[line_no - 1].replace("\t", " ")
    caret_col = max(1, min(diagnostic.column or 1, len(source_line) + 1))
    return f"{text}\n    {source_line}\n    {' ' * (caret_col - 1)}^"


@click.command("compile")
@click.argument("file")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write IR here.")
def compile_command(file: str, output: str | None) -> None:
    """Compile FILE (or - for stdin) to IR v1 JSON."""
    source = read_source(file)
    result = compile_source(source, filename=file)
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    label = "<stdin>" if file == "-" else file
    for diagnostic in result.diagnostics:
        click.echo(render(diagnostic, label, lines), err=True)
    if result.ir is None:
        raise SystemExit(1)
    payload = orjson.dumps(result.ir, option=orjson.OPT_INDENT_2) + b"\n"
    if output:
        try:
            Path(output).write_bytes(payload)
        except OSError as exc:
            raise SourceError(f"{output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()


def _each_source(files: tuple[str, ...]) -> Iterator[tuple[str, str, str, list[str]] | None]:
    """Yield (file, label, source, lines) per readable file, or None after reporting an unreadable one."""
    for file in files:
        try:
            source = read_source(file)
        except SourceError as exc:
            exc.show()
            yield None
            continue
        lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        yield file, ("<stdin>" if file == "-" else file), source, lines


@click.command("validate")
@click.argument("files", nargs=-1, required=True)
def validate_command(files: tuple[str, ...]) -> None:
    """Check FILES; print diagnostics; exit 1 when any has an error."""
    failed = False
    for item in _each_source(files):
        if item is None:
            failed = True
            continue
        file, label, source, lines = item
        result = compile_source(source, filename=file)
        for diagnostic in result.diagnostics:
            click.echo(render(diagnostic, label, lines))
        failed = failed or result.ir is None
    raise SystemExit(1 if failed else 0)


@click.command("lint")
@click.argument("files", nargs=-1, required=True)
def lint_command(files: tuple[str, ...]) -> None:
    """Report what the reference compiler silently drops in FILES (exit 1 when anything is found)."""
    found = False
    for item in _each_source(files):
        if item is None:
            found = True
            continue
        _, label, source, lines = item
        for finding in lint_source(source):
            found = True
            click.echo(render(finding, label, lines))
    raise SystemExit(1 if found else 0)
