"""``manifest check FILE...``: compile diagnostics plus the checker's findings, with carets or JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from ..compiler.checker import CODES, CheckResult, check_compiled
from ..errors import InvalidInputError
from ..untrusted import decode_text
from .compile import BASE_DIR_OPTION, _each_source, compile_path, render_all, resolve_file_label


def run_checks(file: str, source: str, base_dir: Path | None = None) -> CheckResult:
    return check_compiled(compile_path(file, source, base_dir))


@click.command("check")
@click.argument("files", nargs=-1)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: per file {file, ok, diagnostics: [{file, line, column, severity, code, message}]}.",
)
@click.option("--codes", "list_codes", is_flag=True, help="List the checker's codes and exit.")
@BASE_DIR_OPTION
def check_command(
    files: tuple[str, ...], output_format: str, list_codes: bool, base_dir: Path | None
) -> None:
    """Check FILES beyond the compiler: unknown names and types, undeclared properties and
    events, type mismatches, dead rules. Exit 1 when there is an error (warnings do not fail)."""
    if list_codes:
        for code, (severity, text) in CODES.items():
            click.echo(f"{code:30} {severity:8} {text}")
        return
    if not files:
        raise click.UsageError("give at least one FILE (or - for stdin)")
    failed = False
    reports = []
    for item in _each_source(files):
        if item is None:
            failed = True
            continue
        file, _, source, _ = item
        result = run_checks(file, source, base_dir)
        failed = failed or not result.ok
        if output_format == "json":
            reports.append(
                {
                    "file": "<stdin>" if file == "-" else file,
                    "ok": result.ok,
                    "diagnostics": [
                        {**d.to_dict(), "file": resolve_file_label(file, d.file)} for d in result.diagnostics
                    ],
                }
            )
            continue
        for text in render_all(result.compiled, file, source, result.diagnostics, show_codes=True):
            click.echo(text)
    if output_format == "json":
        sys.stdout.buffer.write(orjson.dumps(reports, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    raise SystemExit(1 if failed else 0)


#: ``--no-check`` of ``manifest serve`` / ``manifest run``
NO_CHECK_OPTION = click.option(
    "--no-check", is_flag=True, help="Start even when `manifest check` finds errors in the model."
)


def refuse_on_check_errors(path: Path) -> None:
    """Exit 1 with the checker's errors when the ``.manifest`` model at ``path`` has any.

    Compile errors are left to the caller's own loading (its message is the established one);
    an IR JSON file is not checked (there is no source to point into).
    """
    if path.suffix.lower() == ".json" or not path.is_file():
        return
    try:  # a file loading refuses (binary, not UTF-8) is reported by the loading, in one line
        source = decode_text(path.read_bytes(), str(path))
    except (OSError, InvalidInputError):
        return
    result = run_checks(str(path), source)
    if result.compiled.ir is None:
        return
    errors = [d for d in result.findings if d.severity == "error"]
    warnings = len(result.findings) - len(errors)
    if errors:
        for text in render_all(result.compiled, str(path), source, errors, show_codes=True):
            click.echo(text, err=True)
        click.echo(f"manifest: {path}: {len(errors)} checker error(s); fix them or pass --no-check", err=True)
        raise SystemExit(1)
    if warnings:
        click.echo(f"manifest: {path}: {warnings} checker warning(s) (see `manifest check {path}`)", err=True)
