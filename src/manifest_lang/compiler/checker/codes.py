"""The checker's stable codes: what each finds, and its severity.

Codes are a contract (tools filter on them); a new finding gets a new code, never a reused one.
"""

from __future__ import annotations

ERROR = "error"
WARNING = "warning"

#: code -> (severity, one-line description for `manifest check --codes` and the docs)
CODES: dict[str, tuple[str, str]] = {
    "CHECK_IGNORED_TEXT": (ERROR, "text the compiler skips without a word (a typo, `#` used as a comment)"),
    "CHECK_GUARD_MESSAGE": (WARNING, "a string after a guard: guards have no message, it is a no-op"),
    "CHECK_UNKNOWN_TYPE": (ERROR, "a type that is neither built in nor a declared entity, enum or value"),
    "CHECK_UNKNOWN_ENTITY": (ERROR, "a relationship, store, reaction or saga naming no declared entity"),
    "CHECK_UNDECLARED_PROPERTY": (ERROR, "a mutate of a property the entity does not declare"),
    "CHECK_UNKNOWN_PROPERTY": (ERROR, "self.x / this.x where the entity has no member x"),
    "CHECK_UNDECLARED_EVENT": (
        WARNING,
        "an emitted event with no `event` declaration (no channel, no schema)",
    ),
    "CHECK_UNKNOWN_FUNCTION": (ERROR, "a call of a function that is not a built-in"),
    "CHECK_UNKNOWN_IDENTIFIER": (ERROR, "a name that is no parameter, property, computed or binding"),
    "CHECK_UNUSED_PARAMETER": (WARNING, "a command parameter nothing reads (and no event carries)"),
    "CHECK_UNREACHABLE_TRANSITION": (WARNING, "a transition from a state no transition or default reaches"),
    "CHECK_UNKNOWN_STATE": (ERROR, "a transition state that is not a value of the property's enum"),
    "CHECK_CONSTANT_CONDITION": (WARNING, "a guard, constraint or policy whose value never changes"),
    "CHECK_COMPUTED_CYCLE": (ERROR, "computed properties that depend on each other (evaluate to undefined)"),
    "CHECK_TYPE_MISMATCH": (ERROR, "operands or an assignment whose types cannot match (number vs string)"),
    "CHECK_STRING_ARITHMETIC": (WARNING, "`+` of a string value and a number: concatenation, not a sum"),
}


def severity_of(code: str) -> str:
    return CODES[code][0]
