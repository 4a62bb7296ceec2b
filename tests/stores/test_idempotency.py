"""Idempotency stores: the SQL table (claims, expiry, first result wins) and Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from manifest_lang.stores.base import NEW_ROW, IdempotencyEntry, IdempotencyKey, RowWrite, UnitOfWork
from manifest_lang.stores.redis_idempotency import RedisIdempotencyStore
from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore


def K(key: str, tenant: str = "") -> IdempotencyKey:  # noqa: N802 - reads like a literal
    return IdempotencyKey(tenant, key)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sql_claim_is_exclusive_until_it_expires(sql_store: Any) -> None:
    clock = FakeClock()
    sql_store._clock = clock  # the store reads time only through its clock
    idem = SqlIdempotencyStore(sql_store, in_progress_ttl_seconds=30)
    assert idem.transactional_store is sql_store
    assert idem.claim(K("k")) is True
    assert idem.claim(K("k")) is False
    assert idem.get(K("k")) is None and not idem.has(K("k"))
    clock.now += 31  # the claimer crashed: its claim expired
    assert idem.claim(K("k")) is True
    idem.release(K("k"))
    assert idem.claim(K("k")) is True


def test_sql_result_written_in_the_commands_transaction(sql_store: Any) -> None:
    idem = SqlIdempotencyStore(sql_store)
    assert idem.claim(K("order-1"))
    sql_store.commit(
        UnitOfWork(
            writes=[RowWrite("Order", "o1", {"id": "o1"}, NEW_ROW)],
            idempotency=IdempotencyEntry(K("order-1"), "f", {"success": True}),
        )
    )
    assert idem.get(K("order-1")) == {"success": True} and idem.has(K("order-1"))
    assert idem.claim(K("order-1")) is False  # completed: nobody executes it again
    idem.set(K("order-1"), {"success": False})  # first result wins
    assert idem.get(K("order-1")) == {"success": True}
    idem.release(K("order-1"))  # releasing a completed key does not drop its result
    assert idem.get(K("order-1")) == {"success": True}


def test_sql_completed_results_expire_with_the_store_ttl(sql_store: Any) -> None:
    clock = FakeClock()
    sql_store._clock = clock
    sql_store.idempotency_ttl_seconds = 60
    idem = SqlIdempotencyStore(sql_store)
    idem.set(K("k"), {"n": 1})
    assert idem.get(K("k")) == {"n": 1}
    clock.now += 61
    assert idem.get(K("k")) is None
    assert idem.claim(K("k")) is True


def test_sql_concurrent_claims_let_exactly_one_through(sql_store: Any) -> None:
    idem = SqlIdempotencyStore(sql_store)
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def contend() -> None:
        barrier.wait()
        wins.append(idem.claim(K("hot")))

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False] * 5 + [True]


@pytest.fixture
def redis_idem(redis_url: str) -> Iterator[RedisIdempotencyStore]:
    store = RedisIdempotencyStore(
        redis_url, ttl_seconds=5, in_progress_ttl_seconds=0.3, namespace=f"mt:{uuid.uuid4().hex[:8]}:"
    )
    yield store
    client = store._client
    for key in client.scan_iter(match=store.namespace + "*"):
        client.delete(key)
    store.close()


def test_redis_claim_set_get_release(redis_idem: RedisIdempotencyStore) -> None:
    assert redis_idem.claim(K("k")) is True
    assert redis_idem.claim(K("k")) is False
    assert redis_idem.get(K("k")) is None
    redis_idem.set(K("k"), {"success": True, "value": [1, 2]})
    assert redis_idem.get(K("k")) == {"success": True, "value": [1, 2]} and redis_idem.has(K("k"))
    assert redis_idem.claim(K("k")) is False
    redis_idem.set(K("k"), {"success": False})  # first result wins
    assert redis_idem.get(K("k")) == {"success": True, "value": [1, 2]}
    assert redis_idem.claim(K("other")) is True
    redis_idem.release(K("other"))
    assert redis_idem.claim(K("other")) is True


def test_redis_crashed_claim_becomes_reclaimable(redis_idem: RedisIdempotencyStore) -> None:
    assert redis_idem.claim(K("k"))
    time.sleep(0.4)
    other = RedisIdempotencyStore(client=redis_idem._client, namespace=redis_idem.namespace)
    assert other.claim(K("k")) is True
    redis_idem.release(K("k"))  # the first owner's stale release must not free the new claim
    assert redis_idem.claim(K("k")) is False


def test_redis_completed_result_expires(redis_url: str) -> None:
    store = RedisIdempotencyStore(redis_url, ttl_seconds=0.2, namespace=f"mt:{uuid.uuid4().hex[:8]}:")
    store.set(K("k"), {"n": 1})
    assert store.get(K("k")) == {"n": 1}
    time.sleep(0.3)
    assert store.get(K("k")) is None
    store.close()
