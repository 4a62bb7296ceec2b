"""What an operator needs from a running server: ``/metrics``, ``/readyz``, trace context, ``--otel``.

- ``GET /metrics``: Prometheus text (``metrics.py``).
- ``GET /readyz``: 200 once the store answers a query, 503 ``STORE_UNAVAILABLE`` while it does not
  (``/healthz`` stays a liveness check that never touches the store).
- ``outbox.tracecontext.traced(traceparent)``: around a command, the request's W3C ``traceparent``
  is what the store copies into the outbox rows, and with ``--otel`` the parent of the command's span.
- ``configure_tracing()``: ``--otel`` installs an OpenTelemetry SDK tracer provider (exporter from
  ``OTEL_TRACES_EXPORTER``: ``otlp`` (default), ``console``, or ``none`` for a host application that
  configures its own) unless one is installed already.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from .metrics import Metrics
    from .service import ModelService

OTEL_EXPORTERS = ("otlp", "console", "none")


def store_ready(store: Any) -> None:
    """Raise unless the store answers: a real query on SQL stores, nothing on memory."""
    ping = getattr(store, "ping", None)
    if callable(ping):
        ping()
        return
    if hasattr(store, "pending_count"):
        store.pending_count()


def operations_routes(service: ModelService, metrics: Metrics | None, limiter: Any) -> list[Route]:
    import anyio.to_thread
    from starlette.responses import Response
    from starlette.routing import Route

    from .. import errors
    from .metrics import CONTENT_TYPE
    from .problems import Problem
    from .routes import json_response

    async def readyz(request: Request) -> Response:
        try:
            await anyio.to_thread.run_sync(store_ready, service.store, limiter=limiter)
        except errors.StoreError:
            return Problem("STORE_UNAVAILABLE", "The store does not answer", request.url.path).to_response()
        return json_response({"status": "ready"})

    async def metrics_text(request: Request) -> Response:
        assert metrics is not None
        text = await anyio.to_thread.run_sync(metrics.render, service.store, limiter=limiter)
        return Response(text, media_type=CONTENT_TYPE)

    routes = [Route("/readyz", readyz, methods=["GET"])]
    if metrics is not None:
        routes.append(Route("/metrics", metrics_text, methods=["GET"]))
    return routes


def configure_tracing(exporter: str | None = None, *, service_name: str = "manifest") -> None:
    """``--otel``: an SDK tracer provider exporting the command spans, unless the process has one."""
    exporter = (exporter or os.environ.get("OTEL_TRACES_EXPORTER") or "otlp").lower()
    if exporter not in OTEL_EXPORTERS:
        from ..errors import ManifestError

        raise ManifestError(
            f"OTEL_TRACES_EXPORTER must be one of {', '.join(OTEL_EXPORTERS)}, not {exporter!r}"
        )
    from ..extras import require_extra

    require_extra("opentelemetry.sdk.trace", "otel")
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if exporter == "none" or isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter == "console":
        # one JSON document per span on stdout, as it ends (a development aid)
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        require_extra("opentelemetry.exporter.otlp.proto.http.trace_exporter", "otel")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
