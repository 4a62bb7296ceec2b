"""The small inventory model every reliability test drives, and helpers shared by the tests
and the worker processes they start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"

SOURCE = """
entity Item {
  property required sku: string
  property stock: number = 0
  property reserved: number = 0

  command reserve(qty: number) {
    guard qty > 0
    guard self.reserved + qty <= self.stock
    mutate reserved = self.reserved + qty
    emit StockReserved
  }
}

store Item in memory

event StockReserved: "inventory.reserved" {
  sku: string
  qty: number
}
"""


@cache
def inventory_ir() -> dict[str, Any]:
    from manifest_lang import compile_source

    result = compile_source(SOURCE)
    assert result.ir is not None, result.diagnostics
    return result.ir  # type: ignore[no-any-return]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def seed_items(store: Any, count: int, stock: int) -> list[str]:
    """``count`` items (ids item-0…) with ``stock`` each, created through the engine."""
    from manifest_lang.runtime.engine import RuntimeEngine

    engine = RuntimeEngine(inventory_ir(), {}, store_provider=store)
    ids = [f"item-{i}" for i in range(count)]
    for i, item_id in enumerate(ids):
        assert engine.create_instance("Item", {"id": item_id, "sku": f"SKU-{i}", "stock": stock}) is not None
    return ids


def start_worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def all_events(store: Any) -> list[Any]:
    """Every outbox row still pending, in seq order (nothing was relayed in these tests)."""
    return store.claim_outbox(10**7, now=1e15)  # type: ignore[no-any-return]


class ReserveStorm:
    """A thread reserving one unit after another on ``items`` until stopped, counting outcomes.

    Store failures are counted, not raised: the tests that cut connections or restart the server
    assert afterwards that every failure was a clean ``StoreUnavailableError``.
    """

    def __init__(self, engine: Any, items: list[str], *, pause_when_unavailable: float = 0.0) -> None:
        self.engine, self.items, self.pause = engine, items, pause_when_unavailable
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> ReserveStorm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        from manifest_lang.errors import StoreError, StoreUnavailableError

        n = 0
        while not self._stop.is_set():
            n += 1
            item = self.items[n % len(self.items)]
            try:
                result = self.engine.run_command("reserve", {"qty": 1}, entity_name="Item", instance_id=item)
                self.outcomes["success" if result.success else "failed"] += 1
            except StoreUnavailableError:
                self.outcomes["unavailable"] += 1
                time.sleep(self.pause)
            except StoreError:
                self.outcomes["store_error"] += 1


def assert_storm_consistent(store: Any, items: list[str], outcomes: Counter[str]) -> None:
    """Rows, revisions and outbox agree, and only clean failures happened."""
    assert outcomes["store_error"] == 0 and outcomes["failed"] == 0, outcomes
    events = all_events(store)
    per_item = Counter(e.instance_id for e in events)
    for item in items:
        row = store.load("Item", item)
        assert row is not None and row.row["reserved"] == per_item[item]
        assert row.revision == 1 + row.row["reserved"]
    # A cut during COMMIT leaves the outcome unknown (reported as unavailable): it may have landed.
    assert outcomes["success"] <= len(events) <= outcomes["success"] + outcomes["unavailable"]
