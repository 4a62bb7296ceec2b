"""Small models the workflow tests run on (compiled once per session)."""

from __future__ import annotations

from functools import cache
from typing import Any

from manifest_lang.loading import load_model

COUNTER = """
entity Counter {
  property required id: string
  property tenantId: string = ""
  property value: number = 0
  property label: string = ""

  command increment(by: number) {
    guard by > 0
    constraint tooBig: warn self.value + by <= 100 "Counter passes 100"
    constraint overflow: self.value + by <= 1000 "Counter would overflow"
    mutate value = self.value + by
    emit Incremented
  }

  command decrement(by: number) {
    guard self.value >= by
    mutate value = self.value - by
    emit Decremented
  }

  command rename(label: string) {
    guard user.role == "admin"
    mutate label = label
    mutate tenantId = uuid()
    emit Renamed
  }

  command create(label: string) {
    mutate label = label
    emit Created
  }

  command stamp() {
    mutate value = now()
    emit Stamped
  }

  store Counter in memory
}
"""


@cache
def counter_model() -> Any:
    return load_model(COUNTER)
