"""How the pipeline says no: a ``Refusal`` returned by a rule, a ``WriteRejected`` by an instance rule.

Rules (write rules, the approval gate, reactions, rate limits) take what they need and return a
``Refusal`` or None; the command run turns a refusal into its failed ``CommandResult`` (adding the
call's correlation and causation ids). ``WriteRejected`` is raised by the instance rules shared with
the direct API (defaults, required, unique, temporal types) and becomes a refusal at the command
boundary. This module imports nothing of the pipeline, so every rule can use it.
"""

from __future__ import annotations

from typing import Any

from .codes import ResultCode
from .results import ConstraintOutcome

_UNIQUE_RULES = frozenset({"E_UNIQUE", "E_ALTERNATE_KEY"})
_INPUT_RULES = {"LIMIT_EXCEEDED": ResultCode.LIMIT_EXCEEDED, "INVALID_INPUT": ResultCode.INVALID_INPUT}


class Refusal:
    """A rule's refusal: its code, the error text and the ``CommandResult`` fields that explain it."""

    __slots__ = ("code", "error", "fields")

    def __init__(self, code: ResultCode, error: str, fields: dict[str, Any] | None = None) -> None:
        self.code = code
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
        #: for ``E_REQUIRED``: every required property missing (``prop`` is the first)
        self.missing: list[str] = [prop] if prop is not None and code == "E_REQUIRED" else []

    def result_code(self) -> ResultCode:
        """The ``CommandResult`` code of a command refused by this rule."""
        if self.outcomes is not None:
            return ResultCode.CONSTRAINT_BLOCKED  # an entity constraint blocked the create
        if self.code in _UNIQUE_RULES:
            return ResultCode.UNIQUE_VIOLATION
        if self.code in _INPUT_RULES:
            return _INPUT_RULES[self.code]  # an id or value past the limits, or unusable
        return ResultCode.WRITE_REJECTED

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
    return Refusal(rejected.result_code(), str(rejected), {"constraint_outcomes": [rejected.outcome()]})
