"""A hand-written Starlette app doing the work ``manifest serve`` does for the kitchen model's
``POST /InventoryItem/{id}/commands/reserve`` and ``GET /InventoryItem/{id}`` (the baseline of
``bench/http_reserve.py``).

The request is parsed, authenticated (``X-API-Key``), authorised (the ``kitchenStaff`` policy: role
chef or manager) and its input checked on the event loop; the transaction of ``peer_db.py`` runs in
a worker thread (32 at most, like ``manifest serve``).

    python bench/peers/starlette_peer.py --db sqlite:///peer.db --keys keys.json --port 8001
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from peer_db import (
    KEYS_ENV,
    KITCHEN_ROLES,
    THREAD_LIMIT,
    Caller,
    Database,
    Outcome,
    Refused,
    database_from_env,
    fingerprint,
    load_keys,
    new_correlation_id,
    problem,
    serve,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROBLEM = "application/problem+json"


def _problem(status: int, code: str, detail: str) -> Response:
    return Response(problem(status, code, detail), status, media_type=PROBLEM)


def _check_input(data: Any) -> tuple[int, str]:
    if not isinstance(data, dict) or set(data) != {"quantity", "eventId"}:
        raise Refused(400, "INVALID_INPUT", "The body must be {quantity: number, eventId: string}")
    quantity, event_id = data["quantity"], data["eventId"]
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not isinstance(event_id, str):
        raise Refused(400, "INVALID_INPUT", "quantity must be an integer and eventId a string")
    return quantity, event_id


class Handlers:
    def __init__(self, db: Database, keys: dict[str, Caller]) -> None:
        self.db = db
        self.keys = keys

    def caller(self, request: Request) -> Caller:
        caller = self.keys.get(request.headers.get("x-api-key", ""))
        if caller is None:
            raise Refused(401, "UNAUTHENTICATED", "Send an X-API-Key header")
        return caller

    async def reserve(self, request: Request) -> Response:
        caller = self.caller(request)
        if caller.role not in KITCHEN_ROLES:
            raise Refused(403, "POLICY_DENIED", "Only kitchen staff can run commands")
        body = await request.body()
        try:
            data = json.loads(body)
        except ValueError:
            raise Refused(400, "INVALID_JSON", "The body is not JSON") from None
        quantity, event_id = _check_input(data)
        item_id = request.path_params["id"]
        headers = request.headers
        outcome = await run_in_threadpool(
            self._reserve,
            caller,
            item_id,
            quantity,
            event_id,
            headers.get("idempotency-key") or None,
            fingerprint(caller, item_id, body),
            headers.get("x-correlation-id") or new_correlation_id(),
        )
        media = "application/json" if outcome.status < 400 else PROBLEM
        return Response(outcome.body, outcome.status, media_type=media)

    def _reserve(self, caller: Caller, item_id: str, *args: Any) -> Outcome:
        with self.db.connection() as conn:
            return self.db.reserve(conn, caller, item_id, *args)

    async def get_item(self, request: Request) -> Response:
        caller = self.caller(request)
        item = await run_in_threadpool(self._get, caller, request.path_params["id"])
        if item is None:
            return _problem(
                404, "INSTANCE_NOT_FOUND", f"InventoryItem '{request.path_params['id']}' not found"
            )
        return JSONResponse(item)

    def _get(self, caller: Caller, item_id: str) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            return self.db.get_item(conn, caller, item_id)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return _problem(exc.status, exc.code, exc.detail)


def create_app() -> Starlette:
    import os

    db = database_from_env()
    handlers = Handlers(db, load_keys(os.environ[KEYS_ENV]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
        yield
        db.close()

    return Starlette(
        routes=[
            Route("/InventoryItem/{id}/commands/reserve", handlers.reserve, methods=["POST"]),
            Route("/InventoryItem/{id}", handlers.get_item, methods=["GET"]),
            Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
        ],
        exception_handlers={Refused: _refused},
        lifespan=lifespan,
    )


if __name__ == "__main__":
    serve("starlette_peer", __doc__ or "")
