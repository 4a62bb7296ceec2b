"""Durable command throughput, next to the raw database doing the same statements, and the
relay's publish rate. Not a test: it prints figures and the ratios the targets are about.

    .venv/bin/python bench/store_bench.py                 # a few minutes, SQLite + PostgreSQL + relay
    .venv/bin/python bench/store_bench.py --seconds 1 --rounds 3 --only sqlite

Per transaction, every variant does the same work: read the item row (JSON decode), BEGIN,
``UPDATE … WHERE revision = ?`` with the new JSON, INSERT one outbox row and one audit row,
COMMIT. ``raw`` is that as bare sqlite3 / psycopg calls on the same schema, with the statement
text taken from the store (so the two cannot drift apart) and event / audit documents shaped like
the engine's; ``store`` is ``Store.load`` + ``Store.commit(UnitOfWork)``; ``engine`` is
``RuntimeEngine.run_command`` (guards, event, audit record built by the runtime). Workers are
processes, each on its own items (so they never contend on a row).

The targets (issue #5): SQLite engine throughput at least 70% of raw; PostgreSQL engine with 4
workers at least 2x one worker. Worker counts and variants alternate within each round, so a
ratio compares passes run close together; each figure is the best of the rounds (the pass least
disturbed by other load on a shared machine), with the median next to it. PASS/MISS is judged on
the best passes. PostgreSQL runs at the server's own ``synchronous_commit``, which is printed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

from rel_inventory import inventory_ir  # noqa: E402

from manifest_lang.stores.base import RowWrite, UnitOfWork  # noqa: E402
from manifest_lang.stores.urls import open_store  # noqa: E402

# Each worker cycles through its own items; enough of them that one worker's rows fill their own
# PostgreSQL heap pages, so 4 workers do not contend on a page either.
ITEMS_PER_WORKER = 100
SQLITE_TARGET = 0.70  # engine throughput / raw throughput
POSTGRES_TARGET = 2.0  # engine throughput with the most workers / with one worker
_HASH = "62634d05a82790d3ea1f4bbee023a111df33eeee3c6ee12bfa213c2cf01089a8"


def item_ids(worker: int) -> list[str]:
    return [f"w{worker}-item-{i}" for i in range(ITEMS_PER_WORKER)]


def event_entry(item: str, n: int, reserved: int = 1) -> dict[str, Any]:
    """An outbox entry with the fields and size of the one the engine writes for ``reserve``."""
    return {
        "entryId": str(uuid.uuid4()),
        "enqueuedAt": n,
        "event": {
            "name": "StockReserved",
            "channel": "inventory.reserved",
            "payload": {"qty": 1, "result": reserved},
            "subject": {"command": "reserve", "entity": "Item", "id": item},
            "timestamp": n,
            "provenance": {"contentHash": _HASH, "compilerVersion": "0.1.0", "schemaVersion": "1.0"},
            "emitIndex": 0,
        },
    }


def audit(n: int) -> dict[str, Any]:
    """An audit record with the fields and size of the engine's."""
    return {
        "recordId": str(uuid.uuid4()),
        "occurredAt": n,
        "command": "reserve",
        "commandId": "Item.reserve",
        "outcome": "success",
        "entity": "Item",
        "irHash": _HASH,
        "emittedEventNames": ["StockReserved"],
    }


# -- the three ways of doing one reservation -------------------------------------------------------
def engine_loop(url: str, worker: int) -> Callable[[int], None]:
    from manifest_lang.runtime.engine import RuntimeEngine

    store = open_store(url)
    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    items = item_ids(worker)

    def one(n: int) -> None:
        item = items[n % ITEMS_PER_WORKER]
        result = engine.run_command("reserve", {"qty": 1}, entity_name="Item", instance_id=item)
        assert result.success, result.error

    return one


def store_loop(url: str, worker: int) -> Callable[[int], None]:
    store = open_store(url)
    items = item_ids(worker)

    def one(n: int) -> None:
        item = items[n % ITEMS_PER_WORKER]
        found = store.load("Item", item)
        assert found is not None
        row = {**found.row, "reserved": found.row["reserved"] + 1}
        store.commit(
            UnitOfWork(
                writes=[RowWrite("Item", item, row, found.revision)],
                outbox=[event_entry(item, n, row["reserved"])],
                audit=audit(n),
            )
        )

    return one


def raw_loop(url: str, worker: int) -> Callable[[int], None]:
    """The same statements as the store, with the driver and nothing else."""
    store: Any = open_store(url)
    # The store's own statement text (placeholders already in the driver's style), so raw and
    # store run byte-identical SQL; only the Python around the driver calls differs.
    sql = {name: store._sql[name] for name in ("load", "update", "outbox_insert", "audit_insert")}
    items = item_ids(worker)
    if url.startswith("sqlite"):
        return _raw_sqlite(store, sql, items)
    return _raw_postgres(store, sql, items)


def _raw_sqlite(store: Any, sql: dict[str, str], items: list[str]) -> Callable[[int], None]:
    import sqlite3

    conn = sqlite3.connect(store.path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {store.synchronous}")
    store.close()
    return _raw_reservation(conn, sql, items, "BEGIN IMMEDIATE", orjson.loads)


def _raw_postgres(store: Any, sql: dict[str, str], items: list[str]) -> Callable[[int], None]:
    import psycopg
    from psycopg.types.json import set_json_loads

    conn = psycopg.connect(store.dsn, autocommit=True)
    set_json_loads(orjson.loads, conn)  # the store's connections decode JSONB with orjson too
    store.close()
    return _raw_reservation(conn, sql, items, "BEGIN", dict)


def _raw_reservation(
    conn: Any, q: dict[str, str], items: list[str], begin: str, decode: Callable[[Any], dict[str, Any]]
) -> Callable[[int], None]:
    def one(n: int) -> None:
        item = items[n % ITEMS_PER_WORKER]
        data, revision = conn.execute(q["load"], ("Item", item)).fetchone()
        row = decode(data)
        row["reserved"] += 1
        entry, record = event_entry(item, n, row["reserved"]), audit(n)
        event_json, record_json = orjson.dumps(entry["event"]).decode(), orjson.dumps(record).decode()
        conn.execute(begin)
        cur = conn.execute(q["update"], (orjson.dumps(row).decode(), None, "Item", item, revision))
        assert cur.rowcount == 1
        conn.execute(
            q["outbox_insert"],
            (entry["entryId"], "Item", item, "inventory.reserved", "StockReserved", None, event_json, str(n)),
        )
        conn.execute(q["audit_insert"], (record["recordId"], str(n), "reserve", "success", None, record_json))
        conn.execute("COMMIT")

    return one


LOOPS = {"raw": raw_loop, "store": store_loop, "engine": engine_loop}


def _child(kind: str, url: str, worker: int, seconds: float, barrier: Any, out: Any) -> None:
    one = LOOPS[kind](url, worker)
    one(0)  # warm up (first connection, caches)
    barrier.wait()
    n, end = 1, time.perf_counter() + seconds
    while time.perf_counter() < end:
        one(n)
        n += 1
    out.put(n - 1)


def measure(kind: str, url: str, workers: int, seconds: float) -> float:
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(kind, url, w, seconds, barrier, out)) for w in range(workers)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join(30)
    return total / seconds


def seed(url: str, workers: int) -> None:
    from manifest_lang.runtime.engine import RuntimeEngine

    store = open_store(url)
    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    for w in range(workers):
        for i, item in enumerate(item_ids(w)):
            if store.load("Item", item) is None:
                engine.create_instance("Item", {"id": item, "sku": f"S{w}-{i}", "stock": 10**12})
    store.close()


Figures = dict[int, dict[str, list[float]]]  # workers -> variant -> commands/s of each pass


def bench_backend(name: str, url: str, seconds: float, worker_counts: list[int], rounds: int) -> Figures:
    """``rounds`` rounds; each runs every worker count and variant once, in alternating order."""
    passes: Figures = {w: {kind: [] for kind in LOOPS} for w in worker_counts}
    seed(url, max(worker_counts))
    for r in range(rounds):
        order = [(w, kind) for w in worker_counts for kind in LOOPS]
        for workers, kind in order if r % 2 == 0 else reversed(order):
            passes[workers][kind].append(measure(kind, url, workers, seconds))
    for workers in worker_counts:
        figures = [f"{label}: " + _variants(passes[workers], pick) for label, pick in _PICKS]
        print(f"{name:<8} {workers} worker(s)  " + "  | ".join(figures), flush=True)
    if len(worker_counts) > 1:
        lo, hi = min(worker_counts), max(worker_counts)
        scaling = (
            f"{kind} {_scaling(passes, kind, max):.2f}x "
            f"(median {_scaling(passes, kind, statistics.median):.2f}x)"
            for kind in LOOPS
        )
        print(f"{name:<8} {hi} workers / {lo}:  " + "  ".join(scaling), flush=True)
    return passes


_PICKS: tuple[tuple[str, Callable[[list[float]], float]], ...] = (
    ("best", max),
    ("median", statistics.median),
)


def _variants(by_kind: dict[str, list[float]], pick: Callable[[list[float]], float]) -> str:
    """``raw N/s  store N/s (x% of raw)  engine N/s (y% of raw)`` for the passes ``pick`` selects."""
    raw = pick(by_kind["raw"])
    rest = (
        f"{kind} {pick(by_kind[kind]):6.0f}/s ({pick(by_kind[kind]) / raw:4.0%})"
        for kind in ("store", "engine")
    )
    return f"raw {raw:6.0f}/s  " + "  ".join(rest)


def _scaling(passes: Figures, kind: str, pick: Callable[[list[float]], float]) -> float:
    lo, hi = min(passes), max(passes)
    return pick(passes[hi][kind]) / pick(passes[lo][kind])


def sqlite_target(passes: Figures) -> str:
    ratios = {w: max(v["engine"]) / max(v["raw"]) for w, v in passes.items()}
    medians = {w: statistics.median(v["engine"]) / statistics.median(v["raw"]) for w, v in passes.items()}
    verdict = "PASS" if all(r >= SQLITE_TARGET for r in ratios.values()) else "MISS"
    detail = ", ".join(f"{w} worker(s) {ratios[w]:.0%} (median {medians[w]:.0%})" for w in passes)
    return f"TARGET sqlite   engine >= {SQLITE_TARGET:.0%} of raw:  {detail}  -> {verdict}"


def postgres_target(passes: Figures) -> str:
    lo, hi = min(passes), max(passes)
    best, median = _scaling(passes, "engine", max), _scaling(passes, "engine", statistics.median)
    verdict = "PASS" if best >= POSTGRES_TARGET else "MISS"
    return (
        f"TARGET postgres engine {hi} workers >= {POSTGRES_TARGET:.0f}x {lo} worker:  "
        f"{best:.2f}x (median {median:.2f}x)  -> {verdict}"
    )


def postgres_settings(url: str) -> str:
    store: Any = open_store(url)
    try:
        found = store._fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync')"
        )
        return ", ".join(f"{k}={v}" for k, v in sorted(found))
    finally:
        store.close()


def bench_relay(url: str, broker: str, events: int) -> None:
    from manifest_lang.outbox.publishers import open_publisher
    from manifest_lang.outbox.relay import Relay

    store: Any = open_store(url)
    for start in range(0, events, 100):
        store.commit(UnitOfWork(outbox=[event_entry(f"r-{i % 50}", i) for i in range(start, start + 100)]))
    publisher = open_publisher(broker)
    relay = Relay(store, publisher, batch_size=200)
    t0 = time.perf_counter()
    published = 0
    while published < events:
        stats = relay.run_once()
        if not stats.published:
            break
        published += stats.published
    elapsed = time.perf_counter() - t0
    print(
        f"relay      {broker.split('?')[0]:<28} {published} events in {elapsed:.2f}s: "
        f"{published / elapsed:8.0f} events/s"
    )
    publisher.close()
    store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0, help="measured time of one pass")
    p.add_argument("--workers", default="1,4")
    p.add_argument("--rounds", type=int, default=5, help="passes per variant and worker count (alternating)")
    p.add_argument("--only", choices=["sqlite", "postgres", "relay"])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--relay-events", type=int, default=5000)
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "manifest-store-bench"))
    args = p.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    tag = uuid.uuid4().hex[:8]
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite:///{args.dir}/bench-{tag}.db"
    pg_url = f"{args.pg}?schema=bench_{tag}"
    targets: list[str] = []
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  cpus={os.cpu_count()}  load average {_load()}", flush=True)
    try:
        if args.only in (None, "sqlite"):
            targets.append(
                sqlite_target(bench_backend("sqlite", sqlite_url, args.seconds, worker_counts, args.rounds))
            )
        if args.only in (None, "postgres"):
            print(f"postgres {postgres_settings(pg_url)}", flush=True)
            passes = bench_backend("postgres", pg_url, args.seconds, worker_counts, args.rounds)
            if len(worker_counts) > 1:
                targets.append(postgres_target(passes))
        if args.only in (None, "relay"):
            relay_db = f"sqlite:///{args.dir}/relay-{tag}.db"
            bench_relay(
                relay_db,
                f"{args.nats}?stream=BENCH{tag.upper()}&subject_prefix=bench{tag}",
                args.relay_events,
            )
            bench_relay(
                relay_db.replace("relay-", "relay2-"), f"{args.redis}?stream=bench:{tag}", args.relay_events
            )
    finally:
        cleanup(args, tag, pg_url)
    for line in targets:
        print(line)
    print(f"load average at the end {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cleanup(args: argparse.Namespace, tag: str, pg_url: str) -> None:
    import asyncio
    import shutil

    shutil.rmtree(args.dir, ignore_errors=True)
    try:
        store: Any = open_store(pg_url)
        store.drop_schema(drop_namespace=True)
        store.close()
    except Exception:
        pass  # PostgreSQL was not part of this run
    try:
        import redis

        redis.Redis.from_url(args.redis).delete(f"bench:{tag}")

        async def drop() -> None:
            import nats

            nc = await nats.connect(args.nats)
            try:
                await nc.jetstream().delete_stream(f"BENCH{tag.upper()}")
            finally:
                await nc.close()

        asyncio.run(drop())
    except Exception:
        pass  # the relay part did not run


if __name__ == "__main__":
    main()
