"""asyncio and FastAPI: ``AsyncRuntimeEngine`` (same results as the sync engine, the loop keeps
running) and ``manifest_router`` (the model's routes in the host app's OpenAPI)."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from manifest_lang import AsyncRuntimeEngine, RuntimeEngine, load_model
from manifest_lang.http.auth import load_api_keys
from manifest_lang.http.fastapi_router import manifest_router
from manifest_lang.stores.sqlite import SQLiteStore

CATERING = Path(__file__).resolve().parents[2] / "examples" / "catering"
CHEF = {"user": {"id": "maria", "role": "chef"}, "tenantId": "kitchen-1"}


def _clock() -> Any:
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 1000))
    ids = iter(range(1, 10**9))
    return {"now": lambda: next(ticks), "generate_id": lambda: f"id-{next(ids)}"}


def test_async_engine_gives_the_sync_engine_results() -> None:
    model = load_model(CATERING / "catering.manifest")
    steps = [
        ("restock", {"quantity": 20}),
        ("reserve", {"quantity": 16, "eventId": "wedding"}),
        ("reserve", {"quantity": 10, "eventId": "wedding"}),  # blocked: not enough stock
        ("reserve", {"quantity": -1, "eventId": "wedding"}),
    ]
    row = {"id": "butter", "tenantId": "kitchen-1", "name": "Butter", "parLevel": 5}

    sync = RuntimeEngine(model, dict(CHEF), **_clock())
    sync.create_instance("InventoryItem", row)
    expected = [
        sync.run_command(name, data, entity_name="InventoryItem", instance_id="butter").to_dict()
        for name, data in steps
    ]

    async def scenario() -> list[dict[str, Any]]:
        async with AsyncRuntimeEngine.create(model, dict(CHEF), max_workers=2, **_clock()) as engine:
            await engine.create_instance("InventoryItem", row)
            results = []
            for name, data in steps:
                result = await engine.run_command(
                    name, data, entity_name="InventoryItem", instance_id="butter"
                )
                results.append(result.to_dict())
            assert (await engine.get_instance("InventoryItem", "butter")) == sync.get_instance(
                "InventoryItem", "butter"
            )
            return results

    assert asyncio.run(scenario()) == expected
    assert [r["success"] for r in expected] == [True, True, False, False]


def test_async_engine_does_not_block_the_loop(tmp_path: Path) -> None:
    model = load_model(CATERING / "catering.manifest")
    store = SQLiteStore(str(tmp_path / "aio.db"))

    def slow_now() -> int:
        time.sleep(0.3)  # a slow database round trip, in the worker thread
        return int(time.time() * 1000)

    async def scenario() -> tuple[int, list[bool]]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        with ThreadPoolExecutor(4) as pool:
            engines = [
                AsyncRuntimeEngine.create(
                    model, dict(CHEF), store_provider=store, now=slow_now, executor=pool
                )
                for _ in range(4)
            ]
            tick = asyncio.create_task(ticker())
            rows = [{"id": f"i{n}", "tenantId": "kitchen-1", "name": "x"} for n in range(4)]
            await asyncio.gather(
                *(e.create_instance("InventoryItem", r) for e, r in zip(engines, rows, strict=True))
            )
            results = await asyncio.gather(
                *(
                    e.run_command(
                        "restock", {"quantity": 1}, entity_name="InventoryItem", instance_id=f"i{n}"
                    )
                    for n, e in enumerate(engines)
                )
            )
            done.set()
            await tick
        return ticks, [r.success for r in results]

    try:
        ticks, successes = asyncio.run(scenario())
    finally:
        store.close()
    assert successes == [True] * 4
    # four commands of >= 0.3 s each ran in parallel threads while the loop kept ticking
    assert ticks >= 15, ticks


@pytest.fixture
def kitchen_app(tmp_path: Path) -> Any:
    keys = load_api_keys(CATERING / "keys.json")
    store = SQLiteStore(str(tmp_path / "kitchen.db"))
    model = load_model(CATERING / "catering.manifest")
    router = manifest_router(model, store=store, api_keys=keys)
    app = FastAPI(title="Host app")
    app.include_router(router, prefix="/kitchen")
    pool = ThreadPoolExecutor(4)

    @app.post("/restock/{item}")
    async def restock(item: str, quantity: int) -> dict[str, Any]:
        """A handler of the host app that runs a command through the asyncio API."""
        engine = AsyncRuntimeEngine(RuntimeEngine(model, dict(CHEF), store_provider=store), executor=pool)
        result = await engine.run_command(
            "restock", {"quantity": quantity}, entity_name="InventoryItem", instance_id=item
        )
        return result.to_dict()

    yield app
    pool.shutdown()
    store.close()


def test_fastapi_router_and_async_api_serve_the_catering_model(kitchen_app: FastAPI) -> None:
    with TestClient(kitchen_app) as client:
        spec = client.get("/openapi.json").json()
        paths = spec["paths"]
        assert "/kitchen/InventoryItem" in paths and "/restock/{item}" in paths
        reserve = paths["/kitchen/InventoryItem/{id}/commands/reserve"]["post"]
        assert reserve["operationId"] == "run_InventoryItem_reserve" and reserve["tags"] == ["InventoryItem"]
        body = reserve["requestBody"]["content"]["application/json"]["schema"]
        assert "quantity" in json.dumps(body) and "$ref" not in json.dumps(reserve)  # refs inlined
        assert {p["name"] for p in reserve["parameters"]} >= {"id", "Idempotency-Key"}

        chef = {"X-API-Key": "chef-key"}
        item = {"id": "butter", "name": "Butter", "quantityOnHand": 0, "parLevel": 5}
        created = client.post("/kitchen/InventoryItem", json=item, headers=chef)
        assert created.status_code == 201, created.text
        assert client.post("/restock/butter?quantity=20").json()["success"] is True
        reserved = client.post(
            "/kitchen/InventoryItem/butter/commands/reserve",
            json={"quantity": 4, "eventId": "e"},
            headers=chef,
        )
        assert reserved.status_code == 200, reserved.text
        row = client.get("/kitchen/InventoryItem/butter", headers=chef).json()
        assert (row["quantityOnHand"], row["quantityReserved"]) == (20, 4)
        # problems are answered by the router itself, as by create_app
        refused = client.get("/kitchen/InventoryItem/butter")
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        missing = client.get("/kitchen/InventoryItem/nope", headers=chef)
        assert missing.status_code == 404 and missing.json()["code"] == "INSTANCE_NOT_FOUND"
        assert client.get("/kitchen/readyz").json() == {"status": "ready"}
        assert "manifest_commands_total" in client.get("/kitchen/metrics").text


def test_the_documented_fastapi_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/http.md shows examples/fastapi_kitchen.py verbatim; it runs as documented."""
    import importlib
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "fastapi_kitchen.py"
    docs = (Path(__file__).resolve().parents[2] / "docs" / "http.md").read_text(encoding="utf-8")
    assert example.read_text(encoding="utf-8") in docs
    monkeypatch.setenv("KITCHEN_DB", f"sqlite:///{tmp_path / 'kitchen.db'}")
    sys.modules.pop("examples.fastapi_kitchen", None)
    kitchen = importlib.import_module("examples.fastapi_kitchen")
    with TestClient(kitchen.app) as client:
        assert "/kitchen/InventoryItem/{id}/commands/restock" in client.get("/openapi.json").json()["paths"]
        chef = {"X-API-Key": "chef-key"}
        item = {"id": "flour", "name": "Flour", "quantityOnHand": 1, "parLevel": 0}
        assert client.post("/kitchen/InventoryItem", json=item, headers=chef).status_code == 201
        assert client.post("/ops/restock/flour?quantity=9").json()["success"] is True
        assert client.get("/kitchen/InventoryItem/flour", headers=chef).json()["quantityOnHand"] == 10
