"""Every runtime case of the conformance suite, run on the expected IR files (no compiler needed),
plus the README's fixed checks. A second parametrisation runs the same cases on compiled IR."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from manifest_lang.conformance import Fixture, fixed_checks, fixtures, run_case, runtime_cases

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = Path(os.environ.get("MANIFEST_SHARED_DIR", REPO.parent / "shared")) / "conformance"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_conformance(what: Path = CONFORMANCE_DIR) -> None:
    """Skip the calling test (naming what is missing) outside CI; under CI=true, fail it."""
    message = f"conformance data missing at {what} (a checkout of the shared data; MANIFEST_SHARED_DIR)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _cases() -> list[Any]:
    if not CONFORMANCE_DIR.is_dir():
        return []
    out = []
    for fx in fixtures(CONFORMANCE_DIR):
        for name, case in runtime_cases(fx, None):
            out.append(pytest.param(fx, case, id=f"{fx.name}::{name}"))
    return out


CASES = _cases()


def _run(fx: Fixture, case: dict[str, Any], ir: Any) -> None:
    result = run_case(ir, fx.name, case)
    assert result is not None
    assert result.passed, result.reason


@pytest.mark.parametrize(("fx", "case"), CASES)
def test_runtime_case_on_expected_ir(conformance_dir: Path, fx: Fixture, case: dict[str, Any]) -> None:
    _run(fx, case, fx.expected_ir)


@pytest.mark.parametrize("check", ["completed task guard", "admin-only policy"])
def test_fixed_runtime_checks(conformance_dir: Path, check: str) -> None:
    result = next(r for r in fixed_checks(conformance_dir, prefer="expected") if r.case == check)
    assert result.passed, result.reason


def test_suite_has_the_expected_size(conformance_dir: Path) -> None:
    # Guards against the parametrisation silently collecting nothing.
    assert len(CASES) >= 190


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("error", "Some other error"),
        ("success", True),
        ("emittedEvents", [{"name": "Ghost", "channel": "ghost", "timestamp": 1}]),
    ],
)
def test_runner_reports_a_wrong_expectation(conformance_dir: Path, field: str, value: Any) -> None:
    fx = next(f for f in fixtures(conformance_dir) if f.name.startswith("05-"))
    case = next(c for _, c in runtime_cases(fx, None) if c.get("expectedResult", {}).get("error"))
    broken = {**case, "expectedResult": {**case["expectedResult"], field: value}}
    result = run_case(fx.expected_ir, fx.name, broken)
    assert result is not None and not result.passed and result.reason


def test_runner_checks_guard_expressions(conformance_dir: Path) -> None:
    fx = next(f for f in fixtures(conformance_dir) if f.name.startswith("11-"))
    case = next(c for _, c in runtime_cases(fx, None) if "expectedGuardFailure" in c)
    broken = {**case, "expectedGuardFailure": {**case["expectedGuardFailure"], "expression": "nope == 1"}}
    result = run_case(fx.expected_ir, fx.name, broken)
    assert result is not None and not result.passed
