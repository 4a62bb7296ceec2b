"""The evaluation budget: a step counter and a depth check shared by one top-level call.

The reference charges one step and one level of depth per evaluated expression node. Compiled
expressions know their node count and depth statically, so a whole expression is charged in one
addition on entry instead of per node; lazily evaluated parts (conditional branches, lambda
bodies) are separate units charged when they actually run. The totals equal the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EvaluationBudgetExceededError

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_STEPS = 10_000


@dataclass(frozen=True, slots=True)
class EvaluationLimits:
    """Limits of one top-level evaluation (a command, a constraint check, a computed property)."""

    max_expression_depth: int = DEFAULT_MAX_DEPTH
    max_evaluation_steps: int = DEFAULT_MAX_STEPS

    @classmethod
    def coerce(cls, value: object) -> EvaluationLimits:
        """Accept an ``EvaluationLimits``, ``None`` or the reference's camelCase dict."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            depth = value.get("maxExpressionDepth", value.get("max_expression_depth", DEFAULT_MAX_DEPTH))
            steps = value.get("maxEvaluationSteps", value.get("max_evaluation_steps", DEFAULT_MAX_STEPS))
            return cls(
                int(depth if depth is not None else DEFAULT_MAX_DEPTH), int(steps or DEFAULT_MAX_STEPS)
            )
        raise TypeError(f"evaluation_limits must be EvaluationLimits or a dict, not {type(value).__name__}")


class Budget:
    """Mutable counters of one top-level call; ``depth`` is the depth of the unit being evaluated."""

    __slots__ = ("steps", "depth", "max_steps", "max_depth", "peak_depth")

    def __init__(self, limits: EvaluationLimits) -> None:
        self.steps = 0
        self.depth = 0
        self.peak_depth = 0
        self.max_steps = limits.max_evaluation_steps
        self.max_depth = limits.max_expression_depth

    def charge(self, steps: int, depth: int) -> None:
        """Charge a unit of ``steps`` nodes whose deepest node is ``depth`` below the current depth."""
        total = self.steps + steps
        reached = self.depth + depth
        if total > self.max_steps:
            self.steps = self.max_steps + 1
            raise EvaluationBudgetExceededError("steps", self.max_steps)
        if reached > self.max_depth:
            raise EvaluationBudgetExceededError("depth", self.max_depth)
        self.steps = total
        if reached > self.peak_depth:
            self.peak_depth = reached

    def stats(self) -> dict[str, int]:
        return {
            "stepsUsed": self.steps,
            "peakDepth": self.peak_depth,
            "maxSteps": self.max_steps,
            "maxDepth": self.max_depth,
        }
