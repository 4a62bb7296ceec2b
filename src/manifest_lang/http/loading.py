"""Turning what ``create_app`` / ``manifest serve`` are given into one shared ``CompiledModel``.

A model may be a path (``.manifest`` source or ``.json`` IR), source text, an IR dict, or a
``CompiledModel``. Compilation errors surface as ``CompileError`` with the diagnostics, so the
CLI can print one clear line and exit non-zero.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CompileError, IRError


def _compile(source: str, origin: str, path: Path | None = None) -> dict[str, Any]:
    from ..compiler.api import compile_file, compile_source

    # a file's `use` lines are resolved relative to it; source text has no directory to use
    compiled = compile_file(path) if path is not None else compile_source(source)
    errors = [d for d in compiled.diagnostics if _severity(d) == "error"]
    if compiled.ir is None or errors:
        first = errors[0] if errors else None
        where = ""
        if first is not None:
            line, column = _field(first, "line"), _field(first, "column")
            where = f":{line}:{column}" if line is not None else ""
            imported = _field(first, "file")
            if imported is not None and path is not None and imported != path.name:
                origin = str(path.parent / imported)
        message = _field(first, "message") if first is not None else "no IR produced"
        raise CompileError(f"{origin}{where}: {message}", list(compiled.diagnostics))
    return dict(compiled.ir)


def _field(diagnostic: Any, name: str) -> Any:
    if isinstance(diagnostic, Mapping):
        return diagnostic.get(name)
    return getattr(diagnostic, name, None)


def _severity(diagnostic: Any) -> str:
    return str(_field(diagnostic, "severity") or "")


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and (text.endswith((".manifest", ".json")) or os.path.sep in text)


def load_ir(model: Any) -> dict[str, Any]:
    """The IR dict of a path, source text, IR mapping or compiled model."""
    ir = getattr(model, "ir", None)
    if isinstance(ir, Mapping):
        return dict(ir)
    if isinstance(model, Mapping):
        return dict(model)
    if isinstance(model, Path) or (isinstance(model, str) and _looks_like_path(model)):
        path = Path(model)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CompileError(f"{path}: cannot read model ({exc.strerror or exc})") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise IRError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise IRError(f"{path}: IR must be a JSON object")
            return data
        return _compile(text, str(path), path)
    if isinstance(model, str):
        return _compile(model, "<source>")
    raise TypeError(f"cannot load a model from {type(model).__name__}")


def compiled_model(model: Any) -> Any:
    """A ``CompiledModel`` shared by every engine the app creates."""
    from ..runtime.model import CompiledModel

    if isinstance(model, CompiledModel):
        return model
    return CompiledModel(load_ir(model))
