"""Rate-limit windows in Redis: one sorted set per window key, admitted calls as members.

One Lua script per call drops the calls that left the window, counts the rest and admits the
call if there is room, atomically, so any number of processes on one Redis admit exactly the
declared limit. Each key expires one window after its last admitted call (idle windows prune
themselves).
"""

from __future__ import annotations

import uuid
from typing import Any

import redis
from redis import exceptions as redis_errors

from .redis_idempotency import translate

# KEYS[1] window; ARGV: now ms, window ms, capacity, member. nil when admitted, else the ms to wait.
_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = window
  if oldest[2] then wait = tonumber(oldest[2]) + window - now end
  if wait < 0 then wait = 0 end
  return tostring(wait)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window))
return false
"""


class RedisRateLimitStore:
    """The engine's ``rate_limit_store`` (``hit``) over Redis keys ``<namespace><window key>``."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "manifest:ratelimit:",
        client: redis.Redis | None = None,
    ) -> None:
        self.namespace = namespace
        self._client = client if client is not None else redis.Redis.from_url(url)
        self._hit = self._client.register_script(_HIT)

    def hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        """None if the call is counted; else the ms until the oldest call leaves the window."""
        member = f"{now}:{uuid.uuid4().hex}"
        try:
            found: Any = self._hit(keys=[self.namespace + key], args=[now, window_ms, int(capacity), member])
        except redis_errors.RedisError as exc:
            raise translate(exc) from None
        return None if found is None else float(found)

    def prune(self, now_ms: float) -> int:
        """Nothing to do: every window key expires one window after its last call."""
        return 0

    def close(self) -> None:
        self._client.close()
