"""Boundary checks: command input, instance data and ids must be JSON values every store can hold,
within the documented limits (docs/persistence.md, "Limits").

The walk is iterative and bounded by depth, so input nested thousands of levels deep or holding
itself is refused with a message, never a ``RecursionError``. Strings must be valid UTF-8 without
NUL (neither a lone surrogate nor U+0000 can be stored in PostgreSQL, and a lone surrogate not in
SQLite either), so every backend accepts exactly the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expr.values import to_js_string
from .codes import ResultCode

#: the longest id (characters); PostgreSQL's unique index on (entity, id) holds ~2.7 KB per entry
MAX_ID_LENGTH = 512
#: the longest string value of a field or an input (characters)
MAX_STRING_LENGTH = 1_000_000
#: the deepest nesting of lists and objects in a value (the top-level object is level 1)
MAX_DEPTH = 64

#: prefix of a problem that is a limit (HTTP 413) rather than a malformed value (400)
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"

_SCALARS = (str, int, float, bool, type(None))
_SCALAR_SET = frozenset(_SCALARS)


_BOUND = 2**53


def flat_json_object(value: dict[Any, Any]) -> bool:
    """Fast path: a dict of string keys to JSON scalars whose strings need no closer look (ASCII
    and short; ``isascii`` is O(1) in CPython), with no int beyond 2**53 (those take the slow
    path, which makes them the doubles they are)."""
    scalars = _SCALAR_SET
    for key, item in value.items():
        t = type(item)
        if t not in scalars or type(key) is not str:
            return False
        if t is str and not (item.isascii() and len(item) <= 4096 and "\x00" not in item):
            return False
        if type(item) is int and not -_BOUND < item < _BOUND:
            return False
    return True


def string_problem(value: str, path: str) -> str | None:
    if len(value) > MAX_STRING_LENGTH:
        return f"{LIMIT_EXCEEDED}: {path} is longer than {MAX_STRING_LENGTH} characters"
    if "\x00" in value:
        return f"{path} contains a NUL character (U+0000), which no store can hold"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} contains a lone surrogate (not valid UTF-8)"
    return None


def json_problem(value: Any, path: str = "input") -> str | None:
    """None if ``value`` is a JSON value within the limits, else where and why it is not."""
    # (value, path, depth): an explicit stack, so depth is bounded by MAX_DEPTH, not the C stack
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        t = type(item)
        if t is str:
            problem = string_problem(item, where)
            if problem is not None:
                return problem
            continue
        if t in _SCALAR_SET:
            continue
        if depth >= MAX_DEPTH:
            return f"{LIMIT_EXCEEDED}: {where} is nested deeper than {MAX_DEPTH} levels"
        if t is dict or isinstance(item, Mapping):
            for key, child in item.items():
                if type(key) is not str:
                    return f"{where} has a non-string key {_short(key)}"
                problem = string_problem(key, f"{where} key")
                if problem is not None:
                    return problem
                stack.append((child, f"{where}.{key[:40]}", depth + 1))
        elif t is list or t is tuple:
            for i, child in enumerate(item):
                stack.append((child, f"{where}[{i}]", depth + 1))
        else:
            return f"{where} is a {t.__name__}, not a JSON value"
    return None


def id_problem(value: Any, what: str = "id") -> str | None:
    """None if ``value`` is a usable id (a string within the limits), else why not."""
    if type(value) is not str:
        return f"{what} must be a string, not {type(value).__name__}"
    if not value:
        return f"{what} must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{LIMIT_EXCEEDED}: {what} is longer than {MAX_ID_LENGTH} characters"
    return string_problem(value, what)


def as_id(value: Any) -> Any:
    """An id as the stores keep it: numbers become their string form (ids are strings in every
    store); anything else is returned unchanged for ``id_problem`` to judge."""
    t = type(value)
    if t is int or t is float:
        return to_js_string(value)
    return value


def bounded_int(value: Any, default: int, low: int, high: int) -> int:
    """A count read from the IR: a finite number clamped to [low, high], else ``default``
    (a hand-edited IR may hold NaN, infinity or a string where a count belongs)."""
    if type(value) is int or (type(value) is float and value == value and abs(value) != float("inf")):
        return max(low, min(high, int(value)))
    return default


def failure_text(problem: str) -> str:
    """The error of a failed result for ``problem`` (a limit keeps its own code)."""
    return problem if problem.startswith(LIMIT_EXCEEDED) else f"INVALID_INPUT: {problem}"


def failure_code(problem: str) -> ResultCode:
    """The ``ResultCode`` of a failed result for ``problem`` (the code of ``failure_text``)."""
    return ResultCode.LIMIT_EXCEEDED if problem.startswith(LIMIT_EXCEEDED) else ResultCode.INVALID_INPUT


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text[:60]
