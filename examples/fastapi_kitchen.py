"""A FastAPI service for the catering model: its routes (listed in the app's OpenAPI, /docs) and a
handler of the app's own that runs a command through the asyncio API.

    KITCHEN_DB=sqlite:///kitchen.db uvicorn examples.fastapi_kitchen:app
"""

import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from manifest_lang import AsyncRuntimeEngine, RuntimeEngine, load_model, open_store
from manifest_lang.http.auth import load_api_keys
from manifest_lang.http.fastapi_router import manifest_router

CATERING = Path(__file__).parent / "catering"
model = load_model(CATERING / "catering.manifest")
store = open_store(os.environ.get("KITCHEN_DB", "sqlite:///kitchen.db"))
pool = ThreadPoolExecutor(max_workers=8)  # at most 8 commands hold a connection at once


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    pool.shutdown()
    store.close()


app = FastAPI(title="Kitchen", lifespan=lifespan)
keys = load_api_keys(CATERING / "keys.json")
app.include_router(manifest_router(model, store=store, api_keys=keys), prefix="/kitchen")


@app.post("/ops/restock/{item}")
async def restock(item: str, quantity: int) -> dict[str, Any]:
    """The delivery desk restocks an item (a command run without blocking the event loop)."""
    context = {"user": {"id": "delivery-desk", "role": "manager"}, "tenantId": "kitchen-1"}
    engine = AsyncRuntimeEngine(RuntimeEngine(model, context, store_provider=store), executor=pool)
    result = await engine.run_command(
        "restock", {"quantity": quantity}, entity_name="InventoryItem", instance_id=item
    )
    return result.to_dict()
