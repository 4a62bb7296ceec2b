"""The one place the runtime touches the built-in function registry (``expr/builtins.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..expr.builtins import BUILTINS, merge_builtins

Builtin = Callable[[Any, list[Any]], Any]


def builtins_with(custom: Mapping[str, Builtin] | None = None) -> dict[str, Builtin]:
    """Core built-ins over the application's custom ones (core names win, as in the reference)."""
    return merge_builtins(custom) if custom else dict(BUILTINS)
