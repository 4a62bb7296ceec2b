"""Rate-limit windows shared by every engine: in the store (memory, SQLite, PostgreSQL) or Redis."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from manifest_lang.workflows.services import WorkServices

LIMITED = """
event Sent: "sent" { n: number }
command limited(n: number) {
  rateLimit {
    maxRequests: 20
    windowMs: 60000
    scope: global
  }
  emit Sent
}
"""


def hammer(services: WorkServices, threads: int = 4, calls: int = 15, **options: Any) -> tuple[int, int]:
    admitted: list[int] = []
    denied: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for n in range(calls):
            engine = services.engine({"user": {"id": "u"}}, idempotency_store=None, **options)
            result = engine.run_command("limited", {"n": n})
            with lock:
                (admitted if result.success else denied).append(n)
                if not result.success:
                    assert (
                        result.rate_limit_denial is not None and result.rate_limit_denial["retryAfterMs"] > 0
                    )

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return len(admitted), len(denied)


def test_engines_share_the_window_in_the_store(store: Any) -> None:
    services = WorkServices(LIMITED, store)
    assert hammer(services) == (20, 40)
    from manifest_lang.workflows.ratelimits import StoreRateLimitStore

    windows = StoreRateLimitStore(store)
    assert windows.prune(0) == 0
    # The window's newest call leaves it a minute later; then the window is pruned.
    assert windows.prune(10**15) == 1


@pytest.mark.redis
def test_engines_share_the_window_in_redis(redis_url: str) -> None:
    from manifest_lang.stores.memory import MemoryStore
    from manifest_lang.stores.redis_ratelimit import RedisRateLimitStore

    limits = RedisRateLimitStore(redis_url, namespace=f"manifest:test:{uuid.uuid4().hex}:")
    services = WorkServices(LIMITED, MemoryStore())
    assert hammer(services, rate_limit_store=limits) == (20, 40)
    limits.close()
