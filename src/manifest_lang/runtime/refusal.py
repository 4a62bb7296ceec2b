"""How the pipeline says no: a ``Refusal`` returned by a rule, a ``WriteRejected`` by an instance rule.

Rules (write rules, the approval gate, reactions, rate limits) take what they need and return a
``Refusal`` or None; the command run turns a refusal into its failed ``CommandResult`` (adding the
call's correlation and causation ids). ``WriteRejected`` is raised by the instance rules shared with
the direct API (defaults, required, unique, temporal types) and becomes a refusal at the command
boundary. This module imports nothing of the pipeline, so every rule can use it.
"""

from __future__ import annotations

from typing import Any

from .results import ConstraintOutcome


class Refusal:
    """A rule's refusal: the error text and the ``CommandResult`` fields that explain it."""

    __slots__ = ("error", "fields")

    def __init__(self, error: str, fields: dict[str, Any] | None = None) -> None:
        self.error = error
        self.fields: dict[str, Any] = fields if fields is not None else {}


class WriteRejected(Exception):
    """A write broke an instance rule; ``code``/``message`` form the reference's error text."""

    def __init__(self, code: str, message: str, prop: str | None = None, outcomes: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.prop = prop
        self.outcomes: list[ConstraintOutcome] | None = outcomes

    def outcome(self) -> ConstraintOutcome:
        return ConstraintOutcome(
            code=self.code,
            constraint_name=self.prop or self.code,
            severity="block",
            formatted=self.message,
            passed=False,
            message=self.message,
            details={"property": self.prop} if self.prop else None,
        )


def rejection(rejected: WriteRejected) -> Refusal:
    """The refusal of a command whose write broke an instance rule."""
    return Refusal(str(rejected), {"constraint_outcomes": [rejected.outcome()]})
