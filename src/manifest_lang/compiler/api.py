"""Public compiler API: ``compile_source`` / ``compile_file``. Never raises on any input."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..untrusted import MAX_IR_DEPTH
from ..version import __version__
from .diagnostics import Diagnostic, DiagnosticSink
from .imports import LoadedProgram, Loader, as_loader, load_program
from .pipeline import Pipeline
from .provenance import IRNestingError, build_provenance, content_hash

if TYPE_CHECKING:  # pathlib (and the urllib.parse it loads) only for files: see _file_name
    from pathlib import Path


@dataclass
class CompileResult:
    ir: dict[str, Any] | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: every file compiled, by its path relative to the root file's directory (the root included)
    files: dict[str, str] = field(default_factory=dict)
    #: the parsed program(s), for tools working on the syntax tree (checker, language server)
    loaded: LoadedProgram | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.ir is not None and not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def compile_source(
    source: str,
    *,
    filename: str | None = None,
    now: datetime | None = None,
    strict: bool = False,
    loader: Loader | Mapping[str, str] | None = None,
    base_dir: str | Path | None = None,
) -> CompileResult:
    """Compile Manifest ``source`` to IR v1. Errors come back as diagnostics, never as exceptions.

    ``strict=True`` turns off the seed-syntax extensions (the reference grammar exactly);
    ``now`` fixes ``provenance.compiledAt``. ``use`` lines are resolved only when a ``loader``
    (a callable or a ``{relative path: text}`` map) or a ``base_dir`` is given; otherwise they
    are ignored, like the reference's single-file compile.
    """
    # The compile allocates millions of small acyclic objects; the cyclic GC would rescan them
    # over and over (quadratic-looking slowdowns on big models), so it is paused meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    root = _file_name(filename) if filename and filename != "-" else "<source>"
    try:
        return _compile(source, root, now, strict, as_loader(loader, base_dir))
    except RecursionError:
        return CompileResult(None, [Diagnostic("error", "Source nests too deeply to compile")])
    except Exception as exc:  # noqa: BLE001 - the API contract is "never raises"; report instead
        return CompileResult(
            None, [Diagnostic("error", f"Internal compiler error: {type(exc).__name__}: {exc}")]
        )
    finally:
        if gc_was_enabled:
            gc.enable()


def _file_name(filename: str) -> str:
    from pathlib import Path

    return Path(filename).name


def _compile(
    source: str, root: str, now: datetime | None, strict: bool, loader: Loader | None
) -> CompileResult:
    loaded = load_program(source, root, loader, extended=not strict)
    files = {f.path: f.text for f in loaded.files}
    if loaded.has_errors:
        return CompileResult(None, loaded.diagnostics, files, loaded)
    sink = DiagnosticSink()
    sink.items = list(loaded.diagnostics)
    ir = Pipeline(loaded.program, sink).run()
    diagnostics = [loaded.source_map.localise(d) for d in sink.items] if loaded.multi_file else sink.items
    if ir is None or sink.has_errors:
        return CompileResult(None, diagnostics, files, loaded)
    body = {k: v for k, v in ir.items() if k != "provenance"}
    sources = [{"path": f.path, "contentHash": content_hash(f.text)} for f in loaded.files]
    try:
        provenance = build_provenance(
            source,
            __version__,
            {"version": ir["version"], **body},
            now=now,
            sources=sources if loaded.multi_file else None,
        )
    except IRNestingError:
        # e.g. `x + x + ... + x` with hundreds of terms: a left-nested tree as deep as it is long
        message = (
            f"An expression nests too deeply: the IR would nest more than {MAX_IR_DEPTH} levels, "
            "which no JSON writer here accepts; split it (e.g. into computed properties)"
        )
        return CompileResult(None, [*diagnostics, Diagnostic("error", message)], files, loaded)
    final = {
        "version": ir["version"],
        "provenance": provenance,
        **{k: v for k, v in body.items() if k != "version"},
    }
    return CompileResult(final, diagnostics, files, loaded)


def compile_file(path: str | Path, *, now: datetime | None = None, strict: bool = False) -> CompileResult:
    """Compile a file and the files it ``use``s (resolved relative to each importing file).

    Unreadable or non-UTF-8 files come back as one error diagnostic.
    """
    from pathlib import Path

    try:
        source = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return CompileResult(None, [Diagnostic("error", f"Cannot read {path}: {exc}")])
    return compile_source(
        source, filename=str(path), now=now, strict=strict, base_dir=Path(path).resolve().parent
    )
