"""Runner for a conformance directory (``fixtures/``, ``expected/``; see its README).

Compilation checks go through ``manifest_lang.compiler.api.compile_source``; runtime checks run
every case of ``expected/*.results.json`` on a fresh engine with deterministic ids and clock.
Results are values (``CaseResult``), so the CLI, pytest and other tools share one runner.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .expr.values import to_json_value

FIXED_NOW = 1000000000000


@dataclass(frozen=True, slots=True)
class CaseResult:
    fixture: str
    case: str
    kind: str  # "compile" | "command" | "computed" | "create" | "persistence" | "constraint" | "fixed"
    passed: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fixture": self.fixture,
            "case": self.case,
            "kind": self.kind,
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass(slots=True)
class ConformanceReport:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "results": [r.to_dict() for r in self.results]}


class CheckFailed(Exception):
    pass


# --- JSON comparison --------------------------------------------------------------------------


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values: key order ignored, ``1 == 1.0``, but ``True != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def _present(value: Any, message: str) -> Any:
    """``value`` if it is not None, else the check fails with ``message``."""
    if value is None:
        raise CheckFailed(message)
    return value


def _show(v: Any) -> str:
    return json.dumps(to_json_value(v), sort_keys=True)[:300]


# --- engines ----------------------------------------------------------------------------------


def deterministic_engine(ir: Any, context: dict[str, Any] | None = None) -> Any:
    from .runtime.engine import RuntimeEngine

    counter = iter(range(1, 1 << 62))
    return RuntimeEngine(
        ir,
        dict(context or {}),
        now=lambda: FIXED_NOW,
        generate_id=lambda: f"test-id-{next(counter)}",
        # the reference takes any JSON for any parameter; its vectors are checked in that mode
        strict_inputs=False,
    )


def _setup(engine: Any, setup: dict[str, Any] | None) -> None:
    if not setup:
        return
    items = []
    if "createInstance" in setup:
        items.append(setup["createInstance"])
    items.extend(setup.get("createInstances", []))
    for item in items:
        engine.create_instance(item["entity"], item.get("data", {}))


# --- case kinds -------------------------------------------------------------------------------


def _check_command(ir: Any, case: dict[str, Any]) -> None:
    engine = deterministic_engine(ir, case.get("context"))
    _setup(engine, case.get("setup"))
    command = case["command"]
    kwargs = {
        "entity_name": command.get("entityName"),
        "instance_id": command.get("instanceId"),
        "override_requests": command.get("overrideRequests"),
    }
    for _ in range(int(command.get("warmupCount", case.get("warmupCount", 0)))):
        engine.run_command(command["name"], command.get("input", {}), **kwargs)
    result = engine.run_command(command["name"], command.get("input", {}), **kwargs).to_dict()
    expected = case.get("expectedResult", {})
    _check_result(result, expected)
    _check_diagnostics(result, case)
    if "expectedInstanceState" in case:
        state = engine.get_instance(command.get("entityName"), command.get("instanceId"))
        _expect(
            json_equal(to_json_value(state), case["expectedInstanceState"]),
            f"instance state {_show(state)} != {_show(case['expectedInstanceState'])}",
        )


def _check_result(result: dict[str, Any], expected: dict[str, Any]) -> None:
    if "success" in expected:
        _expect(
            result["success"] == expected["success"],
            f"success {result['success']} != {expected['success']} (error: {result.get('error')})",
        )
    for key in ("error", "deniedBy"):
        if key in expected:
            _expect(result.get(key) == expected[key], f"{key} {result.get(key)!r} != {expected[key]!r}")
    if "result" in expected:
        _expect(
            json_equal(result.get("result"), expected["result"]),
            f"result {_show(result.get('result'))} != {_show(expected['result'])}",
        )
    if "emittedEvents" in expected:
        got, want = result["emittedEvents"], expected["emittedEvents"]
        _expect(
            len(got) == len(want),
            f"{len(got)} events {[e['name'] for e in got]} != {len(want)} {[e['name'] for e in want]}",
        )
        for g, w in zip(got, want, strict=True):
            for key in ("name", "channel", "timestamp"):
                _expect(g.get(key) == w.get(key), f"event {key} {g.get(key)!r} != {w.get(key)!r}")
            if "payload" in w:
                _expect(
                    json_equal(g.get("payload"), w["payload"]),
                    f"event {w['name']} payload {_show(g.get('payload'))} != {_show(w['payload'])}",
                )


def _check_diagnostics(result: dict[str, Any], case: dict[str, Any]) -> None:
    if "expectedGuardFailure" in case:
        want = case["expectedGuardFailure"]
        got = _present(result.get("guardFailure"), "no guardFailure")
        _expect(got["index"] == want["index"], f"guard index {got['index']} != {want['index']}")
        _expect(
            str(want.get("formatted", want.get("expression", ""))) in got["formatted"],
            f"guard formatted {got['formatted']!r} lacks {want}",
        )
    if "expectedPolicyDenial" in case:
        want = case["expectedPolicyDenial"]
        got = _present(result.get("policyDenial"), "no policyDenial")
        _expect(
            got["policyName"] == want["policyName"], f"policy {got['policyName']} != {want['policyName']}"
        )
        _expect(want.get("expression", "") in got["formatted"], f"policy formatted {got['formatted']!r}")
        _expect(isinstance(got.get("resolved"), list), "policyDenial.resolved is not a list")
    if "expectedConcurrencyConflict" in case:
        want, got = case["expectedConcurrencyConflict"], result.get("concurrencyConflict")
        _expect(
            got is not None and all(json_equal(got.get(k), v) for k, v in want.items()),
            f"concurrencyConflict {got} != {want}",
        )


def _check_computed(ir: Any, case: dict[str, Any]) -> None:
    engine = deterministic_engine(ir, case.get("context"))
    _setup(engine, case.get("setup"))
    spec = case["computedProperty"]
    value = engine.evaluate_computed(spec["entity"], spec["instanceId"], spec["property"])
    _expect(
        json_equal(to_json_value(value), case["expectedValue"]),
        f"computed {_show(value)} != {_show(case['expectedValue'])}",
    )


def _check_create(ir: Any, case: dict[str, Any]) -> None:
    engine = deterministic_engine(ir, case.get("context"))
    _setup(engine, case.get("setup"))
    spec = case["createInstance"]
    instance = engine.create_instance(spec["entity"], spec.get("data", {}))
    _expect(
        json_equal(to_json_value(instance), case.get("expectedInstance")),
        f"created {_show(instance)} != {_show(case.get('expectedInstance'))}",
    )


def _check_persistence(ir: Any, case: dict[str, Any]) -> None:
    spec = case["persistenceTest"]
    first = deterministic_engine(ir, case.get("context"))
    created = first.create_instance(spec["entity"], spec.get("createData", {}))
    _expect(created is not None, "create returned None")
    second = deterministic_engine(ir, case.get("context"))
    second.restore(first.serialize())
    got = second.get_instance(spec["entity"], created["id"])
    _expect(
        json_equal(to_json_value(got), spec["expectedAfterRestore"]),
        f"restored {_show(got)} != {_show(spec['expectedAfterRestore'])}",
    )


def _check_constraints(ir: Any, case: dict[str, Any]) -> None:
    engine = deterministic_engine(ir, case.get("context"))
    _setup(engine, case.get("setup"))
    outcomes = engine.check_constraints(case["entity"], case.get("data", {}))
    want = case["expectedConstraintFailures"]
    _expect(
        len(outcomes) == len(want),
        f"{len(outcomes)} failures {[o.constraint_name for o in outcomes]} != {len(want)}",
    )
    for got, w in zip(outcomes, want, strict=True):
        _expect(got.constraint_name == w.get("constraintName"), f"constraint {got.constraint_name} != {w}")
        _expect(
            w.get("expression", "") in got.formatted,
            f"formatted {got.formatted!r} lacks {w.get('expression')}",
        )
        _expect(isinstance(got.resolved, list), "resolved is not a list")


_RUNTIME_KINDS: list[tuple[str, str, Callable[[Any, dict[str, Any]], None]]] = [
    ("command", "command", _check_command),
    ("computedProperty", "computed", _check_computed),
    ("persistenceTest", "persistence", _check_persistence),
    ("expectedConstraintFailures", "constraint", _check_constraints),
    ("createInstance", "create", _check_create),
]


def case_kind(case: dict[str, Any]) -> tuple[str, Callable[[Any, dict[str, Any]], None]] | None:
    if "policy" in case and "command" not in case:
        return None
    if "readModel" in case:
        return None
    for key, kind, check in _RUNTIME_KINDS:
        if key in case:
            return kind, check
    return None


def run_case(ir: Any, fixture: str, case: dict[str, Any]) -> CaseResult | None:
    found = case_kind(case)
    if found is None:
        return None
    kind, check = found
    name = str(case.get("name", "?"))
    try:
        check(ir, case)
    except CheckFailed as exc:
        return CaseResult(fixture, name, kind, False, str(exc))
    except (ManifestError, Exception) as exc:  # a crash is a failed case, reported with its type
        return CaseResult(fixture, name, kind, False, f"{type(exc).__name__}: {exc}")
    return CaseResult(fixture, name, kind, True)


# --- directory runner -------------------------------------------------------------------------

_NORMALIZED_PROVENANCE = {
    "compiledAt": "2024-01-01T00:00:00.000Z",
    "contentHash": "normalized-content-hash",
    "irHash": "normalized-ir-hash",
    "compilerVersion": "normalized-compiler-version",
}


def normalize_ir(ir: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``ir`` with the run-specific provenance fields replaced by fixed values."""
    out = dict(ir)
    prov = dict(out.get("provenance") or {})
    prov.update(_NORMALIZED_PROVENANCE)
    out["provenance"] = prov
    return out


@dataclass(slots=True)
class Fixture:
    name: str
    source: Path
    expected: Path

    def _json(self, suffix: str) -> Any:
        path = self.expected / f"{self.name}.{suffix}.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text("utf-8"))
        except ValueError:
            return _INVALID

    @property
    def diagnostics(self) -> Any:
        return self._json("diagnostics")

    @property
    def expected_ir(self) -> Any:
        return self._json("ir")

    @property
    def results(self) -> Any:
        return self._json("results")

    @property
    def should_fail(self) -> bool:
        diags = self.diagnostics
        return isinstance(diags, dict) and bool(diags.get("shouldFail"))


_INVALID: Any = object()


def fixtures(directory: Path | str) -> list[Fixture]:
    root = Path(directory)
    return [
        Fixture(p.stem, p, root / "expected")
        for p in sorted((root / "fixtures").glob("*.manifest"), key=lambda p: p.name)
    ]


def _compiler() -> Callable[..., Any] | None:
    try:
        from .compiler.api import compile_source
    except ImportError:
        return None
    return compile_source


def check_compilation(fx: Fixture) -> CaseResult:
    compile_source = _compiler()
    if compile_source is None:
        return CaseResult(fx.name, "compile", "compile", False, "compiler unavailable")
    result = compile_source(fx.source.read_text("utf-8"), filename=str(fx.source))
    try:
        _check_compiled(fx, result)
    except CheckFailed as exc:
        return CaseResult(fx.name, "compile", "compile", False, str(exc))
    return CaseResult(fx.name, "compile", "compile", True)


def _check_compiled(fx: Fixture, result: Any) -> None:
    from .ir.schema import validate_ir

    diags = fx.diagnostics
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if isinstance(diags, dict):
        if diags.get("shouldFail"):
            _expect(result.ir is None and bool(errors), "expected compilation to fail")
        elif result.ir is not None:
            _validate(validate_ir, result.ir)
        want: list[dict[str, Any]] = diags.get("diagnostics", diags.get("expectedDiagnostics", [])) or []
        got = result.diagnostics
        _expect(len(got) == len(want), f"{len(got)} diagnostics != {len(want)}: {[d.message for d in got]}")
        for g, w in zip(got, want, strict=True):
            for key in ("severity", "message", "line", "column", "code"):
                if key in w or key in ("severity", "message"):
                    _expect(
                        getattr(g, key) == w.get(key),
                        f"diagnostic {key} {getattr(g, key)!r} != {w.get(key)!r}",
                    )
        return
    _expect(not errors, f"unexpected errors: {[d.message for d in errors]}")
    _expect(result.ir is not None, "no IR produced")
    _validate(validate_ir, result.ir)
    expected = fx.expected_ir
    if expected is not None and expected is not _INVALID:
        _expect(json_equal(normalize_ir(result.ir), normalize_ir(expected)), "IR differs from expected")


def _validate(validate: Callable[[Any], None], ir: Any) -> None:
    try:
        validate(ir)
    except ManifestError as exc:
        raise CheckFailed(str(exc)) from None


def runtime_cases(fx: Fixture, ir: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The runnable cases of a fixture (none for shouldFail fixtures or unparsable results)."""
    if fx.should_fail:
        return
    results = fx.results
    if not isinstance(results, dict):
        return
    for case in results.get("testCases", []):
        if isinstance(case, dict) and case_kind(case) is not None:
            yield str(case.get("name", "?")), case


def fixture_ir(fx: Fixture, *, prefer: str = "compiled") -> tuple[Any, str]:
    """IR to run the fixture's cases on: the compiler's, or the expected file's when asked or needed."""
    if prefer == "compiled":
        compile_source = _compiler()
        if compile_source is not None:
            result = compile_source(fx.source.read_text("utf-8"), filename=str(fx.source))
            if result.ir is not None:
                return result.ir, "compiled"
    expected = fx.expected_ir
    return (expected if expected is not _INVALID else None), "expected"


def fixed_checks(directory: Path | str, *, prefer: str = "compiled") -> list[CaseResult]:
    """The README's three fixed checks (guard on completed Task, admin-only policy, stable compile)."""
    by_name = {fx.name.split("-", 1)[0]: fx for fx in fixtures(directory)}
    out: list[CaseResult] = []
    out.append(_fixed(by_name.get("05"), "completed task guard", prefer, _fixed_guard))
    out.append(_fixed(by_name.get("06"), "admin-only policy", prefer, _fixed_policy))
    out.append(_fixed(by_name.get("04"), "stable compilation", prefer, _fixed_stable))
    return out


def _fixed(fx: Fixture | None, name: str, prefer: str, check: Callable[[Fixture, str], None]) -> CaseResult:
    if fx is None:
        return CaseResult("-", name, "fixed", False, "fixture missing")
    try:
        check(fx, prefer)
    except CheckFailed as exc:
        return CaseResult(fx.name, name, "fixed", False, str(exc))
    except Exception as exc:  # reported, not raised: one broken check must not stop the run
        return CaseResult(fx.name, name, "fixed", False, f"{type(exc).__name__}: {exc}")
    return CaseResult(fx.name, name, "fixed", True)


def _fixed_guard(fx: Fixture, prefer: str) -> None:
    ir, _ = fixture_ir(fx, prefer=prefer)
    engine = deterministic_engine(ir)
    engine.create_instance("Task", {"id": "t-fixed", "title": "Done", "completed": True})
    result = engine.run_command("complete", {}, entity_name="Task", instance_id="t-fixed")
    _expect(not result.success, "completing a completed task succeeded")
    _expect(result.error == "Guard condition failed for command 'complete'", f"error {result.error!r}")


def _fixed_policy(fx: Fixture, prefer: str) -> None:
    ir, _ = fixture_ir(fx, prefer=prefer)
    engine = deterministic_engine(ir, {"user": {"id": "user-1", "role": "user"}})
    engine.create_instance("Document", {"id": "d-fixed", "title": "Doc", "isPublic": False})
    result = engine.run_command("makePublic", {}, entity_name="Document", instance_id="d-fixed")
    _expect(not result.success, "non-admin makePublic succeeded")
    _expect(result.error == "Only administrators can execute commands", f"error {result.error!r}")
    _expect(result.denied_by == "adminOnly", f"deniedBy {result.denied_by!r}")


def _fixed_stable(fx: Fixture, prefer: str) -> None:
    compile_source = _present(_compiler(), "compiler unavailable")
    source = fx.source.read_text("utf-8")
    irs = [compile_source(source, filename=str(fx.source)).ir for _ in range(3)]
    _expect(all(ir is not None for ir in irs), "compilation failed")
    first = normalize_ir(irs[0])
    _expect(all(json_equal(first, normalize_ir(ir)) for ir in irs[1:]), "IR differs between compilations")


def run_directory(
    directory: Path | str,
    *,
    prefer: str = "compiled",
    compile_checks: bool = True,
    progress: Callable[[CaseResult], None] | None = None,
) -> ConformanceReport:
    """Every check of a conformance directory, in fixture order."""
    report = ConformanceReport()

    def add(result: CaseResult) -> None:
        report.results.append(result)
        if progress is not None:
            progress(result)

    for fx in fixtures(directory):
        if compile_checks:
            add(check_compilation(fx))
        cases = list(runtime_cases(fx, None))
        if not cases:
            continue
        ir, _ = fixture_ir(fx, prefer=prefer)
        if ir is None:
            for name, _case in cases:
                add(CaseResult(fx.name, name, "runtime", False, "no IR to run"))
            continue
        for _name, case in cases:
            result = run_case(ir, fx.name, case)
            if result is not None:
                add(result)
    for result in fixed_checks(directory, prefer=prefer):
        add(result)
    return report
