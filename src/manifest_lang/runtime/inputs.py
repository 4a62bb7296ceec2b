"""Typed command inputs: each parameter checked against its declared type before policies run.

The reference accepts any JSON for any parameter (``{"quantity": "5"}`` for a ``number`` then
stores ``"05"`` after ``quantity + 5``); here a wrong type is a failed result with the reference's
``parameterFailure`` shape and the code ``INVALID_PARAMETER_TYPE``. ``RuntimeEngine(...,
strict_inputs=False)`` restores the reference's lax behaviour (the conformance runner uses it).

A checker is built once per command when the model is compiled (``input_checker``): per type a
small predicate, composed for lists, maps, value objects and nullability, so a call costs one
predicate per supplied parameter. ``InputTypes`` indexes the model's enums, value objects and
entities once for all its commands.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from .temporal import TEMPORAL_CHECKS, TEMPORAL_TYPES

INVALID_PARAMETER_TYPE = "INVALID_PARAMETER_TYPE"

#: value -> None when it fits, else the path-qualified reason ("[2].qty expects number")
Check = Callable[[Any], str | None]
#: supplied input -> the failure (parameterFailure dict plus the error message) or None
InputChecker = Callable[[Mapping[str, Any]], tuple[dict[str, Any], str] | None]

_FLOATS = frozenset(["number", "float", "decimal", "money"])
_INTEGERS = frozenset(["int", "integer", "bigint"])
_UNCHECKED = frozenset(["any", "json", "void", "unknown"])


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v: Any) -> bool:
    kind = type(v)
    return kind is int or (kind is float and math.isfinite(v))


def _is_integer(v: Any) -> bool:
    return type(v) is int or (type(v) is float and math.isfinite(v) and v.is_integer())


def _simple(test: Callable[[Any], bool], label: str) -> Check:
    def check(v: Any) -> str | None:
        return None if test(v) else f"expects {label}; got {_shown(v)}"

    return check


class InputTypes:
    """The named types of one model (enums, value objects, entities) for building checks."""

    def __init__(self, ir: Mapping[str, Any]) -> None:
        self.enums = {
            e["name"]: frozenset(v["name"] for v in e.get("values", [])) for e in ir.get("enums", [])
        }
        self.values = {v["name"]: v.get("properties", []) for v in ir.get("values", [])}
        self.entities = {e["name"] for e in ir.get("entities", [])}
        self._building: set[str] = set()

    def check_for(self, type_ir: Mapping[str, Any] | None, *, nullable: bool = False) -> Check | None:
        """The check of a type (None: nothing to check)."""
        if not isinstance(type_ir, Mapping):
            return None
        inner = self._plain(type_ir)
        if inner is None:
            return None
        if not (nullable or type_ir.get("nullable")):
            return inner

        def maybe_null(v: Any) -> str | None:
            return None if v is None else inner(v)

        return maybe_null

    def _plain(self, type_ir: Mapping[str, Any]) -> Check | None:
        name = str(type_ir.get("name") or "")
        generic = type_ir.get("generic")
        if name in _FLOATS:
            return _simple(_is_number, "number")
        if name in _INTEGERS:
            return _simple(_is_integer, "an integer")
        if name == "string":
            return _simple(lambda v: type(v) is str, "string")
        if name == "boolean":
            return _simple(lambda v: type(v) is bool, "boolean")
        if name in TEMPORAL_TYPES:
            kind = TEMPORAL_TYPES[name]
            return _simple(TEMPORAL_CHECKS[kind], kind)
        if name in ("list", "array"):
            return _list(self.check_for(generic) if isinstance(generic, Mapping) else None)
        if name in ("map", "record"):
            return _map(self.check_for(generic) if isinstance(generic, Mapping) else None)
        if name == "object":
            return _simple(lambda v: isinstance(v, dict), "object")
        if name in self.enums:
            allowed = self.enums[name]
            label = f"{name} (one of {', '.join(sorted(allowed))})"
            return _simple(lambda v: type(v) is str and v in allowed, label)
        if name in self.values and name not in self._building:
            return self._value_object(name)
        if name in self.entities:
            return _simple(lambda v: type(v) is str or isinstance(v, dict), f"{name} (an id or an object)")
        return None  # any, json, type parameters, names the compiler let through

    def _value_object(self, name: str) -> Check:
        self._building.add(name)
        try:
            fields: list[tuple[str, Check]] = []
            for prop in self.values[name]:
                field_check = self.check_for(prop.get("type"), nullable=True)
                if field_check is not None:
                    fields.append((prop["name"], field_check))
        finally:
            self._building.discard(name)

        def check_value(v: Any) -> str | None:
            if not isinstance(v, dict):
                return f"expects {name} (an object); got {_shown(v)}"
            for field_name, field_check in fields:
                if field_name in v:
                    reason = field_check(v[field_name])
                    if reason is not None:
                        return f".{field_name} {reason}"
            return None

        return check_value


def _list(element: Check | None) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, list):
            return f"expects a list; got {_shown(v)}"
        if element is not None:
            for index, item in enumerate(v):
                reason = element(item)
                if reason is not None:
                    return f"[{index}] {reason}"
        return None

    return check


def _map(value: Check | None) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return f"expects a map (an object); got {_shown(v)}"
        for key, item in v.items():
            if type(key) is not str:
                return f"expects string keys; got {_shown(key)}"
            if value is not None:
                reason = value(item)
                if reason is not None:
                    return f"[{json.dumps(key)}] {reason}"
        return None

    return check


#: the value types a check accepts without a call (the common case of a hot command), per type
_FAST: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(["number", "float", "decimal", "money", "int", "integer", "bigint"], (int,)),
    "string": (str,),
    "boolean": (bool,),
}
#: types whose finite floats are accepted inline too (``value - value == 0`` is false for nan/inf)
_FLOAT_OK = frozenset(["number", "float", "decimal", "money"])


def input_checker(command: Mapping[str, Any], types: InputTypes) -> InputChecker | None:
    """The checker of a command's supplied input, or None when no parameter has a checkable type.

    ``types`` (``InputTypes(ir)``) is built once per model and shared by its commands. Each
    parameter gets the value types it accepts at once (``int`` for a number, ``str`` for a
    string, ``None`` when nullable); anything else goes through its full check.
    """
    checks: list[tuple[str, tuple[type, ...], bool, Check, str]] = []
    for param in command.get("parameters", []) or []:
        if param.get("trustedSource"):
            continue  # injected from the runtime context, never taken from the caller
        type_ir = param.get("type") or {}
        nullable = bool(type_ir.get("nullable")) or not param.get("required", True)
        # an optional parameter may be sent as null as well as left out
        check = types.check_for(type_ir, nullable=not param.get("required", True))
        if check is None:
            continue
        type_name = str(type_ir.get("name") or "")
        accepted = _FAST.get(type_name, ()) + ((type(None),) if nullable else ())
        checks.append((param["name"], accepted, type_name in _FLOAT_OK, check, type_name))
    if not checks:
        return None
    name = str(command.get("name"))

    def check_input(supplied: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
        for param_name, accepted, floats, check, type_name in checks:
            if param_name not in supplied:
                continue
            value = supplied[param_name]
            kind = type(value)
            if kind in accepted or (floats and kind is float and value - value == 0.0):
                continue
            reason = check(value)
            if reason is not None:
                failure = {"parameter": param_name, "expectedType": type_name, "code": INVALID_PARAMETER_TYPE}
                sep = " " if reason.startswith("expects") else ""
                message = f"{INVALID_PARAMETER_TYPE}: command '{name}' parameter '{param_name}'{sep}{reason}"
                return failure, message
        return None

    return check_input
