"""What a durable saga step costs against the same command run plainly, in one run.

Workload: the catering kitchen's ``reserve`` on three items, over and over (stock large enough
that nothing blocks). Two sides, on the same store, alternating in chunks so both see the same
machine load:

  plain    the three commands run by one engine with a correlation and causation id each
           (one transaction per command: the row update + its outbox row)
  durable  a Python ``Saga(durable=True)`` of the same three steps (no lifecycle events in the
           outbox): one transaction to start it (the saga row + its work item, when the store
           keeps work items), then one per step (the row update + its outbox row + the saga
           row's update, the one extra statement)

Reported: steps/s of each side, and the ratio durable/plain for the steps alone (time of the
step transactions) and end to end (with the start). The ratio is the median over chunk pairs.

  .venv/bin/python bench/saga_overhead.py                       # SQLite file, ~30 s
  .venv/bin/python bench/saga_overhead.py --pg postgresql://postgres@127.0.0.1:5432/test
  .venv/bin/python bench/saga_overhead.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from manifest_lang.loading import load_model  # noqa: E402
from manifest_lang.runtime.engine import RuntimeEngine  # noqa: E402
from manifest_lang.workflows.durable_saga import SagaRunner  # noqa: E402
from manifest_lang.workflows.saga import Saga, SagaStep  # noqa: E402
from manifest_lang.workflows.saga_api import start_saga  # noqa: E402

TENANT = "kitchen-1"
CONTEXT = {"tenantId": TENANT, "user": {"id": "chef-maria", "role": "chef"}}
ITEMS = ("item-flour", "item-butter", "item-cream")


def open_store(kind: str, dsn: str | None, tmp: Path) -> Any:
    if kind == "sqlite":
        from manifest_lang.stores.sqlite import SQLiteStore

        return SQLiteStore(tmp / "saga_bench.db")
    from manifest_lang.stores.postgres import PostgresStore

    return PostgresStore(str(dsn), schema="sb_" + uuid.uuid4().hex[:8])


def seed(model: Any, store: Any) -> None:
    engine = RuntimeEngine(model, dict(CONTEXT), store_provider=store)
    for item in ITEMS:
        row = {
            "id": item,
            "tenantId": TENANT,
            "name": item,
            "quantityOnHand": 10**9,
            "quantityAvailable": 10**9,
        }
        engine.create_instance("InventoryItem", row)


def saga(n: int) -> Saga:
    steps = [
        SagaStep(
            f"reserve-{item}",
            "reserve",
            {"quantity": 1, "eventId": f"evt-{n}"},
            "InventoryItem",
            item,
            compensation="releaseReservation",
            compensation_input={"quantity": 1},
        )
        for item in ITEMS
    ]
    return Saga(f"prep-{n}", steps, durable=True)


def plain_chunk(engine: Any, start: int, count: int) -> float:
    began = time.perf_counter()
    for n in range(start, start + count):
        for item in ITEMS:
            result = engine.run_command(
                "reserve",
                {"quantity": 1, "eventId": f"evt-{n}"},
                entity_name="InventoryItem",
                instance_id=item,
                correlation_id=f"plain-{n}",
                causation_id=f"prep-{n}:reserve-{item}",
            )
            assert result.success, result.error
    return time.perf_counter() - began


def durable_chunk(runner: SagaRunner, start: int, count: int) -> tuple[float, float]:
    """(seconds of the step transactions, seconds end to end)."""
    steps = total = 0.0
    for n in range(start, start + count):
        t0 = time.perf_counter()
        saga_id = start_saga(runner, saga(n), context=CONTEXT, correlation_id=f"durable-{n}")
        t1 = time.perf_counter()
        record = runner.run(saga_id)
        t2 = time.perf_counter()
        assert record.status == "completed", record.view()
        steps += t2 - t1
        total += t2 - t0
    return steps, total


def measure(kind: str, dsn: str | None, sagas: int, chunk: int) -> dict[str, float]:
    model = load_model(REPO / "examples" / "catering" / "catering.manifest")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(kind, dsn, Path(tmp))
        try:
            seed(model, store)
            engine = RuntimeEngine(model, dict(CONTEXT), store_provider=store)
            runner = SagaRunner(model, store)
            plain_chunk(engine, 0, 20)  # warm up both paths
            durable_chunk(runner, 0, 20)
            step_ratios, total_ratios = [], []
            plain_s = durable_steps_s = durable_total_s = 0.0
            for start in range(100, 100 + sagas, chunk):
                p = plain_chunk(engine, start, chunk)
                s, t = durable_chunk(runner, start, chunk)
                plain_s, durable_steps_s, durable_total_s = (
                    plain_s + p,
                    durable_steps_s + s,
                    durable_total_s + t,
                )
                step_ratios.append(p / s)
                total_ratios.append(p / t)
        finally:
            if kind == "postgres":
                store.drop_schema(drop_namespace=True)
            store.close()
    steps = sagas * len(ITEMS)
    return {
        "plain_steps_per_s": steps / plain_s,
        "durable_steps_per_s": steps / durable_steps_s,
        "durable_end_to_end_steps_per_s": steps / durable_total_s,
        "ratio_steps": statistics.median(step_ratios),
        "ratio_end_to_end": statistics.median(total_ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sagas", type=int, default=600)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--pg", metavar="DSN", help="also measure PostgreSQL at DSN")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sagas, chunk = (60, 20) if args.quick else (args.sagas, args.chunk)
    kinds = [("sqlite", None)] + ([("postgres", args.pg)] if args.pg else [])
    for kind, dsn in kinds:
        r = measure(kind, dsn, sagas, chunk)
        print(
            f"{kind:8} plain {r['plain_steps_per_s']:7.0f} steps/s | durable {r['durable_steps_per_s']:7.0f} "
            f"steps/s ({r['durable_end_to_end_steps_per_s']:.0f} with the start) | durable/plain "
            f"{r['ratio_steps']:.2f} steps, {r['ratio_end_to_end']:.2f} end to end ({sagas} sagas x 3 steps)"
        )


if __name__ == "__main__":
    main()
