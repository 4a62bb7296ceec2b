"""Helpers over constraint outcomes (the reference's ``constraint-outcomes`` utilities)."""

from __future__ import annotations

from collections.abc import Iterable

from .results import ConstraintOutcome


def get_warning_constraints(outcomes: Iterable[ConstraintOutcome]) -> list[ConstraintOutcome]:
    """Failed ``warn`` outcomes: reported, but they do not stop a command."""
    return [o for o in outcomes if o.severity == "warn" and not o.passed]


def get_blocking_constraints(outcomes: Iterable[ConstraintOutcome]) -> list[ConstraintOutcome]:
    """Failed ``block`` outcomes that were not overridden."""
    return [o for o in outcomes if o.severity == "block" and not o.passed and not o.overridden]


def can_proceed_with_constraints(outcomes: Iterable[ConstraintOutcome]) -> bool:
    return not get_blocking_constraints(outcomes)
