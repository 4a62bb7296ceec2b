"""Stored idempotent results leave the cycle collector, and nothing else does.

The C helper (``runtime/_untrack.c``, module ``_manifest_untrack``) is built at install time when
a C compiler is there. Without it these tests skip, naming it; under CI, where every install
builds it, its absence is a failure.
"""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from manifest_lang.runtime.idempotency import (
    RESULT_TYPES,
    USER_VALUE_ATTRS,
    MemoryIdempotencyStore,
    untracking_available,
)
from manifest_lang.runtime.results import (
    CommandResult,
    ConstraintOutcome,
    EmittedEvent,
    GuardFailure,
)

from .helpers import make_engine


def test_the_helper_is_built_under_ci() -> None:
    if not untracking_available():
        if os.environ.get("CI"):
            pytest.fail("the C helper _manifest_untrack was not built by the install (hatch_build.py)")
        pytest.skip("the C helper _manifest_untrack was not built (no C compiler at install time)")


needs_helper = pytest.mark.skipif(
    not untracking_available(), reason="the C helper _manifest_untrack was not built (no C compiler)"
)


SOURCE = """
entity Counter {
  property required id: string
  property count: number = 0
  command bump(by: number) {
    constraint failWhen big:warn by > 5 "a big step"
    guard by > 0
    mutate count = self.count + by
    emit Bumped
  }
}
event Bumped: "counter.bumped" { by: number }
"""


class Tracer:
    """A user value inside a result: it must stay tracked and be freed with the result."""

    freed = 0

    def __del__(self) -> None:
        Tracer.freed += 1


def outcome() -> ConstraintOutcome:
    return ConstraintOutcome(
        code="big",
        constraint_name="big",
        severity="warn",
        formatted="by > 5",
        passed=False,
        message="a big step",
        resolved=[{"expression": "by", "value": 7}],
    )


def event(payload: dict[str, object]) -> EmittedEvent:
    return EmittedEvent(name="Bumped", channel="counter.bumped", payload=payload, timestamp=1.0)


@needs_helper
def test_a_stored_result_and_its_parts_are_untracked_but_user_values_are_not() -> None:
    payload: dict[str, object] = {"by": [7]}  # holds a list: a tracked dict
    user_value = {"nested": [1, 2]}
    result = CommandResult(
        success=True,
        result=user_value,
        constraint_outcomes=[outcome()],
        emitted_events=[event(payload)],
        guard_failure=GuardFailure(index=1, expression={"kind": "literal"}, formatted="by > 0"),
    )
    store = MemoryIdempotencyStore()
    store.set("k", result)
    assert store.get("k") is result
    parts = [result, result.constraint_outcomes, result.emitted_events, result.guard_failure]
    parts += [*result.constraint_outcomes, *result.emitted_events]
    assert not any(gc.is_tracked(p) for p in parts)
    # values the engine did not build keep their own tracking
    assert gc.is_tracked(user_value) and gc.is_tracked(user_value["nested"])
    assert gc.is_tracked(payload)
    assert result.constraint_outcomes[0].resolved is not None
    # an atomic dict is untracked by CPython's own rule, not ours
    assert gc.is_tracked(result.constraint_outcomes[0].resolved[0]) is False


@needs_helper
def test_only_the_first_write_for_a_key_is_untracked() -> None:
    store = MemoryIdempotencyStore()
    first, second = CommandResult(success=True), CommandResult(success=True)
    store.set("k", first)
    store.set("k", second)
    assert store.get("k") is first
    assert not gc.is_tracked(first) and gc.is_tracked(second)


@needs_helper
def test_a_stored_result_is_freed_with_its_store_without_a_collection() -> None:
    gc.disable()
    try:
        Tracer.freed = 0
        store = MemoryIdempotencyStore()
        for i in range(100):
            store.set(f"k{i}", CommandResult(success=True, result=Tracer(), emitted_events=[event({})]))
        store.clear()
        assert Tracer.freed == 100
    finally:
        gc.enable()


@needs_helper
def test_replays_through_the_engine_return_the_same_untracked_result() -> None:
    engine = make_engine(SOURCE, idempotency_store=MemoryIdempotencyStore())
    engine.create_instance("Counter", {"id": "c1"})
    target = {"entity_name": "Counter", "instance_id": "c1", "idempotency_key": "a"}
    first = engine.run_command("bump", {"by": 7}, **target)
    assert first.success and not gc.is_tracked(first)
    gc.collect()  # a full collection over untracked results changes nothing
    again = engine.run_command("bump", {"by": 7}, **target)
    assert again is first
    assert engine.get_instance("Counter", "c1")["count"] == 7
    assert [e.name for e in again.emitted_events] == ["Bumped"]
    assert again.to_dict()["constraintOutcomes"][0]["code"] == "big"


@needs_helper
def test_the_helper_checks_its_arguments_and_ignores_other_types() -> None:
    from _manifest_untrack import untrack_results

    with pytest.raises(TypeError):
        untrack_results(CommandResult(success=True), [CommandResult], ())
    with pytest.raises(TypeError):
        untrack_results(CommandResult(success=True), RESULT_TYPES, ((CommandResult,),))
    with pytest.raises(TypeError):
        untrack_results(CommandResult(success=True), RESULT_TYPES)
    plain = [CommandResult(success=True)]
    untrack_results(plain, RESULT_TYPES, USER_VALUE_ATTRS)  # a list is not a result: left alone
    assert gc.is_tracked(plain) and gc.is_tracked(plain[0])
    assert RESULT_TYPES[0] is CommandResult


@needs_helper
def test_a_commands_return_value_is_never_untracked_whatever_it_holds() -> None:
    returned = [[], (CommandResult(success=True), []), CommandResult(success=True)]
    result = CommandResult(success=True, result=returned)
    MemoryIdempotencyStore().set("k", result)
    assert not gc.is_tracked(result)
    assert gc.is_tracked(returned) and gc.is_tracked(returned[0]) and gc.is_tracked(returned[2])
    assert gc.is_tracked(returned[1])


@needs_helper
def test_a_cycle_in_a_return_value_is_still_collected() -> None:
    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    alive = weakref.ref(node)
    returned: list[object] = [node]
    returned.append(returned)
    result = CommandResult(success=True, result=returned, emitted_events=[])
    store = MemoryIdempotencyStore()
    store.set("k", result)
    assert not gc.is_tracked(result) and not gc.is_tracked(result.emitted_events)
    assert gc.is_tracked(returned)
    del node, returned, result
    store.clear()
    gc.collect()
    assert alive() is None
