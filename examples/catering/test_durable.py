"""The durable Patterns 1 and 3: what they print holds, in process and over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.workflows.worker import Worker

from . import pattern1_durable as d1
from . import pattern3_durable as d3
from .kitchen import CHEF, HERE, TENANT, instance, kitchen


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SQLiteStore(tmp_path / "kitchen.db")
    yield s
    s.close()


def test_pattern1_durable_completes_and_a_crashed_saga_is_compensated_by_the_worker(store: Any) -> None:
    factory = kitchen(store, seeded=True)
    ok = d1.prepare_event_inventory(factory, "42", [{"inventoryItemId": "item-flour", "quantity": 10}])
    assert ok.status == "completed" and ok.saga_id is not None
    assert factory.saga_status(ok.saga_id)["status"] == "completed"  # type: ignore[index]
    items = [
        {"inventoryItemId": "item-flour", "quantity": 5},
        {"inventoryItemId": "item-cream", "quantity": 50},
    ]
    saga_id = d1.crash_after_first_step(factory, "43", items)
    assert instance(factory, "InventoryItem", "item-flour")["quantityReserved"] == 15
    reports = Worker(factory.model, store, only={"sagas"}, clock=lambda: 10**12).run_once()
    assert {r.status for r in reports} == {"done"}
    status = factory.saga_status(saga_id)
    assert status is not None and status["status"] == "compensated"
    assert [e["name"] for e in status["events"]] == ["SagaStarted", "SagaStepCompleted", "SagaFailed"]
    flour = instance(factory, "InventoryItem", "item-flour")
    assert (flour["quantityReserved"], flour["quantityAvailable"]) == (10, 40)


def test_pattern3_durable_model_saga_compensates_a_full_station(store: Any) -> None:
    factory = kitchen(store, seeded=True)
    d3.seed_event_day(factory, "evt-42")
    statuses = d3.execute_event_day(factory, "evt-42")
    assert [s["status"] for s in statuses] == ["completed", "completed", "compensated"]
    refused = statuses[2]
    assert (refused["failedStep"], refused["error"]) == ("assignStation", "Station is at capacity")
    assert instance(factory, "PrepTask", "task-3")["status"] == "open"  # released again
    butter = instance(factory, "InventoryItem", "item-butter")
    assert (butter["quantityOnHand"], butter["quantityReserved"]) == (20, 0)  # consumed, restocked
    assert instance(factory, "Station", "station-cold-prep")["assignedCount"] == 1


def test_pattern3_over_http(store: Any) -> None:
    from starlette.testclient import TestClient

    from manifest_lang.http.app import create_app

    factory = kitchen(store, seeded=True)
    d3.seed_event_day(factory, "evt-42")
    headers = {"X-User-Id": CHEF["id"], "X-User-Role": CHEF["role"], "X-Tenant-Id": TENANT}
    with TestClient(create_app(HERE / "catering.manifest", store=store, auth="headers")) as client:
        task, item, quantity, station = d3.TASKS[1]
        body = d3.event_day_inputs(task, item, quantity, station, "evt-42")
        started = client.post(
            "/sagas/EventDayTask", json=body, headers={**headers, "X-Correlation-Id": "day-42"}
        )
        assert started.status_code == 202, started.text
        view = client.get(started.headers["location"], headers=headers).json()  # ran after the response
        assert view["status"] == "completed"
        assert [s["causationId"] for s in view["steps"]] == [
            "EventDayTask:startTask",
            "EventDayTask:consumeIngredient",
            "EventDayTask:assignStation",
        ]
        trace = client.get("/trace/day-42", headers={**headers, "Accept": "application/json"}).json()
        assert {"EventDayTask:startTask", "EventDayTask:assignStation"} <= {
            r["label"] for r in trace["roots"]
        }


def test_the_durable_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    d1.main()
    d3.main()
    out = capsys.readouterr().out
    assert "saga compensated [('reserve-item-flour', 'compensated'), ('reserve-item-cream', 'failed')]" in out
    assert "event-day-evt-42-task-3: compensated" in out
    assert "EventDayTask:startTask:compensate" in out
