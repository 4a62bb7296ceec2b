"""A command that does not succeed writes nothing, on every backend (fixture ``store``): no rows,
no outbox, no idempotency record, no audit record, unless the store keeps refusals in its audit."""

from __future__ import annotations

from typing import Any

import pytest

from manifest_lang import compile_source
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.stores.memory import MemoryStore
from manifest_lang.stores.sql_idempotency import SqlIdempotencyStore

SOURCE = """
entity Account {
  property required id: string
  property balance: number = 0
  property version: number = 1
  versionProperty version
  transition status from "open" to ["closed"]
  property status: string = "open"

  constraint nonNegative: self.balance >= 0 "Balance cannot go negative"

  command deposit(amount: number) {
    guard amount > 0
    mutate balance = self.balance + amount
    emit Deposited
  }

  command withdraw(amount: number) {
    mutate balance = self.balance - amount
    emit Withdrawn
  }

  command reopen() {
    mutate status = "reopened"
  }
}

policy depositsNeedAUser execute: user != null "Sign in first"

event Deposited: "account.deposited" { amount: number }
event Withdrawn: "account.withdrawn" { amount: number }
"""


def snapshot(store: Any) -> tuple[Any, ...]:
    found = store.load("Account", "a1")
    audit = store.audit if isinstance(getattr(store, "audit", None), list) else store.audit_records()
    return found.revision, dict(found.row), store.outbox_counts().to_dict(), len(audit)


@pytest.fixture
def engine(store: Any) -> RuntimeEngine:
    ir = compile_source(SOURCE).ir
    assert ir is not None
    engine = RuntimeEngine(ir, {"user": {"id": "u1"}}, store_provider=store)
    engine.create_instance("Account", {"id": "a1", "balance": 5})
    return engine


def refusals(engine: RuntimeEngine) -> list[Any]:
    target = {"entity_name": "Account", "instance_id": "a1"}
    results = [
        engine.run_command("deposit", {"amount": 0}, **target),  # guard
        engine.run_command("withdraw", {"amount": 50}, **target),  # entity constraint
        engine.run_command("reopen", {}, **target),  # transition
        engine.run_command("nope", {}, **target),  # unknown command
    ]
    engine.set_context({"user": None})
    results.append(engine.run_command("deposit", {"amount": 1}, **target))  # policy
    engine.set_context({"user": {"id": "u1"}})
    return results


def test_a_refused_command_writes_nothing(store: Any, engine: RuntimeEngine) -> None:
    before = snapshot(store)
    results = refusals(engine)
    assert [r.success for r in results] == [False] * 5
    assert snapshot(store) == before
    assert engine.run_command("deposit", {"amount": 1}, entity_name="Account", instance_id="a1").success
    revision, row, outbox, audits = snapshot(store)
    assert (revision, row["balance"], outbox["pending"], audits) == (
        before[0] + 1,
        6,
        before[2]["pending"] + 1,
        before[3] + 1,
    )


def transactional_idempotency(store: Any) -> Any:
    """The store's own idempotency records, written in the command's transaction."""
    if isinstance(store, MemoryStore):
        idem = MemoryIdempotencyStore()
        idem.transactional_store = store  # type: ignore[attr-defined]
        return idem
    return SqlIdempotencyStore(store)


def test_a_refused_command_leaves_its_idempotency_key_free(store: Any, engine: RuntimeEngine) -> None:
    engine.idempotency_store = transactional_idempotency(store)
    target = {"entity_name": "Account", "instance_id": "a1", "idempotency_key": "k1"}
    assert not engine.run_command("withdraw", {"amount": 50}, **target).success
    # Not cached: a corrected retry under the same key executes.
    assert engine.run_command("withdraw", {"amount": 2}, **target).success
    assert store.load("Account", "a1").row["balance"] == 3


def test_audit_refusals_records_only_the_audit(store: Any, engine: RuntimeEngine) -> None:
    store.audit_refusals = True
    before = snapshot(store)
    results = refusals(engine)
    revision, row, outbox, audits = snapshot(store)
    assert (revision, row, outbox) == before[:3]
    assert audits == before[3] + len(results)
