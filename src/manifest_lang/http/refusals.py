"""Why a plain create was refused, as a problem a client can act on.

``RuntimeEngine.create_or_reject`` answers a refused write with the instance rule that refused it
(``WriteRejected``); this maps that rule to the problem the API answers with. Nothing here runs a
rule: the reason reported is the one the engine applied.
"""

from __future__ import annotations

from typing import Any

from ..runtime.instances import check_required
from ..runtime.refusal import WriteRejected
from .problems import ProblemError

_UNIQUE_CODES = frozenset({"E_UNIQUE", "E_ALTERNATE_KEY"})


def create_problem(entity: str, rejected: WriteRejected) -> ProblemError:
    """The problem for a create of ``entity`` that the engine refused with ``rejected``."""
    prefix = f"{entity} could not be created"
    if rejected.outcomes is not None:  # an entity constraint with severity block
        outcomes = [o.to_dict() for o in rejected.outcomes if not o.passed]
        blocking = [o for o in outcomes if o.get("severity") == "block"]
        reasons = "; ".join(f"{o.get('message') or o.get('code')} ({o.get('code')})" for o in blocking)
        return ProblemError(
            "CONSTRAINT_BLOCKED",
            f"{prefix}: {reasons or rejected.message}",
            constraintOutcomes=outcomes,
            blockedBy=[o.get("code") for o in blocking],
        )
    if rejected.code == "E_REQUIRED":
        missing = rejected.missing or ([rejected.prop] if rejected.prop else [])
        return ProblemError(
            "INVALID_INPUT",
            f"{prefix}: missing required {', '.join(missing)}",
            missing=missing,
            errors=[{"path": name, "message": "is required"} for name in missing],
        )
    code = "UNIQUE_VIOLATION" if rejected.code in _UNIQUE_CODES else "INVALID_INPUT"
    return ProblemError(
        code,
        f"{prefix}: {rejected.code}: {rejected.message}",
        rule=rejected.code,
        property=rejected.prop,
    )


def required_on_create(engine: Any, entity: str) -> list[str]:
    """The properties a plain create of ``entity`` must be given (what the OpenAPI document
    lists as ``required``): the runtime's own rule applied to an empty row, which writes nothing."""
    try:
        check_required(engine.new_execution(), engine.model.entities[entity], {})
    except WriteRejected as rejected:
        return list(rejected.missing or ([rejected.prop] if rejected.prop else []))
    return []
