"""A worker process for the reliability tests: runs ``reserve`` commands against a store URL
and prints one JSON line per acknowledged command, then a summary line.

    worker.py --db URL --mode storm|reserve|idem [--items N] [--count N] [--start-at T] ...
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

import orjson
from rel_inventory import inventory_ir

from manifest_lang.errors import StoreError
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.urls import open_store


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def idempotency_store(kind: str, store: Any, redis_url: str, namespace: str) -> Any:
    if kind == "sql":
        from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore

        return SqlIdempotencyStore(store)
    from manifest_lang.stores.redis_idempotency import RedisIdempotencyStore

    return RedisIdempotencyStore(redis_url, namespace=namespace)


def classify(result: Any) -> str:
    if result.success:
        return "success"
    if result.guard_failure is not None:
        return "guard"
    if result.concurrency_conflict is not None:
        return "conflict"
    if "IDEMPOTENCY_IN_PROGRESS" in (result.error or ""):
        return "in_progress"
    return "other"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--mode", choices=["storm", "reserve", "idem"], required=True)
    p.add_argument("--worker", default="w0")
    p.add_argument("--items", type=int, default=10)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--retries", type=int, default=50)
    p.add_argument("--start-at", type=float, default=0.0)
    p.add_argument("--idem", choices=["sql", "redis"], default="sql")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--namespace", default="manifest:idem:")
    args = p.parse_args()

    store = open_store(args.db)
    idem = idempotency_store(args.idem, store, args.redis, args.namespace) if args.mode == "idem" else None
    engine = RuntimeEngine(
        inventory_ir(), {}, store_provider=store, conflict_retries=args.retries, idempotency_store=idem
    )
    rng = random.Random(args.worker)
    counts: dict[str, int] = {}
    time.sleep(max(0.0, args.start_at - time.time()))  # start every worker at the same moment
    for n in range(args.count):
        item = f"item-{rng.randrange(args.items)}" if args.mode != "idem" else "item-0"
        cid = f"{args.worker}-{n}"
        key = f"key-{n}" if args.mode == "idem" else None
        try:
            result = engine.run_command(
                "reserve",
                {"qty": 1},
                entity_name="Item",
                instance_id=item,
                correlation_id=cid,
                idempotency_key=key,
            )
        except StoreError as exc:
            counts[exc.code] = counts.get(exc.code, 0) + 1
            continue
        kind = classify(result)
        counts[kind] = counts.get(kind, 0) + 1
        if args.mode == "storm" and kind == "success":
            emit({"ack": cid, "item": item})
    emit({"done": True, "worker": args.worker, **counts})
    store.close()


if __name__ == "__main__":
    main()
