"""Best practices 1-5, checked on the runnable examples."""

from __future__ import annotations

import pytest

from manifest_lang.stores.memory import MemoryStore

from . import bp1_correlation as bp1
from . import bp2_causation as bp2
from . import bp3_idempotency as bp3
from . import bp4_tracing as bp4
from . import bp5_outbox as bp5
from .kitchen import CHEF, TENANT, kitchen


def test_correlation_groups_the_workflow_and_nothing_else() -> None:
    f = kitchen(seeded=True)
    events = bp1.run_workflow(f, "wf-1")
    assert [e.name for e in events] == ["InventoryReserved", "StationTaskAssigned", "PrepTaskStarted"]
    assert {e.correlation_id for e in events} == {"wf-1"}
    assert "InventoryRestocked" in [e.name for e in f.events()]


def test_causation_by_event_reference_nests_the_effect() -> None:
    f = kitchen(seeded=True)
    assert bp2.reserve_then_assign(f, "wf-2") == (
        "user-action-chef-maria\n"
        "  └─ InventoryReserved (item-flour, emitIndex: 0)\n"
        "     └─ StationTaskAssigned (station-hot-line, emitIndex: 0)"
    )


def test_tracing_records_a_span_per_command() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    f = bp4.traced_kitchen(provider)
    f.engine(tenant_id=TENANT, user=CHEF).run_command(
        "reserve", {"quantity": 9, "eventId": "e"}, entity_name="InventoryItem", instance_id="item-butter"
    )
    (span,) = exporter.get_finished_spans()
    assert span.attributes["manifest.outcome"] == "success"
    assert span.attributes["manifest.constraints.warned"] == ("warnBelowPar",)


def test_outbox_holds_the_events_of_successful_commands_only() -> None:
    store = MemoryStore(record_outbox=True)
    blocked = bp5.reserve_twice(kitchen(store, seeded=True).engine(tenant_id=TENANT, user=CHEF))
    assert blocked.error == "Insufficient stock for reservation"
    rows = bp5.outbox_rows(store)
    assert [(r["eventName"], r["correlationId"], r["causationId"], r["emitIndex"]) for r in rows] == [
        ("InventoryReserved", "event-prep-evt-42", "user-action-1", 0)
    ]
    assert rows[0]["payload"] == {"quantity": 5, "eventId": "evt-42", "result": 45}


@pytest.mark.parametrize("module", [bp1, bp2, bp3, bp4, bp5])
def test_example_runs(module, capsys) -> None:  # type: ignore[no-untyped-def]
    module.main()
    out = capsys.readouterr().out
    assert out.strip()
    if module is bp3:
        assert "reserved once: 5" in out and "same result: True" in out
