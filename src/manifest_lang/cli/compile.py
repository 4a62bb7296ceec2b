"""``manifest compile`` / ``validate`` / ``lint``: bad input is one clear line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
import orjson

from ..compiler.api import CompileResult, compile_source
from ..compiler.diagnostics import Diagnostic
from ..compiler.lint import lint_source
from ..errors import InvalidInputError
from ..untrusted import decode_text

#: ``--base-dir`` of commands reading ``-``: where the ``use`` lines of stdin are resolved
BASE_DIR_OPTION = click.option(
    "--base-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Resolve `use` imports of - (stdin) under this directory (default: the current one).",
)


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


def compile_path(file: str, source: str, base_dir: Path | None = None) -> CompileResult:
    """Compile FILE's ``source`` with its ``use`` lines resolved (stdin: under ``base_dir``/cwd)."""
    root_dir = (base_dir or Path.cwd()) if file == "-" else Path(file).resolve().parent
    return compile_source(source, filename=file, base_dir=root_dir)


def resolve_file_label(file: str, imported: str | None) -> str:
    """How a diagnostic's file is shown: the path given, or an imported file's path beside it."""
    label = "<stdin>" if file == "-" else file
    if imported is None or imported == _root_name(file):
        return label
    root_dir = "" if file == "-" else str(Path(file).parent)
    return str(Path(root_dir, imported)) if root_dir not in ("", ".") else imported


def render_all(
    result: CompileResult,
    file: str,
    source: str,
    diagnostics: list[Diagnostic] | None = None,
    *,
    show_codes: bool = False,
) -> Iterator[str]:
    """Each diagnostic rendered against the file it is in (the root or a ``use``d file)."""
    texts = dict(result.files)
    for diagnostic in result.diagnostics if diagnostics is None else diagnostics:
        text, name = source, resolve_file_label(file, diagnostic.file)
        if diagnostic.file is not None and diagnostic.file in texts and diagnostic.file != _root_name(file):
            text = texts[diagnostic.file]
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        message = diagnostic.message
        if show_codes and diagnostic.code:
            message = f"{message} [{diagnostic.code}]"
        plain = Diagnostic(diagnostic.severity, message, diagnostic.line, diagnostic.column, diagnostic.code)
        yield render(plain, name, lines)


def _root_name(file: str) -> str:
    return "<source>" if file == "-" else Path(file).name


@click.command("compile")
@click.argument("file")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write IR here.")
@BASE_DIR_OPTION
def compile_command(file: str, output: str | None, base_dir: Path | None) -> None:
    """Compile FILE (or - for stdin) and the files it `use`s to IR v1 JSON."""
    source = read_source(file)
    result = compile_path(file, source, base_dir)
    for text in render_all(result, file, source):
        click.echo(text, err=True)
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
@click.option("--strict", is_flag=True, help="Also run `manifest check`; its errors fail too.")
@BASE_DIR_OPTION
def validate_command(files: tuple[str, ...], strict: bool, base_dir: Path | None) -> None:
    """Check FILES (and the files they `use`); print diagnostics; exit 1 when any has an error."""
    failed = False
    for item in _each_source(files):
        if item is None:
            failed = True
            continue
        file, _, source, _ = item
        result = compile_path(file, source, base_dir)
        diagnostics = result.diagnostics
        if strict:
            from ..compiler.checker import check_compiled

            checked = check_compiled(result)
            diagnostics = checked.diagnostics
            failed = failed or not checked.ok
        for text in render_all(result, file, source, diagnostics):
            click.echo(text)
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
