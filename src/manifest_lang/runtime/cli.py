"""``manifest conformance DIR`` and ``manifest run FILE``.

``run`` reads JSON lines (stdin or ``--script``), one operation each, and prints one JSON result
per line; a bad line prints an error line and the session continues:

    {"op": "create", "entity": "Task", "data": {...}}
    {"op": "run", "command": "complete", "entity": "Task", "id": "t1", "input": {...}}
    {"op": "get", "entity": "Task", "id": "t1"}
    {"op": "events"}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import click

from ..errors import ManifestError
from ..expr.values import to_json_value


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


def load_ir(path: Path) -> dict[str, Any]:
    """IR of a ``.ir.json`` file or of a ``.manifest`` compiled now (ClickException on failure)."""
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        try:
            ir = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(ir, dict):
            raise click.ClickException(f"{path}: IR must be a JSON object")
        return ir
    from ..compiler.api import compile_file

    result = compile_file(path)
    if result.ir is None or result.errors:
        lines = "\n".join(d.format(str(path)) for d in result.errors) or "compilation failed"
        raise click.ClickException(lines)
    return result.ir


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--script", type=click.File("r"), help="Read operations from this file instead of stdin.")
@click.option("--context", "context_json", default="{}", help="Runtime context as JSON (user, tenantId...).")
@click.option("--no-check", is_flag=True, help="Start even when `manifest check` finds errors in the model.")
def run_command(file: Path, script: TextIO | None, context_json: str, no_check: bool) -> None:
    """Run a model (.manifest or .ir.json) on JSON-line operations; one JSON result per line."""
    from .engine import RuntimeEngine

    if not no_check:
        from ..compiler.check_cli import refuse_on_check_errors

        refuse_on_check_errors(file)

    try:
        context = json.loads(context_json)
    except ValueError as exc:
        raise click.ClickException(f"--context is not valid JSON: {exc}") from None
    if not isinstance(context, dict):
        raise click.ClickException("--context must be a JSON object")
    try:
        engine = RuntimeEngine(load_ir(file), context)
    except ManifestError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    for line in run_session(engine, script or sys.stdin):
        click.echo(line)


def run_session(engine: Any, lines: Iterable[str]) -> Iterable[str]:
    """Execute each JSON line; yield one JSON line per operation (errors included)."""
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        try:
            op = json.loads(text)
            if not isinstance(op, dict):
                raise ValueError("an operation must be a JSON object")
            out = _apply(engine, op)
        except (ValueError, KeyError, TypeError, ManifestError) as exc:
            out = {"ok": False, "line": number, "error": f"{type(exc).__name__}: {exc}"}
        yield json.dumps(to_json_value(out), separators=(",", ":"))


def _apply(engine: Any, op: dict[str, Any]) -> dict[str, Any]:
    kind = op.get("op")
    if kind == "create":
        instance = engine.create_instance(str(op["entity"]), op.get("data") or {})
        return {"ok": instance is not None, "instance": instance}
    if kind == "run":
        result = engine.run_command(
            str(op["command"]),
            op.get("input") or {},
            entity_name=op.get("entity"),
            instance_id=op.get("id"),
            override_requests=op.get("overrideRequests"),
            correlation_id=op.get("correlationId"),
            causation_id=op.get("causationId"),
            idempotency_key=op.get("idempotencyKey"),
        )
        return {"ok": result.success, "result": result.to_dict()}
    if kind == "get":
        instance = engine.get_instance(str(op["entity"]), str(op["id"]))
        return {"ok": instance is not None, "instance": instance}
    if kind == "events":
        return {"ok": True, "events": [e.to_dict() for e in engine.get_event_log()]}
    raise ValueError(f"unknown op {kind!r} (expected create, run, get or events)")
