"""One case on both runtimes, compared after normalisation; shrinking of a failing case."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from manifest_lang.compiler.api import compile_source

from .normalise import normalise, normalise_compiled
from .ours import run_case as run_ours
from .reference import Reference


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    index: int | None = None  # the operation that diverged
    accepted_by: str | None = None  # the documented difference that ended the comparison
    skipped: bool = False  # the model did not compile (nothing to compare)


def check(ref: Reference, case: dict[str, Any]) -> Verdict:
    compiled = compile_source(case["source"])
    if compiled.ir is None:
        return Verdict(True, "model does not compile", skipped=True)
    runnable = {"ir": compiled.ir, "context": case.get("context") or {}, "ops": case["ops"]}
    theirs = ref.run(dict(runnable, source=case["source"]))
    if not theirs.get("ok"):
        return Verdict(False, f"the reference failed on the case: {theirs.get('error')}")
    ours = run_ours(runnable)
    if theirs["hash"] != ours["hash"]:
        return Verdict(False, f"IR hash: reference {theirs['hash']} != ours {ours['hash']}")
    mine = {"ir": compiled.ir, "diagnostics": [d.to_dict() for d in compiled.diagnostics]}
    other, mine = normalise_compiled(theirs["compiled"], mine)
    if other != mine:
        where, x, y = first_difference(other, mine)
        return Verdict(False, f"compiler at {where}: reference {x!r} != ours {y!r}")
    memory: dict[str, Any] = {}
    for i, (op, a, b) in enumerate(zip(case["ops"], theirs["results"], ours["results"], strict=True)):
        # Not a result: the driver's count of writes the reference dropped (row 1 needs it).
        memory["dropped"] = a.pop("dropped", 0)
        a, b, accepted = normalise(op, a, b, compiled.ir, memory)
        if accepted is not None:
            return Verdict(True, index=i, accepted_by=accepted)
        if a != b:
            where, x, y = first_difference(a, b)
            reason = f"operation {i} ({op['op']}) at {where}: reference {x!r} != ours {y!r}"
            return Verdict(False, reason, index=i)
    return Verdict(True)


def shrink(ref: Reference, case: dict[str, Any]) -> dict[str, Any]:
    """A smaller case that still diverges: operations cut after the divergence, then each earlier
    operation dropped if the case still fails, then source lines dropped likewise."""
    verdict = check(ref, case)
    if verdict.ok:
        return case
    if verdict.index is not None:
        case = dict(case, ops=case["ops"][: verdict.index + 1])
    i = 0
    while i < len(case["ops"]) - 1:
        candidate = dict(case, ops=case["ops"][:i] + case["ops"][i + 1 :])
        if not check(ref, candidate).ok:
            case = candidate
        else:
            i += 1
    case = _shrink_operations(ref, case)
    signature = _signature(check(ref, case))
    case = _shrink_blocks(ref, case, signature)
    lines = case["source"].splitlines()
    i = 0
    while i < len(lines):
        candidate = dict(case, source="\n".join(lines[:i] + lines[i + 1 :]) + "\n")
        v = check(ref, candidate)
        if not v.ok and not v.skipped and _signature(v) == signature:
            lines = candidate["source"].splitlines()
            case = candidate
        else:
            i += 1
    return case


def _shrink_blocks(ref: Reference, case: dict[str, Any], signature: str) -> dict[str, Any]:
    """Whole ``{ ... }`` blocks of the model dropped (a command, a constraint) while it still fails."""
    i = 0
    lines = case["source"].splitlines()
    while i < len(lines):
        end = _block_end(lines, i)
        if end is not None:
            candidate = dict(case, source="\n".join(lines[:i] + lines[end + 1 :]) + "\n")
            v = check(ref, candidate)
            if not v.ok and not v.skipped and _signature(v) == signature:
                case, lines = candidate, candidate["source"].splitlines()
                continue
        i += 1
    return case


def _block_end(lines: list[str], start: int) -> int | None:
    """The line closing the block that ``lines[start]`` opens, or None if it opens none."""
    if not lines[start].rstrip().endswith("{"):
        return None
    depth = 0
    for j in range(start, len(lines)):
        depth += lines[j].count("{") - lines[j].count("}")
        if depth <= 0:
            return j
    return None


def _shrink_operations(ref: Reference, case: dict[str, Any]) -> dict[str, Any]:
    """Each remaining operation with fewer details: call options dropped, input keys dropped."""
    for i in range(len(case["ops"])):
        for key in ("corr", "cause", "overrides"):
            if key in case["ops"][i]:
                op = {k: v for k, v in case["ops"][i].items() if k != key}
                candidate = dict(case, ops=[*case["ops"][:i], op, *case["ops"][i + 1 :]])
                if not check(ref, candidate).ok:
                    case = candidate
        for field in ("input", "data"):
            for name in list(case["ops"][i].get(field) or {}):
                op = dict(case["ops"][i])
                op[field] = {k: v for k, v in op[field].items() if k != name}
                candidate = dict(case, ops=[*case["ops"][:i], op, *case["ops"][i + 1 :]])
                if not check(ref, candidate).ok:
                    case = candidate
    return case


def _signature(v: Verdict) -> str:
    """What a shrink step must keep: the diverging operation and the error texts of both sides
    (dropping a model line must not turn the divergence into a different one)."""
    return re.sub(r"\{'value': |'logged'.*", "", v.reason)[:80] + str(v.index)


_MISSING = "<absent>"


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    """The first place two JSON values differ: (path, reference side, our side)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key, _MISSING) != b.get(key, _MISSING):
                return first_difference(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return path or "$", a, b
