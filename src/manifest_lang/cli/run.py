"""``manifest run FILE``.

It reads JSON lines (stdin or ``--script``), one operation each, and prints one JSON result per
line; a bad line prints an error line and the session continues:

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
from typing import Any, BinaryIO

import click

from .. import untrusted
from ..errors import InvalidInputError, ManifestError
from ..expr.values import loads_json, to_json_value


def load_model(path: Path) -> Any:
    """The model in ``path`` (ClickException naming every compile error on failure)."""
    from ..errors import CompileError
    from ..loading import load_model as load

    try:
        return load(path)
    except CompileError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        raise click.ClickException("\n".join(d.format(str(path)) for d in errors) or exc.message) from None
    except ManifestError as exc:
        raise click.ClickException(exc.message) from None


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--script", type=click.File("rb"), help="Read operations from this file instead of stdin.")
@click.option("--context", "context_json", default="{}", help="Runtime context as JSON (user, tenantId...).")
@click.option("--no-check", is_flag=True, help="Start even when `manifest check` finds errors in the model.")
def run_command(file: Path, script: BinaryIO | None, context_json: str, no_check: bool) -> None:
    """Run a model (.manifest or .ir.json) on JSON-line operations; one JSON result per line."""
    from ..runtime.engine import RuntimeEngine

    if not no_check:
        from .check import refuse_on_check_errors

        refuse_on_check_errors(file)

    try:
        context = untrusted.loads(context_json, parser=loads_json)
    except ValueError as exc:
        raise click.ClickException(f"--context is not valid JSON: {exc}") from None
    if not isinstance(context, dict):
        raise click.ClickException("--context must be a JSON object")
    model = load_model(file)
    try:
        engine = RuntimeEngine(model, context)
    except ManifestError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    if script is not None:
        try:  # a script is read whole, so a binary one is refused before anything runs
            lines: Iterable[bytes | str] = untrusted.decode_text(script.read(), script.name).splitlines()
        except InvalidInputError as exc:
            raise click.ClickException(f"--script {exc.message}") from None
    else:
        lines = sys.stdin.buffer  # bytes: a line that is not UTF-8 is an error line, not the end
    for line in run_session(engine, lines):
        click.echo(line)


def run_session(engine: Any, lines: Iterable[bytes | str]) -> Iterable[str]:
    """Execute each JSON line; yield one JSON line per operation (errors included). A bad line
    (not UTF-8, not JSON, nested deeper than ``untrusted.MAX_JSON_DEPTH``, refused) never ends the
    session."""
    for number, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if not text.strip():
                continue
            op = untrusted.loads(text, parser=loads_json)
            if not isinstance(op, dict):
                raise ValueError("an operation must be a JSON object")
            out = _apply(engine, op)
        except (ValueError, KeyError, TypeError, ManifestError) as exc:
            out = {"ok": False, "line": number, "error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # noqa: BLE001 - a bug must not end the user's session either
            out = {"ok": False, "line": number, "error": f"internal error: {type(exc).__name__}: {exc}"}
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
