"""Public compiler API: ``compile_source`` / ``compile_file``. Never raises on any input."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..ir import MAX_IR_DEPTH
from ..syntax.parser import parse
from .diagnostics import Diagnostic, DiagnosticSink
from .pipeline import Pipeline
from .provenance import IRNestingError, build_provenance


@dataclass
class CompileResult:
    ir: dict[str, Any] | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ir is not None and not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def compile_source(
    source: str, *, filename: str | None = None, now: datetime | None = None, strict: bool = False
) -> CompileResult:
    """Compile Manifest ``source`` to IR v1. Errors come back as diagnostics, never as exceptions.

    ``strict=True`` turns off the seed-syntax extensions (the reference grammar exactly);
    ``now`` fixes ``provenance.compiledAt``.
    """
    # The compile allocates millions of small acyclic objects; the cyclic GC would rescan them
    # over and over (quadratic-looking slowdowns on big models), so it is paused meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(source, now, strict)
    except RecursionError:
        return CompileResult(None, [Diagnostic("error", "Source nests too deeply to compile")])
    except Exception as exc:  # noqa: BLE001 - the API contract is "never raises"; report instead
        return CompileResult(
            None, [Diagnostic("error", f"Internal compiler error: {type(exc).__name__}: {exc}")]
        )
    finally:
        if gc_was_enabled:
            gc.enable()


def _compile(source: str, now: datetime | None, strict: bool) -> CompileResult:
    parsed = parse(source, extended=not strict)
    diagnostics = [Diagnostic(d.severity, d.message, d.line, d.column, d.code) for d in parsed.diagnostics]
    if any(d.severity == "error" for d in diagnostics):
        return CompileResult(None, diagnostics)
    sink = DiagnosticSink()
    sink.items = diagnostics
    ir = Pipeline(parsed.program, sink).run()
    if ir is None or sink.has_errors:
        return CompileResult(None, sink.items)
    body = {k: v for k, v in ir.items() if k != "provenance"}
    try:
        provenance = build_provenance(source, __version__, {"version": ir["version"], **body}, now=now)
    except IRNestingError:
        # e.g. `x + x + ... + x` with hundreds of terms: a left-nested tree as deep as it is long
        message = (
            f"An expression nests too deeply: the IR would nest more than {MAX_IR_DEPTH} levels, "
            "which no JSON writer here accepts; split it (e.g. into computed properties)"
        )
        return CompileResult(None, [*sink.items, Diagnostic("error", message)])
    final = {
        "version": ir["version"],
        "provenance": provenance,
        **{k: v for k, v in body.items() if k != "version"},
    }
    return CompileResult(final, sink.items)


def compile_file(path: str | Path) -> CompileResult:
    """Compile a file; unreadable or non-UTF-8 files come back as one error diagnostic."""
    try:
        source = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return CompileResult(None, [Diagnostic("error", f"Cannot read {path}: {exc}")])
    return compile_source(source, filename=str(path))
