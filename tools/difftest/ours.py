"""Runs a case's operations on our engine, answering in the JSON shapes the Node driver writes.

Every answer is ``{"value": json}`` or ``{"raised": message}`` (the reference's exceptions are
our ``ManifestError``s), with the same deterministic clock and id generator as the driver.
"""

from __future__ import annotations

from typing import Any

from manifest_lang.compiler.provenance import compute_ir_hash
from manifest_lang.errors import ManifestError
from manifest_lang.expr.values import to_json_value
from manifest_lang.runtime.engine import RuntimeEngine
from manifest_lang.runtime.results import OverrideRequest


class _Clock:
    def __init__(self) -> None:
        self.t = 1000

    def now(self) -> int:
        return self.t


def _engine(ir: dict[str, Any], context: dict[str, Any], clock: _Clock) -> RuntimeEngine:
    counter = iter(range(1, 1 << 62))
    return RuntimeEngine(ir, context, now=clock.now, generate_id=lambda: f"gen-{next(counter)}")


def _json(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_json(v) for v in value]
    return to_json_value(value)


def _run(engine: RuntimeEngine, op: dict[str, Any], state: dict[str, Any]) -> Any:
    kind = op["op"]
    if kind == "create":
        return engine.create_instance(op["entity"], op["data"])
    if kind == "run":
        requests = op.get("overrides")
        return engine.run_command(
            op["command"],
            op["input"],
            entity_name=op.get("entity"),
            instance_id=op.get("instance"),
            correlation_id=op.get("corr"),
            causation_id=op.get("cause"),
            override_requests=[OverrideRequest.coerce(r) for r in requests] if requests is not None else None,
        )
    if kind == "get":
        return engine.get_instance(op["entity"], op["id"])
    if kind == "all":
        return engine.get_all_instances(op["entity"])
    if kind == "computed":
        return engine.evaluate_computed(op["entity"], op["id"], op["prop"])
    if kind == "check":
        return engine.check_constraints(op["entity"], op["data"])
    if kind == "log":
        return engine.get_event_log()
    if kind == "context":
        engine.set_context(op["patch"])
        return engine.get_context()
    if kind == "serialize":
        state["snapshot"] = engine.serialize()
        return state["snapshot"]["stores"]
    if kind == "restore":
        if "snapshot" in state:
            engine.restore(state["snapshot"])
        return None
    raise ValueError(f"unknown op {kind}")


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    clock = _Clock()
    engine = _engine(case["ir"], case.get("context") or {}, clock)
    results: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for op in case["ops"]:
        clock.t += 1
        before = len(engine.get_event_log())
        try:
            answer: dict[str, Any] = {"value": _json(_run(engine, op, state))}
        except ManifestError as exc:
            answer = {"raised": exc.message}
        except Exception as exc:  # a crash of ours is a divergence, reported as such
            answer = {"crash": f"{type(exc).__name__}: {exc}"}
        answer["logged"] = _json(engine.get_event_log()[before:])
        answer["rows"] = {name: len(rows) for name, rows in engine.serialize()["stores"].items()}
        results.append(answer)
    return {"ok": True, "hash": compute_ir_hash(case["ir"], collation="codepoint"), "results": results}
