"""Correlation queries and the causal tree over plain EmittedEvent values and their dict form."""

from __future__ import annotations

from manifest_lang.runtime.results import EmittedEvent
from manifest_lang.workflows.eventlog import (
    causal_tree,
    event_label,
    event_ref,
    events_for_correlation,
    render_causal_tree,
    timeline,
)


def ev(
    name: str,
    sid: str | None,
    ts: int,
    *,
    cid: str = "c1",
    cause: str | None = None,
    index: int | None = 0,
    payload: dict | None = None,
) -> EmittedEvent:
    subject = {"entity": "E", "command": "x", "id": sid} if sid else None
    return EmittedEvent(name, name, payload or {}, ts, subject, cid, cause, index)


def test_events_for_correlation_filters_and_orders_by_timestamp_then_log_order() -> None:
    events = [
        ev("B", "i1", 20),
        ev("A", "i1", 10),
        ev("Other", "i9", 5, cid="c2"),
        ev("C", "i2", 20, index=1),
    ]
    picked = events_for_correlation(events, "c1")
    assert [e.name for e in picked] == ["A", "B", "C"]
    assert events_for_correlation(events, "missing") == []


def test_timeline_rows_have_the_documents_keys_and_omit_absent_ones() -> None:
    rows = timeline([ev("InventoryReserved", "item-1", 1707840000000, cause="event-prep-42")])
    assert rows == [
        {
            "name": "InventoryReserved",
            "emitIndex": 0,
            "correlationId": "c1",
            "causationId": "event-prep-42",
            "timestamp": 1707840000000,
        }
    ]
    assert "causationId" not in timeline([ev("X", None, 1)])[0]


def test_causal_tree_reproduces_the_documents_event_day() -> None:
    events = [
        ev("PrepTaskStarted", "task-1", 1, cause="event-day-start-evt-42"),
        ev("PrepTaskStarted", "task-2", 2, cause="event-day-start-evt-42"),
        ev("InventoryConsumed", "item-flour", 3, cause="prep-task-1"),
        ev("InventoryConsumed", "item-butter", 4, cause="prep-task-1"),
        ev("InventoryConsumed", "item-cream", 5, cause="prep-task-2"),
        ev("StationTaskAssigned", "station-hot-line", 6, cause="prep-task-1"),
        ev("StationTaskAssigned", "station-cold-prep", 7, cause="prep-task-2"),
    ]
    assert render_causal_tree(causal_tree(events)) == (
        "event-day-start-evt-42\n"
        "  └─ PrepTaskStarted (task-1, emitIndex: 0)\n"
        "  └─ PrepTaskStarted (task-2, emitIndex: 0)\n"
        "\n"
        "prep-task-1\n"
        "  └─ InventoryConsumed (item-flour, emitIndex: 0)\n"
        "  └─ InventoryConsumed (item-butter, emitIndex: 0)\n"
        "  └─ StationTaskAssigned (station-hot-line, emitIndex: 0)\n"
        "\n"
        "prep-task-2\n"
        "  └─ InventoryConsumed (item-cream, emitIndex: 0)\n"
        "  └─ StationTaskAssigned (station-cold-prep, emitIndex: 0)"
    )


def test_causation_naming_an_earlier_event_nests_under_the_latest_such_event() -> None:
    first = ev("InventoryReserved", "item-flour", 1, cause="user-action-1")
    second = ev("InventoryReserved", "item-flour", 2, cause="user-action-2")
    # by reference: the latest earlier InventoryReserved:item-flour is `second`
    by_ref = ev("StationTaskAssigned", "station-1", 3, cause=event_ref(second))
    # by bare name (the engine's reaction convention)
    by_name = ev("Audit", "a-1", 4, cause="StationTaskAssigned")
    tree = causal_tree([first, second, by_ref, by_name])
    assert [r.key for r in tree.roots] == ["user-action-1", "user-action-2"]
    assert tree.root("user-action-1").children[0].children == []
    nested = tree.root("user-action-2").children[0].children[0]
    assert nested.event is by_ref
    assert nested.children[0].event is by_name
    assert render_causal_tree(tree).splitlines()[-2:] == [
        "     └─ StationTaskAssigned (station-1, emitIndex: 0)",
        "        └─ Audit (a-1, emitIndex: 0)",
    ]
    assert tree.events() == [first, second, by_ref, by_name]


def test_a_cause_never_points_forward_in_time() -> None:
    early = ev("Effect", "x", 1, cause="Cause")
    later = ev("Cause", "y", 2, cause="root-cause")
    tree = causal_tree([later, early])
    assert [r.key for r in tree.roots] == ["Cause", "root-cause"]


def test_events_without_causation_go_under_root_and_dicts_work_too() -> None:
    as_dict = {
        "name": "OverrideApplied",
        "channel": "system",
        "timestamp": 5,
        "payload": {"instanceId": "item-flour", "constraintCode": "blockStockout"},
    }
    plain = ev("PrepTaskClaimed", "task-1", 6)
    tree = causal_tree([as_dict, plain])
    assert [r.key for r in tree.roots] == ["root"]
    assert [c.label for c in tree.roots[0].children] == [
        "OverrideApplied (item-flour)",
        "PrepTaskClaimed (task-1, emitIndex: 0)",
    ]
    data = tree.to_dict()
    assert data["roots"][0]["children"][0]["event"]["name"] == "OverrideApplied"
    assert data["roots"][0]["children"][1]["event"]["emitIndex"] == 0


def test_labels_and_refs() -> None:
    assert event_label(ev("Bare", None, 1, index=None)) == "Bare"
    assert event_ref(ev("Bare", None, 1)) == "Bare"
    assert event_ref(ev("InventoryReserved", "item-1", 1)) == "InventoryReserved:item-1"
