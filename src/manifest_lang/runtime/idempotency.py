"""Idempotency stores: a repeated key returns the first result instead of re-executing.

Keys are ``IdempotencyKey(tenant, key)`` tuples: the engine scopes every key by the caller's tenant
structurally, so no key text can reach another tenant's records. Every record carries the
fingerprint of the request that produced it (command, entity, instance, input, override requests,
caller); the same key with another request is refused (``IDEMPOTENCY_KEY_REUSED``), never answered
with the first result.

Capabilities the engine looks for (duck-typed, so backends stay independent; every store of this
package has all of them):
- ``lookup(key) -> IdempotencyRecord | None``: the result with its fingerprint (else ``get``);
- ``transactional_store``: if it *is* the engine's store, the record goes into the command's
  ``UnitOfWork`` and commits atomically with the instance rows (SQL stores);
- ``claim(key) -> bool`` / ``release(key)``: an in-progress marker so two concurrent requests with
  the same key do not both execute; a claim expires (a crashed request frees its key).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import orjson

from ..stores.base import IdempotencyKey, IdempotencyRecord
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
    def has(self, key: IdempotencyKey) -> bool: ...

    def get(self, key: IdempotencyKey) -> Any:
        """The recorded result (a ``CommandResult`` or its dict), or None."""
        ...

    def set(self, key: IdempotencyKey, result: Any, fingerprint: str | None = None) -> None: ...


_FINGERPRINT_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def request_fingerprint(
    name: Any, entity: Any, instance_id: Any, input: Any, overrides: Any, caller: Any
) -> str:
    """What makes two requests the same request, as canonical JSON (sorted keys: ``{"a": 1, "b": 2}``
    and ``{"b": 2, "a": 1}`` are one request; ``true`` is not ``1``). A short one is its own
    fingerprint (a replay then costs no hashing); a longer one is its BLAKE2b digest. The two forms
    cannot collide: the text starts with ``[``, a hex digest never does."""
    requests = [r.to_dict() if hasattr(r, "to_dict") else r for r in overrides] if overrides else None
    doc = (name, entity, instance_id, _EMPTY if input is None else input, requests, caller)
    try:
        text = orjson.dumps(doc, option=_FINGERPRINT_OPTIONS, default=_not_json)
    except (TypeError, ValueError):  # orjson.JSONEncodeError: too deep, > 64-bit ints, cycles
        try:
            text = json.dumps(doc, sort_keys=True, default=repr).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError, RecursionError):
            text = repr(type(input)).encode()  # hostile input: refused later, never recorded
    if len(text) <= INLINE_FINGERPRINT:
        return text.decode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


#: requests whose canonical JSON is at most this long are their own fingerprint
INLINE_FINGERPRINT = 120
_EMPTY: dict[str, Any] = {}


def caller_of(context: Any) -> Any:
    """Who sent a request, for its fingerprint: the user's id (a refreshed token of the same user
    is the same caller), else the whole ``user`` value."""
    user = context.get("user")
    if type(user) is dict:
        uid = user.get("id")
        if uid is not None:
            return uid
    return user


def scope_tenant(tenant: Any) -> str | None:
    """The tenant field of an ``IdempotencyKey``: "" for a caller without one; None when the
    context's tenant is not a string or a number (no scope can be named for it)."""
    if tenant is None:
        return ""
    t = type(tenant)
    if t is str:
        return tenant  # type: ignore[no-any-return]
    return str(tenant) if t is int or t is float else None


def _not_json(value: Any) -> Any:
    return repr(value)


class MemoryIdempotencyStore:
    """In-process store; the first write for a key wins.

    It keeps the ``CommandResult`` object itself (``accepts_results``), so a replay costs a dict
    lookup; results are values that callers must not mutate. With the C helper (built at install
    time when a compiler is there) a stored result is taken out of CPython's cycle collector (it
    holds no cycles): with tens of thousands of stored results, full collections otherwise cost
    about as much as the commands themselves.

    Bounded: a result expires after ``ttl_seconds`` (None: never) and at most ``max_records`` are
    kept (the oldest go first); expired ones are pruned as new ones arrive. A claim expires after
    ``in_progress_ttl_seconds``, so a request that died frees its key.
    """

    #: the engine may pass ``CommandResult`` objects instead of their JSON dicts
    accepts_results = True

    def __init__(
        self,
        *,
        ttl_seconds: float | None = 24 * 3600,
        in_progress_ttl_seconds: float = 60.0,
        max_records: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: key -> (result, fingerprint, expires_at), oldest first; read directly by the engine's
        #: replay shortcut (writes go through ``set``)
        self.results: dict[IdempotencyKey, tuple[Any, str | None, float]] = {}
        self.ttl_seconds = ttl_seconds
        self.in_progress_ttl_seconds = in_progress_ttl_seconds
        self.max_records = max(1, int(max_records))
        self.clock = clock
        self._claims: dict[IdempotencyKey, float] = {}
        self._lock = threading.Lock()

    def lookup(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        entry = self.results.get(key)
        if entry is None or entry[2] <= self.clock():
            return None
        return IdempotencyRecord(entry[0], entry[1])

    def has(self, key: IdempotencyKey) -> bool:
        return self.lookup(key) is not None

    def get(self, key: IdempotencyKey) -> Any:
        record = self.lookup(key)
        return None if record is None else record.result

    def claim(self, key: IdempotencyKey) -> bool:
        """True if this caller may execute ``key`` now (no live claim, no live result)."""
        now = self.clock()
        with self._lock:
            entry = self.results.get(key)
            if entry is not None and entry[2] > now:
                return False
            claimed = self._claims.get(key)
            if claimed is not None and claimed > now:
                return False
            if len(self._claims) >= self.max_records:
                self._claims = {k: t for k, t in self._claims.items() if t > now}
            self._claims[key] = now + self.in_progress_ttl_seconds
            return True

    def release(self, key: IdempotencyKey) -> None:
        with self._lock:
            self._claims.pop(key, None)

    def set(self, key: IdempotencyKey, result: Any, fingerprint: str | None = None) -> None:
        now = self.clock()
        ttl = self.ttl_seconds
        expires = math.inf if ttl is None else now + ttl
        with self._lock:
            self._claims.pop(key, None)
            entry = self.results.get(key)
            if entry is not None and entry[2] > now:
                return  # the first result wins
            self.results.pop(key, None)  # an expired record: the new one goes to the end
            self.results[key] = (result, fingerprint, expires)
            self._prune(now)
        if _untrack_results is not None and type(result) is CommandResult:
            try:
                _untrack_results(result, RESULT_TYPES, USER_VALUE_ATTRS)
            except Exception:  # noqa: BLE001 - an optimisation only: a result left tracked is correct
                pass

    def _prune(self, now: float) -> None:
        """Drop expired records from the front (oldest first), then the oldest past the bound."""
        results = self.results
        while results:
            oldest = next(iter(results))
            if results[oldest][2] > now and len(results) <= self.max_records:
                break
            del results[oldest]

    def size(self) -> int:
        return len(self.results)

    def clear(self) -> None:
        with self._lock:
            self.results.clear()
            self._claims.clear()
