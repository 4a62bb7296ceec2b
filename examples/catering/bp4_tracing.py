"""Best practice 4: a span per command - OpenTelemetry instead of the document's Sentry spans.

Needs ``opentelemetry-sdk`` for the in-memory exporter used here (the runtime itself needs only
``opentelemetry-api``, and only when tracing is switched on).

Run: python -m examples.catering.bp4_tracing
"""

from __future__ import annotations

from typing import Any

from manifest_lang.workflows.telemetry import tracing_hooks

from .kitchen import CHEF, TENANT, kitchen


def traced_kitchen(tracer_provider: Any) -> Any:
    return kitchen(
        command_hooks=tracing_hooks(opentelemetry=True, tracer_provider=tracer_provider), seeded=True
    )


def main() -> None:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        print("opentelemetry-sdk is not installed: pip install opentelemetry-sdk")
        return
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    factory = traced_kitchen(provider)
    engine = factory.engine(tenant_id=TENANT, user=CHEF)
    engine.run_command(
        "claim",
        {"userId": CHEF["id"]},
        entity_name="PrepTask",
        instance_id="task-1",
        correlation_id="event-day-evt-42",
    )
    engine.run_command(
        "reserve",
        {"quantity": 9, "eventId": "evt-42"},
        entity_name="InventoryItem",
        instance_id="item-butter",
        correlation_id="event-day-evt-42",
    )
    for span in exporter.get_finished_spans():
        print(span.name, dict(span.attributes or {}), span.status.status_code.name)


if __name__ == "__main__":
    main()
