"""Command pipeline behaviour beyond the conformance cases: bad input, events, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifest_lang.errors import InvalidInputError, IRError, ManifestEffectBoundaryError, UnknownEntityError
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import CommandResult, OverrideRequest

from .helpers import COUNTER, NOW, compile_ir, make_engine


def test_command_mutates_emits_and_persists() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1", "value": 1})
    result = engine.run_command("increment", {"by": 2}, entity_name="Counter", instance_id="c1")
    assert result.success and result.result == 3
    assert [e.name for e in result.emitted_events] == ["Incremented"]
    event = result.emitted_events[0].to_dict()
    assert event["payload"] == {"by": 2, "result": 3}
    assert event["subject"] == {"command": "increment", "entity": "Counter", "id": "c1"}
    assert event["emitIndex"] == 0 and event["timestamp"] == NOW
    assert engine.get_instance("Counter", "c1")["value"] == 3


def test_failed_command_persists_nothing() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1", "value": 1})
    # The entity constraint blocks the final state: the whole command is refused.
    result = engine.run_command("decrement", {"by": 5}, entity_name="Counter", instance_id="c1")
    assert not result.success
    assert result.error == "Value cannot be negative"
    assert engine.get_instance("Counter", "c1")["value"] == 1
    assert engine.get_event_log() == []


def test_guard_failure_reports_resolved_values() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command("increment", {"by": 0}, entity_name="Counter", instance_id="c1")
    assert result.error == "Guard condition failed for command 'increment'"
    failure = result.to_dict()["guardFailure"]
    assert failure["index"] == 1 and failure["formatted"] == "by > 0"
    assert failure["resolved"] == [{"expression": "by", "value": 0}, {"expression": "0", "value": 0}]


@pytest.mark.parametrize(
    ("name", "kwargs", "error"),
    [
        ("nope", {"entity_name": "Counter", "instance_id": "c1"}, "Command 'nope' not found"),
        ("increment", {"entity_name": "Nope", "instance_id": "c1"}, "Command 'increment' not found"),
        ("increment", {"entity_name": "Counter", "instance_id": "missing"}, "Instance 'missing'"),
    ],
)
def test_unknown_names_are_failed_results(name: str, kwargs: dict[str, str], error: str) -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command(name, {"by": 1}, **kwargs)
    assert not result.success and result.error is not None and result.error.startswith(error)


def test_missing_parameter_names_it() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command("increment", {}, entity_name="Counter", instance_id="c1")
    assert result.error == "MISSING_REQUIRED_PARAMETER: command 'increment' requires parameter 'by'"
    assert result.parameter_failure == {"parameter": "by", "expectedType": "number"}


def test_bad_input_types() -> None:
    engine = make_engine()
    result = engine.run_command("increment", [1, 2], entity_name="Counter")  # type: ignore[arg-type]
    assert not result.success and "must be an object" in (result.error or "")
    bad_override = engine.run_command("increment", {}, override_requests=[42])  # type: ignore[list-item]
    assert not bad_override.success
    with pytest.raises(UnknownEntityError):
        engine.create_instance("Nope", {})
    with pytest.raises(InvalidInputError):
        engine.create_instance("Counter", ["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        RuntimeEngine(compile_ir(COUNTER), context="user")  # type: ignore[arg-type]


def test_invalid_ir_is_rejected() -> None:
    with pytest.raises(IRError):
        RuntimeEngine({"version": "1.0"})
    with pytest.raises(IRError):
        RuntimeEngine("not ir")  # type: ignore[arg-type]


def test_event_log_listeners_and_correlation() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    seen: list[str] = []
    unsubscribe = engine.on_event(lambda e: seen.append(e.name))
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1", correlation_id="k1")
    unsubscribe()
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1", correlation_id="k2")
    assert seen == ["Incremented"]
    assert [e.correlation_id for e in engine.events_for_correlation("k1")] == ["k1"]
    assert len(engine.get_event_log()) == 2
    engine.clear_event_log()
    assert engine.get_event_log() == [] and engine.events_for_correlation("k1") == []


def test_failing_listener_does_not_break_the_command() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})

    def boom(_: object) -> None:
        raise RuntimeError("listener bug")

    engine.on_event(boom)
    assert engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1").success


def test_serialize_restore_and_find() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1", "value": 4})
    engine.create_instance("Counter", {"id": "c2", "value": 7})
    snapshot = engine.serialize()
    other = make_engine()
    other.restore(snapshot)
    assert other.get_instance("Counter", "c2")["value"] == 7
    assert [r["id"] for r in other.find_instances("Counter", {"value": 4})] == ["c1"]
    assert len(other.get_all_instances("Counter")) == 2
    assert other.delete_instance("Counter", "c1") and not other.delete_instance("Counter", "c1")
    with pytest.raises(InvalidInputError):
        other.restore({"nope": 1})


def test_update_instance_applies_rules() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1", "value": 1})
    assert engine.update_instance("Counter", "c1", {"value": 5})["value"] == 5
    assert engine.update_instance("Counter", "c1", {"value": -1}) is None  # constraint blocks
    assert engine.update_instance("Counter", "missing", {"value": 1}) is None
    assert engine.get_instance("Counter", "c1")["value"] == 5


def test_create_applies_defaults_and_generates_ids() -> None:
    engine = make_engine()
    created = engine.create_instance("Counter", {"id": ""})
    assert created == {"id": "id-1", "value": 0, "version": 0}
    assert engine.create_instance("Counter", {"id": "neg", "value": -3}) is None


EFFECTS = """
entity Job {
  property required id: string
  property done: boolean = false
  command finish() {
    mutate done = true
    effect notify = "done"
  }
}
store Job in memory
"""


def test_effects_need_a_handler_and_respect_deterministic_mode() -> None:
    engine = make_engine(EFFECTS)
    engine.create_instance("Job", {"id": "j1"})
    missing = engine.run_command("finish", {}, entity_name="Job", instance_id="j1")
    assert missing.error is not None and missing.error.startswith("MISSING_EFFECT_HANDLER")
    calls: list[dict[str, object]] = []
    handled = make_engine(EFFECTS, effect_handler=lambda info: calls.append(info) or "sent")
    handled.create_instance("Job", {"id": "j1"})
    result = handled.run_command("finish", {}, entity_name="Job", instance_id="j1")
    assert result.success and result.result == "sent"
    assert calls[0]["name"] == "notify" and calls[0]["value"] == "done"
    strict = make_engine(EFFECTS, deterministic_mode=True)
    strict.create_instance("Job", {"id": "j1"})
    with pytest.raises(ManifestEffectBoundaryError):
        strict.run_command("finish", {}, entity_name="Job", instance_id="j1")


def test_results_round_trip_through_dicts() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command("increment", {"by": 0}, entity_name="Counter", instance_id="c1")
    again = CommandResult.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict()


def test_command_hooks_wrap_each_top_level_command() -> None:
    calls: list[tuple[str, object]] = []

    class Hook:
        def before_command(self, engine: object, name: str, input: object, options: dict[str, object]) -> str:
            calls.append(("before", name))
            return f"token-{name}"

        def after_command(self, token: str, result: CommandResult) -> None:
            calls.append(("after", (token, result.success)))

    engine = make_engine(command_hooks=[Hook()])
    engine.create_instance("Counter", {"id": "c1"})
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1")
    assert calls == [("before", "increment"), ("after", ("token-increment", True))]


class _RecordingHook:
    def __init__(self) -> None:
        self.options: list[dict[str, object]] = []
        self.results: list[CommandResult | None] = []

    def before_command(self, engine: object, name: str, input: object, options: dict[str, object]) -> int:
        self.options.append(dict(options))
        return len(self.options)

    def after_command(self, token: int, result: CommandResult | None) -> None:
        assert token == len(self.options)
        self.results.append(result)


def test_hooks_see_override_requests_and_close_when_the_command_raises() -> None:
    hook = _RecordingHook()
    engine = make_engine(OVERRIDABLE, {"user": {"id": "boss", "role": "admin"}}, command_hooks=[hook])
    engine.create_instance("Account", {"id": "a1", "balance": 5})
    request = {"constraintCode": "nonNegative", "reason": "loan", "authorizedBy": "boss"}
    engine.run_command(
        "withdraw", {"amount": 1}, entity_name="Account", instance_id="a1", override_requests=[request]
    )
    assert hook.options[0]["override_requests"] == [OverrideRequest("nonNegative", "loan", "boss")]
    assert hook.results[0] is not None and hook.results[0].success

    effects = make_engine(EFFECTS, deterministic_mode=True, command_hooks=[hook])
    effects.create_instance("Job", {"id": "j1"})
    with pytest.raises(ManifestEffectBoundaryError):
        effects.run_command("finish", {}, entity_name="Job", instance_id="j1")
    assert hook.options[1]["override_requests"] is None
    assert hook.results[1] is None


def test_non_json_values_are_refused_at_the_boundary() -> None:
    engine = make_engine()
    engine.create_instance("Counter", {"id": "c1"})
    result = engine.run_command("increment", {"by": {1, 2}}, entity_name="Counter", instance_id="c1")
    assert not result.success and result.error == "INVALID_INPUT: input.by is a set, not a JSON value"
    with pytest.raises(InvalidInputError):
        engine.create_instance("Counter", {"id": "c2", "value": object()})
    with pytest.raises(InvalidInputError):
        engine.create_instance("Counter", {1: "x"})  # type: ignore[dict-item]


def test_accessors_and_entity_subscriptions() -> None:
    engine = make_engine()
    assert engine.get_command("increment", "Counter")["name"] == "increment"  # type: ignore[index]
    assert engine.get_command("increment", "Nope") is None
    assert [e["name"] for e in engine.get_entities()] == ["Counter"]
    assert engine.get_entity("Counter") is not None and engine.get_entity("Nope") is None
    assert engine.get_store("Counter") is engine.store
    seen: list[str] = []
    engine.subscribe("Counter", lambda e: seen.append(e.name))
    engine.subscribe("Other", lambda e: seen.append("wrong"))
    engine.create_instance("Counter", {"id": "c1"})
    engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1")
    assert seen == ["Incremented"]


def test_custom_builtins_and_evaluation_stats() -> None:
    source = COUNTER.replace("mutate value = value + 1", "mutate value = double(value + 1)")
    engine = make_engine(
        source, custom_builtins={"double": lambda host, args: args[0] * 2, "now": lambda h, a: 0}
    )
    engine.create_instance("Counter", {"id": "c1", "value": 3})
    result = engine.run_command("bump", {}, entity_name="Counter", instance_id="c1")
    assert result.success and result.result == 8
    stats = engine.get_last_evaluation_stats()
    assert stats is not None and stats["stepsUsed"] > 0 and stats["maxSteps"] == 10_000
    assert engine.evaluate_expression(
        {"kind": "call", "callee": {"kind": "identifier", "name": "now"}, "args": []}, {}
    )


OVERRIDABLE = """
entity Account {
  property required id: string
  property balance: number = 0
  constraint overrideable nonNegative {
    expression: self.balance >= 0
    severity: block
    message: "Balance cannot go negative"
  }
  command withdraw(amount: number) {
    mutate balance = balance - amount
    emit Withdrawn
  }
}
store Account in memory
event Withdrawn: "account.withdrawn" { amount: number }
"""


def test_overrideable_entity_constraint_needs_an_authorized_override() -> None:
    engine = make_engine(OVERRIDABLE, {"user": {"id": "boss", "role": "admin"}})
    engine.create_instance("Account", {"id": "a1", "balance": 5})
    refused = engine.run_command("withdraw", {"amount": 10}, entity_name="Account", instance_id="a1")
    assert refused.error == "Balance cannot go negative"
    request = {"constraintCode": "nonNegative", "reason": "approved loan", "authorizedBy": "boss"}
    allowed = engine.run_command(
        "withdraw",
        {"amount": 10},
        entity_name="Account",
        instance_id="a1",
        override_requests=[request],
        correlation_id="corr-1",
        causation_id="cause-1",
    )
    assert allowed.success
    assert [e.name for e in allowed.emitted_events] == ["OverrideApplied", "Withdrawn"]
    assert engine.get_instance("Account", "a1")["balance"] == -5
    # Every emitted event carries the command's ids and subject (the reference omits them here).
    for event in allowed.emitted_events:
        assert (event.correlation_id, event.causation_id) == ("corr-1", "cause-1")
        assert event.subject == {"command": "withdraw", "entity": "Account", "id": "a1"}
    assert [e.name for e in engine.events_for_correlation("corr-1")] == ["OverrideApplied", "Withdrawn"]


COMMAND_OVERRIDE = """
entity Order {
  property required id: string
  property total: number = 0
  command discount(amount: number) {
    constraint overrideable cap {
      expression: amount <= 10
      severity: block
      message: "Discount too large"
    }
    mutate total = total - amount
  }
}
store Order in memory
"""


def test_command_constraint_override_event_carries_ids() -> None:
    engine = make_engine(COMMAND_OVERRIDE, {"user": {"id": "boss", "role": "admin"}})
    engine.create_instance("Order", {"id": "o1", "total": 100})
    request = {"constraintCode": "cap", "reason": "vip", "authorizedBy": "boss"}
    result = engine.run_command(
        "discount",
        {"amount": 50},
        entity_name="Order",
        instance_id="o1",
        override_requests=[request],
        correlation_id="corr-2",
    )
    assert result.success, result.error
    (event,) = result.emitted_events
    assert event.name == "OverrideApplied" and event.correlation_id == "corr-2" and event.causation_id is None
    assert event.to_dict()["subject"] == {"command": "discount", "entity": "Order", "id": "o1"}
    assert event.to_dict()["correlationId"] == "corr-2"


def test_parallel_command_limit() -> None:
    entered: list[str] = []

    class Reentrant:
        """A hook that runs a second command while the first is in flight."""

        def before_command(self, engine: RuntimeEngine, name: str, input: object, options: object) -> None:
            if name == "increment":
                nested = engine.run_command("bump", {}, entity_name="Counter", instance_id="c1")
                entered.append(nested.error or "")

        def after_command(self, token: object, result: CommandResult) -> None:
            pass

    engine = make_engine(max_parallel_commands=1, command_hooks=[Reentrant()])
    engine.create_instance("Counter", {"id": "c1"})
    assert engine.run_command("increment", {"by": 1}, entity_name="Counter", instance_id="c1").success
    assert entered == ["PARALLEL_COMMAND_LIMIT: maxParallelCommands=1 already in flight"]
    assert engine.run_command("bump", {}, entity_name="Counter", instance_id="c1").success


def test_create_command_events_name_the_created_row(conformance_dir: Path) -> None:
    ir = json.loads((conformance_dir / "expected" / "24-concurrency-conflict.ir.json").read_text())
    ids = iter(f"g{i}" for i in range(10))
    engine = RuntimeEngine(ir, {}, now=lambda: 5, generate_id=lambda: next(ids))
    result = engine.run_command("create", {"title": "T", "content": "C"}, entity_name="Document")
    assert result.success and result.instance is not None
    created = result.instance["id"]
    assert result.emitted_events[0].subject == {"command": "create", "entity": "Document", "id": created}
    assert engine.get_instance("Document", created)["version"] == 1


TICKET = """
entity Ticket {
  property required id: string
  property status: string = "open"
  property note: string = ""
  transition status from "open" to ["closed"]
  transition status from "closed" to []
  command close() {
    mutate status = "closed"
    mutate note = "done"
  }
  command reopen() {
    mutate note = "again"
    mutate status = "open"
  }
  command create(status: string) {
    mutate status = status
  }
}
store Ticket in memory
"""


def test_transition_only_mutates_check_the_table() -> None:
    engine = make_engine(TICKET)
    engine.create_instance("Ticket", {"id": "t1"})
    assert engine.run_command("close", {}, entity_name="Ticket", instance_id="t1").success
    refused = engine.run_command("reopen", {}, entity_name="Ticket", instance_id="t1")
    assert refused.error == (
        "Invalid state transition for 'status': 'closed' -> 'open' is not allowed. Allowed from 'closed': []"
    )
    # Nothing of the refused command is written, not even the mutate before the refused one.
    assert engine.get_instance("Ticket", "t1") == {"id": "t1", "status": "closed", "note": "done"}
    # A create sets the initial state freely (transitions apply to changes of an existing row).
    created = engine.run_command("create", {"status": "closed"}, entity_name="Ticket")
    assert created.success and created.instance is not None and created.instance["status"] == "closed"


BASKET = """
entity Basket {
  property required id: string
  property items: list<string> = ["apple"]
  property tags: list<string>
  property label: string
  property note: string?
  command add(item: string) {
    mutate items = items
  }
}
store Basket in memory
"""


def test_create_defaults_are_fresh_per_instance() -> None:
    engine = make_engine(BASKET)
    first = engine.create_instance("Basket", {"id": "b1"})
    second = engine.create_instance("Basket", {"id": "b2"})
    assert first == {"id": "b1", "items": ["apple"], "tags": [], "label": "", "note": None}
    assert list(first) == ["id", "items", "tags", "label", "note"]  # property order
    assert second is not None and second["items"] == ["apple"] and second["tags"] == []
    # Container defaults are copied per create: rows never share a list.
    store = engine.store_for("Basket")
    stored = [store.load("Basket", i).row for i in ("b1", "b2")]  # type: ignore[union-attr]
    assert stored[0]["items"] is not stored[1]["items"] and stored[0]["tags"] is not stored[1]["tags"]


def test_default_ids_are_random_uuid4_strings() -> None:
    import uuid

    engine = RuntimeEngine(compile_ir(COUNTER))
    ids = {engine.create_instance("Counter", {})["id"] for _ in range(200)}  # type: ignore[index]
    assert len(ids) == 200
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value
