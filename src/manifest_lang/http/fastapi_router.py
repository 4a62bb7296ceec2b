"""``manifest_router``: the model's routes as a FastAPI ``APIRouter`` (the ``[fastapi]`` extra).

``app.mount("/kitchen", create_app(...))`` works in FastAPI too, but a mounted app's routes never
appear in the host application's OpenAPI. The router registers one FastAPI route per concrete
path of the model (``/InventoryItem/{id}/commands/reserve``, ...) with the same handlers as
``create_app``, and the operation our own OpenAPI document describes (parameters, request body,
responses, every ``$ref`` inlined), so ``/docs`` of the host app shows the model.

Errors are answered as in ``create_app`` (problem+json), whatever the host's exception handlers.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, Unpack

try:
    from fastapi import APIRouter
    from starlette.requests import Request
    from starlette.responses import Response
except ImportError as exc:  # one line naming the extra, not a traceback
    from ..extras import missing_extra

    raise missing_extra(exc.name or "fastapi", "fastapi") from exc

from .app import ApiParts, AppOptions, build_api, exception_handlers
from .operations import operations_routes
from .problems import ProblemError
from .routes import Api

Handler = Callable[[Request], Awaitable[Response]]


def _inline(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``#/components/schemas/X`` reference replaced by X (a cycle by ``{}``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen or name not in schemas:
                return {"type": "object"}
            return _inline(schemas[name], schemas, (*seen, name))
        return {k: _inline(v, schemas, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, schemas, seen) for v in node]
    return node


def _guarded(handler: Handler, fixed: dict[str, str]) -> Handler:
    """``handler`` with the path parameters the generic routes read, answering errors itself."""
    handlers = exception_handlers()

    async def endpoint(request: Request) -> Response:
        request.scope["path_params"] = {**request.path_params, **fixed}
        try:
            return await handler(request)
        except ProblemError as exc:
            return await handlers[ProblemError](request, exc)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 - mapped to problem+json like create_app does
            return await handlers[Exception](request, exc)  # type: ignore[no-any-return]

    return endpoint


def _route_plan(api: Api, path: str, method: str) -> tuple[Handler, dict[str, str]] | None:
    """Which generic handler serves one concrete OpenAPI path, and its fixed parameters."""
    parts = path.strip("/").split("/")
    if parts[0] == "trace":
        return api.trace, {}
    if parts[0] == "commands":
        return api.global_command, {"command": parts[1]}
    entity = parts[0]
    if len(parts) == 1:
        return (api.list_rows if method == "get" else api.create), {"entity": entity}
    if len(parts) == 2:
        return api.get_row, {"entity": entity}
    if parts[-2] == "commands":
        return api.entity_command, {"entity": entity, "command": parts[-1]}
    return None


def manifest_router(model: Any, **options: Unpack[AppOptions]) -> APIRouter:
    """A FastAPI router serving ``model`` (same arguments as ``create_app``).

    ``app.include_router(router, prefix="/kitchen")``. The router's ``manifest`` attribute holds the
    parts (``.service``, ``.metrics``, ``.close()``): close a store opened from a URL with
    ``router.manifest.close()`` in your app's lifespan.
    """
    parts: ApiParts = build_api(model, **options)
    api = parts.api
    document = api.openapi
    schemas = document.get("components", {}).get("schemas", {})
    router = APIRouter()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            plan = _route_plan(api, path, method)
            if plan is None:
                continue
            handler, fixed = plan
            extra = _inline(copy.deepcopy(operation), schemas)
            router.add_api_route(
                path.replace("{id}", "{id:path}"),
                _guarded(handler, fixed),
                methods=[method.upper()],
                operation_id=extra.pop("operationId", None),
                summary=extra.pop("summary", None),
                tags=extra.pop("tags", None),
                responses={},
                openapi_extra=extra,
                response_class=Response,
            )
    fixed_routes = [
        (r.path, r.endpoint) for r in operations_routes(parts.service, parts.metrics, parts.limiter)
    ]
    for path, handler in [*fixed_routes, ("/healthz", api.healthz), ("/events", api.events)]:
        router.add_api_route(path, _guarded(handler, {}), methods=["GET"], include_in_schema=False)
    router.manifest = parts  # type: ignore[attr-defined]
    return router
