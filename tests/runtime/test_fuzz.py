"""Property tests: arbitrary JSON input never crashes a command; failures are results."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_lang.errors import ManifestError
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import CommandResult

from .test_conformance_runtime import CONFORMANCE_DIR, missing_conformance

FIXTURES = [
    "04-command-mutate-emit",
    "25-command-constraints",
    "38-state-transitions",
    "56-expression-builtins",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _ir(name: str) -> dict[str, Any]:
    return json.loads((CONFORMANCE_DIR / "expected" / f"{name}.ir.json").read_text())


IRS = {name: _ir(name) for name in FIXTURES} if CONFORMANCE_DIR.is_dir() else {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fixture=st.sampled_from(FIXTURES),
    pick=st.integers(0, 20),
    data=st.dictionaries(st.text(max_size=12), json_values, max_size=5),
    inp=st.dictionaries(st.text(max_size=12), json_values, max_size=5),
    with_instance=st.booleans(),
)
def test_any_json_input_gives_a_result(
    fixture: str, pick: int, data: dict[str, Any], inp: dict[str, Any], with_instance: bool
) -> None:
    if not IRS:
        missing_conformance()
    ir = IRS[fixture]
    engine = RuntimeEngine(ir, {"user": {"id": "u", "role": "admin"}})
    entity = ir["entities"][0]["name"]
    commands = ir["commands"]
    command = commands[pick % len(commands)]
    try:
        created = engine.create_instance(entity, {**data, "id": "x"})
    except ManifestError:  # a value no store can hold (a NUL, a lone surrogate) is refused, raised
        created = None
    result = engine.run_command(
        command["name"],
        inp,
        entity_name=command.get("entity"),
        instance_id="x" if with_instance and created is not None else None,
    )
    assert isinstance(result, CommandResult)
    json.dumps(result.to_dict(), allow_nan=True)  # always serialisable
    engine.get_all_instances(entity)
