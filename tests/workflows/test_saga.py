"""Saga: one correlation id, causation linked to the trigger, reverse compensation on failure."""

from __future__ import annotations

import pytest

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.workflows.eventlog import causal_tree, render_causal_tree
from manifest_lang.workflows.saga import Saga, SagaStep

from .models import counter_model


@pytest.fixture
def engine() -> RuntimeEngine:
    e = RuntimeEngine(counter_model(), {"user": {"id": "u1", "role": "admin"}})
    for cid, value in (("a", 0), ("b", 0), ("c", 5)):
        e.create_instance("Counter", {"id": cid, "value": value})
    return e


def step(name: str, cid: str, by: int, **kw) -> SagaStep:  # type: ignore[no-untyped-def]
    return SagaStep(name, "increment", {"by": by}, "Counter", cid, compensation="decrement", **kw)


def value(engine: RuntimeEngine, cid: str) -> int:
    return engine.get_instance("Counter", cid)["value"]  # type: ignore[index]


def test_all_steps_complete_under_one_correlation(engine: RuntimeEngine) -> None:
    saga = Saga("s", [step("one", "a", 1), step("two", "b", 2, caused_by="one")])
    result = saga.run(engine, correlation_id="corr-1")
    assert result.success and result.status == "completed"
    assert result.completed_steps == ["one", "two"]
    events = engine.events_for_correlation("corr-1")
    assert [(e.name, e.causation_id) for e in events] == [
        ("Incremented", "saga:s"),
        ("Incremented", "Incremented:a"),
    ]
    assert render_causal_tree(causal_tree(events)) == (
        "saga:s\n  └─ Incremented (a, emitIndex: 0)\n     └─ Incremented (b, emitIndex: 0)"
    )
    assert result.to_dict()["steps"][1] == {
        "step": "two",
        "command": "increment",
        "status": "completed",
        "causationId": "Incremented:a",
        "result": result.steps[1].result.to_dict(),
    }


def test_a_blocked_step_compensates_completed_steps_in_reverse(engine: RuntimeEngine) -> None:
    saga = Saga(
        "s",
        [step("one", "a", 3), step("two", "b", 4), step("boom", "c", 5000), step("never", "a", 1)],
        causation_id="trigger-9",
    )
    result = saga.run(engine, correlation_id="corr-2")
    assert not result.success and result.status == "compensated"
    assert result.failed_step == "boom" and result.error == "Counter would overflow"
    assert [(s.step, s.status) for s in result.steps] == [
        ("one", "compensated"),
        ("two", "compensated"),
        ("boom", "failed"),
        ("never", "skipped"),
    ]
    assert (value(engine, "a"), value(engine, "b"), value(engine, "c")) == (0, 0, 5)
    names = [(e.name, e.subject["id"], e.causation_id) for e in engine.events_for_correlation("corr-2")]
    assert names == [
        ("Incremented", "a", "trigger-9"),
        ("Incremented", "b", "trigger-9"),
        ("Decremented", "b", "s:two:compensate"),
        ("Decremented", "a", "s:one:compensate"),
    ]
    assert [e.name for e in result.emitted_events] == [n for n, _, _ in names]


def test_a_failing_compensation_aborts(engine: RuntimeEngine) -> None:
    saga = Saga(
        "s",
        [
            step("one", "a", 3, compensation_input={"by": 99}),  # cannot decrement 99 from 3
            step("boom", "c", 5000),
        ],
    )
    result = saga.run(engine, correlation_id="corr-3")
    assert result.status == "aborted"
    assert result.steps[0].status == "compensation_failed"
    assert result.steps[0].compensation.error == "Guard condition failed for command 'decrement'"
    assert value(engine, "a") == 3


def test_optional_steps_may_fail_and_inputs_may_use_earlier_results(engine: RuntimeEngine) -> None:
    saga = Saga(
        "s",
        [
            step("big", "c", 5000, optional=True),
            SagaStep(
                "follow", "increment", lambda ctx: {"by": ctx.inputs["big"]["by"] // 1000}, "Counter", "a"
            ),
        ],
    )
    result = saga.run(engine, correlation_id="corr-4")
    assert result.success and result.status == "completed"
    assert result.step("big").status == "failed"
    assert value(engine, "a") == 5


def test_warnings_of_completed_steps_are_collected(engine: RuntimeEngine) -> None:
    result = Saga("s", [step("warn", "c", 99)]).run(engine, correlation_id="corr-5")
    assert result.success
    assert [w.code for w in result.warnings()] == ["tooBig"]


def test_each_step_may_run_on_its_own_engine(engine: RuntimeEngine) -> None:
    other = RuntimeEngine(counter_model(), {}, store_provider=engine.store)
    chosen: list[str] = []

    def pick(s: SagaStep) -> RuntimeEngine:
        chosen.append(s.name)
        return other if s.name == "two" else engine

    Saga("s", [step("one", "a", 1), step("two", "b", 1)]).run(pick, correlation_id="corr-6")
    assert chosen == ["one", "two"]
    assert [e.subject["id"] for e in other.get_event_log()] == ["b"]
    assert value(engine, "b") == 1  # same store


def test_an_idempotent_saga_run_twice_applies_once() -> None:
    from manifest_lang.runtime.idempotency import MemoryIdempotencyStore

    engine = RuntimeEngine(counter_model(), {}, idempotency_store=MemoryIdempotencyStore())
    for cid, start in (("a", 0), ("c", 5)):
        engine.create_instance("Counter", {"id": cid, "value": start})
    ok = Saga("s", [step("one", "a", 2)])
    for _ in range(2):
        assert ok.run(engine, correlation_id="k", idempotency_prefix="order-7").success
    assert value(engine, "a") == 2
    failing = Saga("t", [step("one", "a", 3), step("boom", "c", 5000)])
    for _ in range(2):
        result = failing.run(engine, correlation_id="k2", idempotency_prefix="order-8")
        assert result.status == "compensated", result.to_dict()
    assert value(engine, "a") == 2  # +3 then -3, once
    assert len(engine.events_for_correlation("k2")) == 2  # Incremented, Decremented: no repeats
    # without keys, an engine with an idempotency store refuses the steps
    refused = ok.run(engine, correlation_id="k3")
    assert refused.error == "IdempotencyStore is configured but no idempotencyKey was provided"


def test_invalid_sagas_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate step names: x"):
        Saga("s", [step("x", "a", 1), step("x", "b", 1)])
    with pytest.raises(ValueError, match="caused_by 'later', which is not an earlier step"):
        Saga("s", [step("first", "a", 1, caused_by="later"), step("later", "b", 1)])
