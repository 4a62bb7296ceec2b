"""Durable sagas over real HTTP: POST /sagas/{name} answers 202 + Location and runs the saga,
GET /sagas/{id} shows status, steps and lifecycle events, the trace shows steps and
compensations; on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpkit import LiveServer, who

from manifest_lang.http.app import create_app

CATERING = Path(__file__).resolve().parents[2] / "examples" / "catering" / "catering.manifest"
TENANT = "kitchen-1"
ITEMS = {"item-flour": 50, "item-butter": 20, "item-cream": 12}


@pytest.fixture
def server(store_url: str | None) -> Iterator[LiveServer]:
    with LiveServer(create_app(CATERING, store=store_url, auth="headers")) as live:
        for item, qty in ITEMS.items():
            row = {"id": item, "name": item, "quantityOnHand": qty, "quantityAvailable": qty}
            made = httpx.post(f"{live.url}/InventoryItem", json=row, headers=who(tenant=TENANT))
            assert made.status_code == 201, made.text
        yield live


def step_inputs(quantities: tuple[int, int, int]) -> dict[str, Any]:
    steps = ("reserveFirst", "reserveSecond", "reserveThird")
    return {
        step: {"input": {"quantity": q, "eventId": "evt-42"}, "instanceId": item}
        for step, item, q in zip(steps, ITEMS, quantities, strict=True)
    }


def wait_final(url: str, location: str, tenant: str = TENANT) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        view = httpx.get(url + location, headers=who(tenant=tenant)).json()
        if view["status"] not in ("running", "compensating"):
            return dict(view)
        time.sleep(0.05)
    raise AssertionError(f"saga {location} did not finish")


def stock(url: str) -> dict[str, tuple[int, int]]:
    out = {}
    for item in ITEMS:
        row = httpx.get(f"{url}/InventoryItem/{item}", headers=who(tenant=TENANT)).json()
        out[item] = (row["quantityReserved"], row["quantityAvailable"])
    return out


def test_start_a_saga_and_follow_it(server: LiveServer) -> None:
    headers = {**who(tenant=TENANT), "X-Correlation-Id": "prep-evt-42"}
    started = httpx.post(f"{server.url}/sagas/EventPrep", json=step_inputs((10, 8, 2)), headers=headers)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/sagas/{started.json()['sagaId']}"
    assert started.json()["correlationId"] == "prep-evt-42"
    view = wait_final(server.url, location)
    assert view["status"] == "completed" and view["tenantId"] == TENANT
    assert [(s["step"], s["status"]) for s in view["steps"]] == [
        ("reserveFirst", "completed"),
        ("reserveSecond", "completed"),
        ("reserveThird", "completed"),
    ]
    assert [e["name"] for e in view["events"]] == ["SagaStarted", *["SagaStepCompleted"] * 3, "SagaCompleted"]
    assert stock(server.url) == {"item-flour": (10, 40), "item-butter": (8, 12), "item-cream": (2, 10)}


def test_a_blocked_step_is_compensated_and_traced(server: LiveServer) -> None:
    headers = {**who(tenant=TENANT), "X-Correlation-Id": "prep-evt-43"}
    started = httpx.post(f"{server.url}/sagas/EventPrep", json=step_inputs((5, 4, 50)), headers=headers)
    view = wait_final(server.url, started.headers["location"])
    assert view["status"] == "compensated" and view["failedStep"] == "reserveThird"
    assert view["error"] == "Insufficient stock for reservation"
    assert [s["status"] for s in view["steps"]] == ["compensated", "compensated", "failed"]
    assert stock(server.url) == {item: (0, qty) for item, qty in ITEMS.items()}
    trace = httpx.get(
        f"{server.url}/trace/prep-evt-43", headers={**who(tenant=TENANT), "Accept": "application/json"}
    ).json()
    causes = [root["label"] for root in trace["roots"]]
    for cause in (
        "EventPrep:reserveFirst",
        "EventPrep:reserveSecond",
        "EventPrep:reserveThird",
        "EventPrep:reserveSecond:compensate",
        "EventPrep:reserveFirst:compensate",
    ):
        assert cause in causes, causes
    refused = next(r for r in trace["roots"] if r["label"] == "EventPrep:reserveThird")
    assert refused["children"][0]["detail"]["success"] is False


def test_idempotent_start_unknown_saga_bad_input_and_tenancy(server: LiveServer) -> None:
    headers = {**who(tenant=TENANT), "Idempotency-Key": "prep-44"}
    first = httpx.post(f"{server.url}/sagas/EventPrep", json=step_inputs((1, 1, 1)), headers=headers)
    again = httpx.post(f"{server.url}/sagas/EventPrep", json=step_inputs((1, 1, 1)), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.headers["location"] == again.headers["location"]
    wait_final(server.url, first.headers["location"])
    assert stock(server.url)["item-flour"] == (1, 49)  # reserved once
    unknown = httpx.post(f"{server.url}/sagas/Nope", json={}, headers=who(tenant=TENANT))
    assert unknown.status_code == 404 and unknown.json()["code"] == "UNKNOWN_SAGA"
    bad = httpx.post(f"{server.url}/sagas/EventPrep", json={"reserveFourth": {}}, headers=who(tenant=TENANT))
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_INPUT"
    other = httpx.get(server.url + first.headers["location"], headers=who(tenant="another-kitchen"))
    assert other.status_code == 404 and other.json()["code"] == "SAGA_NOT_FOUND"
    missing = httpx.get(
        f"{server.url}/sagas/00000000-0000-0000-0000-000000000000", headers=who(tenant=TENANT)
    )
    assert missing.status_code == 404
