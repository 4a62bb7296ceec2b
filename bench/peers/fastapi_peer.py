"""The usual FastAPI + Pydantic version of ``starlette_peer.py``: a request model, response models,
a dependency that hands the endpoint a database session, sync endpoints (FastAPI runs them in
its thread pool, limited to 32 threads like ``manifest serve``). Same SQL, same one transaction
(``peer_db.py``).

The session is the one of FastAPI's SQL recipe (SQLAlchemy's ``Session``): it checks a connection
out of the pool when the endpoint runs its transaction and back in at commit. A dependency that
held a pooled connection for the whole request would deadlock under load: with more requests than
pool connections, the threads of the pool wait for a connection in the dependency while the
requests holding the connections wait for a thread to run their endpoints.

    python bench/peers/fastapi_peer.py --db sqlite:///peer.db --keys keys.json --port 8002
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
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
from pydantic import BaseModel, ConfigDict, StrictInt

PROBLEM = "application/problem+json"


class ReserveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: StrictInt
    eventId: str


class Item(BaseModel):
    id: str
    tenantId: str
    name: str
    quantityOnHand: int
    quantityReserved: int
    parLevel: int
    status: str
    version: int


class Subject(BaseModel):
    entity: str
    id: str
    command: str


class Event(BaseModel):
    id: str
    name: str
    channel: str
    payload: dict[str, Any]
    subject: Subject
    timestamp: int
    correlationId: str


class Warning(BaseModel):
    constraint: str
    message: str


class ReserveResult(BaseModel):
    success: bool
    instance: Item
    emittedEvents: list[Event]
    warnings: list[Warning]


class Peer:
    """The process's database and API keys (set by ``create_app``, read by the dependencies)."""

    db: Database
    keys: dict[str, Caller]


class Session:
    """A unit of work on the database; a connection is held only while a transaction runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def reserve(self, caller: Caller, item_id: str, *args: Any) -> Outcome:
        with self.db.connection() as conn:
            return self.db.reserve(conn, caller, item_id, *args)

    def get_item(self, caller: Caller, item_id: str) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            return self.db.get_item(conn, caller, item_id)

    def close(self) -> None:
        """Nothing stays checked out past a transaction; here for the dependency's shape."""


def get_session() -> Iterator[Session]:
    session = Session(Peer.db)
    try:
        yield session
    finally:
        session.close()


async def get_caller(x_api_key: Annotated[str | None, Header()] = None) -> Caller:
    caller = Peer.keys.get(x_api_key or "")
    if caller is None:
        raise Refused(401, "UNAUTHENTICATED", "Send an X-API-Key header")
    return caller


SessionDep = Annotated[Session, Depends(get_session)]
CallerDep = Annotated[Caller, Depends(get_caller)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
    yield
    Peer.db.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.exception_handler(Refused)
async def refused(request: Request, exc: Refused) -> Response:
    return Response(problem(exc.status, exc.code, exc.detail), exc.status, media_type=PROBLEM)


@app.exception_handler(RequestValidationError)
async def invalid(request: Request, exc: RequestValidationError) -> Response:
    return Response(problem(400, "INVALID_INPUT", str(exc.errors())), 400, media_type=PROBLEM)


@app.post("/InventoryItem/{item_id}/commands/reserve", response_model=ReserveResult)
def reserve(
    item_id: str,
    body: ReserveInput,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header()] = None,
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Any:
    if caller.role not in KITCHEN_ROLES:
        raise Refused(403, "POLICY_DENIED", "Only kitchen staff can run commands")
    outcome = session.reserve(
        caller,
        item_id,
        body.quantity,
        body.eventId,
        idempotency_key or None,
        fingerprint(caller, item_id, body.model_dump_json().encode()),
        x_correlation_id or new_correlation_id(),
    )
    if outcome.data is not None:
        return outcome.data
    media = "application/json" if outcome.status < 400 else PROBLEM
    return Response(outcome.body, outcome.status, media_type=media)


@app.get("/InventoryItem/{item_id}", response_model=Item)
def get_item(item_id: str, session: SessionDep, caller: CallerDep) -> Any:
    item = session.get_item(caller, item_id)
    if item is None:
        raise Refused(404, "INSTANCE_NOT_FOUND", f"InventoryItem '{item_id}' not found")
    return item


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> FastAPI:
    Peer.db = database_from_env()
    Peer.keys = load_keys(os.environ[KEYS_ENV])
    return app


if __name__ == "__main__":
    serve("fastapi_peer", __doc__ or "")
