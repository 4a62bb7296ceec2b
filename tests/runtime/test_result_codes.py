"""``CommandResult.code``: every failed result says why with a stable code, outside its JSON shape."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from manifest_lang import conformance
from manifest_lang.http.outcomes import problem_code
from manifest_lang.runtime.codes import ResultCode
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import CommandResult

from .test_conformance_runtime import CONFORMANCE_DIR


class _Recorder:
    def __init__(self) -> None:
        self.results: list[CommandResult] = []

    def before_command(self, engine: Any, name: str, input: Any, options: Any) -> None:
        return None

    def after_command(self, token: Any, result: CommandResult | None) -> None:
        if result is not None:
            self.results.append(result)


@pytest.fixture(scope="module")
def conformance_results() -> list[CommandResult]:
    if not CONFORMANCE_DIR.exists():
        pytest.skip(f"conformance data missing at {CONFORMANCE_DIR}")
    recorder = _Recorder()
    plain = conformance.deterministic_engine

    def recording(ir: Any, context: dict[str, Any] | None = None) -> Any:
        engine = plain(ir, context)
        engine.command_hooks = (recorder,)
        return engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conformance, "deterministic_engine", recording)
        report = conformance.run_directory(CONFORMANCE_DIR, compile_checks=False)
    assert report.failed == 0
    return recorder.results


def test_every_failed_result_of_the_conformance_cases_has_a_code(conformance_results: Any) -> None:
    failed = [r for r in conformance_results if not r.success]
    assert len(failed) > 20
    assert all(r.code is None for r in conformance_results if r.success)
    assert [r.error for r in failed if r.code is None or r.code is ResultCode.FAILED] == []
    kinds = Counter(r.code for r in failed)
    for expected in (ResultCode.GUARD_FAILED, ResultCode.POLICY_DENIED, ResultCode.CONSTRAINT_BLOCKED):
        assert kinds[expected] > 0, kinds


def test_the_code_is_not_in_the_json_and_survives_a_round_trip(conformance_results: Any) -> None:
    """A result rebuilt from its JSON form (an idempotency store's record) maps to the same problem."""
    for result in conformance_results:
        data = result.to_dict()
        assert "code" not in data
        rebuilt = CommandResult.from_dict(data)
        if not result.success:
            assert problem_code(rebuilt.code, data) == problem_code(result.code, data), data


MODEL = """
entity Task {
  property required id: string
  property status: string = "open"
  property readonly owner: string = "a"
  transition status from "open" to ["done"]
  transition status from "done" to ["archived"]
  command finish() { mutate status = "done" }
  command reopen() { mutate status = "open" }
  command steal() { mutate owner = "b" }
}
"""


def test_codes_of_the_pipeline_refusals() -> None:
    from manifest_lang.loading import load_model

    engine = RuntimeEngine(load_model(MODEL))
    engine.create_instance("Task", {"id": "t1"})
    run = engine.run_command
    assert run("finish", entity_name="Task", instance_id="nope").code is ResultCode.INSTANCE_NOT_FOUND
    assert run("nope", entity_name="Task").code is ResultCode.UNKNOWN_COMMAND
    assert run("finish", entity_name="Task", instance_id="t1").code is None
    assert run("reopen", entity_name="Task", instance_id="t1").code is ResultCode.INVALID_TRANSITION
    assert run("steal", entity_name="Task", instance_id="t1").code is ResultCode.WRITE_REJECTED
    assert run("finish", [1], entity_name="Task").code is ResultCode.INVALID_INPUT
    assert run(5).code is ResultCode.INVALID_INPUT
