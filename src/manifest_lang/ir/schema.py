"""Validation of IR documents against ``ir-v1.schema.json``, fast enough for 1000-entity models.

A small validator compiles the schema's keywords into closures (``type``, ``const``, ``enum``,
``required``, ``properties``, ``additionalProperties``, ``items``, ``$ref``, ``oneOf``, ``not``,
``minimum``, ``minLength``, ``pattern``: all the schema uses). ``oneOf`` branches that carry a
``kind`` constant are told apart by it, so an expression node is checked against one branch instead
of all eleven; generic ``jsonschema`` spends over 100 s on a 1000-entity IR, this takes about one.
Its verdicts are tested against ``jsonschema`` on the conformance IRs and thousands of mutations.
"""

from __future__ import annotations

import json
import re
import threading
from importlib import resources
from typing import Any

from ..errors import IRError

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}

Problem = tuple[str, list[Any]]  # message, path


def _show(value: Any) -> str:
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


Check = Any  # Callable[[Any, list[Any]], Problem | None]


class SchemaChecker:
    """Checks JSON values against one JSON schema, compiled to one closure per schema node."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.definitions: dict[str, Any] = schema.get("definitions", {})
        self._compiled: dict[int, Check] = {}
        self._root = self.compile(schema)

    def first_problem(self, value: Any) -> Problem | None:
        return self._root(value, [])  # type: ignore[no-any-return]

    def compile(self, schema: Any) -> Check:
        key = id(schema)
        if key in self._compiled:
            return self._compiled[key]
        # Placeholder first: recursive definitions ($ref cycles) call through it.
        cell: list[Check] = []
        self._compiled[key] = lambda v, p: cell[0](v, p)
        check = self._build(schema)
        cell.append(check)
        self._compiled[key] = check
        return check

    def _build(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v, p: None
        if schema is False:
            return lambda v, p: ("False schema does not allow " + _show(v), p)
        ref = schema.get("$ref")
        if ref is not None:
            return self.compile(self.definitions[ref.rsplit("/", 1)[-1]])
        steps: list[Check] = [_scalar_check(schema)] if _has_scalar_keywords(schema) else []
        if "oneOf" in schema:
            steps.append(self._one_of(schema["oneOf"]))
        if "not" in schema:
            negated = self.compile(schema["not"])
            steps.append(
                lambda v, p: None if negated(v, p) is not None else (f"{_show(v)} is not allowed", p)
            )
        if "required" in schema or "properties" in schema or "additionalProperties" in schema:
            steps.append(self._object(schema))
        if "items" in schema:
            item = self.compile(schema["items"])

            def items(v: Any, p: list[Any]) -> Problem | None:
                if isinstance(v, list):
                    for i, x in enumerate(v):
                        problem = item(x, [*p, i])
                        if problem is not None:
                            return problem  # type: ignore[no-any-return]
                return None

            steps.append(items)
        if len(steps) == 1:
            return steps[0]

        def all_of(v: Any, p: list[Any]) -> Problem | None:
            for step in steps:
                problem = step(v, p)
                if problem is not None:
                    return problem  # type: ignore[no-any-return]
            return None

        return all_of

    def _object(self, schema: dict[str, Any]) -> Check:
        required = tuple(schema.get("required", ()))
        props = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        extra_check = None if isinstance(extra, bool) else self.compile(extra)
        closed = extra is False

        def check_object(v: Any, p: list[Any]) -> Problem | None:
            if not isinstance(v, dict):
                return None
            for key in required:
                if key not in v:
                    return f"'{key}' is a required property", p
            for key, item in v.items():
                sub = props.get(key)
                if sub is None:
                    if closed:
                        return f"Additional properties are not allowed ('{key}' was unexpected)", p
                    if extra_check is None:
                        continue
                    sub = extra_check
                problem = sub(item, [*p, key])
                if problem is not None:
                    return problem  # type: ignore[no-any-return]
            return None

        return check_object

    def _one_of(self, branches: list[Any]) -> Check:
        table = _kind_table(branches)
        if table is not None:
            compiled = {kind: self.compile(branch) for kind, branch in table.items()}

            def by_kind(v: Any, p: list[Any]) -> Problem | None:
                if not isinstance(v, dict):
                    return f"{_show(v)} is not of type 'object'", p
                kind = v.get("kind")
                branch = compiled.get(kind) if _hashable(kind) else None
                if branch is None:
                    return f"{_show(kind)} is not a valid kind here", [*p, "kind"]
                return branch(v, p)  # type: ignore[no-any-return]

            return by_kind
        checks = [self.compile(b) for b in branches]

        def one_of(v: Any, p: list[Any]) -> Problem | None:
            matches = sum(1 for c in checks if c(v, p) is None)
            if matches != 1:
                return f"{_show(v)} is valid under {matches} of the oneOf schemas (expected 1)", p
            return None

        return one_of


_SCALAR_KEYWORDS = ("type", "const", "enum", "minLength", "pattern", "minimum")


def _has_scalar_keywords(schema: dict[str, Any]) -> bool:
    return any(k in schema for k in _SCALAR_KEYWORDS)


def _scalar_check(schema: dict[str, Any]) -> Check:
    expected = schema.get("type")
    names = (expected if isinstance(expected, list) else [expected]) if expected is not None else []
    tests = [_TYPES[n] for n in names]
    has_const, const = "const" in schema, schema.get("const")
    enum = schema.get("enum")
    min_length = schema.get("minLength", 0)
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    minimum = schema.get("minimum")

    def check_scalar(v: Any, p: list[Any]) -> Problem | None:
        if tests and not any(t(v) for t in tests):
            return f"{_show(v)} is not of type {', '.join(repr(n) for n in names)}", p
        if has_const and not _json_equal(v, const):
            return f"{const!r} was expected", p
        if enum is not None and not any(_json_equal(v, e) for e in enum):
            return f"{_show(v)} is not one of {enum}", p
        if isinstance(v, str):
            if len(v) < min_length:
                return f"{_show(v)} is too short", p
            if pattern is not None and pattern.search(v) is None:
                return f"{_show(v)} does not match {pattern.pattern!r}", p
        if minimum is not None and _TYPES["number"](v) and v < minimum:
            return f"{v} is less than the minimum of {minimum}", p
        return None

    return check_scalar


def _kind_table(branches: list[Any]) -> dict[Any, dict[str, Any]] | None:
    """``kind`` value -> branch, when every branch is an object pinned by a distinct kind."""
    table: dict[Any, dict[str, Any]] = {}
    for branch in branches:
        kind = branch.get("properties", {}).get("kind", {}) if isinstance(branch, dict) else {}
        values = [kind["const"]] if "const" in kind else list(kind.get("enum", []))
        pinned = branch.get("type") == "object" and "kind" in branch.get("required", ())
        if not values or not pinned or any(v in table for v in values):
            return None
        for v in values:
            table[v] = branch
    return table


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


_CHECKER: SchemaChecker | None = None
_LOCK = threading.Lock()


def ir_schema() -> dict[str, Any]:
    """The IR v1 JSON schema shipped with the package."""
    text = resources.files(__package__).joinpath("ir-v1.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def validate_ir(ir: Any) -> None:
    """Raise ``IRError`` naming the first violation of ``ir-v1.schema.json`` in ``ir``."""
    global _CHECKER
    if not isinstance(ir, dict):
        raise IRError(f"IR must be a JSON object, got {type(ir).__name__}")
    with _LOCK:
        if _CHECKER is None:
            _CHECKER = SchemaChecker(ir_schema())
    try:
        problem = _CHECKER.first_problem(ir)
    except RecursionError:  # the checker descends one frame per level; an IR is never this deep
        raise IRError("IR nests too deeply to check (more than about 240 levels)") from None
    if problem is not None:
        message, path = problem
        where = "/".join(str(p) for p in path) or "(root)"
        raise IRError(f"IR does not match ir-v1.schema.json at {where}: {message}", path=where)
