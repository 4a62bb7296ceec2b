"""Reactions (fan-out, foreach-create, aggregates, match-else-create) on the conformance models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from manifest_lang.runtime.engine import RuntimeEngine

from .test_conformance_runtime import CONFORMANCE_DIR, missing_conformance


def engine_for(fixture: str) -> RuntimeEngine:
    path = CONFORMANCE_DIR / "expected" / f"{fixture}.ir.json"
    if not path.exists():
        missing_conformance(path)
    ids = iter(range(1, 1000))
    ir = json.loads(Path(path).read_text())
    return RuntimeEngine(ir, {}, now=lambda: 1, generate_id=lambda: f"g{next(ids)}")


def names(result: Any) -> list[str]:
    return [e.name for e in result.emitted_events]


def test_fan_out_runs_the_command_on_every_matching_row() -> None:
    engine = engine_for("96-fanout-reaction")
    engine.create_instance("Parent", {"id": "p1"})
    for cid, parent in (("c1", "p1"), ("c2", "p1"), ("c3", "other")):
        engine.create_instance("Child", {"id": cid, "parentId": parent})
    result = engine.run_command("deactivate", {}, entity_name="Parent", instance_id="p1")
    assert result.success
    statuses = {c["id"]: c["status"] for c in engine.get_all_instances("Child")}
    assert statuses == {"c1": "inactive", "c2": "inactive", "c3": "active"}


def test_fan_out_across_entities_creates_one_row_per_match() -> None:
    engine = engine_for("112-fanout-foreach-create")
    engine.create_instance("Order", {"id": "o1"})
    engine.create_instance("LineItem", {"id": "l1", "orderId": "o1", "quantity": 2})
    engine.create_instance("LineItem", {"id": "l2", "orderId": "o1", "quantity": 5})
    engine.create_instance("LineItem", {"id": "l3", "orderId": "o2", "quantity": 9})
    result = engine.run_command("place", {}, entity_name="Order", instance_id="o1")
    assert result.success
    shipments = sorted((s["lineItemId"], s["quantity"]) for s in engine.get_all_instances("Shipment"))
    assert shipments == [("l1", 2), ("l2", 5)]


def test_resolve_with_an_aggregate_parameter() -> None:
    engine = engine_for("97-aggregate-count-reaction")
    engine.create_instance("Schedule", {"id": "s1"})
    engine.create_instance("ScheduleShift", {"id": "x1", "scheduleId": "s1"})
    engine.create_instance("ScheduleShift", {"id": "x2", "scheduleId": "s1", "status": "cancelled"})
    engine.create_instance("ScheduleShift", {"id": "x3"})
    result = engine.run_command("assign", {"scheduleId": "s1"}, entity_name="ScheduleShift", instance_id="x3")
    assert result.success
    assert engine.get_instance("Schedule", "s1")["shiftCount"] == 2


def test_match_else_create_reuses_then_creates() -> None:
    engine = engine_for("115-reaction-match-else-create")
    engine.create_instance("Need", {"id": "n1"})
    engine.create_instance("Need", {"id": "n2"})
    first = engine.run_command(
        "open", {"weekKey": "w1", "vendorId": "v1", "quantity": 3}, entity_name="Need", instance_id="n1"
    )
    assert first.success and names(first) == ["NeedOpened", "DraftEnsured"]
    drafts = engine.get_all_instances("Draft")
    assert [(d["weekKey"], d["totalQty"]) for d in drafts] == [("w1", 3)]
    second = engine.run_command(
        "open", {"weekKey": "w1", "vendorId": "v1", "quantity": 7}, entity_name="Need", instance_id="n2"
    )
    assert second.success
    drafts = engine.get_all_instances("Draft")
    assert [(d["weekKey"], d["totalQty"]) for d in drafts] == [("w1", 7)]  # matched, not duplicated
    assert second.emitted_events[1].causation_id == "NeedOpened"
