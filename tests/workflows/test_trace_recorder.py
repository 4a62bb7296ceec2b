"""``TraceRecorder``: O(1) per command, bounded per workflow and in all, tenants apart."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from manifest_lang.workflows.trace import DEFAULT_MAX_RECORDS, TraceRecorder, build_trace, render_text


@dataclass(frozen=True)
class Command:
    name: str = "reserve"
    entity: str | None = "InventoryItem"


@dataclass(frozen=True)
class Meta:
    correlation_id: str | None
    causation_id: str | None = None
    idempotency_key: str | None = None


def result(n: int, success: bool = True) -> dict[str, Any]:
    event = {
        "name": "InventoryReserved",
        "channel": "inventory.reserved",
        "payload": {"quantity": n},
        "subject": {"command": "reserve", "entity": "InventoryItem", "id": "i1"},
        "timestamp": 1_000_000 + n,
        "correlationId": "wf",
        "emitIndex": 0,
    }
    return {
        "success": success,
        "emittedEvents": [event] if success else [],
        "error": None if success else "no",
    }


def record(rec: TraceRecorder, n: int, key: str | None = None, tenant: Any = "t1", cid: str = "wf") -> None:
    rec.record_command(Command(), "i1", Meta(cid, idempotency_key=key), result(n), tenant)


def quantities(rec: TraceRecorder, tenant: Any = "t1", cid: str = "wf") -> list[int]:
    return [r.events[0]["payload"]["quantity"] for r in rec.records(cid, tenant)]


def test_records_per_workflow_never_exceed_the_cap_and_the_oldest_go_first() -> None:
    rec = TraceRecorder(max_records=5)
    for n in range(12):
        record(rec, n, key=f"k{n}")
        assert len(rec.records("wf", "t1")) == min(n + 1, 5)
    assert quantities(rec) == [7, 8, 9, 10, 11]
    records, evicted = rec.window("wf", "t1")
    assert evicted == 7 and len(records) == 5 and rec.record_count == 5


def test_the_default_cap_is_documented_and_applies() -> None:
    rec = TraceRecorder()
    assert rec.max_records == DEFAULT_MAX_RECORDS == 1000
    for n in range(DEFAULT_MAX_RECORDS + 10):
        record(rec, n)
    assert rec.window("wf", "t1")[1] == 10


def test_duplicates_are_found_after_eviction() -> None:
    rec = TraceRecorder(max_records=3)
    for n in range(10):
        record(rec, n, key=f"k{n}")
    record(rec, 9, key="k9")  # a retry of a retained command: nothing ran again
    record(rec, 8, key="k8")
    assert quantities(rec) == [7, 8, 9]
    # a retry of an evicted command (its stored result carries its original, older events)
    record(rec, 2, key="k2")
    assert quantities(rec) == [7, 8, 9] and rec.window("wf", "t1")[1] == 7
    # an evicted key is free again for a command that really runs now
    record(rec, 20, key="k1")
    assert quantities(rec) == [8, 9, 20]
    assert rec._workflows[("wf", "t1")].keys == {"k8", "k9", "k1"}


def test_keyless_commands_and_refusals_are_recorded_each_time() -> None:
    rec = TraceRecorder(max_records=4)
    for _ in range(3):
        rec.record_command(Command(), "i1", Meta("wf"), result(1, success=False), "t1")
    assert len(rec.records("wf", "t1")) == 3


def test_tenants_are_kept_apart_and_capped_apart() -> None:
    rec = TraceRecorder(max_records=3)
    record(rec, 0, key="same", tenant="a")
    for n in range(1, 5):
        record(rec, n, tenant="a")
    record(rec, 100, key="same", tenant="b")  # the same key in another tenant is another command
    assert quantities(rec, "a") == [2, 3, 4] and quantities(rec, "b") == [100]
    assert rec.window("wf", "b") == (rec.records("wf", "b"), 0)
    assert rec.records("wf", "c") == [] and rec.window("wf", "c")[1] == 0
    # a tenant that is not hashable (a tenant function may return any JSON) still works
    record(rec, 7, tenant={"org": "x"})
    assert quantities(rec, {"org": "x"}) == [7] and quantities(rec, {"org": "y"}) == []


def test_workflows_are_bounded_least_recently_active_first() -> None:
    rec = TraceRecorder(max_workflows=3, max_records=10)
    for name in ("w1", "w2", "w3"):
        record(rec, 1, cid=name)
    record(rec, 2, cid="w1")  # w1 active again: w2 is now the oldest
    record(rec, 1, cid="w4")
    assert rec.workflow_count == 3 and rec.records("w2", "t1") == []
    assert len(rec.records("w1", "t1")) == 2 and rec.record_count == 4
    assert rec.window("w2", "t1") == ([], 1)  # dropped whole: its record is counted as evicted
    record(rec, 5, cid="w2")  # back again: the count goes on
    assert rec.window("w2", "t1")[1] == 1 and quantities(rec, cid="w2") == [5]


def test_the_total_bound_drops_old_workflows_then_old_records() -> None:
    rec = TraceRecorder(max_workflows=100, max_records=None, max_total_records=10)
    for n in range(6):
        record(rec, n, cid="old")
    for n in range(6):
        record(rec, n, cid="new")
    assert rec.records("old", "t1") == [] and rec.record_count == 6
    for n in range(6, 20):
        record(rec, n, cid="new")
    assert rec.record_count == 10 and quantities(rec, cid="new") == list(range(10, 20))


def test_bad_bounds_are_refused() -> None:
    for kwargs in ({"max_records": 0}, {"max_workflows": 0}, {"max_total_records": 0}):
        with pytest.raises(ValueError):
            TraceRecorder(**kwargs)  # type: ignore[arg-type]


def test_recording_50k_keyed_commands_on_one_workflow_holds_a_bounded_amount() -> None:
    rec = TraceRecorder(max_records=100)
    for n in range(10_000):
        record(rec, n, key=f"k{n}")
    gc.collect()
    before = sys.getallocatedblocks()
    for n in range(10_000, 50_000):
        record(rec, n, key=f"k{n}")
    gc.collect()
    flow = rec._workflows[("wf", "t1")]
    assert len(flow.records) == 100 and len(flow.keys) == 100 and flow.evicted == 49_900
    assert abs(sys.getallocatedblocks() - before) < 200  # a record is ~15 blocks


def test_the_trace_says_how_many_records_were_evicted() -> None:
    rec = TraceRecorder(max_records=2)
    for n in range(5):
        record(rec, n)
    records, evicted = rec.window("wf", "t1")
    trace = build_trace("wf", records, [], evicted)
    body = trace.to_dict()
    assert body["evicted"] == 3 and body["commands"] == 2
    assert "3 older command records evicted" in render_text(trace)
    assert build_trace("wf", [], []).to_dict()["evicted"] == 0
