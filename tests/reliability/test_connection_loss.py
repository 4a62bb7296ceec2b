"""PostgreSQL connections cut under the store (``pg_terminate_backend``): commands either
commit whole or fail cleanly, idle dead connections are replaced transparently."""

from __future__ import annotations

import time

import psycopg
import pytest
from rel_inventory import ReserveStorm, assert_storm_consistent, inventory_ir, seed_items

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.postgres import PostgresStore
from manifest_lang.stores.urls import open_store

pytestmark = pytest.mark.slow


def cut_connections(dsn: str, application_name: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return len(rows)


def test_idle_connections_killed_are_replaced_without_an_error(postgres_url: str, postgres_dsn: str) -> None:
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    items = seed_items(store, 2, stock=10)
    assert cut_connections(postgres_dsn, store.application_name) >= 1
    assert store.load("Item", items[0]) is not None  # retried on a fresh connection
    assert cut_connections(postgres_dsn, store.application_name) >= 1
    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    result = engine.run_command("reserve", {"qty": 1}, entity_name="Item", instance_id=items[0])
    assert result.success, result.error
    store.close()


def test_connections_cut_mid_run_leave_nothing_half_applied(postgres_url: str, postgres_dsn: str) -> None:
    store = open_store(postgres_url, pool_size=2)
    assert isinstance(store, PostgresStore)
    items = seed_items(store, 3, stock=1_000_000)
    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    cuts = 0
    with ReserveStorm(engine, items) as storm:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            time.sleep(0.15)
            cuts += cut_connections(postgres_dsn, store.application_name)
    outcomes = storm.outcomes
    print("connection-loss outcomes:", cuts, dict(outcomes))
    assert cuts >= 5 and outcomes["success"] > 50, (cuts, outcomes)
    assert_storm_consistent(store, items, outcomes)
    store.close()
