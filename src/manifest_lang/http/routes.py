"""Request handlers: parse and validate on the event loop, run the engine in a worker thread."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

try:
    import anyio.to_thread
    from anyio import CapacityLimiter
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response, StreamingResponse
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "anyio", "http") from exc
import orjson

from ..outbox.tracecontext import valid_traceparent
from ..workflows.approvals import remember_input
from ..workflows.trace import build_trace, durable_events
from .auth import Authenticator, Context
from .body import CommandBody, nul_problem, read_json, split_command_body
from .model_index import CommandInfo, EntityInfo
from .outcomes import problem_for_result
from .pages import docs_page, trace_page
from .problems import ProblemError, json_default
from .schema import python_value
from .service import ModelService, RequestMeta
from .sse import EventFilter

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_OFFSET = 2**53 - 1  # beyond this an offset is not a JSON-safe integer
#: query keys that are never property filters (paging, and credentials for browser links)
_RESERVED_QUERY_KEYS = frozenset({"limit", "offset", "cursor", "api_key", "access_token"})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data, default=json_default),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class Api:
    """The handlers of one app; ``create_app`` wires them to routes."""

    def __init__(
        self,
        service: ModelService,
        auth: Authenticator,
        *,
        max_body_bytes: int,
        limiter: CapacityLimiter,
        openapi: dict[str, Any],
    ) -> None:
        self.service = service
        self.index = service.index
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.openapi = openapi

    async def _sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)

    async def context(self, request: Request) -> Context:
        """The caller's runtime context. Every data route starts here, before it resolves a name
        (an unauthenticated caller gets 401 whatever the path, so it learns nothing of the model),
        and it refuses NUL characters in the path and query (see ``nul_problem``)."""
        if any("\x00" in v for v in request.path_params.values()):
            raise nul_problem("the path")
        if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
            raise nul_problem("the query", "INVALID_QUERY")
        result = self.auth(request)
        if inspect.isawaitable(result):
            result = await result
        return dict(result)

    # -- reads -----------------------------------------------------------------------------------
    async def list_rows(self, request: Request) -> Response:
        context = await self.context(request)
        entity = self.index.entity(request.path_params["entity"])
        limit, offset = _page(request)
        where = self._filters(request, entity)
        rows, more = await self._sync(self.service.page, context, entity, where, limit, offset)
        next_cursor = _encode_cursor(offset + limit) if more else None
        return json_response({"items": rows, "limit": limit, "offset": offset, "nextCursor": next_cursor})

    def _filters(self, request: Request, entity: EntityInfo) -> dict[str, Any]:
        where: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in _RESERVED_QUERY_KEYS:
                continue
            prop = entity.properties.get(key)
            if prop is None or self.index.types.query_scalar(prop.get("type")) is None:
                raise ProblemError(
                    "INVALID_QUERY", f"{entity.name} has no scalar property '{key}' to filter on"
                )
            try:
                where[key] = python_value(value, prop.get("type"))
            except ValueError as exc:
                raise ProblemError("INVALID_QUERY", f"{key}: {exc}") from None
        return where

    async def get_row(self, request: Request) -> Response:
        context = await self.context(request)
        entity = self.index.entity(request.path_params["entity"])
        row = await self._sync(self.service.get, context, entity, request.path_params["id"])
        return json_response(row)

    # -- commands --------------------------------------------------------------------------------
    async def create(self, request: Request) -> Response:
        context = await self.context(request)
        entity = self.index.entity(request.path_params["entity"])
        data = await read_json(request, self.max_body_bytes)
        command = entity.create_command
        if command is not None:
            return await self._run(request, context, command, data, None, created=True)
        if not isinstance(data, dict):
            raise ProblemError("INVALID_INPUT", "The body must be a JSON object")
        entity.validate_row(data)
        row = await self._sync(self.service.create_plain, context, entity, data)
        return json_response(row, 201)

    async def entity_command(self, request: Request) -> Response:
        context = await self.context(request)
        entity = self.index.entity(request.path_params["entity"])
        command = self.index.entity_command(entity, request.path_params["command"])
        instance_id = request.path_params.get("id")
        if instance_id is None and not command.allocating:
            raise ProblemError(
                "INSTANCE_NOT_FOUND",
                f"{entity.name}.{command.name} runs on an instance: "
                f"POST /{entity.name}/{{id}}/commands/{command.name}",
            )
        data = await read_json(request, self.max_body_bytes)
        return await self._run(request, context, command, data, instance_id)

    async def global_command(self, request: Request) -> Response:
        context = await self.context(request)
        command = self.index.global_command(request.path_params["command"])
        data = await read_json(request, self.max_body_bytes)
        return await self._run(request, context, command, data, None)

    async def _run(
        self,
        request: Request,
        context: Context,
        command: CommandInfo,
        data: Any,
        instance_id: str | None,
        *,
        created: bool = False,
    ) -> Response:
        body: CommandBody = split_command_body(data, command.parameter_names)
        command.validate(body.input)
        headers = request.headers
        meta = RequestMeta(
            correlation_id=headers.get("x-correlation-id") or None,
            causation_id=headers.get("x-causation-id") or None,
            idempotency_key=headers.get("idempotency-key") or None,
            traceparent=valid_traceparent(headers.get("traceparent")),
        )
        run = partial(self.service.run, verbose=_verbose(request))
        overrides = body.override_requests
        result, code = await self._sync(run, context, command, body.input, overrides, meta, instance_id)
        if not result.get("success"):
            pending = result.get("approvalRequired")
            if isinstance(pending, dict) and isinstance(pending.get("requestKey"), str):
                await self._sync(remember_input, self.service.store, pending["requestKey"], body.input)
            raise problem_for_result(code, result)
        job = result.get("result") if command.ir.get("async") else None
        if isinstance(job, dict) and "jobId" in job:
            # Enqueued, not run: the job's own resource tells how it ends.
            location = f"{request.scope.get('root_path', '')}/jobs/{job['jobId']}"
            return json_response(result, 202, headers={"Location": location})
        return json_response(result, 201 if created else 200)

    # -- events and traces -----------------------------------------------------------------------
    async def events(self, request: Request) -> Response:
        context = await self.context(request)
        # Bound here rather than in a lifespan hook: a mounted sub-app never sees lifespan events.
        self.service.hub.bind_loop(asyncio.get_running_loop())
        tenant = (
            self.service.require_tenant(context)
            if self.index.declares_tenant
            else self.service.tenant_of(context)
        )
        entity = request.query_params.get("entity")
        if entity is not None:
            entity = self.index.entity(entity).name
        sub = self.service.hub.subscribe(
            EventFilter(
                tenant=tenant, correlation_id=request.query_params.get("correlationId"), entity=entity
            )
        )
        return StreamingResponse(
            self.service.hub.stream(sub),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def trace(self, request: Request) -> Response:
        correlation_id = request.path_params["correlationId"]
        context = await self.context(request)
        trace = await self._sync(self._build_trace, context, correlation_id)
        if _wants_json(request):
            return json_response(trace.to_dict())
        return HTMLResponse(trace_page(trace))

    def _build_trace(self, context: Context, correlation_id: str) -> Any:
        tenant = (
            self.service.require_tenant(context)
            if self.index.declares_tenant
            else self.service.tenant_of(context)
        )
        records, evicted = self.service.recorder.window(correlation_id, tenant)
        events = [
            e for e in durable_events(self.service.store, correlation_id) if self._event_visible(context, e)
        ]
        return build_trace(correlation_id, records, events, evicted)

    def _event_visible(self, context: Context, event: dict[str, Any]) -> bool:
        """A durable event is shown only if the caller may see the instance it is about."""
        subject = event.get("subject") or {}
        entity = self.index.entities.get(subject.get("entity") or "")
        if entity is None or self.index.scoping_property(entity) is None:
            return not self.index.declares_tenant
        try:
            self.service.get(context, entity, str(subject.get("id")))
        except ProblemError:
            return False
        return True

    async def openapi_json(self, request: Request) -> Response:
        return json_response(self.openapi)

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(docs_page(self.openapi))

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok", "entities": len(self.index.entities)})


def _verbose(request: Request) -> bool:
    """``?verbose=1``: answer a command with its full result (see ``results.py``)."""
    return request.query_params.get("verbose") in _VERBOSE


_VERBOSE = frozenset({"1", "true"})


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept or request.query_params.get("format") == "json"


def _page(request: Request) -> tuple[int, int]:
    params = request.query_params
    try:
        limit = _integer(params.get("limit", str(DEFAULT_PAGE_SIZE)))
        offset = _integer(params.get("offset", "0"))
    except ValueError:
        raise ProblemError("INVALID_QUERY", "limit and offset must be integers") from None
    # ``offset`` is checked even when a cursor overrides it: the document's bounds always hold
    if not 1 <= limit <= MAX_PAGE_SIZE or not 0 <= offset <= MAX_OFFSET:
        raise ProblemError("INVALID_QUERY", f"limit must be 1..{MAX_PAGE_SIZE} and offset 0..{MAX_OFFSET}")
    cursor = params.get("cursor")
    if cursor is None:
        return limit, offset
    try:
        return limit, _decode_cursor(cursor)
    except ValueError:
        raise ProblemError("INVALID_QUERY", "cursor must come from nextCursor") from None


def _integer(text: str) -> int:
    # int() also takes "٣", " 3" and "1_0": a query integer is ASCII digits with an optional sign.
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    return int(text)


#: a cursor is "o" and the next offset; opaque to clients, but a format the OpenAPI document can
#: state exactly (``openapi.CURSOR_SCHEMA``), so every cursor it allows is one the server accepts
_CURSOR = re.compile(r"o[0-9]{1,15}")


def _encode_cursor(offset: int) -> str | None:
    cursor = f"o{offset}"
    return cursor if _CURSOR.fullmatch(cursor) else None  # past 10**15 rows: no next page


def _decode_cursor(cursor: str) -> int:
    if _CURSOR.fullmatch(cursor) is None:
        raise ValueError("bad cursor")
    return int(cursor[1:])
