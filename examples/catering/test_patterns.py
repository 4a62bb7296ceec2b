"""The documented outcomes of Patterns 1-6, checked on the runnable examples."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from manifest_lang.errors import EvaluationBudgetExceededError
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.workflows.eventlog import causal_tree, render_causal_tree
from manifest_lang.workflows.journal import CommandJournal
from manifest_lang.workflows.replay import replay_and_verify

from . import pattern1_event_prep as p1
from . import pattern2_preptask_lifecycle as p2
from . import pattern3_event_day as p3
from . import pattern4_replay as p4
from . import pattern5_severity_override as p5
from . import pattern6_budget as p6
from .kitchen import CHEF, COOK, MANAGER, TENANT, instance, kitchen, load_model


@pytest.fixture
def factory():  # type: ignore[no-untyped-def]
    f = kitchen(seeded=True)
    return f


# -- Pattern 1 ---------------------------------------------------------------------------------


def test_reserve_below_par_warns_and_succeeds(factory) -> None:  # type: ignore[no-untyped-def]
    ctx = p1.EventPrepContext(TENANT, CHEF, "42", "prep-evt-42")
    out = p1.prepare_event_inventory(factory, ctx, [{"inventoryItemId": "item-butter", "quantity": 8}])
    assert out.success
    assert out.warnings == ["warnBelowPar: Reserving will drop below par level"]
    butter = instance(factory, "InventoryItem", "item-butter")
    assert (butter["quantityReserved"], butter["quantityAvailable"]) == (8, 12)


def test_reserve_beyond_stock_blocks_and_compensates_completed_reservations(factory) -> None:  # type: ignore[no-untyped-def]
    ctx = p1.EventPrepContext(TENANT, CHEF, "43", "prep-evt-43")
    out = p1.prepare_event_inventory(
        factory,
        ctx,
        [{"inventoryItemId": "item-flour", "quantity": 5}, {"inventoryItemId": "item-cream", "quantity": 50}],
    )
    assert not out.success
    assert out.error == "Cannot reserve item-cream: Insufficient stock for reservation"
    assert [(s.step, s.status) for s in out.saga.steps] == [
        ("reserve-item-flour", "compensated"),
        ("reserve-item-cream", "failed"),
    ]
    assert out.saga.status == "compensated"
    flour = instance(factory, "InventoryItem", "item-flour")
    assert (flour["quantityReserved"], flour["quantityAvailable"]) == (0, 50)
    names = [e.name for e in factory.events_for_correlation("prep-evt-43")]
    assert names == ["InventoryReserved", "InventoryReservationReleased"]
    released = factory.events_for_correlation("prep-evt-43")[1]
    assert released.causation_id == "event-prep-43:reserve-item-flour:compensate"


def test_every_reservation_event_carries_the_correlation_and_causation(factory) -> None:  # type: ignore[no-untyped-def]
    ctx = p1.EventPrepContext(TENANT, CHEF, "42", "prep-evt-42")
    items = [{"inventoryItemId": i, "quantity": 1} for i in ("item-flour", "item-butter", "item-cream")]
    p1.prepare_event_inventory(factory, ctx, items)
    events = factory.events_for_correlation("prep-evt-42")
    assert [(e.name, e.emit_index, e.causation_id) for e in events] == [
        ("InventoryReserved", 0, "event-prep-42")
    ] * 3
    assert [e.subject["id"] for e in events] == ["item-flour", "item-butter", "item-cream"]


# -- Pattern 2 ---------------------------------------------------------------------------------


def _prep_kitchen():  # type: ignore[no-untyped-def]
    f = kitchen(idempotency_store=MemoryIdempotencyStore())
    chef = f.engine(tenant_id=TENANT, user=CHEF)
    chef.create_instance(
        "PrepTask",
        {"id": "task-7", "tenantId": TENANT, "eventId": "evt-42", "name": "Shallots", "quantityTotal": 4},
    )
    return f, chef


def test_duplicate_claim_returns_the_cached_result_and_emits_nothing() -> None:
    f, chef = _prep_kitchen()
    out = p2.claim_prep_task(chef, TENANT, CHEF["id"], "task-7", "evt-42")
    assert out["success"] and out["events"] == ["PrepTaskClaimed"]
    assert out["duplicate_is_cached"] is True
    assert out["events_emitted_by_duplicate"] == 0
    assert [e.name for e in f.events()] == ["PrepTaskClaimed"]
    assert instance(f, "PrepTask", "task-7")["claimedBy"] == CHEF["id"]


def test_claiming_a_claimed_task_fails_with_the_transition_error() -> None:
    f, chef = _prep_kitchen()
    p2.claim_prep_task(chef, TENANT, CHEF["id"], "task-7", "evt-42")
    cook = f.engine(tenant_id=TENANT, user=COOK)
    out = p2.claim_prep_task(cook, TENANT, COOK["id"], "task-7", "evt-42")
    assert out == {
        "success": False,
        "error": "Invalid state transition for 'status': 'claimed' -> 'claimed' is not allowed. "
        "Allowed from 'claimed': ['in_progress', 'open']",
    }
    assert instance(f, "PrepTask", "task-7")["claimedBy"] == CHEF["id"]


def test_claim_of_an_overdue_task_warns() -> None:
    f, chef = _prep_kitchen()
    chef.create_instance(
        "PrepTask", {"id": "late", "tenantId": TENANT, "eventId": "e", "name": "Late", "dueByDate": 1}
    )
    out = p2.claim_prep_task(chef, TENANT, CHEF["id"], "late", "e")
    assert out["warnings"] == ["warnOverdue"]


# -- Pattern 3 ---------------------------------------------------------------------------------

EVENT_DAY_TREE = """\
event-day-start-evt-42
  └─ PrepTaskStarted (task-1, emitIndex: 0)
  └─ PrepTaskStarted (task-2, emitIndex: 0)

prep-task-task-1
  └─ InventoryConsumed (item-flour, emitIndex: 0)
  └─ InventoryConsumed (item-butter, emitIndex: 0)
  └─ StationTaskAssigned (station-hot-line, emitIndex: 0)

prep-task-task-2
  └─ InventoryConsumed (item-cream, emitIndex: 0)
  └─ StationTaskAssigned (station-cold-prep, emitIndex: 0)"""


def test_event_day_causal_tree(factory) -> None:  # type: ignore[no-untyped-def]
    p3.reserve_for_event(factory, "evt-42")
    result = p3.execute_event_day(factory, TENANT, CHEF, "evt-42", "event-day-evt-42")
    assert result.success and result.status == "completed"
    assert len(result.completed_steps) == 7
    tree = causal_tree(factory.events_for_correlation("event-day-evt-42"))
    assert render_causal_tree(tree) == EVENT_DAY_TREE
    assert instance(factory, "PrepTask", "task-1")["status"] == "in_progress"
    assert instance(factory, "InventoryItem", "item-flour")["quantityOnHand"] == 45


def test_station_at_capacity_is_logged_and_the_day_goes_on(factory, caplog) -> None:  # type: ignore[no-untyped-def]
    p3.reserve_for_event(factory, "evt-42")
    factory.engine(tenant_id=TENANT, user=MANAGER).run_command(
        "assignTask", {"taskId": "other"}, entity_name="Station", instance_id="station-cold-prep"
    )
    with caplog.at_level(logging.WARNING, logger="examples.catering"):
        result = p3.execute_event_day(factory, TENANT, CHEF, "evt-42", "event-day-evt-42")
    assert result.success
    assert result.step("assign-task-2").status == "failed"
    assert result.step("assign-task-2").error == "Station is at capacity"
    assert "station at capacity: assign-task-2" in caplog.text


def test_a_failed_consumption_releases_the_started_tasks(factory) -> None:  # type: ignore[no-untyped-def]
    # nothing reserved: the first consume fails its guard, so the saga compensates the starts
    result = p3.execute_event_day(factory, TENANT, CHEF, "evt-42", "event-day-evt-42")
    assert not result.success and result.status == "compensated"
    assert result.failed_step == "consume-ing-1"
    assert result.error == "Guard condition failed for command 'consume'"
    assert [s.status for s in result.steps[:2]] == ["compensated", "compensated"]
    assert instance(factory, "PrepTask", "task-1")["status"] == "open"


# -- Pattern 4 ---------------------------------------------------------------------------------


def test_replay_verifies_and_a_tampered_journal_names_the_command(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    p4.record_event_day(path)
    report = replay_and_verify(load_model(), CommandJournal.load(path))
    assert report.verified and report.commands == 3 and report.messages == []

    p4.tamper(path, "complete", "quantityCompleted", 5)
    report = replay_and_verify(load_model(), CommandJournal.load(path))
    assert not report.verified
    assert report.commands_differing == [3]
    assert report.messages == [
        "Command complete (#3): payload of PrepTaskCompleted differs: 'quantityCompleted' expected 50, got 5"
    ]


# -- Pattern 5 ---------------------------------------------------------------------------------


def test_restock_severities(factory) -> None:  # type: ignore[no-untyped-def]
    assert p5.restock_inventory_item(factory, CHEF, "item-cream", 10) == {
        "success": True,
        "events": ["InventoryRestocked"],
    }
    assert p5.restock_inventory_item(factory, CHEF, "item-cream", 800)["warnings"] == [
        {"code": "warnLargeDelivery", "message": "Unusually large delivery - check the invoice"}
    ]
    assert p5.restock_inventory_item(factory, CHEF, "item-cream", 0) == {
        "success": False,
        "blockers": [{"code": "blockNonPositiveRestock", "message": "Restock quantity must be positive"}],
    }
    assert instance(factory, "InventoryItem", "item-cream")["quantityOnHand"] == 12 + 10 + 800


REASON = "Emergency event tomorrow, ordering more stock now"


def test_override_by_a_manager_is_applied_with_its_audit_event(factory) -> None:  # type: ignore[no-untyped-def]
    result = p5.reserve_with_manager_override(
        factory, MANAGER, "manager-jane", "item-butter", 40, "e", REASON
    )
    assert result.success
    override = next(e for e in result.emitted_events if e.name == "OverrideApplied")
    assert override.channel == "system"
    assert override.payload == {
        "constraintCode": "blockStockout",
        "reason": REASON,
        "authorizedBy": "manager-jane",
        "timestamp": override.timestamp,
        "commandName": "reserve",
        "entityName": "InventoryItem",
        "instanceId": "item-butter",
    }
    assert instance(factory, "InventoryItem", "item-butter")["quantityAvailable"] == -20


def test_override_without_authority_is_denied(factory) -> None:  # type: ignore[no-untyped-def]
    result = p5.reserve_with_manager_override(factory, CHEF, "manager-jane", "item-butter", 40, "e", REASON)
    assert not result.success
    assert result.error == "Insufficient stock for reservation"
    assert not [e for e in factory.events() if e.name == "OverrideApplied"]
    assert instance(factory, "InventoryItem", "item-butter")["quantityAvailable"] == 20


# -- Pattern 6 ---------------------------------------------------------------------------------


def test_budget_exceeded_is_a_failed_result_in_a_command_and_an_error_outside() -> None:
    from manifest_lang.stores.memory import MemoryStore

    kitchen_engine, batch_engine = p6.engines(MemoryStore())
    p6.seed_item(batch_engine)
    options = {"entity_name": "InventoryItem", "instance_id": "item-01"}
    refused = kitchen_engine.run_command("reserve", {"quantity": 100, "eventId": "evt-99"}, **options)
    assert not refused.success
    assert refused.error == "Evaluation budget exceeded: steps limit 2000 reached"
    assert refused.emitted_events == []
    with pytest.raises(EvaluationBudgetExceededError) as info:
        kitchen_engine.evaluate_computed("InventoryItem", "item-01", "restrictionCount")
    assert (info.value.limit_type, info.value.limit) == ("steps", 2000)
    ran = batch_engine.run_command("reserve", {"quantity": 100, "eventId": "evt-99"}, **options)
    assert ran.success
    assert batch_engine.evaluate_computed("InventoryItem", "item-01", "restrictionCount") == 1000


def test_a_restricted_event_is_blocked_by_the_rule_list() -> None:
    from manifest_lang.stores.memory import MemoryStore

    _, batch_engine = p6.engines(MemoryStore())
    p6.seed_item(batch_engine, restrictions=3)
    result = batch_engine.run_command(
        "reserve",
        {"quantity": 1, "eventId": "evt-blocked-2"},
        entity_name="InventoryItem",
        instance_id="item-01",
    )
    assert result.error == "This item may not be used for that event"


@pytest.mark.parametrize("module", [p1, p2, p3, p4, p5, p6])
def test_example_runs(module, capsys) -> None:  # type: ignore[no-untyped-def]
    module.main()
    assert capsys.readouterr().out.strip()
