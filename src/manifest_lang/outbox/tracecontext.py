"""The W3C trace context (``traceparent``) of the work that wrote an outbox row.

The HTTP layer sets ``TRACEPARENT`` around a command (from the request's ``traceparent`` header, or
from the OpenTelemetry span of the command when ``--otel`` is on); a SQL store copies it into each
outbox row it commits, under the event's ``traceparent`` key, and ``OutboxRow.message()`` lifts it
into the published envelope, so a consumer continues the request's trace. Nothing is set (and
nothing is written) when the caller sent none.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: the trace context of the command being committed in this thread / task
TRACEPARENT: ContextVar[str | None] = ContextVar("manifest_traceparent", default=None)
EVENT_KEY = "traceparent"

# version-traceid-parentid-flags; version ff and all-zero ids are invalid (W3C Trace Context 3.2)
_FORMAT = re.compile(r"^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")


def valid_traceparent(value: str | None) -> str | None:
    """``value`` if it is a well-formed ``traceparent`` header, else None (ignored, not an error)."""
    if not value or len(value) > 55:
        return None
    value = value.strip().lower()
    return value if _FORMAT.match(value) else None


def current_traceparent() -> str | None:
    """The trace context to record: the one set for this command, else the current OpenTelemetry
    span's (only if the application already imported OpenTelemetry)."""
    value = TRACEPARENT.get()
    if value is not None or "opentelemetry.trace" not in sys.modules:
        return value
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def traced(traceparent: str | None, *, otel: bool = False) -> Iterator[None]:
    """Run the block under the request's trace context (a no-op when there is none)."""
    if traceparent is None:
        yield
        return
    token = TRACEPARENT.set(traceparent)
    attached = None
    if otel:
        from opentelemetry import context as otel_context
        from opentelemetry import propagate

        attached = otel_context.attach(propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        if attached is not None:
            otel_context.detach(attached)
        TRACEPARENT.reset(token)
