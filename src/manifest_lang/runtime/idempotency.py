"""Idempotency stores: a repeated key returns the first result instead of re-executing.

Optional capabilities the engine looks for (duck-typed, so backends stay independent):
- ``transactional_store``: if it *is* the engine's store, the record goes into the command's
  ``UnitOfWork`` and commits atomically with the instance rows (SQL stores);
- ``claim(key) -> bool`` / ``release(key)``: an in-progress marker so two concurrent requests with
  the same key do not both execute (Redis).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .results import (
    CommandResult,
    ConcurrencyConflict,
    ConstraintOutcome,
    EmittedEvent,
    GuardFailure,
    OverrideRequest,
    PolicyDenial,
)

UntrackFn = Callable[[Any, tuple[type, ...], tuple[tuple[type, str], ...]], None]


def _load_untrack() -> UntrackFn | None:
    """The optional C helper (``runtime/_untrack.c``, built at install time when a compiler is there)."""
    try:
        module = importlib.import_module("_manifest_untrack")
    except ImportError:
        return None
    untrack: UntrackFn = module.untrack_results
    return untrack


_untrack_results = _load_untrack()

#: the types ``_untrack_results`` may take out of the cycle collector: the engine's own result
#: values, never a dict or a user value they hold
RESULT_TYPES = (
    CommandResult,
    ConstraintOutcome,
    EmittedEvent,
    GuardFailure,
    PolicyDenial,
    ConcurrencyConflict,
    OverrideRequest,
)

#: attributes of result objects that hold a caller's value (a command's return value, a version the
#: caller sent): never followed, so nothing in them is ever untracked, whatever its type
USER_VALUE_ATTRS = (
    (CommandResult, "result"),
    (ConcurrencyConflict, "expected_version"),
    (ConcurrencyConflict, "actual_version"),
)


def untracking_available() -> bool:
    """Whether stored results are kept out of the cycle collector (the C helper was built)."""
    return _untrack_results is not None


@runtime_checkable
class IdempotencyStore(Protocol):
    def has(self, key: str) -> bool: ...

    def get(self, key: str) -> Any:
        """The recorded result (a ``CommandResult`` or its dict), or None."""
        ...

    def set(self, key: str, result: Any) -> None: ...


class MemoryIdempotencyStore:
    """In-process store; the first write for a key wins.

    It keeps the ``CommandResult`` object itself (``accepts_results``), so a replay costs a dict
    lookup; results are values that callers must not mutate. With the C helper (built at install
    time when a compiler is there) a stored result is taken out of CPython's cycle collector (it
    holds no cycles): with tens of thousands of stored results, full collections otherwise cost
    about as much as the commands themselves.
    """

    #: the engine may pass ``CommandResult`` objects instead of their JSON dicts
    accepts_results = True

    def __init__(self) -> None:
        #: key -> result; read directly by the engine's replay shortcut (writes go through ``set``)
        self.results: dict[str, Any] = {}
        self._lock = threading.Lock()

    def has(self, key: str) -> bool:
        return key in self.results

    def get(self, key: str) -> Any:
        return self.results.get(key)

    def set(self, key: str, result: Any) -> None:
        with self._lock:
            stored = self.results.setdefault(key, result)
        if stored is result and _untrack_results is not None and type(result) is CommandResult:
            try:
                _untrack_results(result, RESULT_TYPES, USER_VALUE_ATTRS)
            except Exception:  # noqa: BLE001 - an optimisation only: a result left tracked is correct
                pass

    def size(self) -> int:
        return len(self.results)

    def clear(self) -> None:
        with self._lock:
            self.results.clear()
