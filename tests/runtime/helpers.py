"""Shared helpers of the runtime tests: compile a model, make a deterministic engine."""

from __future__ import annotations

from itertools import count
from typing import Any

from manifest_lang.compiler.api import compile_source
from manifest_lang.runtime.engine import RuntimeEngine

NOW = 1_000_000_000_000

COUNTER = """
entity Counter {
  property required id: string
  property value: number = 0
  property version: number = 0
  constraint nonNegative: self.value >= 0 "Value cannot be negative"

  command increment(by: number) {
    guard by > 0
    mutate value = value + by
    emit Incremented
  }
  command decrement(by: number) {
    mutate value = value - by
    emit Decremented
  }
  command bump() {
    mutate value = value + 1
  }
}
store Counter in memory
event Incremented: "counter.incremented" { by: number }
event Decremented: "counter.decremented" { by: number }
"""


def compile_ir(source: str) -> dict[str, Any]:
    result = compile_source(source)
    assert result.ir is not None, [d.message for d in result.diagnostics]
    return result.ir


def make_engine(
    source: str = COUNTER, context: dict[str, Any] | None = None, **options: Any
) -> RuntimeEngine:
    ids = count(1)
    options.setdefault("now", lambda: NOW)
    options.setdefault("generate_id", lambda: f"id-{next(ids)}")
    return RuntimeEngine(compile_ir(source), context or {}, **options)
