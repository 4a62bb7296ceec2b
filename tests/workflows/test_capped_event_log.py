"""The readers of an engine's events keep working when its log is capped or off
(``event_log_limit``): the factory's shared log, sagas, journals and their replay."""

from __future__ import annotations

import pytest

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.workflows.factory import RuntimeFactory, merged_events
from manifest_lang.workflows.journal import CommandJournal
from manifest_lang.workflows.replay import replay_and_verify
from manifest_lang.workflows.saga import Saga, SagaStep

from .models import counter_model

ADMIN = {"user": {"id": "u1", "role": "admin"}}


def test_the_factory_log_sees_every_event_whatever_each_engine_keeps() -> None:
    factory = RuntimeFactory(counter_model(), event_log_size=10, engine_options={"event_log_limit": 0})
    a, b = factory.engine(), factory.engine()
    a.create_instance("Counter", {"id": "c"})
    for engine in (a, b, a):
        engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c", correlation_id="k")
    assert [e.payload["result"] for e in factory.events_for_correlation("k")] == [1, 2, 3]
    assert merged_events([a, b]) == [] and a.events_for_correlation("k") == []


@pytest.mark.parametrize("limit", [0, 1])
def test_a_saga_runs_and_compensates_on_a_capped_log(limit: int) -> None:
    engine = RuntimeEngine(counter_model(), ADMIN, event_log_limit=limit)
    for cid, value in (("a", 0), ("b", 0), ("c", 5)):
        engine.create_instance("Counter", {"id": cid, "value": value})

    def step(name: str, cid: str, by: int, **kw: object) -> SagaStep:
        return SagaStep(name, "increment", {"by": by}, "Counter", cid, compensation="decrement", **kw)  # type: ignore[arg-type]

    done = Saga("s", [step("one", "a", 1), step("two", "b", 2, caused_by="one")]).run(
        engine, correlation_id="w"
    )
    assert done.success and done.steps[1].causation_id == "Incremented:a"
    assert len(engine.events_for_correlation("w")) == limit
    failing = Saga("f", [step("one", "a", 1), step("bad", "c", -1)]).run(engine, correlation_id="w2")
    assert not failing.success and engine.get_instance("Counter", "a")["value"] == 1  # type: ignore[index]


def test_a_journal_records_and_replays_with_the_log_off() -> None:
    journal = CommandJournal()
    engine = RuntimeEngine(counter_model(), dict(ADMIN), **journal.engine_options(), event_log_limit=0)
    engine.create_instance("Counter", {"id": "c0", "value": 0})
    journal.snapshot(engine, model=counter_model())
    for by in (1, 2, 3):
        engine.run_command(
            "increment", {"by": by}, entity_name="Counter", instance_id="c0", correlation_id="k"
        )
    assert engine.get_event_log() == []
    assert [e.expected["events"][0]["name"] for e in journal.commands()] == ["Incremented"] * 3
    assert replay_and_verify(counter_model(), journal).verified
