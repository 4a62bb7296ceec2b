"""asyncio over the sync core: a bounded thread pool vs psycopg's async connections, on PostgreSQL.

Three measurements in one run, each ``--n`` commands/transactions at ``--concurrency`` in flight:

  facade       AsyncRuntimeEngine (thread pool of --concurrency) over PostgresStore: the whole
               command (pipeline + commit), what an asyncio app gets today
  async-sql    psycopg AsyncConnectionPool running the SQL of a command's commit (read the row,
               write the row + one outbox row, one transaction), no pipeline: the I/O an async
               store would do, as an upper bound of what it could gain
  thread-sql   the same SQL through psycopg's sync ConnectionPool in the same thread pool

plus ``pipeline``: the CPU time of one command without I/O (memory store), which an async store
would still spend ON the event loop, and the longest event-loop stall seen during ``facade``.

  .venv/bin/python bench/async_facade.py --dsn postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from manifest_lang import AsyncRuntimeEngine, RuntimeEngine, load_model
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.postgres import PostgresStore

CATERING = Path(__file__).resolve().parents[1] / "examples" / "catering" / "catering.manifest"
CHEF = {"user": {"id": "maria", "role": "chef"}, "tenantId": "kitchen-1"}


async def _loop_stall(done: asyncio.Event) -> float:
    worst = 0.0
    while not done.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        worst = max(worst, time.perf_counter() - started - 0.001)
    return worst


async def facade(model: Any, store: PostgresStore, n: int, concurrency: int) -> tuple[float, float]:
    rows = [f"f{i}" for i in range(concurrency)]
    sync = RuntimeEngine(model, dict(CHEF), store_provider=store)
    for row in rows:
        sync.create_instance("InventoryItem", {"id": row, "tenantId": "kitchen-1", "name": row})
    with ThreadPoolExecutor(concurrency) as pool:
        engine = AsyncRuntimeEngine(RuntimeEngine(model, dict(CHEF), store_provider=store), executor=pool)
        done = asyncio.Event()
        stall = asyncio.create_task(_loop_stall(done))
        started = time.perf_counter()

        async def worker(row: str) -> None:
            for _ in range(n // concurrency):
                result = await engine.run_command(
                    "restock", {"quantity": 1}, entity_name="InventoryItem", instance_id=row
                )
                assert result.success, result.error

        await asyncio.gather(*(worker(r) for r in rows))
        elapsed = time.perf_counter() - started
        done.set()
        return n / elapsed, await stall


def _sql(table_rows: str, table_outbox: str) -> tuple[str, str, str]:
    return (
        f"SELECT data FROM {table_rows} WHERE entity = 'Bench' AND id = %s FOR UPDATE",
        f"UPDATE {table_rows} SET data = jsonb_set(data, '{{n}}', to_jsonb((data->>'n')::int + 1)) "
        "WHERE entity = 'Bench' AND id = %s",
        f"INSERT INTO {table_outbox} (id, body) VALUES (%s, %s)",
    )


async def async_sql(dsn: str, n: int, concurrency: int, schema: str) -> float:
    from psycopg_pool import AsyncConnectionPool

    select, update, insert = _sql(f"{schema}.rows", f"{schema}.outbox")
    async with AsyncConnectionPool(dsn, min_size=concurrency, max_size=concurrency, open=False) as pool:
        await pool.wait()

        async def worker(row: str) -> None:
            for _ in range(n // concurrency):
                async with pool.connection() as conn, conn.transaction():
                    await conn.execute(select, (row,))
                    await conn.execute(update, (row,))
                    await conn.execute(insert, (str(uuid.uuid4()), '{"event": "Restocked"}'))

        started = time.perf_counter()
        await asyncio.gather(*(worker(f"r{i}") for i in range(concurrency)))
        return n / (time.perf_counter() - started)


async def thread_sql(dsn: str, n: int, concurrency: int, schema: str) -> float:
    from psycopg_pool import ConnectionPool

    select, update, insert = _sql(f"{schema}.rows", f"{schema}.outbox")
    with (
        ConnectionPool(dsn, min_size=concurrency, max_size=concurrency) as pool,
        ThreadPoolExecutor(concurrency) as ex,
    ):
        pool.wait()

        def transaction(row: str) -> None:
            with pool.connection() as conn, conn.transaction():
                conn.execute(select, (row,))
                conn.execute(update, (row,))
                conn.execute(insert, (str(uuid.uuid4()), '{"event": "Restocked"}'))

        loop = asyncio.get_running_loop()

        async def worker(row: str) -> None:
            for _ in range(n // concurrency):
                await loop.run_in_executor(ex, transaction, row)

        started = time.perf_counter()
        await asyncio.gather(*(worker(f"r{i}") for i in range(concurrency)))
        return n / (time.perf_counter() - started)


def pipeline_cpu(model: Any, n: int) -> float:
    engine = RuntimeEngine(model, dict(CHEF), store_provider=MemoryStore())
    engine.create_instance("InventoryItem", {"id": "m", "tenantId": "kitchen-1", "name": "m"})
    started = time.perf_counter()
    for _ in range(n):
        engine.run_command("restock", {"quantity": 1}, entity_name="InventoryItem", instance_id="m")
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    import psycopg

    schema = f"bench_aio_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.rows (entity text, id text, data jsonb, PRIMARY KEY (entity, id))"
        )
        conn.execute(f"CREATE TABLE {schema}.outbox (seq bigserial PRIMARY KEY, id text, body jsonb)")
        for i in range(args.concurrency):
            conn.execute(f"INSERT INTO {schema}.rows VALUES ('Bench', %s, '{{\"n\": 0}}')", (f"r{i}",))
    store = PostgresStore(f"{args.dsn}", schema=schema, pool_size=args.concurrency)
    model = load_model(CATERING)
    try:
        facade_ops, stall = asyncio.run(facade(model, store, args.n, args.concurrency))
        async_ops = asyncio.run(async_sql(args.dsn, args.n, args.concurrency, schema))
        thread_ops = asyncio.run(thread_sql(args.dsn, args.n, args.concurrency, schema))
        cpu = pipeline_cpu(model, 2000)
    finally:
        store.close()
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    print(
        json.dumps(
            {
                "n": args.n,
                "concurrency": args.concurrency,
                "facade_commands_per_s": round(facade_ops),
                "facade_max_loop_stall_ms": round(stall * 1000, 2),
                "async_sql_tx_per_s": round(async_ops),
                "thread_sql_tx_per_s": round(thread_ops),
                "async_over_thread_sql": round(async_ops / thread_ops, 2),
                "pipeline_cpu_us_per_command": round(cpu * 1e6, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
