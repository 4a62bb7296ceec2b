"""Evaluation budget, idempotency and the single unit of work per command."""

from __future__ import annotations

from typing import Any

import pytest

from manifest_lang.errors import EvaluationBudgetExceededError, StoreConflictError
from manifest_lang.expr.budget import EvaluationLimits
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.stores.base import IdempotencyKey, UnitOfWork
from manifest_lang.stores.memory import MemoryStore

from .helpers import make_engine

DEEP = """
entity Box {
  property required id: string
  property n: number = 0
  constraint deep: ((((n + 1) + 1) + 1) + 1) > 0
  command nest() {
    mutate n = ((((n + 1) + 1) + 1) + 1)
  }
  command wide() {
    mutate n = count([ELEMENTS])
  }
}
store Box in memory
""".replace("ELEMENTS", ",".join(["1"] * 60))


def test_depth_limit_fails_the_command() -> None:
    # The reference's camelCase limits dict is accepted too.
    engine = make_engine(DEEP, evaluation_limits={"maxExpressionDepth": 3})
    # create_instance would already trip the limit (entity constraint), so load the row directly.
    engine.restore({"stores": {"Box": [{"id": "b", "n": 0}]}})
    result = engine.run_command("nest", {}, entity_name="Box", instance_id="b")
    assert result.to_dict() == {
        "success": False,
        "error": "Evaluation budget exceeded: depth limit 3 reached",
        "emittedEvents": [],
    }


def test_steps_limit_fails_the_command() -> None:
    engine = make_engine(DEEP, evaluation_limits=EvaluationLimits(max_evaluation_steps=50))
    engine.restore({"stores": {"Box": [{"id": "b", "n": 0}]}})
    result = engine.run_command("wide", {}, entity_name="Box", instance_id="b")
    assert result.error == "Evaluation budget exceeded: steps limit 50 reached"


def test_budget_outside_commands_raises() -> None:
    engine = make_engine(DEEP, evaluation_limits=EvaluationLimits(max_expression_depth=3))
    with pytest.raises(EvaluationBudgetExceededError) as info:
        engine.check_constraints("Box", {"id": "b", "n": 1})
    assert info.value.limit_type == "depth" and info.value.limit == 3


def test_idempotency_replays_without_re_executing() -> None:
    idem = MemoryIdempotencyStore()
    engine = make_engine(idempotency_store=idem)
    engine.create_instance("Counter", {"id": "c1"})
    missing = engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1")
    assert missing.error == "IdempotencyStore is configured but no idempotencyKey was provided"
    target = {"entity_name": "Counter", "instance_id": "c1", "idempotency_key": "k"}
    first = engine.run_command("increment", {"by": 1}, **target)
    second = engine.run_command("increment", {"by": 1}, **target)
    assert first.to_dict() == second.to_dict()
    assert engine.get_instance("Counter", "c1")["value"] == 1
    assert idem.size() == 1


class SpyStore(MemoryStore):
    def __init__(self, conflicts: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commits: list[UnitOfWork] = []
        self.conflicts = conflicts

    def commit(self, uow: UnitOfWork) -> None:
        if self.conflicts and uow.writes:
            self.conflicts -= 1
            raise StoreConflictError("raced", entity="Counter", id="c1")
        self.commits.append(uow)
        super().commit(uow)


def test_one_unit_of_work_per_command_with_outbox_and_audit() -> None:
    store = SpyStore(record_outbox=True, record_audit=True)
    engine = make_engine(store_provider=store, context={"tenantId": "t1"})
    engine.create_instance("Counter", {"id": "c1"})
    store.commits.clear()
    result = engine.run_command("increment", {"by": 2}, entity_name="Counter", instance_id="c1")
    assert result.success and len(store.commits) == 1
    uow = store.commits[0]
    assert [w.id for w in uow.writes] == ["c1"] and uow.writes[0].row["value"] == 2
    assert [e["event"]["name"] for e in uow.outbox] == ["Incremented"]
    assert uow.audit is not None and uow.audit["outcome"] == "success" and uow.audit["tenantId"] == "t1"
    denied = engine.run_command("increment", {"by": 0}, entity_name="Counter", instance_id="c1")
    assert not denied.success
    # A refused command writes nothing at all: no rows, no events, no audit record.
    assert len(store.commits) == 1
    missing = engine.run_command("nope", {}, entity_name="Counter", instance_id="c1")
    assert not missing.success and len(store.commits) == 1


def test_refusals_are_audited_only_when_the_store_asks() -> None:
    store = SpyStore(record_outbox=True, record_audit=True, audit_refusals=True)
    engine = make_engine(store_provider=store, context={"tenantId": "t1"})
    engine.create_instance("Counter", {"id": "c1"})
    store.commits.clear()
    denied = engine.run_command("increment", {"by": 0}, entity_name="Counter", instance_id="c1")
    assert not denied.success and len(store.commits) == 1
    # A transaction of its own that holds the audit record and nothing else.
    only = store.commits[0]
    assert only.writes == [] and only.outbox == [] and only.idempotency is None
    assert only.audit is not None and only.audit["outcome"] == "guard_denied"
    assert engine.get_instance("Counter", "c1")["value"] == 0


def test_transactional_idempotency_goes_into_the_unit_of_work() -> None:
    store = SpyStore()
    idem = MemoryIdempotencyStore()
    idem.transactional_store = store  # type: ignore[attr-defined]
    engine = make_engine(store_provider=store, idempotency_store=idem)
    engine.create_instance("Counter", {"id": "c1"})
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1", idempotency_key="k")
    assert store.commits[-1].idempotency is not None and store.commits[-1].idempotency.key == ("", "k")
    assert idem.size() == 0  # recorded by the store, not through set()


def test_store_conflicts_are_retried_then_reported() -> None:
    store = SpyStore()
    engine = make_engine(store_provider=store, conflict_retries=2)
    engine.create_instance("Counter", {"id": "c1"})
    store.conflicts = 2
    assert engine.run_command("bump", {}, entity_name="Counter", instance_id="c1").success
    assert engine.get_instance("Counter", "c1")["value"] == 1
    store.conflicts = 5
    result = engine.run_command("bump", {}, entity_name="Counter", instance_id="c1")
    assert not result.success and result.error is not None and result.error.startswith("STORE_CONFLICT")
    assert result.concurrency_conflict is not None
    assert result.concurrency_conflict.conflict_code == "STORE_CONFLICT"


def test_claiming_idempotency_store_reports_in_progress() -> None:
    class Claiming(MemoryIdempotencyStore):
        def claim(self, key: IdempotencyKey) -> bool:
            return key.key != "busy"

        def release(self, key: IdempotencyKey) -> None:
            pass

    engine = make_engine(idempotency_store=Claiming())
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command("bump", {}, entity_name="Counter", instance_id="c1", idempotency_key="busy")
    assert result.error is not None and result.error.startswith("IDEMPOTENCY_IN_PROGRESS")


def test_concurrent_engines_never_lose_updates() -> None:
    import threading

    store = MemoryStore()
    seed = make_engine(store_provider=store)
    seed.create_instance("Counter", {"id": "c1"})
    successes: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        engine = make_engine(store_provider=store, conflict_retries=50)
        for _ in range(200):
            ok = engine.run_command("bump", {}, entity_name="Counter", instance_id="c1").success
            with lock:
                successes.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = seed.get_instance("Counter", "c1")
    assert final is not None and final["value"] == sum(successes)
    assert sum(successes) > 0
