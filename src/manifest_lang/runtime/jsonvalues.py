"""Boundary check: command input and instance data must be JSON values (what stores can hold)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


_SCALAR_SET = frozenset(_SCALARS)


_BOUND = 2**53


def flat_json_object(value: dict[Any, Any]) -> bool:
    """Fast path: a dict of string keys to JSON scalars (the usual command input), with no int
    beyond 2**53 (those take the slow path, which makes them the doubles they are)."""
    scalars = _SCALAR_SET
    for key, item in value.items():
        if type(item) not in scalars or type(key) is not str:
            return False
        if type(item) is int and not -_BOUND < item < _BOUND:
            return False
    return True


def json_problem(value: Any, path: str = "input") -> str | None:
    """None if ``value`` is a JSON value (dict keys are strings), else where and why it is not."""
    t = type(value)
    if t in _SCALARS:
        return None
    if t is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return f"{path} has a non-string key {key!r}"
            ti = type(item)
            if ti is str or ti is int or ti is float or ti is bool or item is None:
                continue
            problem = json_problem(item, f"{path}.{key}")
            if problem is not None:
                return problem
        return None
    if t is list or t is tuple:
        for i, item in enumerate(value):
            problem = json_problem(item, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    return f"{path} is a {t.__name__}, not a JSON value"
