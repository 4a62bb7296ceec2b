"""A durable saga step costs one statement more than the same command run plainly: the saga
row's version-checked UPDATE, inside the step's own transaction (counted on SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.stores.sqlite import SQLiteStore
from manifest_lang.workflows.durable_saga import SagaRunner
from manifest_lang.workflows.saga import Saga, SagaStep
from manifest_lang.workflows.saga_api import start_saga

from .saga_models import CHEF, saga_model, seed


class Statements:
    """The statements of each transaction on the connection of this thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.transactions: list[list[str]] = []
        self._open = False
        store._cursors()[1].connection.set_trace_callback(self._seen)

    def _seen(self, sql: str) -> None:
        word = sql.strip().split()[0].upper()
        if word == "BEGIN":
            self.transactions.append([])
            self._open = True
        elif word in ("COMMIT", "ROLLBACK"):
            self._open = False
        elif self._open:  # reads between transactions (loading rows) are not the step's
            self.transactions[-1].append(sql)


def reserve_step(item: str) -> SagaStep:
    return SagaStep(
        f"reserve-{item}",
        "reserve",
        {"quantity": 1, "eventId": "e"},
        "InventoryItem",
        item,
        compensation="releaseReservation",
    )


def test_a_step_adds_exactly_one_statement_to_its_transaction(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "cost.db")
    seed(store)
    plain = Statements(store)
    engine = RuntimeEngine(saga_model(), dict(CHEF), store_provider=store)
    result = engine.run_command(
        "reserve",
        {"quantity": 1, "eventId": "e"},
        entity_name="InventoryItem",
        instance_id="item-flour",
        correlation_id="c",
        causation_id="x",
    )
    assert result.success
    [command] = plain.transactions

    runner = SagaRunner(saga_model(), store)
    saga_id = start_saga(runner, Saga("one", [reserve_step("item-butter")], durable=True), context=CHEF)
    durable = Statements(store)
    assert runner.run(saga_id).status == "completed"
    [step] = durable.transactions
    extra = [s for s in step if "sagas" in s]
    assert len(step) == len(command) + 1
    assert len(extra) == 1 and extra[0].lstrip().upper().startswith("UPDATE")
    assert "version = " in extra[0]  # the fence: WHERE saga_id = ? AND version = ?
    store.close()


def test_declared_lifecycle_events_are_the_only_other_additions(tmp_path: Path) -> None:
    store: Any = SQLiteStore(tmp_path / "cost.db")
    seed(store)
    runner = SagaRunner(saga_model(), store)
    saga = Saga(
        "one",
        [reserve_step("item-butter"), reserve_step("item-cream")],
        durable=True,
        emits=("SagaStepCompleted",),
    )
    saga_id = start_saga(runner, saga, context=CHEF)
    counted = Statements(store)
    assert runner.run(saga_id).status == "completed"
    first, second = counted.transactions
    # the step's own statements + the saga row + one outbox row for its SagaStepCompleted
    assert len(first) == len(second)
    assert sum("outbox" in s for s in first) == 2  # the step's event and the lifecycle event
    store.close()
