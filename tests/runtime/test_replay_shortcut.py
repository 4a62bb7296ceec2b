"""Replays answered before anything else stay correct when the engine's options change later."""

from __future__ import annotations

from typing import Any

from manifest_lang.runtime.idempotency import MemoryIdempotencyStore
from manifest_lang.runtime.results import CommandResult

from .helpers import make_engine


class _Hook:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def before_command(self, engine: Any, name: str, input: Any, options: dict[str, Any]) -> str:
        self.seen.append(options["idempotency_key"])
        return name

    def after_command(self, token: str, result: CommandResult | None) -> None:
        pass


def test_replay_is_the_first_result_and_hooks_added_later_see_it() -> None:
    engine = make_engine(idempotency_store=MemoryIdempotencyStore())
    engine.create_instance("Counter", {"id": "c1"})
    target = {"entity_name": "Counter", "instance_id": "c1", "idempotency_key": "k"}
    first = engine.run_command("increment", {"by": 1}, **target)
    assert engine.run_command("increment", {"by": 1}, **target) is first
    hook = _Hook()
    engine.command_hooks = [hook]
    assert engine.run_command("increment", {"by": 1}, **target).to_dict() == first.to_dict()
    assert hook.seen == ["k"]  # the hooked path ran, and it replayed
    assert engine.get_instance("Counter", "c1")["value"] == 1


def test_tenant_gate_and_store_swaps_are_not_skipped() -> None:
    engine = make_engine(idempotency_store=MemoryIdempotencyStore())
    engine.create_instance("Counter", {"id": "c1"})
    target = {"entity_name": "Counter", "instance_id": "c1", "idempotency_key": "k"}
    assert engine.run_command("increment", {"by": 1}, **target).success
    engine.require_tenant_context = True
    refused = engine.run_command("increment", {"by": 1}, **target)
    assert not refused.success and (refused.error or "").startswith("MISSING_TENANT_CONTEXT")
    engine.require_tenant_context = False
    engine.idempotency_store = MemoryIdempotencyStore()  # a fresh store: the key is new again
    assert engine.run_command("increment", {"by": 1}, **target).success
    assert engine.get_instance("Counter", "c1")["value"] == 2
