"""Typed inputs: `run_command` checks every supplied parameter against its declared type."""

from __future__ import annotations

from typing import Any

import pytest

from manifest_lang.compiler.api import compile_source
from manifest_lang.runtime.engine import RuntimeEngine

MODEL = """
enum Size { small medium large }
value Address {
  property street: string
  property zip: number
}
entity Item {
  property required id: string
  property quantity: number = 0
  property label: string = ""
  command restock(quantity: number) {
    mutate quantity = self.quantity + quantity
  }
  command configure(
    name: string, active: boolean, size: Size, count: int, tags: list<string>,
    scores: map<number>, ship: Address, day: date, at: datetime, slot: time, wait: duration,
    optional note: string, maybe: number?, blob: json
  ) {
    mutate label = name
  }
}
store Item in memory
"""
GOOD: dict[str, Any] = {
    "name": "n",
    "active": True,
    "size": "small",
    "count": 3,
    "tags": ["a", "b"],
    "scores": {"a": 1.5},
    "ship": {"street": "Main", "zip": 1000},
    "day": "2026-06-09",
    "at": 1_707_840_000_000,
    "slot": "09:30",
    "wait": 60_000,
    "maybe": None,
    "blob": {"anything": [1, "x"]},
}


def engine(**options: Any) -> RuntimeEngine:
    ir = compile_source(MODEL).ir
    assert ir is not None
    e = RuntimeEngine(ir, {}, **options)
    assert e.create_instance("Item", {"id": "i1", "quantity": 0}) is not None
    return e


def configure(e: RuntimeEngine, **changes: Any) -> Any:
    return e.run_command("configure", {**GOOD, **changes}, entity_name="Item", instance_id="i1")


def test_the_issue_case_a_string_for_a_number_is_refused() -> None:
    e = engine()
    result = e.run_command("restock", {"quantity": "5"}, entity_name="Item", instance_id="i1")
    assert not result.success
    assert result.parameter_failure == {
        "parameter": "quantity",
        "expectedType": "number",
        "code": "INVALID_PARAMETER_TYPE",
    }
    expected = "INVALID_PARAMETER_TYPE: command 'restock' parameter 'quantity' expects number; got \"5\""
    assert result.error == expected
    assert result.to_dict()["parameterFailure"]["code"] == "INVALID_PARAMETER_TYPE"
    assert e.get_instance("Item", "i1")["quantity"] == 0  # nothing written


def test_lax_mode_is_the_reference_behaviour() -> None:
    e = engine(strict_inputs=False)
    for _ in range(2):
        assert e.run_command("restock", {"quantity": "5"}, entity_name="Item", instance_id="i1").success
    assert e.get_instance("Item", "i1")["quantity"] == "055"  # what the reference stores


def test_every_declared_type_accepts_its_values() -> None:
    result = configure(engine())
    assert result.success, result.error
    assert configure(engine(), note=None).success  # an optional parameter may be null
    assert configure(engine(), maybe=4).success


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("name", 5, "parameter 'name' expects string; got 5"),
        ("active", "yes", "parameter 'active' expects boolean"),
        ("size", "huge", "parameter 'size' expects Size (one of large, medium, small); got \"huge\""),
        ("count", 2.5, "parameter 'count' expects an integer; got 2.5"),
        ("tags", "a", "parameter 'tags' expects a list"),
        ("tags", ["a", 2], "parameter 'tags'[1] expects string; got 2"),
        ("scores", {"a": "high"}, "parameter 'scores'[\"a\"] expects number"),
        ("ship", {"street": "Main", "zip": "1000"}, "parameter 'ship'.zip expects number; got \"1000\""),
        ("ship", "Main street", "parameter 'ship' expects Address (an object)"),
        ("day", "2026-02-30", "parameter 'day' expects date"),
        ("at", "tomorrow", "parameter 'at' expects datetime"),
        ("slot", "25:00", "parameter 'slot' expects time"),
        ("wait", "1h", "parameter 'wait' expects duration"),
        ("name", None, "parameter 'name' expects string; got null"),
        ("maybe", "4", "parameter 'maybe' expects number"),
        ("active", 1, "parameter 'active' expects boolean; got 1"),
        ("count", True, "parameter 'count' expects an integer; got true"),
    ],
)
def test_a_mismatch_is_a_failed_result_naming_the_parameter(param: str, value: Any, expected: str) -> None:
    result = configure(engine(), **{param: value})
    assert not result.success
    assert expected in (result.error or "")
    assert result.parameter_failure is not None and result.parameter_failure["parameter"] == param


def test_types_are_checked_before_policies_and_guards() -> None:
    source = MODEL.replace(
        "  command restock(quantity: number) {",
        "  command restock(quantity: number) {\n    guard quantity > 0",
    ).replace("store Item in memory", 'store Item in memory\npolicy nobody execute: false "no"')
    ir = compile_source(source).ir
    assert ir is not None
    e = RuntimeEngine(ir, {})
    e.create_instance("Item", {"id": "i1"})
    result = e.run_command("restock", {"quantity": "x"}, entity_name="Item", instance_id="i1")
    assert result.parameter_failure is not None and result.policy_denial is None
