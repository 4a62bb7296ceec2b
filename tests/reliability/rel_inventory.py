"""The small inventory model every reliability test drives, and helpers shared by the tests
and the worker processes they start."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
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
