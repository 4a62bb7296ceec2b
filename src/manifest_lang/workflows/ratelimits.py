"""Rate-limit windows shared by every engine, thread and process on one database.

The engine's ``rate_limit_store`` only needs ``hit(key, now_ms, window_ms, capacity)``; this one
keeps each sliding window as a row of the store's ``rate_limits`` table, read and written in one
transaction (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so N workers
together admit exactly the declared limit. Workers prune idle windows (``prune``).
"""

from __future__ import annotations

from typing import Any


class StoreRateLimitStore:
    """Sliding windows in ``store`` (SQLite, PostgreSQL or memory)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def hit(self, key: str, now: float, window_ms: float, capacity: int) -> float | None:
        """None if the call is counted; else the ms until the oldest call leaves the window."""
        result: float | None = self.store.rate_limit_hit(key, float(now), float(window_ms), int(capacity))
        return result

    def prune(self, now_ms: float) -> int:
        """Delete the windows no call is left in; how many."""
        return int(self.store.prune_rate_limits(float(now_ms)))
