"""Sliding-window rate limits of commands and policies (per engine unless a store is shared)."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from ..expr.values import UNDEFINED
from .jsonvalues import bounded_int

if TYPE_CHECKING:
    from .execution import Execution


class MemoryRateLimitStore:
    """Timestamps of allowed calls per bucket key; thread-safe so engines can share one."""

    def __init__(self) -> None:
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        """Count a call if there is room; else return the ms until the oldest call leaves the window."""
        if capacity <= 0:
            return window_ms  # a limit of zero (or less) admits nothing
        with self._lock:
            stamps = [t for t in self._buckets.get(key, []) if now - t < window_ms]
            if len(stamps) >= capacity:
                self._buckets[key] = stamps
                return max(0.0, stamps[0] + window_ms - now)
            stamps.append(now)
            self._buckets[key] = stamps
            return None


def _scope_key(ex: Execution, scope: str) -> str | None:
    if scope == "global":
        return "global"
    if scope == "tenant":
        value = ex.tenant_value
        if value is None:
            value = ex.engine.context.get("tenantId")
        return f"tenant:{value}" if isinstance(value, str) and value else None
    user = ex.engine.context.get("user")
    uid = user.get("id", UNDEFINED) if isinstance(user, dict) else UNDEFINED
    return f"user:{uid}" if isinstance(uid, (str, int)) and uid != "" else None


def check_rate_limit(ex: Execution, limit: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """None if the call is allowed (and counted), else the ``rateLimitDenial`` dict."""
    scope = str(limit.get("scope", "user"))
    window = _window(limit.get("windowMs", 1000))
    max_requests = _count(limit.get("maxRequests", 1)) + _count(limit.get("burstAllowance", 0))
    key = _scope_key(ex, scope)
    if key is None:
        return _denial(scope, "unresolved", limit, window, window)
    retry_after = ex.engine.rate_limits.hit(prefix + key, ex.engine.now(), window, max_requests)
    if retry_after is None:
        return None
    return _denial(scope, key, limit, window, retry_after)


def _window(value: Any) -> float:
    """The window in ms: a finite non-negative number, else the default second."""
    if type(value) in (int, float) and 0 <= value < math.inf:
        return value  # type: ignore[no-any-return]
    return 1000


def _count(value: Any) -> int:
    """A request count: a finite number (zero or less admits nothing), else 0."""
    return bounded_int(value, 0, -1, 2**31)


def _denial(scope: str, key: str, limit: dict[str, Any], window: Any, retry_after: Any) -> dict[str, Any]:
    return {
        "scope": scope,
        "scopeKey": key,
        "limit": limit.get("maxRequests"),
        "windowMs": window,
        "retryAfterMs": retry_after,
    }
