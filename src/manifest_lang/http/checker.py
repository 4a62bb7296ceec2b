"""Request input checks compiled once per model: a plan of closures per command, no jsonschema per request.

The plan is compiled from the JSON Schema ``TypeSchemas`` derives from the command's parameter
types (``schema.py``), the same document ``/openapi.json`` publishes, so the two cannot drift:
it covers exactly the vocabulary that mapping produces (``type``, ``enum``, ``pattern``,
``anyOf``, ``properties``, ``required``, ``additionalProperties``, ``items``; ``format`` is an
annotation, as for jsonschema without a format checker). Its verdicts are jsonschema's (Draft
2020-12: ``true`` is no number, ``1.0`` is an integer, a pattern is searched, not matched); a
test compares both on random inputs of every parameter type.

A valid request, the common case, costs a few type checks. An invalid one is then described by
jsonschema (built on first use), so the problem document lists the same mismatches in the same
words as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

try:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "jsonschema", "http") from exc

Check = Callable[[Any], bool]


def _any(value: Any) -> bool:
    return True


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A predicate that is True exactly when ``schema`` accepts a JSON value."""
    checks: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        checks.append(_type_check(kind))
    if "enum" in schema:
        checks.append(_enum_check(list(schema["enum"])))
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: type(v) is not str or search(v) is not None)
    if "anyOf" in schema:
        branches = tuple(compile_schema(s) for s in schema["anyOf"])
        checks.append(lambda v: any(b(v) for b in branches))
    if "items" in schema:
        item = compile_schema(schema["items"])
        checks.append(lambda v: type(v) is not list or all(item(x) for x in v))
    if {"properties", "required", "additionalProperties"} & set(schema):
        checks.append(_object_check(schema))
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"the input checker does not compile {sorted(unknown)}")
    if not checks:
        return _any
    if len(checks) == 1:
        return checks[0]
    plan = tuple(checks)
    return lambda v: all(c(v) for c in plan)


_KNOWN = frozenset(
    {"type", "enum", "pattern", "anyOf", "items", "properties", "required", "additionalProperties", "format"}
)


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is float or t is int or (isinstance(v, int | float) and not isinstance(v, bool))


def _is_integer(v: Any) -> bool:
    t = type(v)
    if t is int:
        return True
    if t is float:
        return v.is_integer()  # type: ignore[no-any-return]
    return isinstance(v, int) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _type_check(kind: str | list[str]) -> Check:
    if isinstance(kind, str):
        return _TYPES[kind]
    options = tuple(_TYPES[k] for k in kind)
    return lambda v: any(o(v) for o in options)


def _enum_check(values: list[Any]) -> Check:
    if all(type(x) is str for x in values):
        allowed = frozenset(values)
        return lambda v: type(v) is str and v in allowed
    raise ValueError("the input checker compiles enums of strings only")


def _object_check(schema: Mapping[str, Any]) -> Check:
    props = {name: compile_schema(s) for name, s in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    extra_check: Check | None = None
    closed = extra is False
    if isinstance(extra, Mapping):
        extra_check = compile_schema(extra)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True  # ``type`` (when declared) refuses it
        for name in required:
            if name not in v:
                return False
        for name, value in v.items():
            prop = props.get(name)
            if prop is not None:
                if not prop(value):
                    return False
            elif closed:
                return False
            elif extra_check is not None and not extra_check(value):
                return False
        return True

    return check


class InputChecker:
    """One command's (or plain create's) input check: the compiled verdict, and jsonschema's
    description of what is wrong when it is not valid."""

    __slots__ = ("schema", "valid", "_validator")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.valid = compile_schema(schema)
        self._validator: Any = None

    def errors(self, data: Any) -> list[Any]:
        """jsonschema's errors for ``data`` (for the problem document of an invalid request)."""
        if self._validator is None:
            self._validator = Draft202012Validator(self.schema)
        return list(self._validator.iter_errors(data))
