"""Durable sagas on every store: steps commit with the saga's progress, a second runner is fenced
off, a resumed saga goes on from its last committed step, compensations run once in reverse."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.errors import InvalidInputError, SagaFencedError, StoreUnavailableError
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.workflows.durable_saga import SagaRunner
from manifest_lang.workflows.saga import Saga, SagaStep
from manifest_lang.workflows.saga_plan import UnknownSagaError, plan_from_saga

from .saga_models import CHEF, ITEMS, reservation, saga_model, seed, stock


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore(record_outbox=True)
        return
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "sagas.db")
        yield s
        s.close()
        return
    from manifest_lang.stores.postgres import PostgresStore

    pg = PostgresStore(request.getfixturevalue("postgres_dsn"), schema="sg_" + uuid.uuid4().hex[:10])
    yield pg
    pg.drop_schema(drop_namespace=True)
    pg.close()


@pytest.fixture
def runner(store: Any) -> SagaRunner:
    seed(store)
    return SagaRunner(saga_model(), store)


def start(runner: SagaRunner, quantities: tuple[int, int, int]) -> str:
    plan = runner.plan("ReserveForEvent", reservation(quantities))
    return runner.start(plan, context=CHEF).saga_id


def outbox_events(store: Any) -> list[dict[str, Any]]:
    if isinstance(store, MemoryStore):
        return [e["event"] for e in store.outbox]
    return [r.event for r in store.claim_outbox(10_000, now=0.0)]


def test_a_saga_that_completes(runner: SagaRunner, store: Any) -> None:
    saga_id = start(runner, (10, 8, 2))
    assert runner.load(saga_id).status == "running"  # type: ignore[union-attr]
    done = runner.run(saga_id)
    assert done.status == "completed" and done.version == 4  # the insert, then one write per step
    assert stock(store) == {"item-flour": (10, 40), "item-butter": (8, 12), "item-cream": (2, 10)}
    view = done.view()
    assert [(s["step"], s["status"], s["causationId"]) for s in view["steps"]] == [
        ("first", "completed", "ReserveForEvent:first"),
        ("second", "completed", "ReserveForEvent:second"),
        ("third", "completed", "ReserveForEvent:third"),
    ]
    names = [e["name"] for e in outbox_events(store)]
    assert names == ["SagaStarted"] + ["InventoryReserved", "SagaStepCompleted"] * 3 + ["SagaCompleted"]
    step_events = [e for e in outbox_events(store) if e["name"] == "InventoryReserved"]
    assert {e["correlationId"] for e in step_events} == {saga_id}
    assert [e["name"] for e in view["events"]] == [e for e in names if e.startswith("Saga")]
    assert view["events"][1]["step"] == "first"
    lifecycle = outbox_events(store)[-1]
    assert lifecycle["payload"] == {"sagaName": "ReserveForEvent", "sagaId": saga_id}
    assert (lifecycle["causationId"], lifecycle["channel"]) == ("saga:ReserveForEvent", "saga.completed")
    assert lifecycle["subject"] == {"entity": "Saga", "command": "ReserveForEvent", "id": saga_id}


def test_a_blocked_third_step_compensates_in_reverse(runner: SagaRunner, store: Any) -> None:
    before = stock(store)
    saga_id = start(runner, (10, 8, 50))  # 50 cream: blockStockout
    done = runner.run(saga_id)
    assert done.status == "compensated" and done.failed_step == "third"
    assert done.error == "Insufficient stock for reservation"
    assert [(s.step, s.status) for s in done.steps] == [
        ("first", "compensated"),
        ("second", "compensated"),
        ("third", "failed"),
    ]
    assert stock(store) == before
    events = [(e["name"], e.get("causationId")) for e in outbox_events(store)]
    released = [c for n, c in events if n == "InventoryReservationReleased"]
    assert released == ["ReserveForEvent:second:compensate", "ReserveForEvent:first:compensate"]
    assert events[-1] == ("SagaFailed", "saga:ReserveForEvent")
    assert done.events[-1] == {
        "name": "SagaFailed",
        "timestamp": done.events[-1]["timestamp"],
        "failedStep": "third",
    }


def test_a_stale_runner_is_fenced_off_and_applies_nothing(runner: SagaRunner, store: Any) -> None:
    saga_id = start(runner, (10, 8, 2))
    seen_by_a = runner.load(saga_id)
    seen_by_b = runner.load(saga_id)
    assert seen_by_a is not None and seen_by_b is not None
    runner.advance(seen_by_a)  # A reserves the flour
    with pytest.raises(SagaFencedError):
        SagaRunner(saga_model(), store).advance(seen_by_b)  # B, from the same version: refused
    assert stock(store)["item-flour"] == (10, 40)  # reserved once, not twice
    assert runner.run(saga_id).status == "completed"
    reserved = Counter(e["causationId"] for e in outbox_events(store) if e["name"] == "InventoryReserved")
    assert set(reserved.values()) == {1}


def test_a_resumed_saga_goes_on_from_its_last_committed_step(runner: SagaRunner, store: Any) -> None:
    saga_id = start(runner, (10, 8, 50))
    record = runner.load(saga_id)
    for _ in range(3):  # first, second, the refusal of third; then the runner "dies"
        record = runner.advance(record)  # type: ignore[arg-type]
    assert record is not None and record.status == "compensating"
    fresh = SagaRunner(saga_model(), store)  # another process, reading the row
    assert fresh.run(saga_id).status == "compensated"
    assert stock(store) == {item: (0, qty) for item, qty in ITEMS.items()}
    names = Counter(e["name"] for e in outbox_events(store))
    assert (names["InventoryReserved"], names["InventoryReservationReleased"], names["SagaFailed"]) == (
        2,
        2,
        1,
    )


def test_a_refused_compensation_fails_the_saga_for_an_operator(runner: SagaRunner, store: Any) -> None:
    from manifest_lang.runtime.engine import RuntimeEngine

    saga_id = start(runner, (10, 8, 50))
    record = runner.advance(runner.load(saga_id))  # type: ignore[arg-type]
    # the kitchen uses the reserved flour before the saga is undone: nothing left to release
    used = RuntimeEngine(saga_model(), dict(CHEF), store_provider=store).run_command(
        "consume", {"quantity": 10, "eventId": "42"}, entity_name="InventoryItem", instance_id="item-flour"
    )
    assert used.success
    done = runner.run(record.saga_id)
    assert done.status == "failed" and done.compensation_failed == ["first"]
    assert [(s.step, s.status) for s in done.steps] == [
        ("first", "compensation_failed"),
        ("second", "compensated"),
        ("third", "failed"),
    ]
    assert done.view()["compensationFailed"] == ["first"]


class FlakyStore:
    """The real store, whose first ``failures`` commits of a step fail as if the database went away."""

    def __init__(self, base: Any, failures: int) -> None:
        self._base = base
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def load_saga(self, saga_id: str) -> Any:
        return self._base.load_saga(saga_id)

    def list_sagas(self, **kw: Any) -> Any:
        return self._base.list_sagas(**kw)

    def commit(self, uow: Any) -> None:
        if uow.writes and self.failures:
            self.failures -= 1
            raise StoreUnavailableError("database went away")
        self._base.commit(uow)


def test_an_outage_during_a_step_is_retried_and_changes_nothing(store: Any) -> None:
    seed(store)
    flaky = FlakyStore(store, failures=2)
    runner = SagaRunner(saga_model(), flaky)
    saga_id = runner.start(runner.plan("ReserveForEvent", reservation((1, 1, 1))), context=CHEF).saga_id
    with pytest.raises(StoreUnavailableError):
        runner.advance(runner.load(saga_id))  # type: ignore[arg-type]
    assert runner.load(saga_id).version == 1  # type: ignore[union-attr]
    assert runner.run(saga_id, sleep=lambda s: None).status == "completed"
    assert stock(store)["item-flour"] == (1, 49)


def test_python_saga_plans_are_stored_whole(store: Any) -> None:
    seed(store)
    steps = [
        SagaStep(
            f"reserve-{item}",
            "reserve",
            {"quantity": q, "eventId": "7"},
            "InventoryItem",
            item,
            compensation="releaseReservation",
            compensation_input={"quantity": q},
            causation_id="event-prep-7" if item == "item-flour" else None,
            caused_by="reserve-item-flour" if item == "item-butter" else None,
        )
        for item, q in (("item-flour", 5), ("item-butter", 4), ("item-cream", 99))
    ]
    runner = SagaRunner(saga_model(), store)
    plan = plan_from_saga(Saga("event-prep-7", steps))
    saga_id = runner.start(plan, context=CHEF, correlation_id="prep-evt-7").saga_id
    done = SagaRunner(saga_model(), store).run(saga_id)  # any runner: the plan is in the row
    assert done.status == "compensated"
    assert [s.causation_id for s in done.steps] == [
        "event-prep-7",
        "InventoryReserved:item-flour",
        "saga:event-prep-7",
    ]
    assert stock(store) == {item: (0, qty) for item, qty in ITEMS.items()}
    # no lifecycle events asked for: none in the outbox, all of them in the record
    assert not [e for e in outbox_events(store) if e["name"].startswith("Saga")]
    assert [e["name"] for e in done.events] == [
        "SagaStarted",
        "SagaStepCompleted",
        "SagaStepCompleted",
        "SagaFailed",
    ]


def test_bad_starts_are_refused() -> None:
    runner = SagaRunner(saga_model(), MemoryStore())
    with pytest.raises(UnknownSagaError, match="Unknown saga 'Nope'"):
        runner.plan("Nope")
    with pytest.raises(InvalidInputError, match="no step 'fourth'"):
        runner.plan("ReserveForEvent", {"fourth": {}})
    with pytest.raises(InvalidInputError, match="must be"):
        runner.plan("ReserveForEvent", {"first": {"quantity": 1}})
    dynamic = Saga(
        "d", [SagaStep("s", "reserve", lambda ctx: {"quantity": 1}, "InventoryItem", "item-flour")]
    )
    with pytest.raises(InvalidInputError, match="inputs must be mappings"):
        plan_from_saga(dynamic)
    with pytest.raises(InvalidInputError, match="keeps no saga rows"):
        SagaRunner(saga_model(), object())


def test_saga_durable_true_runs_in_the_engines_store(store: Any) -> None:
    from manifest_lang.runtime.engine import RuntimeEngine

    seed(store)
    engine = RuntimeEngine(saga_model(), dict(CHEF), store_provider=store)
    steps = [
        SagaStep(
            "flour",
            "reserve",
            {"quantity": 10, "eventId": "9"},
            "InventoryItem",
            "item-flour",
            compensation="releaseReservation",
            compensation_input={"quantity": 10},
        ),
        SagaStep(
            "cream",
            "reserve",
            {"quantity": 2, "eventId": "9"},
            "InventoryItem",
            "item-cream",
            compensation="releaseReservation",
            compensation_input={"quantity": 2},
        ),
    ]
    result = Saga("prep-9", steps, durable=True, emits=("SagaCompleted",)).run(
        engine, correlation_id="prep-evt-9"
    )
    assert result.success and result.status == "completed" and result.saga_id
    assert [(s.step, s.status) for s in result.steps] == [("flour", "completed"), ("cream", "completed")]
    assert result.warnings() == []  # results come back as CommandResult objects
    assert [e.name for e in result.emitted_events] == ["InventoryReserved", "InventoryReserved"]
    assert result.to_dict()["sagaId"] == result.saga_id
    status = SagaRunner(saga_model(), store).load(result.saga_id)
    assert status is not None and status.status == "completed"
    assert [e["name"] for e in outbox_events(store) if e["name"].startswith("Saga")] == ["SagaCompleted"]
    with pytest.raises(TypeError, match="one engine"):
        Saga("x", steps, durable=True).run(lambda step: engine, correlation_id="c")


def test_factory_start_saga_and_saga_status(store: Any) -> None:
    from manifest_lang.workflows.factory import RuntimeFactory

    seed(store)
    factory = RuntimeFactory(saga_model(), store)
    saga_id = factory.start_saga(
        "ReserveForEvent",
        reservation((1, 2, 3)),
        tenant_id="kitchen-1",
        user={"id": "chef-maria"},
        correlation_id="prep-evt-1",
    )
    status = factory.saga_status(saga_id)
    assert status is not None and status["status"] == "running"
    assert [s["status"] for s in status["steps"]] == ["pending"] * 3
    assert [e["name"] for e in status["events"]] == ["SagaStarted"]
    done = factory.run_saga(saga_id)
    assert done["status"] == "completed" and done["correlationId"] == "prep-evt-1"
    assert factory.saga_status("nope") is None
    again = factory.start_saga("ReserveForEvent", reservation((1, 1, 1)), tenant_id="kitchen-1", run=True)
    assert factory.saga_status(again)["status"] == "completed"  # type: ignore[index]


def test_a_worker_resumes_a_saga_its_starter_left(store: Any) -> None:
    from manifest_lang.workflows.saga_api import start_saga
    from manifest_lang.workflows.worker import Worker

    seed(store)
    runner = SagaRunner(saga_model(), store)
    saga_id = start_saga(runner, "ReserveForEvent", reservation((3, 2, 50)), context=CHEF, grace_seconds=0)
    runner.advance(runner.load(saga_id))  # type: ignore[arg-type]  # one step, then the starter "dies"
    worker = Worker(saga_model(), store, only={"sagas"})
    [report] = worker.run_once()
    assert (report.kind, report.status) == ("saga", "done")
    assert runner.load(saga_id).status == "compensated"  # type: ignore[union-attr]
    assert stock(store) == {item: (0, qty) for item, qty in ITEMS.items()}
    item = store.get_work(f"saga:{saga_id}")
    assert item.status == "done" and item.result == {"sagaId": saga_id, "status": "compensated"}
    assert worker.run_once() == []  # nothing left
