"""Tracing hooks: an OpenTelemetry span per command (in-memory exporter) and a log line per command."""

from __future__ import annotations

import logging

import pytest

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.workflows.telemetry import (
    LoggingHook,
    OpenTelemetryHook,
    classify_outcome,
    otel_available,
    tracing_hooks,
)

from .models import counter_model

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402


@pytest.fixture
def traced():  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = RuntimeEngine(
        counter_model(),
        {"user": {"id": "u", "role": "cook"}},
        command_hooks=[OpenTelemetryHook(tracer_provider=provider)],
    )
    engine.create_instance("Counter", {"id": "c", "value": 95})
    return engine, exporter


def run(engine: RuntimeEngine, name: str, **input):  # type: ignore[no-untyped-def]
    return engine.run_command(
        name, input, entity_name="Counter", instance_id="c", correlation_id="k", causation_id="why"
    )


def test_a_successful_command_with_a_warning(traced) -> None:  # type: ignore[no-untyped-def]
    engine, exporter = traced
    run(engine, "increment", by=10)
    (span,) = exporter.get_finished_spans()
    assert span.name == "manifest.run_command"
    assert dict(span.attributes) == {
        "manifest.command": "increment",
        "manifest.entity": "Counter",
        "manifest.instance_id": "c",
        "manifest.correlation_id": "k",
        "manifest.causation_id": "why",
        "manifest.outcome": "success",
        "manifest.constraints.warned": ("tooBig",),
        "manifest.constraints.blocked": (),
        "manifest.events": ("Incremented",),
    }
    assert span.status.status_code == StatusCode.UNSET


def test_refused_commands_set_error_status_and_outcome(traced) -> None:  # type: ignore[no-untyped-def]
    engine, exporter = traced
    run(engine, "increment", by=5000)
    run(engine, "increment", by=0)
    run(engine, "rename", label="x")
    engine.run_command("missing", {})
    spans = exporter.get_finished_spans()
    assert [s.attributes["manifest.outcome"] for s in spans] == [
        "constraint_blocked",
        "guard_denied",
        "guard_denied",
        "error",
    ]
    assert spans[0].attributes["manifest.constraints.blocked"] == ("overflow",)
    assert spans[0].attributes["manifest.error"] == "Counter would overflow"
    assert all(s.status.status_code == StatusCode.ERROR for s in spans)
    assert "manifest.entity" not in spans[3].attributes


def test_the_span_is_current_while_the_command_runs(traced) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry import trace

    engine, exporter = traced
    seen = []
    engine.on_event(lambda event: seen.append(trace.get_current_span().get_span_context().span_id))
    run(engine, "increment", by=1)
    (span,) = exporter.get_finished_spans()
    assert seen == [span.context.span_id]
    assert not trace.get_current_span().get_span_context().is_valid  # detached afterwards


def test_logging_hook_writes_to_the_manifest_lang_logger(caplog) -> None:  # type: ignore[no-untyped-def]
    engine = RuntimeEngine(counter_model(), {}, command_hooks=[LoggingHook()])
    engine.create_instance("Counter", {"id": "c"})
    with caplog.at_level(logging.DEBUG, logger="manifest_lang"):
        run(engine, "increment", by=1)
        run(engine, "increment", by=-1)
    ok, refused = [r for r in caplog.records if r.name == "manifest_lang"]
    assert (ok.levelno, ok.getMessage()) == (logging.DEBUG, "command increment on Counter#c: success")
    assert refused.levelno == logging.INFO
    assert refused.getMessage() == (
        "command increment on Counter#c: guard_denied (Guard condition failed for command 'increment')"
    )
    assert refused.manifest_correlation_id == "k"  # type: ignore[attr-defined]


def test_logging_hook_costs_nothing_when_the_logger_is_off(caplog) -> None:  # type: ignore[no-untyped-def]
    hook = LoggingHook(logging.getLogger("manifest_lang.silent"))
    hook.logger.setLevel(logging.WARNING)
    assert hook.before_command(None, "x", {}, {}) is None
    hook.after_command(None, None)
    assert not caplog.records


def test_tracing_hooks_selection() -> None:
    assert otel_available()
    kinds = [type(h) for h in tracing_hooks()]
    assert kinds == [OpenTelemetryHook, LoggingHook]
    assert [type(h) for h in tracing_hooks(opentelemetry=False)] == [LoggingHook]
    assert tracing_hooks(opentelemetry=False, logging_hook=False) == ()


def test_classify_outcome_of_other_failures() -> None:
    from manifest_lang.runtime.results import CommandResult, ConcurrencyConflict, PolicyDenial

    assert classify_outcome(None) == "error"
    assert (
        classify_outcome(CommandResult(False, policy_denial=PolicyDenial("p", None, "f", [])))
        == "policy_denied"
    )
    conflict = ConcurrencyConflict("E", "1", 1, 2)
    assert classify_outcome(CommandResult(False, concurrency_conflict=conflict)) == "concurrency_conflict"
    assert (
        classify_outcome(CommandResult(False, error="Invalid state transition for 's'"))
        == "transition_rejected"
    )
