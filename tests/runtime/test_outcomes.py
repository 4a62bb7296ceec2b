"""Constraint outcome helpers and their JSON shape."""

from __future__ import annotations

from manifest_lang import (
    ConstraintOutcome,
    can_proceed_with_constraints,
    get_blocking_constraints,
    get_warning_constraints,
)
from manifest_lang.expr.values import UNDEFINED


def _outcome(name: str, severity: str, passed: bool, overridden: bool | None = None) -> ConstraintOutcome:
    return ConstraintOutcome(name, name, severity, f"{name} holds", passed, overridden=overridden)


def test_helpers_partition_outcomes() -> None:
    outcomes = [
        _outcome("ok", "ok", True),
        _outcome("warned", "warn", False),
        _outcome("blocked", "block", False),
        _outcome("overridden", "block", False, overridden=True),
        _outcome("fine", "block", True),
    ]
    assert [o.constraint_name for o in get_warning_constraints(outcomes)] == ["warned"]
    assert [o.constraint_name for o in get_blocking_constraints(outcomes)] == ["blocked"]
    assert not can_proceed_with_constraints(outcomes)
    assert can_proceed_with_constraints(outcomes[:2] + outcomes[3:])


def test_outcome_json_omits_absent_and_undefined_values() -> None:
    outcome = ConstraintOutcome(
        "c", "c", "warn", "x > 1", False, message=None, resolved=[{"expression": "x", "value": UNDEFINED}]
    )
    assert outcome.to_dict() == {
        "code": "c",
        "constraintName": "c",
        "severity": "warn",
        "formatted": "x > 1",
        "passed": False,
        "resolved": [{"expression": "x"}],
    }
    assert ConstraintOutcome.from_dict(outcome.to_dict()).to_dict() == outcome.to_dict()
