"""RuntimeFactory: one model and one store shared by short-lived engines bound to a context."""

from __future__ import annotations

import pytest

from manifest_lang.errors import CompileError
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.workflows.factory import RuntimeFactory, merged_events
from manifest_lang.workflows.telemetry import LoggingHook

from .models import COUNTER, counter_model


def test_engines_share_the_model_and_the_store() -> None:
    store = MemoryStore()
    factory = RuntimeFactory(COUNTER, store)
    a = factory.engine(tenant_id="t1", user_id="u1")
    b = factory.engine(tenant_id="t1", user={"id": "u2", "role": "admin"})
    assert a.model is b.model is factory.model
    a.create_instance("Counter", {"id": "c", "tenantId": "t1"})
    b.run_command("increment", {"by": 3}, entity_name="Counter", instance_id="c")
    assert a.get_instance("Counter", "c")["value"] == 3  # type: ignore[index]
    assert store.load("Counter", "c").row["value"] == 3  # type: ignore[union-attr]
    assert a.context == {"tenantId": "t1", "user": {"id": "u1"}}
    assert b.context == {"tenantId": "t1", "user": {"id": "u2", "role": "admin"}}


def test_the_context_reaches_expressions() -> None:
    factory = RuntimeFactory(counter_model())
    admin = factory.engine(user={"id": "a", "role": "admin"})
    admin.create_instance("Counter", {"id": "c"})
    cook = factory.engine(user={"id": "k", "role": "cook"})
    assert not cook.run_command("rename", {"label": "x"}, entity_name="Counter", instance_id="c").success
    assert admin.run_command("rename", {"label": "x"}, entity_name="Counter", instance_id="c").success


def test_find_filters_by_fields_and_tenant() -> None:
    factory = RuntimeFactory(counter_model())
    engine = factory.engine()
    for cid, tenant, label in (("1", "t1", "x"), ("2", "t1", "y"), ("3", "t2", "x")):
        engine.create_instance("Counter", {"id": cid, "tenantId": tenant, "label": label})
    assert [r["id"] for r in factory.find("Counter", {"label": "x"})] == ["1", "3"]
    assert [r["id"] for r in factory.find("Counter", {"label": "x"}, tenant_id="t1")] == ["1"]
    assert [r["id"] for r in factory.find("Counter", tenant_id="t2")] == ["3"]
    assert factory.find("Counter", {"label": "nope"}) == []


def test_shared_event_log_is_bounded_and_follows_correlations_across_engines() -> None:
    factory = RuntimeFactory(counter_model(), event_log_size=3)
    a, b = factory.engine(), factory.engine()
    a.create_instance("Counter", {"id": "c"})
    for engine in (a, b, a, b):
        engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c", correlation_id="k")
    assert len(factory.events()) == 3
    assert [e.payload["result"] for e in factory.events_for_correlation("k")] == [2, 3, 4]
    assert len(merged_events([a, b])) == 4
    assert RuntimeFactory(counter_model()).events() == []


def test_options_and_hooks_reach_every_engine() -> None:
    hook = LoggingHook()
    factory = RuntimeFactory(
        counter_model(),
        now=lambda: 42,
        generate_id=lambda: "fixed",
        command_hooks=[hook],
        evaluation_limits={"maxEvaluationSteps": 1},
        deterministic_mode=True,
    )
    engine = factory.engine()
    assert engine.command_hooks == (hook,)
    assert engine.now() == 42 and engine.generate_id() == "fixed"
    assert engine.limits.max_evaluation_steps == 1
    assert engine.is_deterministic()
    traced = RuntimeFactory(counter_model(), tracing=True).engine()
    assert len(traced.command_hooks) >= 1
    assert RuntimeFactory(counter_model()).engine().command_hooks == ()


def test_a_model_that_does_not_compile_raises_compile_error() -> None:
    with pytest.raises(CompileError, match="model does not compile") as info:
        RuntimeFactory("entity {")
    assert info.value.diagnostics


def test_the_factory_closes_its_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from manifest_lang.stores.sqlite import SQLiteStore

    path = tmp_path / "kitchen.db"
    with RuntimeFactory(counter_model(), SQLiteStore(str(path))) as factory:
        factory.engine().create_instance("Counter", {"id": "c", "value": 4})
    with RuntimeFactory(counter_model(), SQLiteStore(str(path))) as again:
        assert again.engine().get_instance("Counter", "c")["value"] == 4  # type: ignore[index]
