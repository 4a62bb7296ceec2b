"""The JSON document a command request answers with: lean by default, the full result on request.

A successful command answers with what a client acts on: ``success``, ``result``, ``instance``
(creates), the constraint outcomes that fired (warnings that failed, overridden blocks), the
emitted events and the correlation / causation ids. Left out by default, and returned with
``?verbose=1``: the outcomes of constraints that passed, the ``resolved`` values and ``formatted``
source text of each rule (diagnostics for the model's author), the events' ``provenance`` (the
IR's hash and the compiler's version) and the retry bookkeeping. A refused command always
carries the full result (under the problem's ``result``): its details are what it is about.

Built from the ``CommandResult`` object in one pass: the full ``to_dict()`` is made only when it
is answered (verbose, or a refusal), and the document is serialised once, by the response.
"""

from __future__ import annotations

from typing import Any

from ..expr.values import UNDEFINED, to_json_value

#: what a lean answer leaves out of each constraint outcome and each event
_OUTCOME_DETAIL = ("formatted", "resolved")
_EVENT_DETAIL = "provenance"


def result_document(result: Any, *, verbose: bool = False) -> dict[str, Any]:
    """The answer to a command request: the full result (``verbose``, a refusal, or a result
    that is not a ``CommandResult``), else the lean one."""
    if verbose or not getattr(result, "success", False) or not hasattr(result, "emitted_events"):
        to_dict = getattr(result, "to_dict", None)
        return dict(to_dict()) if callable(to_dict) else dict(result)
    return lean_result(result)


def lean_result(result: Any) -> dict[str, Any]:
    """A successful ``CommandResult`` as a client uses it (see the module docstring)."""
    out: dict[str, Any] = {"success": True}
    value = result.result
    if value is not UNDEFINED:
        out["result"] = to_json_value(value)
    if result.instance is not None:
        out["instance"] = to_json_value(result.instance)
    outcomes = result.constraint_outcomes
    if outcomes:
        fired = [_lean_outcome(o) for o in outcomes if not o.passed or o.overridden]
        if fired:
            out["constraintOutcomes"] = fired
    if result.override_requests:
        out["overrideRequests"] = [r.to_dict() for r in result.override_requests]
    if result.correlation_id is not None:
        out["correlationId"] = result.correlation_id
    if result.causation_id is not None:
        out["causationId"] = result.causation_id
    out["emittedEvents"] = [_lean_event(e) for e in result.emitted_events]
    return out


def _lean_outcome(outcome: Any) -> dict[str, Any]:
    doc: dict[str, Any] = outcome.to_dict()
    for key in _OUTCOME_DETAIL:
        doc.pop(key, None)
    return doc


def _lean_event(event: Any) -> dict[str, Any]:
    doc: dict[str, Any] = event.to_dict()
    doc.pop(_EVENT_DETAIL, None)
    return doc
