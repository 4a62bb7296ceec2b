"""IR types as JSON Schema (2020-12), shared by request validation and the OpenAPI document.

One mapping serves both, so what ``/openapi.json`` promises is exactly what the server accepts.
Temporal types are what the runtime's checks accept (``runtime/temporal.py``: an ISO date, an
``HH:MM`` time, epoch ms or an ISO date-time, a number of ms), ``map``/``json``/``object`` are
objects, strings exclude U+0000, and unknown type names (entity references, value objects the IR
does not describe) accept any JSON value rather than rejecting valid models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NUMBER = {"number", "decimal", "money", "float", "double"}
_INTEGER = {"int", "integer", "bigint"}
_DATE_LIKE = {"date", "datetime", "timestamp", "time", "duration"}
_ARRAY = {"array", "list"}
_OBJECT = {"map", "record", "json", "object"}
_ANY = {"any", "unknown", "void"}


#: a string the server accepts: any text without U+0000, which PostgreSQL cannot store (so the
#: server refuses it on every store, and the document says so)
STRING: dict[str, Any] = {"type": "string", "pattern": "^[^\\u0000]*$"}


#: the values the runtime's temporal checks accept (runtime/temporal.py), as JSON Schema
_TEMPORAL: dict[str, dict[str, Any]] = {
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?$"},
    "datetime": {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
    "timestamp": {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
    "duration": {"type": "number"},
}


class TypeSchemas:
    """Converts IR type dicts to JSON Schema using the model's enums and value objects."""

    def __init__(self, ir: Mapping[str, Any]) -> None:
        self._enums = {e["name"]: [v["name"] for v in e.get("values", [])] for e in ir.get("enums") or []}
        self._values = {v["name"]: v for v in ir.get("values") or []}

    def for_type(self, ir_type: Mapping[str, Any] | None) -> dict[str, Any]:
        if not ir_type:
            return {}
        schema = self._base(ir_type)
        if ir_type.get("nullable") and schema:
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def query_scalar(self, ir_type: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Schema of a query-string filter on a property of ``ir_type``; None if not filterable."""
        if str((ir_type or {}).get("name")) in _DATE_LIKE:
            return dict(STRING)  # compared as stored; the query string has no numbers
        schema = self._base(ir_type or {})
        kind = schema.get("type")
        return schema if kind in ("string", "number", "integer", "boolean") else None

    def _base(self, ir_type: Mapping[str, Any]) -> dict[str, Any]:
        name = str(ir_type.get("name", "any"))
        if name == "string":
            return dict(STRING)
        if name in _NUMBER:
            return {"type": "number"}
        if name in _INTEGER:
            return {"type": "integer"}
        if name in {"boolean", "bool"}:
            return {"type": "boolean"}
        if name in _DATE_LIKE:
            return dict(_TEMPORAL[name])
        if name in _ARRAY:
            return {"type": "array", "items": self.for_type(ir_type.get("generic"))}
        if name in _OBJECT:
            generic = ir_type.get("generic")
            schema: dict[str, Any] = {"type": "object"}
            if generic and name in {"map", "record"}:
                schema["additionalProperties"] = self.for_type(generic)
            return schema
        if name in self._enums:
            return {"type": "string", "enum": list(self._enums[name])}
        if name in self._values:
            return self.for_properties(self._values[name].get("properties") or [], required_all=True)
        return {}

    def for_properties(
        self, properties: list[Mapping[str, Any]], *, required_all: bool = False
    ) -> dict[str, Any]:
        """An object schema of IR properties (value objects, entity rows)."""
        props = {p["name"]: self.for_type(p.get("type")) for p in properties}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required_all and props:
            schema["required"] = list(props)
        return schema

    def command_input(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """The input object a client sends: declared parameters minus context-injected ones."""
        props: dict[str, Any] = {}
        required: list[str] = []
        for param in command.get("parameters") or []:
            if param.get("trustedSource"):
                continue  # injected from the caller's context; a client value is discarded
            props[param["name"]] = self.for_type(param.get("type"))
            if param.get("required", True) and "defaultValue" not in param:
                required.append(param["name"])
        schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def entity_row(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        schema = self.for_properties(entity.get("properties") or [])
        schema["properties"].setdefault("id", dict(STRING))
        return schema


def python_value(text: str, ir_type: Mapping[str, Any] | None) -> Any:
    """Convert a query-string value to the Python value a property of ``ir_type`` stores.

    Raises ValueError when the text cannot be that type, so filters never silently match nothing
    because of a type mismatch (``?price=abc`` on a number is a client error).
    """
    name = str((ir_type or {}).get("name", "string"))
    if (ir_type or {}).get("nullable") and text == "null":
        return None
    if name in _NUMBER or name in _INTEGER:
        digits = text[1:] if text[:1] == "-" else text
        if digits.isascii() and digits.isdigit() and -(2**63) <= int(text) < 2**63:
            # exact, as JSON integers are stored; beyond 64 bits the stores hold floats
            return int(text)
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {text!r}")
        safe = number.is_integer() and abs(number) <= 2**53
        return int(number) if safe and name in _INTEGER | {"number"} else number
    if name in {"boolean", "bool"}:
        if text not in {"true", "false"}:
            raise ValueError(f"not a boolean: {text!r}")
        return text == "true"
    return text
