"""The documented differences (docs/differences.md), one small named function per row.

Each function looks at one operation's pair of answers (reference, ours) and returns
``KEEP`` (not this difference), ``ACCEPT`` (this documented difference explains the whole
disagreement; later state may legitimately differ, so the rest of the case is not compared)
or a rewritten ``(ref, ours)`` pair (the difference removed, comparison continues).
Nothing that is not a row of docs/differences.md is normalised.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

KEEP = "keep"
ACCEPT = "accept"

Answer = dict[str, Any]
Outcome = Any  # KEEP | ACCEPT | tuple[Answer, Answer]


def _failed(answer: Answer) -> bool:
    value = answer.get("value")
    return isinstance(value, dict) and value.get("success") is False


def _succeeded(answer: Answer) -> bool:
    value = answer.get("value")
    return isinstance(value, dict) and value.get("success") is True


def row1_entity_constraint_fails_the_command(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#1: the reference drops a mutate that breaks a blocking entity constraint and succeeds;
    we fail the command with the constraint's outcomes and write nothing."""
    if op["op"] == "run" and _succeeded(ref) and _failed(ours):
        entity: dict[str, Any] = next(
            (e for e in ir.get("entities", []) if e["name"] == op.get("entity")), {}
        )
        codes = {c.get("code") for c in entity.get("constraints", [])}
        failed = [o for o in ours["value"].get("constraintOutcomes") or [] if not o.get("passed")]
        if failed and all(o.get("code") in codes for o in failed):
            return ACCEPT  # only the entity's own constraints refused, on the final row
    if op["op"] == "run" and memory.get("dropped"):
        return ACCEPT  # the reference said it dropped a write: its row is not the one we wrote
    return KEEP


def row2_missing_instance_fails(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#2: on an id that does not exist the reference goes on past the policies (constraints,
    guards, then a silent no-op success); we fail ``Instance '<id>' of entity '<E>' not found``
    right after the rate limit and the policies, which both sides apply first."""
    if op["op"] != "run" or not _failed(ours):
        return KEEP
    if not str(ours["value"].get("error", "")).startswith(f"Instance '{op.get('instance')}' of entity"):
        return KEEP
    theirs = ref.get("value")
    if isinstance(theirs, dict) and (theirs.get("policyDenial") or theirs.get("rateLimitDenial")):
        return KEEP  # those come first on both sides: a real divergence
    # The reference's no-op changes no row; the events it logged are not in ours.
    memory.setdefault("unlogged", []).extend(ref.get("logged") or [])
    return ours, ours


def row3_refused_override_events_stay_out_of_the_log(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#3: ``OverrideApplied`` of a command that then fails stays in the reference's log; ours logs
    events only when the command commits (its refused result still lists them)."""
    if op["op"] != "run" or not _failed(ours) or not ref.get("logged") or ours.get("logged"):
        return KEEP
    if all(e.get("name") == "OverrideApplied" for e in ref["logged"]):
        memory.setdefault("unlogged", []).extend(ref["logged"])
        ref = dict(ref, logged=[])
        return ref, ours
    return KEEP


def row25_list_read_policies_see_fields(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#25: the reference's ``getAllInstances`` evaluates read policies without the instance's
    fields as bare names (``p0 == "a"`` sees undefined; ``self.p0`` works), so it lists fewer
    rows than ``getInstance`` admits; ours uses the same scope for both."""
    if op["op"] != "all" or not isinstance(ref.get("value"), list) or not isinstance(ours.get("value"), list):
        return KEEP
    policies = [p for p in ir.get("policies", []) if p.get("entity") == op["entity"]]
    if not any(p.get("action") in ("read", "all") for p in policies):
        return KEEP
    scoped = {"self", "this", "user", "context"}
    bare = [
        p for p in policies if p.get("action") in ("read", "all") and _names(p.get("expression")) - scoped
    ]
    if bare:
        return dict(ref, value=ours["value"]), ours
    return KEEP


def _names(expr: Any) -> set[str]:
    """Identifiers used as bare names in an IR expression (not member names)."""
    if isinstance(expr, list):
        return set().union(*map(_names, expr)) if expr else set()
    if not isinstance(expr, dict):
        return set()
    found = (
        {expr["name"]} if expr.get("kind") == "identifier" and isinstance(expr.get("name"), str) else set()
    )
    for key, value in expr.items():
        if key != "property":
            found |= _names(value)
    return found


def row26_create_sets_the_initial_state(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#26: in a create command the reference checks transitions from the draft's value (so
    ``create(status: "open")`` is refused as ``open -> open``); ours sets the initial state freely."""
    if op["op"] != "run" or op.get("instance") is not None or not _failed(ref):
        return KEEP  # (ours goes on: it succeeds, or a later check refuses)
    if str(ours.get("value", {}).get("error", "")).startswith("Invalid state transition"):
        return KEEP
    if not str(ref["value"].get("error", "")).startswith("Invalid state transition"):
        return KEEP
    return ACCEPT


def row23_refused_result_lists_override_events(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#23: a refused command's result lists the ``OverrideApplied`` events its constraints
    produced (they never reach our log); the reference's refused result lists none."""
    if op["op"] != "run" or not _failed(ours) or not _failed(ref):
        return KEEP
    events = ours["value"].get("emittedEvents") or []
    kept = [e for e in events if e.get("name") != "OverrideApplied"]
    if len(kept) == len(events):
        return KEEP
    return ref, dict(ours, value=dict(ours["value"], emittedEvents=kept))


def row9_failed_create_leaves_its_row(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#9: the reference writes a create command's row before its actions (each mutate is an
    ``updateInstance``): when an action then fails, the row stays. Ours writes nothing."""
    if op["op"] != "run" or op.get("instance") is not None or not _failed(ours) or not _failed(ref):
        return KEEP
    grown = ref.get("rows", {}).get(op.get("entity"), 0) > ours.get("rows", {}).get(op.get("entity"), 0)
    if grown and {k: v for k, v in ref.items() if k != "rows"} == {
        k: v for k, v in ours.items() if k != "rows"
    }:
        return ACCEPT  # the reference holds a row we do not: its later state is its own
    return KEEP


def row27_rate_limit_buckets(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#27: the reference's command rate limits share a bucket per scope key across commands and
    empty it when a window ends; ours has a bucket per command and a sliding window. When one side
    is rate limited and the other is not, the buckets hold different counts from here on."""
    if op["op"] != "run":
        return KEEP
    limited = [_rate_limited(answer) for answer in (ref, ours) if isinstance(answer.get("value"), dict)]
    if any(limited) and not all(limited):
        return ACCEPT
    if limited and all(limited):  # both limited: the windows may disagree on the wait or the bucket
        keys = ("error", "rateLimitDenial", "policyDenial", "deniedBy")
        return ACCEPT if any(ref["value"].get(k) != ours["value"].get(k) for k in keys) else KEEP
    return KEEP


def _rate_limited(answer: Answer) -> bool:
    """A command or policy rate-limit refusal (a policy's denial of that kind has no ``resolved``)."""
    value = answer["value"]
    if str(value.get("error", "")).startswith("Rate limit exceeded for scope"):
        return True
    denial = value.get("policyDenial")
    return isinstance(denial, dict) and "resolved" not in denial


def row28_reads_are_not_metered(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#28: in the reference a read (``getInstance``, ``getAllInstances``) counts against the rate
    limit of a ``read``/``all`` policy, in the same bucket its commands use, and a limited read is
    denied; ours meters commands only. Once an entity has such a policy, reads and runs on it may
    see different buckets."""
    if op["op"] not in ("get", "all", "run"):
        return KEEP
    metered = [
        p
        for p in ir.get("policies", [])
        if p.get("rateLimit")
        and p.get("action") in ("read", "all")
        and p.get("entity") in (None, op.get("entity"))
    ]
    return ACCEPT if metered else KEEP


def row3_in_full_logs(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#3 again, for a read of the whole log: the events row 3 accepted are not in ours."""
    unlogged = memory.get("unlogged")
    if op["op"] != "log" or not unlogged or not isinstance(ref.get("value"), list):
        return KEEP
    return dict(ref, value=[e for e in ref["value"] if e not in unlogged]), ours


def row21_creates_never_replace(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#21: ``create_instance`` on an id that exists: the reference replaces the row (or returns
    ``undefined`` when a ``unique`` value collides with the row itself); we raise
    ``InstanceExistsError`` (ALREADY_EXISTS) and keep the row; a create command on a taken id
    succeeds there (the row is written over) and fails ``ALREADY_EXISTS`` here."""
    if op["op"] == "run" and _failed(ours) and _succeeded(ref):
        # a create command on a taken id: the reference writes over the row, we refuse
        return ACCEPT if str(ours["value"].get("error", "")).startswith("ALREADY_EXISTS: ") else KEEP
    if op["op"] != "create" or op["data"].get("id") not in memory.setdefault("created", set()):
        return KEEP
    if str(ours.get("raised", "")).endswith("already exists"):
        return ACCEPT  # the reference's row is the replaced one, ours the first: states part here
    return KEEP


def row16_override_events_carry_ids(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#16: our ``OverrideApplied`` carries the command's correlationId, causationId and subject."""
    changed = False
    ours = copy.deepcopy(ours)

    def strip(events: Any) -> None:
        nonlocal changed
        if not isinstance(events, list):
            return
        for e in events:
            if isinstance(e, dict) and e.get("name") == "OverrideApplied":
                for key in ("correlationId", "causationId", "subject"):
                    if key in e:
                        del e[key]
                        changed = True

    strip(ours.get("logged"))
    value = ours.get("value")
    if isinstance(value, dict):
        strip(value.get("emittedEvents"))
    if op["op"] == "log":
        strip(value)
    return (ref, ours) if changed else KEEP


def row18_typed_inputs(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#18: a supplied parameter of the wrong type is refused first here
    (``INVALID_PARAMETER_TYPE``, nothing runs); the reference takes any JSON and goes on, so its
    later state is its own."""
    if op["op"] == "run" and _failed(ours):
        failure = ours["value"].get("parameterFailure") or {}
        if failure.get("code") == "INVALID_PARAMETER_TYPE":
            return ACCEPT
    return KEEP


def row20_create_stores_declared_properties(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#20: a create command stores declared properties only; the reference copies every input
    key (parameters that are not properties included) into the new instance."""
    if op["op"] != "run" or not _succeeded(ref) or not _succeeded(ours):
        return KEEP
    entity = next((e for e in ir.get("entities", []) if e["name"] == op.get("entity")), None)
    if entity is None:
        return KEEP
    declared = {p["name"] for p in entity.get("properties", [])}
    theirs = ref["value"].get("result") if isinstance(ref["value"].get("result"), dict) else {}
    # input keys and parameter defaults alike (both are in the reference's create input)
    extra = (set(op.get("input") or {}) | set(theirs)) - declared - {"id"}
    if not extra:
        return KEEP

    def strip(row: Any) -> Any:
        return {k: v for k, v in row.items() if k not in extra} if isinstance(row, dict) else row

    ref = copy.deepcopy(ref)
    for key in ("result", "instance"):
        if key in ref["value"]:
            ref["value"][key] = strip(ref["value"][key])
    for event in [*(ref["value"].get("emittedEvents") or []), *(ref.get("logged") or [])]:
        payload = event.get("payload")
        if isinstance(payload, dict) and "result" in payload:
            payload["result"] = strip(payload["result"])
    created = ours["value"].get("instance") or {}
    known = memory.setdefault("extra_keys", {})
    known[(op.get("entity"), created.get("id"))] = (
        known.get((op.get("entity"), created.get("id")), set()) | extra
    )
    return ref, ours


def row20_in_later_reads(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> Outcome:
    """#20 again: rows read back later hold the reference's extra keys."""
    extra_keys = memory.get("extra_keys")
    if not extra_keys or op["op"] not in ("get", "all", "serialize", "log", "run"):
        return KEEP

    def strip(entity: Any, row: Any) -> Any:
        if not isinstance(row, dict):
            return row
        extra = extra_keys.get((entity, row.get("id")), ())
        return {k: v for k, v in row.items() if k not in extra}

    value = ref.get("value")
    if op["op"] == "get":
        value = strip(op["entity"], value)
    elif op["op"] == "all" and isinstance(value, list):
        value = [strip(op["entity"], r) for r in value]
    elif op["op"] == "serialize" and isinstance(value, dict):
        value = {
            e: [strip(e, r) for r in rows] if isinstance(rows, list) else rows for e, rows in value.items()
        }
    elif op["op"] == "log" and isinstance(value, list):
        value = copy.deepcopy(value)
        for event in value:
            payload = event.get("payload") if isinstance(event, dict) else None
            if isinstance(payload, dict) and isinstance(payload.get("result"), dict):
                subject = event.get("subject") or {}
                payload["result"] = strip(subject.get("entity"), payload["result"])
    elif op["op"] == "run" and isinstance(value, dict):
        value = dict(value)
        for key in ("result", "instance"):
            if key in value:
                value[key] = strip(op.get("entity"), value[key])
    else:
        return KEEP
    return dict(ref, value=value), ours


ROWS: list[Callable[..., Outcome]] = [
    row18_typed_inputs,
    row1_entity_constraint_fails_the_command,
    row2_missing_instance_fails,
    row3_refused_override_events_stay_out_of_the_log,
    row23_refused_result_lists_override_events,
    row9_failed_create_leaves_its_row,
    row27_rate_limit_buckets,
    row28_reads_are_not_metered,
    row3_in_full_logs,
    row25_list_read_policies_see_fields,
    row26_create_sets_the_initial_state,
    row16_override_events_carry_ids,
    row20_create_stores_declared_properties,
    row20_in_later_reads,
    row21_creates_never_replace,
]


def normalise(
    op: dict[str, Any], ref: Answer, ours: Answer, ir: Any, memory: dict[str, Any]
) -> tuple[Answer, Answer, str | None]:
    """Applies the rows in order; returns the pair and the name of the row that accepted the
    whole disagreement (None if none did: then the pair must be equal). ``memory`` is one
    case's state across its operations (ids created, events accepted as unlogged)."""
    outcome: Outcome = KEEP
    for row in ROWS:
        if ref == ours and not memory.get("dropped"):  # a dropped write shows only later
            break
        outcome = row(op, ref, ours, ir, memory)
        if outcome == ACCEPT:
            return ref, ours, row.__name__
        if outcome != KEEP:
            ref, ours = outcome
    if op["op"] == "create" and isinstance(ours.get("value"), dict):
        memory.setdefault("created", set()).add(ours["value"].get("id"))
    return ref, ours, None


def row24_compiler_version(
    theirs: dict[str, Any], ours: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """#24: the pinned package (3.4.23) predates the current reference our compiler follows: its
    IR has no ``initialization`` plan on create commands, and provenance (hashes, compiler version,
    time) is its own. The hash itself is compared separately (code-point order)."""

    def strip(compiled: dict[str, Any]) -> dict[str, Any]:
        ir = compiled.get("ir")
        if not isinstance(ir, dict):
            return compiled
        ir = {k: v for k, v in ir.items() if k != "provenance"}
        ir["commands"] = [
            {k: v for k, v in c.items() if k != "initialization"} for c in ir.get("commands", [])
        ]
        return dict(compiled, ir=ir)

    return strip(theirs), strip(ours)


def normalise_compiled(theirs: dict[str, Any], ours: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two compilers' outputs (``{ir, diagnostics}``) after the compiler rows (only #22)."""
    return row24_compiler_version(theirs, ours)
