"""Replays answered before anything else stay correct when the engine's options change later."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_lang.runtime.entry import _same_request
from manifest_lang.runtime.idempotency import MemoryIdempotencyStore, caller_of, request_fingerprint
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


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 3)), inner, max_size=3)
    ),
    max_leaves=6,
)
_requests = st.tuples(
    st.sampled_from(["increment", "reset"]),
    st.sampled_from([None, "Counter"]),
    st.one_of(st.none(), st.text(max_size=6)),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=5), _values, max_size=4)),
    st.one_of(
        st.none(),
        st.text(max_size=4),
        st.fixed_dictionaries({"id": st.one_of(st.none(), st.text(max_size=4))}),
    ),
)


@settings(max_examples=400, deadline=None)
@given(_requests, _requests)
def test_the_replay_shortcut_judges_requests_as_the_fingerprint_does(recorded: Any, incoming: Any) -> None:
    """The shortcut's one-dumps check answers what comparing two fingerprints answers, for any two
    requests: nested values, huge integers, non-string keys, booleans next to numbers, long inputs."""
    for first, second in ((recorded, incoming), (recorded, recorded)):
        name, entity, instance, input, user = first
        fingerprint = request_fingerprint(name, entity, instance, input, None, caller_of({"user": user}))
        name2, entity2, instance2, input2, user2 = second
        expected = fingerprint == request_fingerprint(
            name2, entity2, instance2, input2, None, caller_of({"user": user2})
        )
        assert _same_request(fingerprint, name2, entity2, instance2, input2, {"user": user2}) is expected
