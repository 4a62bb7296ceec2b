"""Idempotency keys in Redis, with an in-progress state so one key executes once.

A key ``IdempotencyKey(tenant, key)`` is the Redis key ``<namespace>["<tenant>","<key>"]`` (a JSON
array: two fields, so no key text can name another tenant's record).
``claim`` is ``SET key P:<token> NX PX <in_progress_ttl>``: of two concurrent requests with one
key exactly one gets True; if its process dies the claim expires and the key can be claimed
again. ``set`` replaces the claim with ``C:{"f": <fingerprint>, "r": <result>}`` kept for
``ttl_seconds``; a completed
record is never overwritten (first result wins). ``release`` deletes only the caller's own claim
(compare-and-delete in Lua), so a slow request cannot free a key that someone else re-claimed.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

try:
    import redis
    from redis import exceptions as redis_errors
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "redis", "redis") from exc

from ..errors import StoreError, StoreUnavailableError
from .base import IdempotencyKey, IdempotencyRecord

T = TypeVar("T")
_COMPLETED = b"C:"
_IN_PROGRESS = b"P:"

# KEYS[1] key, ARGV[1] value, ARGV[2] ttl in ms (0: none). Returns 1 if written.
_SET_UNLESS_COMPLETED = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 2) == 'C:' then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""
_DELETE_IF_EQUAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def translate(exc: redis_errors.RedisError) -> StoreError:
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return StoreUnavailableError(f"Redis unavailable: {exc}")
    return StoreError(f"Redis error: {exc}")


class RedisIdempotencyStore:
    """``has/get/set/claim/release`` backed by Redis keys ``<namespace><key>``."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        ttl_seconds: float | None = 24 * 3600,
        in_progress_ttl_seconds: float = 60.0,
        namespace: str = "manifest:idem:",
        client: redis.Redis | None = None,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.in_progress_ttl_seconds = in_progress_ttl_seconds
        self.namespace = namespace
        self._client = (
            client
            if client is not None
            else redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        )
        self._set_script = self._client.register_script(_SET_UNLESS_COMPLETED)
        self._delete_script = self._client.register_script(_DELETE_IF_EQUAL)
        self._tokens: dict[IdempotencyKey, bytes] = {}
        self._lock = threading.Lock()

    def _key(self, key: IdempotencyKey) -> bytes:
        return self.namespace.encode() + orjson.dumps([key.tenant, key.key])

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis_errors.RedisError as exc:
            raise translate(exc) from None

    def lookup(self, key: IdempotencyKey) -> IdempotencyRecord | None:
        """The completed result of ``key`` and its request's fingerprint, or None."""
        raw = self._call(lambda: self._client.get(self._key(key)))
        if not isinstance(raw, bytes) or not raw.startswith(_COMPLETED):
            return None
        record = orjson.loads(raw[len(_COMPLETED) :])
        return IdempotencyRecord(record.get("r"), record.get("f"))

    def get(self, key: IdempotencyKey) -> dict[str, Any] | None:
        record = self.lookup(key)
        return None if record is None else record.result  # type: ignore[no-any-return]

    def has(self, key: IdempotencyKey) -> bool:
        return self.lookup(key) is not None

    def claim(self, key: IdempotencyKey) -> bool:
        token = _IN_PROGRESS + uuid.uuid4().hex.encode()
        ttl_ms = max(1, int(self.in_progress_ttl_seconds * 1000))
        ok = self._call(lambda: self._client.set(self._key(key), token, nx=True, px=ttl_ms))
        if ok:
            with self._lock:
                self._tokens[key] = token
        return bool(ok)

    def set(self, key: IdempotencyKey, result: dict[str, Any], fingerprint: str | None = None) -> None:
        value = _COMPLETED + orjson.dumps({"f": fingerprint, "r": result})
        ttl_ms = 0 if self.ttl_seconds is None else max(1, int(self.ttl_seconds * 1000))
        self._call(lambda: self._set_script(keys=[self._key(key)], args=[value, ttl_ms]))
        with self._lock:
            self._tokens.pop(key, None)

    def release(self, key: IdempotencyKey) -> None:
        with self._lock:
            token = self._tokens.pop(key, None)
        if token is not None:
            self._call(lambda: self._delete_script(keys=[self._key(key)], args=[token]))

    def close(self) -> None:
        self._client.close()
