"""Idempotency stores: a repeated key returns the first result instead of re-executing.

Optional capabilities the engine looks for (duck-typed, so backends stay independent):
- ``transactional_store``: if it *is* the engine's store, the record goes into the command's
  ``UnitOfWork`` and commits atomically with the instance rows (SQL stores);
- ``claim(key) -> bool`` / ``release(key)``: an in-progress marker so two concurrent requests with
  the same key do not both execute (Redis).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable


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
    lookup; results are values that callers must not mutate.
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
            self.results.setdefault(key, result)

    def size(self) -> int:
        return len(self.results)

    def clear(self) -> None:
        with self._lock:
            self.results.clear()
