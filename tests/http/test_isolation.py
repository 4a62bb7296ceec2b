"""Tenant isolation on every route, on every store: the durable stores filter on a tenant column
of their own, so the memory store passing proves nothing about SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpkit import KITCHEN, MODELS, who
from starlette.testclient import TestClient
from test_api import problem

from manifest_lang.http.app import create_app

A, B = who(user="chef-a", tenant="t-a"), who(user="chef-b", tenant="t-b")


@pytest.fixture
def kitchen(store_url: str | None) -> Iterator[TestClient]:
    with TestClient(create_app(KITCHEN, auth="headers", store=store_url), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def pantry(store_url: str | None) -> Iterator[TestClient]:
    app = create_app(MODELS / "pantry.manifest", auth="headers", store=store_url)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def json_trace(client: TestClient, correlation: str, headers: dict[str, str]) -> Any:
    return client.get(f"/trace/{correlation}", headers={**headers, "Accept": "application/json"}).json()


def test_declared_tenant_every_route(kitchen: TestClient) -> None:
    body = {"name": "Flour", "quantityOnHand": 10, "parLevel": 2}
    created = kitchen.post("/InventoryItem", json=body, headers={**A, "X-Correlation-Id": "wf-a"})
    item = created.json()["result"]["id"]
    problem(kitchen.get(f"/InventoryItem/{item}", headers=B), 404, "INSTANCE_NOT_FOUND")
    for query in ("", "?name=Flour", f"?id={item}", "?limit=1000"):
        assert kitchen.get(f"/InventoryItem{query}", headers=B).json()["items"] == []
    # the declared tenant property is the runtime's, not a filter a client may set
    problem(kitchen.get("/InventoryItem?tenantId=t-a", headers=B), 400, "INVALID_QUERY")
    reserve = {"quantity": 1, "eventId": "e"}
    for command, payload in (
        ("reserve", reserve),
        ("retire", {}),
        ("adjust", {"quantity": 0, "expectedVersion": 1}),
    ):
        response = kitchen.post(f"/InventoryItem/{item}/commands/{command}", json=payload, headers=B)
        problem(response, 404, "INSTANCE_NOT_FOUND")
    # a body cannot name a tenant at all: the runtime stamps the caller's
    problem(kitchen.post("/Note", json={"text": "x", "tenantId": "t-a"}, headers=B), 400, "INVALID_INPUT")
    note = kitchen.post("/Note", json={"text": "x"}, headers=B)
    assert note.status_code == 201 and note.json()["tenantId"] == "t-b"
    problem(kitchen.get(f"/Note/{note.json()['id']}", headers=A), 404, "INSTANCE_NOT_FOUND")
    assert json_trace(kitchen, "wf-a", B)["roots"] == [] and json_trace(kitchen, "wf-a", A)["commands"] == 1
    row = kitchen.get(f"/InventoryItem/{item}", headers=A).json()
    assert (row["quantityReserved"], row["status"], row["tenantId"]) == (0, "active", "t-a")


def test_conventional_tenant_property_every_route(pantry: TestClient) -> None:
    shelf = pantry.post("/Shelf", json={"id": "s1", "label": "L", "aisle": "A", "tenantId": "t-b"}, headers=A)
    assert shelf.status_code == 201 and shelf.json()["tenantId"] == "t-a"
    problem(pantry.get("/Shelf/s1", headers=B), 404, "INSTANCE_NOT_FOUND")
    for query in ("", "?label=L", "?id=s1", "?tenantId=t-a"):
        assert pantry.get(f"/Shelf{query}", headers=B).json()["items"] == []
    assert [r["id"] for r in pantry.get("/Shelf?tenantId=t-b", headers=A).json()["items"]] == []
    assert [r["id"] for r in pantry.get("/Shelf", headers=A).json()["items"]] == ["s1"]


def test_create_commands_never_overwrite_a_taken_id(pantry: TestClient) -> None:
    key = {"Idempotency-Key": "bin-1"}
    first = pantry.post("/Bin", json={"id": "bin-1", "label": "mine"}, headers={**A, **key})
    assert first.status_code == 201 and first.json()["instance"]["tenantId"] == "t-a"
    # the retry with the same key replays the first result instead of being refused
    retry = pantry.post("/Bin", json={"id": "bin-1", "label": "mine"}, headers={**A, **key})
    assert retry.status_code == 201 and retry.json() == first.json()
    problem(pantry.post("/Bin", json={"id": "bin-1", "label": "again"}, headers=A), 409, "ALREADY_EXISTS")
    theirs = pantry.post("/Bin", json={"id": "bin-1", "label": "theirs"}, headers={**B, **key})
    problem(theirs, 409, "ALREADY_EXISTS")
    assert pantry.get("/Bin/bin-1", headers=A).json()["label"] == "mine"
    problem(pantry.get("/Bin/bin-1", headers=B), 404, "INSTANCE_NOT_FOUND")
