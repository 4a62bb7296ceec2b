"""Why a plain create was refused, as a problem a client can act on.

``RuntimeEngine.create_instance`` answers a refused write with ``None`` (as the reference does)
and only logs the rule that blocked it. The HTTP API must tell the client which rule: after a
refusal the same instance rules are re-run, without writing, through the runtime's own
``prepare_create`` so the reason reported is exactly the one the engine applied.
"""

from __future__ import annotations

from typing import Any

from ..runtime.instances import check_required, prepare_create
from ..runtime.refusal import WriteRejected
from .problems import ProblemError

_UNIQUE_CODES = frozenset({"E_UNIQUE", "E_ALTERNATE_KEY"})
#: a value for a property the caller did not send, to find the next missing one
_PLACEHOLDER = "\x00"


def create_refusal(engine: Any, entity: str, data: dict[str, Any]) -> ProblemError:
    """The problem for a create of ``entity`` with ``data`` that ``engine`` refused."""
    em = engine.model.entities[entity]
    try:
        prepare_create(engine.new_execution(), em, dict(data))
    except WriteRejected as rejected:
        return _problem(engine, em, entity, data, rejected)
    # The rules pass now: the refusal came from a state that has since changed (a concurrent
    # write). Retrying is the client's move.
    return ProblemError(
        "CONCURRENCY_CONFLICT", f"{entity} could not be created: the data changed concurrently; retry"
    )


def _problem(
    engine: Any, em: Any, entity: str, data: dict[str, Any], rejected: WriteRejected
) -> ProblemError:
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
        missing = missing_required(engine, em, data)
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


def missing_required(engine: Any, em: Any, data: dict[str, Any]) -> list[str]:
    """Every required property absent from ``data``, by the runtime's own rule (which skips
    defaults and managed fields); it stops at the first, so fill each in and ask again."""
    probe = dict(data)
    missing: list[str] = []
    for _ in range(len(em.required)):
        try:
            check_required(engine.new_execution(), em, probe)
        except WriteRejected as rejected:
            if rejected.code != "E_REQUIRED" or not rejected.prop or rejected.prop in missing:
                break
            missing.append(rejected.prop)
            probe[rejected.prop] = _PLACEHOLDER
            continue
        break
    return missing


def required_on_create(engine: Any, entity: str) -> list[str]:
    """The properties a plain create of ``entity`` must be given (what the OpenAPI document
    lists as ``required``), by the same rule the engine applies to an empty row."""
    return missing_required(engine, engine.model.entities[entity], {})
