"""``create_app``: an ASGI (Starlette) application serving one model over HTTP.

Routes (all derived from the IR; see docs/http.md)::

    GET  /{Entity}                         list (limit/offset or cursor; ?prop=value filters)
    POST /{Entity}                         create (the entity's `create` command, else a plain create)
    GET  /{Entity}/{id}                    one instance
    POST /{Entity}/{id}/commands/{cmd}     run an instance command
    POST /{Entity}/commands/{cmd}          run an allocating command (creates its instance)
    POST /commands/{cmd}                   run an entity-less command
    GET  /events                           Server-Sent Events (?correlationId=&entity=)
    GET  /trace/{correlationId}            causal tree (HTML; JSON with Accept: application/json)
    POST /sagas/{name}                     start a model saga durably (202 + Location; http/sagas.py)
    GET  /sagas/{sagaId}                   a saga's status, steps and lifecycle events
    POST <webhook path>                    a model's `webhook` (signature checked; http/webhooks.py)
    GET  /jobs/{id}                        an async command's job (202 + Location from the command)
    GET  /approvals/{Entity}/{id}          pending approval requests of an instance
    POST /approvals/{Entity}/{id}/{approval}/stages/{stage}/approve, .../{approval}/deny
    GET  /openapi.json, /docs, /healthz

The app is a plain ASGI callable, so it mounts into any Starlette or FastAPI application.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

try:
    from anyio import CapacityLimiter
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, request_response
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "anyio", "http") from exc

from .. import errors
from ..loading import load_model
from ..workflows.trace import TraceRecorder
from .access_log import AccessLogMiddleware
from .auth import Authenticator, Context, KeyOrTokenAuth, trusted_headers_auth
from .body import DEFAULT_MAX_BODY_BYTES
from .metrics import Metrics
from .model_index import ModelIndex
from .openapi import build_openapi, security_for
from .operations import operations_routes
from .problems import Problem, ProblemError
from .routes import Api
from .sagas import SagaRoutes
from .service import ModelService
from .sse import EventHub
from .webhooks import WebhookConfig, WebhookHandler, build_webhooks
from .work_routes import WorkApi

log = logging.getLogger("manifest_lang.http")

DEFAULT_MAX_CONCURRENCY = 32

# Library exceptions that can escape the engine, and the problem each one is for the client.
_ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (errors.IdempotencyInProgressError, "IDEMPOTENCY_IN_PROGRESS"),
    (errors.InstanceExistsError, "ALREADY_EXISTS"),
    (errors.StoreConflictError, "CONCURRENCY_CONFLICT"),
    (errors.StoreUnavailableError, "STORE_UNAVAILABLE"),
    (errors.UnknownEntityError, "UNKNOWN_ENTITY"),
    (errors.UnknownCommandError, "UNKNOWN_COMMAND"),
    (errors.LimitExceededError, "LIMIT_EXCEEDED"),
    (errors.InvalidInputError, "INVALID_INPUT"),
    (errors.EvaluationBudgetExceededError, "COMMAND_FAILED"),
)
_UNAVAILABLE = "The store could not complete the request; retry later"
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 413: "BODY_TOO_LARGE"}


def _open_store(store: Any) -> tuple[Any, bool]:
    """(store, owned): a URL is opened (and closed with the app); an object is used as is."""
    if store is None:
        from ..stores.memory import MemoryStore

        return MemoryStore(), True
    if isinstance(store, str):
        from ..stores.urls import open_store

        return open_store(store), True
    return store, False


def _default_idempotency_store(store: Any) -> Any:
    """Results keyed by Idempotency-Key live in the same database as the rows when it can,
    so a retry after a restart still finds the first result."""
    from ..runtime.idempotency import MemoryIdempotencyStore
    from ..stores.sql_common import SqlStore

    if isinstance(store, SqlStore):
        from ..stores.sql_idempotency import SqlIdempotencyStore

        return SqlIdempotencyStore(store)
    return MemoryIdempotencyStore()


def _webhook_config(config: WebhookConfig | Mapping[str, Any] | str | Path | None) -> WebhookConfig:
    if config is None or isinstance(config, WebhookConfig):
        return config or WebhookConfig()
    if isinstance(config, str | Path):
        return WebhookConfig.load(config)
    return WebhookConfig.parse(config)


def _resolve_auth(
    auth: Authenticator | str | None, api_keys: Mapping[str, Context] | None, secret: str | None
) -> Authenticator:
    if auth == "headers":
        return trusted_headers_auth
    if callable(auth):
        return auth
    if auth is not None:
        raise TypeError("auth must be a callable request -> context, 'headers', or None")
    return KeyOrTokenAuth(api_keys=api_keys, secret=secret, allow_anonymous=not api_keys and not secret)


def _security(auth: Authenticator) -> list[dict[str, list[str]]] | None:
    """What the OpenAPI document says a caller must send, for the built-in authenticators."""
    if isinstance(auth, KeyOrTokenAuth):
        return security_for(required=not auth.allow_anonymous)
    if auth is trusted_headers_auth:
        return [{"trustedHeaders": []}]
    return None  # a custom authenticator: the document cannot know


def exception_handlers() -> dict[Any, Any]:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        exc.problem.instance = request.url.path
        return exc.problem.to_response()

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "NOT_FOUND")
        return Problem(code, str(exc.detail), request.url.path, headers=dict(exc.headers or {})).to_response()

    async def on_error(request: Request, exc: Exception) -> Response:
        for error_type, code in _ERROR_CODES:
            if isinstance(exc, error_type):
                if code == "STORE_UNAVAILABLE":
                    # The database's own text names hosts, tables and values: logged, not answered.
                    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
                    retry = {"Retry-After": "1"}
                    return Problem(code, _UNAVAILABLE, request.url.path, headers=retry).to_response()
                extra = {"id": exc.details.get("id")} if isinstance(exc, errors.InstanceExistsError) else {}
                return Problem(code, str(exc), request.url.path, extensions=extra).to_response()
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Problem(
            "INTERNAL_ERROR", "The server failed to handle the request", request.url.path
        ).to_response()

    # The library's own errors are answered by the exception middleware (no traceback, nothing
    # re-raised); only a truly unexpected exception reaches Starlette's server-error middleware,
    # which answers 500 with the same handler and then re-raises it for the server to log.
    return {
        ProblemError: on_problem,
        HTTPException: on_http,
        errors.ManifestError: on_error,
        Exception: on_error,
    }


Endpoint = Callable[[Request], Awaitable[Response]]


class _AnyMethod:
    """An ASGI app for a ``Route``: Starlette matches an app (not a function) for every method."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _methods(**handlers: Endpoint) -> _AnyMethod:
    """One endpoint for every method of a path: the declared ones run, any other is 405 with an
    ``Allow`` header listing them (and OPTIONS says the same).

    Starlette would route an undeclared method to the next pattern that matches the path
    (``GET /InventoryItem/commands/create`` to the row ``commands/create``, ``POST /healthz`` to an
    entity ``healthz``), and its 405 lists the methods of the first pattern only."""
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table["HEAD"] = table["GET"]
    allow = ", ".join(sorted(table))

    async def endpoint(request: Request) -> Response:
        handler = table.get(request.method)
        if handler is None:
            raise ProblemError(
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed here (allowed: {allow})",
                headers={"Allow": allow},
            )
        return await handler(request)

    return _AnyMethod(endpoint)


def _routes(api: Api, work: WorkApi, webhooks: list[Route], sagas: SagaRoutes) -> list[Route]:
    # Every pattern answers every method (see ``_methods``), so the first pattern that matches a
    # path owns it: fixed paths first, they shadow an entity of the same name (documented).
    return [
        Route("/jobs/{id}", _methods(get=work.get_job)),
        Route("/approvals/{entity}/{id}/{approval}/stages/{stage}/approve", _methods(post=work.approve)),
        Route("/approvals/{entity}/{id}/{approval}/deny", _methods(post=work.deny)),
        Route("/approvals/{entity}/{id}/{approval}/stages/{stage}/deny", _methods(post=work.deny)),
        Route("/approvals/{entity}/{id}", _methods(get=work.pending)),
        Route("/openapi.json", _methods(get=api.openapi_json)),
        Route("/docs", _methods(get=api.docs)),
        Route("/healthz", _methods(get=api.healthz)),
        Route("/events", _methods(get=api.events)),
        Route("/trace/{correlationId}", _methods(get=api.trace)),
        # POST names a saga to start, GET the id of a started one: one pattern owns the path
        Route("/sagas/{key}", _methods(post=sagas.start, get=sagas.status)),
        Route("/commands/{command}", _methods(post=api.global_command)),
        *webhooks,
        Route("/{entity}", _methods(get=api.list_rows, post=api.create)),
        Route("/{entity}/commands/{command}", _methods(post=api.entity_command)),
        # ``path``: an id may contain "/" (sent as %2F, which the server decodes before routing).
        Route("/{entity}/{id:path}/commands/{command}", _methods(post=api.entity_command)),
        Route("/{entity}/{id:path}", _methods(get=api.get_row)),
    ]


@dataclass
class ApiParts:
    """What ``create_app`` and ``manifest_router`` (FastAPI) are made of."""

    api: Api
    service: ModelService
    metrics: Metrics | None
    limiter: CapacityLimiter
    work: Any  # the durable work services (``workflows.services.WorkServices``)
    work_api: WorkApi
    owned_store: Any  # the store to close with the app (opened from a URL), or None

    def close(self) -> None:
        if self.owned_store is not None:
            self.owned_store.close()


def build_api(
    model: Any,
    *,
    store: Any = None,
    auth: Authenticator | str | None = None,
    api_keys: Mapping[str, Context] | None = None,
    secret: str | None = None,
    idempotency_store: Any = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    engine_options: Mapping[str, Any] | None = None,
    title: str | None = None,
    hub: EventHub | None = None,
    recorder: TraceRecorder | None = None,
    metrics: Metrics | bool = True,
    otel: bool = False,
) -> ApiParts:
    """The handlers, service and counters of one served model (see ``create_app``)."""
    from ..workflows.approvals import ApprovalDesk
    from ..workflows.services import WorkServices

    compiled = load_model(model)
    index = ModelIndex(compiled.ir)
    opened_store, owned = _open_store(store)
    if hasattr(opened_store, "sync_indexes"):
        try:  # the model's indexed properties get their indexes (docs/persistence.md)
            opened_store.sync_indexes(compiled.ir)
        except BaseException:
            if owned:
                opened_store.close()
            raise
    counters = (Metrics() if metrics is True else metrics) or None
    options = dict(engine_options or {})
    hooks = list(options.get("command_hooks") or ())
    if counters is not None:
        hooks.append(counters.hook)
    if otel:
        from ..workflows.telemetry import OpenTelemetryHook

        hooks.append(OpenTelemetryHook())
    if hooks:
        options["command_hooks"] = tuple(hooks)
    # Async command jobs, approval requests and rate-limit windows are kept in the store.
    work = WorkServices(compiled, opened_store, options)
    service = ModelService(
        compiled,
        index,
        opened_store,
        hub=hub or EventHub(),
        recorder=recorder or TraceRecorder(),
        idempotency_store=idempotency_store or _default_idempotency_store(opened_store),
        engine_options=work.options,
        metrics=counters,
        otel=otel,
    )
    authenticator = _resolve_auth(auth, api_keys, secret)
    limiter = CapacityLimiter(max_concurrency)
    api = Api(
        service,
        authenticator,
        max_body_bytes=max_body_bytes,
        limiter=limiter,
        openapi=build_openapi(
            index,
            title=title,
            security=_security(authenticator),
            create_required={
                e.name: service.required_on_create(e)
                for e in index.entities.values()
                if e.create_command is None
            },
        ),
    )
    work_api = WorkApi(api, ApprovalDesk(work))
    return ApiParts(api, service, counters, limiter, work, work_api, opened_store if owned else None)


def create_app(
    model: Any,
    *,
    with_worker: bool = False,
    worker_options: Mapping[str, Any] | None = None,
    webhooks: WebhookConfig | Mapping[str, Any] | str | Path | None = None,
    **options: Unpack[AppOptions],
) -> Starlette:
    """Serve ``model`` (a path, source text, IR dict or CompiledModel) as an HTTP API.

    ``store``: a Store, a URL (``sqlite:///app.db``, ``postgresql://...``) or None for memory.
    ``auth``: a callable ``request -> context`` (sync or async; raise ``ProblemError
    ("UNAUTHENTICATED")`` to refuse), ``"headers"`` to trust X-User-Id / X-User-Role /
    X-Tenant-Id (development only), or None for API keys / JWT bearer tokens
    (``api_keys``, ``secret``); with neither configured every request is anonymous.
    ``engine_options``: extra keyword arguments for each ``RuntimeEngine`` (``now``, ...).
    ``metrics``: serve ``/metrics`` (True, or a ``Metrics`` to share) or not (False); ``otel``: a
    span per command through OpenTelemetry, parented on the request's ``traceparent``.
    Async command jobs, approval requests and rate-limit windows are kept in the store (see
    ``workflows.services.durable_options``); ``with_worker`` runs a ``Worker`` (with
    ``worker_options``) in the server process while the app is up.
    ``webhooks``: the configuration of the model's webhooks (tenant, secrets; a ``WebhookConfig``,
    its mapping form, or a ``.toml``/``.json`` file), see ``http/webhooks.py``.
    """
    parts = build_api(model, **options)
    service = parts.service
    worker = (
        _embedded_worker(service.model, service.store, options.get("engine_options"), worker_options)
        if with_worker
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        thread = worker.start_in_thread() if worker is not None else None
        try:
            yield
        finally:
            if worker is not None and thread is not None:
                worker.stop()
                thread.join(timeout=30)
            parts.close()

    declared = build_webhooks(service.model, parts.api.index, _webhook_config(webhooks))
    hooks = [
        Route(
            r.path, WebhookHandler(r, service, parts.api).handle, methods=["POST"], name=f"webhook:{r.name}"
        )
        for r in declared
    ]
    routes = operations_routes(service, parts.metrics, parts.limiter) + _routes(
        parts.api, parts.work_api, hooks, SagaRoutes(parts.api, service)
    )
    app = Starlette(
        routes=routes,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
        middleware=[Middleware(AccessLogMiddleware, metrics=parts.metrics)],
    )
    app.state.manifest = service
    app.state.metrics = parts.metrics
    app.state.manifest_worker = worker
    app.state.manifest_webhooks = declared
    return app


class AppOptions(TypedDict, total=False):
    """The keyword arguments of ``create_app`` and ``manifest_router`` (see ``build_api``)."""

    store: Any
    auth: Authenticator | str | None
    api_keys: Mapping[str, Context] | None
    secret: str | None
    idempotency_store: Any
    max_body_bytes: int
    max_concurrency: int
    engine_options: Mapping[str, Any] | None
    title: str | None
    hub: EventHub | None
    recorder: TraceRecorder | None
    metrics: Metrics | bool
    otel: bool


def _embedded_worker(
    compiled: Any, store: Any, engine_options: Mapping[str, Any] | None, options: Mapping[str, Any] | None
) -> Any:
    from ..workflows.worker import Worker

    return Worker(compiled, store, engine_options=engine_options, **dict(options or {}))
