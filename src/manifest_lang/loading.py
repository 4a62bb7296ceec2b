"""The one way a model comes in: a path, source text, an IR dict or a ``CompiledModel``.

Every caller that accepts "a model" (``RuntimeFactory``, ``create_app``, ``manifest serve`` /
``run`` / ``replay``, the replayer) goes through :func:`load_model`, so they all accept the same
things and fail the same way. The rule for telling them apart:

- a ``CompiledModel`` is used as it is;
- a mapping is an IR v1 document (checked against the schema when it is compiled);
- an ``os.PathLike`` (``pathlib.Path``) is always a file;
- a ``str`` is a file name when it is one line ending in ``.manifest`` or ``.json`` (any case),
  whether or not the file exists (a missing file is a clear error, never a confusing compile of
  the name as source); any other ``str`` is Manifest source text;
- a file ending in ``.json`` holds IR; any other file holds Manifest source, compiled here with
  its ``use`` lines resolved relative to it (source text given as a ``str`` has no directory:
  its ``use`` lines are not resolved, with a ``USE_NOT_RESOLVED`` warning);
- anything else raises ``InvalidInputError``.

Failures are ``ManifestError`` subclasses whose message names the origin (the path, or
``<source>``): ``CompileError`` (unreadable file, source that does not compile, with the
diagnostics), ``IRError`` (not JSON, not an object, not valid IR v1). This module sits above
``runtime/`` and imports the compiler only when source text has to be compiled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from . import untrusted
from .errors import CompileError, InvalidInputError, IRError
from .runtime.model import CompiledModel, compiled_model
from .untrusted import MAX_IR_DEPTH, decode_text

SOURCE_ORIGIN = "<source>"
_PATH_SUFFIXES = (".manifest", ".json")


def is_path(model: object) -> bool:
    """Whether ``model`` names a file under the rule above."""
    if isinstance(model, os.PathLike):
        return True
    return isinstance(model, str) and "\n" not in model and model.lower().endswith(_PATH_SUFFIXES)


def load_model(model: Any) -> CompiledModel:
    """The ``CompiledModel`` of a path, source text, IR mapping or compiled model."""
    if isinstance(model, CompiledModel):
        return model
    if isinstance(model, Mapping):
        return compiled_model(model if type(model) is dict else dict(model))
    if is_path(model):
        path = Path(model)
        return _with_origin(str(path), _read_ir(path))
    if isinstance(model, str):
        return _with_origin(SOURCE_ORIGIN, compile_text(model, SOURCE_ORIGIN))
    raise InvalidInputError(
        f"cannot load a model from {type(model).__name__}: "
        "expected a path, Manifest source text, an IR dict or a CompiledModel"
    )


def load_ir(model: Any) -> dict[str, Any]:
    """The IR dict of anything :func:`load_model` accepts (without compiling an IR it is given)."""
    if isinstance(model, CompiledModel):
        return model.ir
    if isinstance(model, Mapping):
        return dict(model)
    if is_path(model):
        return _read_ir(Path(model))
    if isinstance(model, str):
        return compile_text(model, SOURCE_ORIGIN)
    return load_model(model).ir  # raises the InvalidInputError


def compile_text(source: str, origin: str, path: Path | None = None) -> dict[str, Any]:
    """The IR of Manifest source text; ``CompileError`` (with the diagnostics) when it has errors.

    With ``path`` (the file the text was read from), its ``use`` lines are resolved next to it.
    """
    from .compiler.api import compile_source

    base_dir = path.resolve().parent if path is not None else None
    compiled = compile_source(source, filename=str(path) if path else None, base_dir=base_dir)
    errors = [d for d in compiled.diagnostics if d.severity == "error"]
    if compiled.ir is None or errors:
        first = errors[0] if errors else None
        message = first.message if first is not None else "no IR produced"
        where = f" (at {first.line}:{first.column})" if first is not None and first.line else ""
        if first is not None and first.file is not None and path is not None and first.file != path.name:
            where = f" (at {path.parent / first.file}:{first.line}:{first.column})"
        raise CompileError(f"{origin}: model does not compile: {message}{where}", list(compiled.diagnostics))
    return dict(compiled.ir)


def _read_ir(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CompileError(f"cannot read model {path}: no such file") from None
    except OSError as exc:
        raise CompileError(f"cannot read model {path}: {exc.strerror or exc}") from None
    try:
        text = decode_text(data, f"cannot read model {path}")
    except InvalidInputError as exc:
        raise CompileError(exc.message) from None
    if path.suffix.lower() != ".json":
        return compile_text(text, str(path), path)
    try:
        data = untrusted.loads(text, limit=MAX_IR_DEPTH)
    except untrusted.JsonTooDeepError:
        raise IRError(f"model {path} nests deeper than {MAX_IR_DEPTH} levels, which no IR does") from None
    except orjson.JSONDecodeError as exc:
        raise IRError(f"model {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IRError(f"{path}: IR must be a JSON object")
    return data


def _with_origin(origin: str, ir: dict[str, Any]) -> CompiledModel:
    """Compile ``ir``; an invalid IR's message names where it came from."""
    try:
        return CompiledModel(ir)
    except IRError as exc:
        raise IRError(f"{origin}: {exc.message}", **exc.details) from None


__all__ = ["load_model", "load_ir", "compile_text", "is_path", "SOURCE_ORIGIN"]
